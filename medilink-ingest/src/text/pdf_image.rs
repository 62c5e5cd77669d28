//! The image on a scanned PDF page, as grey pixels: JPEG (`DCTDecode`) bytes go to the JPEG
//! decoder, raw pixels (Flate, LZW, run-length, none; with or without predictors) are unpacked
//! here. Sizes are checked against [`ImageLimits`] before anything is decompressed.

use image::{GrayImage, ImageFormat};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use super::image_prep::{self, ImageLimits};
use crate::error::{IngestError, IngestResult};

/// The largest image XObject drawn on the page, decoded to grey; `None` when the page has none.
pub(crate) fn largest_page_image(
    document: &Document,
    page_id: ObjectId,
    limits: &ImageLimits,
) -> IngestResult<Option<GrayImage>> {
    let images = document
        .get_page_images(page_id)
        .map_err(|e| IngestError::Unreadable(format!("the page images cannot be read: {e}")))?;
    let Some(largest) = images
        .iter()
        .max_by_key(|i| i.width.max(0).saturating_mul(i.height.max(0)))
    else {
        return Ok(None);
    };
    let (width, height) = (largest.width, largest.height);
    if width <= 0 || height <= 0 {
        return Err(IngestError::Unreadable("a page image has no pixels".into()));
    }
    limits.check(width as u64, height as u64)?;
    let stream = document
        .get_object(largest.id)
        .and_then(Object::as_stream)
        .map_err(|e| IngestError::Unreadable(format!("a page image cannot be read: {e}")))?;
    decode_image_stream(document, stream, width as u32, height as u32, limits).map(Some)
}

fn unsupported(what: &str) -> IngestError {
    IngestError::Unreadable(format!("page images {what} are not supported"))
}

fn decode_image_stream(
    document: &Document,
    stream: &Stream,
    width: u32,
    height: u32,
    limits: &ImageLimits,
) -> IngestResult<GrayImage> {
    let filters: Vec<Vec<u8>> = stream
        .filters()
        .map(|f| f.into_iter().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let (transport, codec) = match filters.last().map(Vec::as_slice) {
        Some(b"DCTDecode" | b"DCT") => (&filters[..filters.len() - 1], Some("jpeg")),
        Some(b"JPXDecode") => return Err(unsupported("in JPEG 2000")),
        Some(b"CCITTFaxDecode" | b"CCF") => return Err(unsupported("in CCITT fax encoding")),
        Some(b"JBIG2Decode") => return Err(unsupported("in JBIG2 encoding")),
        _ => (filters.as_slice(), None),
    };
    let dict = &stream.dict;
    let bits = dict
        .get(b"BitsPerComponent")
        .and_then(Object::as_i64)
        .unwrap_or(8);
    let colors = color_components(document, dict)?;
    // Raw pixels are at most this many bytes (JPEG data is smaller still).
    let row_bytes = (u64::from(width) * colors as u64 * bits.max(1) as u64).div_ceil(8);
    let expected = row_bytes * u64::from(height);
    let budget = (expected + u64::from(height) + 4096).min(limits.max_alloc) as usize;
    let data = if transport.is_empty() {
        stream.content.clone()
    } else {
        let mut only_transport = stream.clone();
        if codec.is_some() {
            let names = transport
                .iter()
                .map(|f| Object::Name(f.clone()))
                .collect::<Vec<_>>();
            only_transport.dict.set("Filter", Object::Array(names));
            only_transport.dict.remove(b"DecodeParms");
        }
        only_transport
            .decompressed_content_with_limit(budget)
            .map_err(|e| {
                IngestError::Unreadable(format!("a page image cannot be decompressed: {e}"))
            })?
    };
    if codec.is_some() {
        return image_prep::decode(&data, ImageFormat::Jpeg, limits);
    }
    if !matches!(bits, 1 | 8) {
        return Err(unsupported(&format!("with {bits} bits per component")));
    }
    if (data.len() as u64) < expected {
        return Err(IngestError::Unreadable(
            "a page image has fewer pixels than it declares".into(),
        ));
    }
    let mut out = GrayImage::new(width, height);
    let invert_1bit = decode_is_inverted(dict);
    for y in 0..height {
        let row = &data[(u64::from(y) * row_bytes) as usize..][..row_bytes as usize];
        for x in 0..width {
            let value = match (bits, colors) {
                (1, _) => {
                    let bit = row[(x / 8) as usize] >> (7 - x % 8) & 1;
                    if (bit == 1) != invert_1bit { 255 } else { 0 }
                }
                (_, 1) => row[x as usize],
                (_, 3) => {
                    let p = &row[(x * 3) as usize..][..3];
                    luma(p[0], p[1], p[2])
                }
                (_, 4) => {
                    let p = &row[(x * 4) as usize..][..4];
                    let k = 255 - u16::from(p[3]);
                    let rgb = |c: u8| ((255 - u16::from(c)) * k / 255) as u8;
                    luma(rgb(p[0]), rgb(p[1]), rgb(p[2]))
                }
                _ => return Err(unsupported("with this colour space")),
            };
            out.put_pixel(x, y, image::Luma([value]));
        }
    }
    Ok(out)
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
}

/// `/Decode [1 0]` on a 1-bit image: 1 is black.
fn decode_is_inverted(dict: &Dictionary) -> bool {
    dict.get(b"Decode")
        .and_then(Object::as_array)
        .ok()
        .and_then(|a| a.first())
        .and_then(|o| o.as_i64().ok())
        == Some(1)
}

/// Colour components per pixel of the image's colour space.
fn color_components(document: &Document, dict: &Dictionary) -> IngestResult<usize> {
    if dict
        .get(b"ImageMask")
        .and_then(Object::as_bool)
        .unwrap_or(false)
    {
        return Ok(1);
    }
    let space = match dict.get(b"ColorSpace") {
        Ok(object) => document
            .dereference(object)
            .map(|(_, o)| o)
            .map_err(|e| IngestError::Unreadable(format!("a page image cannot be read: {e}")))?,
        // JPEG data carries its own colour information.
        Err(_) => return Ok(1),
    };
    let (name, param) = match space {
        Object::Name(name) => (name.as_slice(), None),
        Object::Array(items) => (
            items.first().and_then(|o| o.as_name().ok()).unwrap_or(b""),
            items.get(1),
        ),
        _ => (b"".as_slice(), None),
    };
    match name {
        b"DeviceGray" | b"CalGray" | b"G" => Ok(1),
        b"DeviceRGB" | b"CalRGB" | b"RGB" | b"Lab" => Ok(3),
        b"DeviceCMYK" | b"CMYK" => Ok(4),
        b"ICCBased" => {
            let n = param
                .and_then(|p| document.dereference(p).ok())
                .and_then(|(_, o)| o.as_stream().ok())
                .and_then(|s| s.dict.get(b"N").and_then(Object::as_i64).ok());
            match n {
                Some(n @ (1 | 3 | 4)) => Ok(n as usize),
                _ => Err(unsupported("with this ICC colour space")),
            }
        }
        _ => Err(unsupported(&format!(
            "in the {} colour space",
            String::from_utf8_lossy(name)
        ))),
    }
}

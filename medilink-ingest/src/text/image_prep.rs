//! Page images: safe decoding, and the clean-up that makes OCR work on scans and photos
//! (grey, even lighting, straight lines, enough pixels per character).

use std::io::Cursor;

use image::{GrayImage, ImageDecoder, ImageFormat, ImageReader, Luma};

use super::cleanup::{erase_leader_dots, even_out_light, median3, rotate, skew_angle};
use crate::error::{IngestError, IngestResult};

/// How large an image the text stage decodes. Anything larger is refused before its pixels are
/// allocated (a small file can declare billions of pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Widest image accepted, in pixels.
    pub max_width: u32,
    /// Tallest image accepted, in pixels.
    pub max_height: u32,
    /// Most pixels accepted (width × height).
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

impl Default for ImageLimits {
    /// 12 000 px a side, 40 megapixels, 256 MiB: a phone photo or a 600 dpi A4 scan fits.
    fn default() -> Self {
        ImageLimits {
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 40_000_000,
            max_alloc: 256 * 1024 * 1024,
        }
    }
}

impl ImageLimits {
    /// Refuses `width` × `height` when it is over the limits (or empty).
    pub(crate) fn check(&self, width: u64, height: u64) -> IngestResult<()> {
        if width == 0 || height == 0 {
            return Err(IngestError::Unreadable("the image is empty".into()));
        }
        if width > u64::from(self.max_width)
            || height > u64::from(self.max_height)
            || width.saturating_mul(height) > self.max_pixels
        {
            return Err(IngestError::Unreadable(format!(
                "the image is too large ({width} × {height} pixels)"
            )));
        }
        Ok(())
    }
}

/// Decodes PNG or JPEG `bytes` to grey, within `limits`, turned upright as the EXIF
/// orientation says (phone photos are often stored sideways).
pub(crate) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> IngestResult<GrayImage> {
    let unreadable =
        |e: image::ImageError| IngestError::Unreadable(format!("the image cannot be decoded: {e}"));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    // Only the header has been read so far; the size is checked before any pixel is decoded.
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    limits.check(u64::from(width), u64::from(height))?;
    if decoder.total_bytes() > limits.max_alloc {
        return Err(IngestError::Unreadable(format!(
            "the image is too large ({width} × {height} pixels)"
        )));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    Ok(image.into_luma8())
}

/// How page images are prepared for OCR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrepOptions {
    /// Width the page is scaled to (up for low-resolution photos, down for huge ones), in
    /// pixels; 0 keeps the size.
    pub target_width: u32,
    /// Whether to estimate the skew angle and straighten the page.
    pub deskew: bool,
    /// Whether to even out the lighting and stretch the contrast.
    pub normalise_light: bool,
    /// Whether to remove specks (3 × 3 median).
    pub despeckle: bool,
    /// Whether to erase dot leaders (`Glucose ........ 105`), which make OCR drop whole lines.
    pub erase_leaders: bool,
    /// Upscaling by Catmull–Rom (sharper edges than bilinear for blurred photos).
    pub bicubic: bool,
    /// σ of an unsharp mask applied after scaling, in pixels of the scaled page (0: none);
    /// undoes some of a photo's blur.
    pub sharpen: f32,
}

impl Default for PrepOptions {
    fn default() -> Self {
        PrepOptions {
            target_width: 2400,
            deskew: true,
            normalise_light: true,
            despeckle: true,
            erase_leaders: true,
            bicubic: false,
            sharpen: 0.0,
        }
    }
}

/// The page, cleaned up for OCR.
pub(crate) fn prepare(image: GrayImage, options: &PrepOptions) -> GrayImage {
    let mut image = image;
    if options.target_width > 0 && image.width() > 0 {
        let scale = f64::from(options.target_width) / f64::from(image.width());
        // Small changes are not worth the blur.
        if !(0.9..=1.1).contains(&scale) {
            let scale = scale.clamp(0.25, 3.0);
            let width = (f64::from(image.width()) * scale).round().max(1.0) as u32;
            let height = (f64::from(image.height()) * scale).round().max(1.0) as u32;
            image = if options.bicubic && scale > 1.0 {
                image::imageops::resize(
                    &image,
                    width,
                    height,
                    image::imageops::FilterType::CatmullRom,
                )
            } else {
                resize(&image, width, height)
            };
        }
    }
    if options.sharpen > 0.0 {
        image = image::imageops::unsharpen(&image, options.sharpen, 2);
    }
    if options.normalise_light {
        image = even_out_light(&image);
    }
    if options.despeckle {
        image = median3(&image);
    }
    if options.deskew {
        let angle = skew_angle(&image);
        if angle.abs() >= 0.15 {
            image = rotate(&image, angle);
        }
    }
    if options.erase_leaders {
        erase_leader_dots(&mut image);
    }
    image
}

/// `image` scaled to `width` × `height`: halved by 2 × 2 averaging while more than halving is
/// left, then bilinear.
fn resize(image: &GrayImage, width: u32, height: u32) -> GrayImage {
    let mut current = image.clone();
    while current.width() / 2 >= width.max(1) && current.height() / 2 >= height.max(1) {
        let (w, h) = (current.width() / 2, current.height() / 2);
        let source = current.as_raw();
        let stride = current.width() as usize;
        let halved = GrayImage::from_fn(w, h, |x, y| {
            let (x, y) = (2 * x as usize, 2 * y as usize);
            let sum = u16::from(source[y * stride + x])
                + u16::from(source[y * stride + x + 1])
                + u16::from(source[(y + 1) * stride + x])
                + u16::from(source[(y + 1) * stride + x + 1]);
            Luma([(sum / 4) as u8])
        });
        current = halved;
    }
    bilinear(&current, width, height)
}

/// Bilinear resampling (pixel centres aligned), in 8-bit fixed point.
pub(super) fn bilinear(image: &GrayImage, width: u32, height: u32) -> GrayImage {
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (dw, dh) = (width as usize, height as usize);
    let mut out = GrayImage::new(width, height);
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return out;
    }
    // Source index and weight (0–256) of the right/lower neighbour, per output column/row.
    let table = |source: usize, target: usize| -> Vec<(usize, u32)> {
        (0..target)
            .map(|i| {
                let s = ((i as f64 + 0.5) * source as f64 / target as f64 - 0.5)
                    .clamp(0.0, (source - 1) as f64);
                let i0 = s.floor() as usize;
                (i0, ((s - i0 as f64) * 256.0).round() as u32)
            })
            .collect()
    };
    let (xs, ys) = (table(sw, dw), table(sh, dh));
    let raw = image.as_raw();
    let target: &mut [u8] = &mut out;
    for (y, &(y0, fy)) in ys.iter().enumerate() {
        let y1 = (y0 + 1).min(sh - 1);
        let (top, bottom) = (&raw[y0 * sw..(y0 + 1) * sw], &raw[y1 * sw..(y1 + 1) * sw]);
        let row = &mut target[y * dw..(y + 1) * dw];
        for (o, &(x0, fx)) in row.iter_mut().zip(xs.iter()) {
            let x1 = (x0 + 1).min(sw - 1);
            let upper = u32::from(top[x0]) * (256 - fx) + u32::from(top[x1]) * fx;
            let lower = u32::from(bottom[x0]) * (256 - fx) + u32::from(bottom[x1]) * fx;
            *o = ((upper * (256 - fy) + lower * fy + 32768) >> 16) as u8;
        }
    }
    out
}

/// Encodes `image` as PNG (fast compression) for an OCR engine.
pub(crate) fn to_png(image: &GrayImage) -> IngestResult<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    );
    image
        .write_with_encoder(encoder)
        .map_err(|e| IngestError::Unreadable(format!("the page image cannot be encoded: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_flat_areas_and_edges_in_place() {
        let page = GrayImage::from_fn(100, 60, |x, _| Luma([if x < 50 { 0 } else { 200 }]));
        let up = resize(&page, 250, 150);
        assert_eq!(up.dimensions(), (250, 150));
        assert_eq!(up.get_pixel(10, 75).0[0], 0);
        assert_eq!(up.get_pixel(240, 75).0[0], 200);
        let edge = up.get_pixel(125, 75).0[0];
        assert!(edge > 20 && edge < 180, "{edge}");
        let down = resize(&page, 20, 12);
        assert_eq!(down.dimensions(), (20, 12));
        assert_eq!(down.get_pixel(2, 6).0[0], 0);
        assert_eq!(down.get_pixel(18, 6).0[0], 200);
    }

    /// `jpeg` with an EXIF segment saying "rotate 90° clockwise to display" (orientation 6).
    fn with_exif_orientation_6(jpeg: &[u8]) -> Vec<u8> {
        let mut exif = b"Exif\0\0MM\0*\0\0\0\x08".to_vec(); // big-endian TIFF, IFD at 8
        exif.extend([0, 1]); // one entry
        exif.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation, SHORT, 1, = 6
        exif.extend([0, 0, 0, 0]); // no next IFD
        let length = u16::try_from(exif.len() + 2).unwrap().to_be_bytes();
        let mut out = jpeg[..2].to_vec(); // SOI
        out.extend([0xFF, 0xE1, length[0], length[1]]);
        out.extend(exif);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn photos_are_turned_upright_by_their_exif_orientation() {
        let page = GrayImage::from_fn(200, 100, |x, _| Luma([if x < 20 { 0 } else { 255 }]));
        let mut jpeg = Vec::new();
        page.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let limits = ImageLimits::default();
        let plain = decode(&jpeg, ImageFormat::Jpeg, &limits).unwrap();
        assert_eq!(plain.dimensions(), (200, 100));
        let upright = decode(&with_exif_orientation_6(&jpeg), ImageFormat::Jpeg, &limits).unwrap();
        assert_eq!(upright.dimensions(), (100, 200));
        // The dark left edge is now the top edge.
        assert!(upright.get_pixel(50, 5).0[0] < 60);
        assert!(upright.get_pixel(50, 150).0[0] > 200);
    }

    #[test]
    fn refuses_declared_sizes_over_the_limits() {
        let limits = ImageLimits::default();
        assert!(limits.check(4000, 3000).is_ok());
        assert!(limits.check(60_000, 60_000).is_err());
        assert!(limits.check(0, 10).is_err());
        assert!(limits.check(12_000, 12_000).is_err()); // 144 MP > 40 MP
    }

    #[test]
    fn scales_small_pages_up() {
        let page = GrayImage::from_pixel(1000, 1300, Luma([255]));
        let out = prepare(page, &PrepOptions::default());
        assert_eq!(out.width(), 2400);
        assert_eq!(out.height(), 3120);
    }
}

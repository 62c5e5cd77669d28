//! Page images: safe decoding, and the clean-up that makes OCR work on scans and photos
//! (grey, even lighting, straight lines, enough pixels per character).

use std::io::Cursor;

use image::{GrayImage, ImageDecoder, ImageFormat, ImageReader, Luma};

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
}

impl Default for PrepOptions {
    fn default() -> Self {
        PrepOptions {
            target_width: 2400,
            deskew: true,
            normalise_light: true,
            despeckle: true,
            erase_leaders: true,
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
            image = resize(&image, width, height);
        }
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

/// 3 × 3 median: removes specks of a pixel or two, keeps strokes and decimal points (several
/// pixels wide at OCR resolution).
fn median3(image: &GrayImage) -> GrayImage {
    let (width, height) = image.dimensions();
    let mut out = image.clone();
    if width < 3 || height < 3 {
        return out;
    }
    let raw = image.as_raw();
    let w = width as usize;
    let target: &mut [u8] = &mut out;
    for y in 1..(height as usize - 1) {
        let (above, row, below) = (
            &raw[(y - 1) * w..y * w],
            &raw[y * w..(y + 1) * w],
            &raw[(y + 1) * w..(y + 2) * w],
        );
        for x in 1..(w - 1) {
            let mut p = [
                above[x - 1],
                above[x],
                above[x + 1],
                row[x - 1],
                row[x],
                row[x + 1],
                below[x - 1],
                below[x],
                below[x + 1],
            ];
            target[y * w + x] = median9(&mut p);
        }
    }
    out
}

/// The median of nine values by a fixed network of 19 compare-exchanges.
fn median9(p: &mut [u8; 9]) -> u8 {
    let mut op = |a: usize, b: usize| {
        let (lo, hi) = (p[a].min(p[b]), p[a].max(p[b]));
        p[a] = lo;
        p[b] = hi;
    };
    for (a, b) in [
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 1),
        (3, 4),
        (6, 7),
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 3),
        (5, 8),
        (4, 7),
        (3, 6),
        (1, 4),
        (2, 5),
        (4, 7),
        (4, 2),
        (6, 4),
        (4, 2),
    ] {
        op(a, b);
    }
    p[4]
}

/// Erases dot leaders: small round blobs with at least three others of their kind on the same
/// line close by. A decimal point or a full stop has letters, not dots, around it.
fn erase_leader_dots(image: &mut GrayImage) {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    let max_dot = ((f64::from(width) * 0.0035).round() as usize).max(3);
    let dark: Vec<bool> = image.as_raw().iter().map(|&p| p < 140).collect();
    let mut seen = vec![false; w * h];
    // Centre x, centre y, bounding box.
    let mut dots: Vec<(usize, usize, [usize; 4])> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !dark[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let mut too_big = false;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            if x1 - x0 >= max_dot || y1 - y0 >= max_dot {
                too_big = true;
            }
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < w).then(|| i + 1),
                (y > 0).then(|| i - w),
                (y + 1 < h).then(|| i + w),
            ];
            for n in neighbours.into_iter().flatten() {
                if dark[n] && !seen[n] {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
        if !too_big && bw >= 2 && bh >= 2 && bw <= 2 * bh && bh <= 2 * bw {
            dots.push(((x0 + x1) / 2, (y0 + y1) / 2, [x0, y0, x1, y1]));
        }
    }
    // Bucket the dots by row band and column cell, then count close neighbours on the line.
    let reach = 4 * max_dot;
    let mut grid: std::collections::HashMap<(usize, usize), Vec<usize>> = Default::default();
    for (k, (x, y, _)) in dots.iter().enumerate() {
        grid.entry((x / reach, y / reach)).or_default().push(k);
    }
    let on_the_line_near = |k: usize, other: usize| {
        let ((x, y, _), (ox, oy, _)) = (&dots[k], &dots[other]);
        other != k && ox.abs_diff(*x) <= reach && oy.abs_diff(*y) <= max_dot
    };
    let neighbours_of = |k: usize| {
        let (x, y, _) = dots[k];
        let mut found = Vec::new();
        for cx in (x / reach).saturating_sub(1)..=x / reach + 1 {
            for cy in (y / reach).saturating_sub(1)..=y / reach + 1 {
                for &other in grid.get(&(cx, cy)).map(Vec::as_slice).unwrap_or(&[]) {
                    if on_the_line_near(k, other) {
                        found.push(other);
                    }
                }
            }
        }
        found
    };
    let mut erase = vec![false; dots.len()];
    for (k, flag) in erase.iter_mut().enumerate() {
        *flag = neighbours_of(k).len() >= 3;
    }
    // The dots at either end of a leader have fewer dots around them, but a leader dot close by.
    let ends: Vec<usize> = (0..dots.len())
        .filter(|&k| !erase[k] && neighbours_of(k).iter().any(|&n| erase[n]))
        .collect();
    for k in ends {
        erase[k] = true;
    }
    let erase: Vec<usize> = (0..dots.len()).filter(|&k| erase[k]).collect();
    // The blob and its anti-aliased rim (which would otherwise read as a ring, `o`).
    for k in erase {
        let [x0, y0, x1, y1] = dots[k].2;
        for y in y0.saturating_sub(2)..=(y1 + 2).min(h - 1) {
            for x in x0.saturating_sub(2)..=(x1 + 2).min(w - 1) {
                image.put_pixel(x as u32, y as u32, Luma([255]));
            }
        }
    }
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
fn bilinear(image: &GrayImage, width: u32, height: u32) -> GrayImage {
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

/// Divides every pixel by the local paper brightness (the bright end of its neighbourhood),
/// which removes shadows and gradients, then stretches the contrast.
fn even_out_light(image: &GrayImage) -> GrayImage {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    let block = (width.min(height) / 40).max(16) as usize;
    let cols = w.div_ceil(block);
    let rows = h.div_ceil(block);
    let raw = image.as_raw();
    // Paper brightness per block: a high percentile, robust to specks.
    let mut grid = vec![0u8; cols * rows];
    let mut histograms = vec![[0u32; 256]; cols];
    for by in 0..rows {
        for histogram in &mut histograms {
            histogram.fill(0);
        }
        for y in (by * block)..((by + 1) * block).min(h) {
            for (x, &p) in raw[y * w..(y + 1) * w].iter().enumerate() {
                histograms[x / block][usize::from(p)] += 1;
            }
        }
        for (bx, histogram) in histograms.iter().enumerate() {
            let count = histogram.iter().sum::<u32>();
            grid[by * cols + bx] = percentile(histogram, count, 0.9) as u8;
        }
    }
    // Each block takes the brightest of its neighbours (text-filled blocks are darker than
    // their paper), then the grid is scaled up smoothly to a background image.
    let at = |x: usize, y: usize| grid[y * cols + x];
    let mut maxed = GrayImage::new(cols as u32, rows as u32);
    for y in 0..rows {
        for x in 0..cols {
            let mut m = 0u8;
            for ny in y.saturating_sub(1)..=(y + 1).min(rows - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(cols - 1) {
                    m = m.max(at(nx, ny));
                }
            }
            maxed.put_pixel(x as u32, y as u32, Luma([m]));
        }
    }
    let background = bilinear(&maxed, width, height);
    let mut out = GrayImage::new(width, height);
    let mut histogram = [0u32; 256];
    for ((o, &p), &b) in out
        .iter_mut()
        .zip(raw.iter())
        .zip(background.as_raw().iter())
    {
        let value = (u32::from(p) * 255 / u32::from(b).max(1)).min(255) as u8;
        *o = value;
        histogram[usize::from(value)] += 1;
    }
    // Stretch: the darkest 0.5 % becomes black.
    let low = percentile(&histogram, width * height, 0.005);
    if low < 200.0 {
        let span = (255.0 - low).max(1.0);
        let table: Vec<u8> = (0..=255u8)
            .map(|v| ((f64::from(v) - low) / span * 255.0).clamp(0.0, 255.0) as u8)
            .collect();
        for p in out.iter_mut() {
            *p = table[usize::from(*p)];
        }
    }
    out
}

fn percentile(histogram: &[u32; 256], count: u32, q: f64) -> f64 {
    let target = (f64::from(count) * q) as u64;
    let mut seen = 0u64;
    for (value, n) in histogram.iter().enumerate() {
        seen += u64::from(*n);
        if seen > target {
            return value as f64;
        }
    }
    255.0
}

/// The angle of the text lines, in degrees (positive: lines fall to the right in image
/// coordinates), found by maximising the sharpness of the horizontal projection of the dark
/// pixels over candidate angles.
fn skew_angle(image: &GrayImage) -> f64 {
    // Work on at most ~1000 px wide.
    let step = (image.width() / 1000).max(1);
    let mut points = Vec::new();
    for y in (0..image.height()).step_by(step as usize) {
        for x in (0..image.width()).step_by(step as usize) {
            if image.get_pixel(x, y).0[0] < 110 {
                points.push((f64::from(x / step), f64::from(y / step)));
            }
        }
    }
    if points.len() < 200 {
        return 0.0;
    }
    let height = f64::from(image.height() / step);
    let width = f64::from(image.width() / step);
    let bins = (height + width) as usize + 2;
    let mut histogram = vec![0u32; bins];
    let mut score = |degrees: f64| {
        let (sin, cos) = degrees.to_radians().sin_cos();
        histogram.fill(0);
        for (x, y) in &points {
            let row = (y * cos - x * sin + width) as usize;
            if let Some(slot) = histogram.get_mut(row) {
                *slot += 1;
            }
        }
        histogram
            .iter()
            .map(|&c| f64::from(c) * f64::from(c))
            .sum::<f64>()
    };
    let mut best = (0.0, score(0.0));
    let mut search = |from: f64, to: f64, by: f64, best: &mut (f64, f64)| {
        let mut angle = from;
        while angle <= to + 1e-9 {
            let s = score(angle);
            if s > best.1 {
                *best = (angle, s);
            }
            angle += by;
        }
    };
    search(-8.0, 8.0, 0.5, &mut best);
    let coarse = best.0;
    search(coarse - 0.5, coarse + 0.5, 0.05, &mut best);
    best.0
}

/// `image` turned by `-degrees` about its centre (which levels lines at `degrees`), bilinear,
/// with white where nothing was.
fn rotate(image: &GrayImage, degrees: f64) -> GrayImage {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let raw = image.as_raw();
    let mut out = GrayImage::from_pixel(width, height, Luma([255]));
    let target: &mut [u8] = &mut out;
    let sample = |x: i64, y: i64| -> f64 {
        if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
            255.0
        } else {
            f64::from(raw[y as usize * w + x as usize])
        }
    };
    for yo in 0..h {
        let dy = yo as f64 - cy;
        for xo in 0..w {
            let dx = xo as f64 - cx;
            let xs = cx + dx * cos - dy * sin;
            let ys = cy + dx * sin + dy * cos;
            let (x0, y0) = (xs.floor(), ys.floor());
            let (fx, fy) = (xs - x0, ys - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let v = (1.0 - fy) * ((1.0 - fx) * sample(x0, y0) + fx * sample(x0 + 1, y0))
                + fy * ((1.0 - fx) * sample(x0, y0 + 1) + fx * sample(x0 + 1, y0 + 1));
            target[yo * w + xo] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White page with dark horizontal bars (text lines), turned by `degrees`.
    fn lined_page(degrees: f64) -> GrayImage {
        let mut page = GrayImage::from_pixel(800, 1000, Luma([250]));
        for line in 0..20 {
            let y0 = 100 + line * 40;
            for y in y0..y0 + 10 {
                for x in 100..700 {
                    // gaps between "words"
                    if x % 60 < 50 {
                        page.put_pixel(x, y, Luma([20]));
                    }
                }
            }
        }
        rotate(&page, -degrees)
    }

    #[test]
    fn finds_the_skew_angle_and_levels_the_lines() {
        for degrees in [-4.0, -1.5, 2.0, 5.5] {
            let page = lined_page(degrees);
            let found = skew_angle(&page);
            assert!((found - degrees).abs() < 0.2, "{degrees} → {found}");
            let levelled = rotate(&page, found);
            assert!(skew_angle(&levelled).abs() < 0.2);
        }
    }

    #[test]
    fn evens_out_a_shadow() {
        // Paper that darkens from 250 to 120 left to right, with black text on both sides.
        let mut page = GrayImage::from_fn(600, 400, |x, _| Luma([(250 - x * 130 / 600) as u8]));
        for y in 200..210 {
            for x in (20..580).filter(|x| x % 40 < 20) {
                let paper = page.get_pixel(x, y).0[0];
                page.put_pixel(x, y, Luma([paper / 5]));
            }
        }
        let out = even_out_light(&page);
        let left_paper = out.get_pixel(30, 50).0[0];
        let right_paper = out.get_pixel(570, 50).0[0];
        assert!(
            left_paper > 230 && right_paper > 230,
            "{left_paper} {right_paper}"
        );
        assert!(out.get_pixel(570, 205).0[0] < 90, "dark text stays dark");
    }

    #[test]
    fn erases_dot_leaders_but_not_decimal_points() {
        // A 2400 px wide page: dots of 5 × 5 px. Leaders every 10 px on one line; a decimal
        // point between two "digits" (tall bars) on another.
        let mut page = GrayImage::from_pixel(2400, 200, Luma([255]));
        let blob = |page: &mut GrayImage, x0: u32, y0: u32, w: u32, h: u32| {
            for y in y0..y0 + h {
                for x in x0..x0 + w {
                    page.put_pixel(x, y, Luma([0]));
                }
            }
        };
        for k in 0..20 {
            blob(&mut page, 100 + k * 10, 50, 5, 5);
        }
        blob(&mut page, 400, 130, 12, 30);
        blob(&mut page, 416, 155, 5, 5);
        blob(&mut page, 425, 130, 12, 30);
        erase_leader_dots(&mut page);
        assert!(
            (100..300).all(|x| page.get_pixel(x, 52).0[0] == 255),
            "leaders erased"
        );
        assert_eq!(page.get_pixel(418, 157).0[0], 0, "decimal point kept");
        assert_eq!(page.get_pixel(405, 140).0[0], 0, "digits kept");
    }

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
    fn median9_is_the_median() {
        let mut state = 12345u32;
        for _ in 0..2000 {
            let mut values = [0u8; 9];
            for v in &mut values {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *v = (state >> 16) as u8;
            }
            let mut sorted = values;
            sorted.sort_unstable();
            assert_eq!(median9(&mut values), sorted[4]);
        }
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

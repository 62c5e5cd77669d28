//! Page images: safe decoding, and the clean-up that makes OCR work on scans and photos
//! (grey, even lighting, straight lines, enough pixels per character).

use std::io::Cursor;

use image::{GrayImage, ImageFormat, ImageReader, Luma, imageops};

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

/// Decodes PNG or JPEG `bytes` to grey, within `limits`.
pub(crate) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> IngestResult<GrayImage> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits.clone());
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| IngestError::Unreadable(format!("the image cannot be decoded: {e}")))?;
    limits.check(u64::from(width), u64::from(height))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoder_limits);
    let image = reader
        .decode()
        .map_err(|e| IngestError::Unreadable(format!("the image cannot be decoded: {e}")))?;
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
    /// Whether to remove specks (3 × 3 median) and dot leaders (`Glucose ........ 105`), which
    /// make OCR drop whole lines.
    pub clean_dots: bool,
}

impl Default for PrepOptions {
    fn default() -> Self {
        PrepOptions {
            target_width: 2400,
            deskew: true,
            normalise_light: true,
            clean_dots: true,
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
            image = imageops::resize(&image, width, height, imageops::FilterType::Triangle);
        }
    }
    if options.normalise_light {
        image = even_out_light(&image);
    }
    if options.clean_dots {
        image = median3(&image);
    }
    if options.deskew {
        let angle = skew_angle(&image);
        if angle.abs() >= 0.15 {
            image = rotate(&image, angle);
        }
    }
    if options.clean_dots {
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
    let mut window = [0u8; 9];
    for y in 1..(height as usize - 1) {
        for x in 1..(w - 1) {
            for (k, slot) in window.iter_mut().enumerate() {
                *slot = raw[(y + k / 3 - 1) * w + x + k % 3 - 1];
            }
            window.select_nth_unstable(4);
            out.put_pixel(x as u32, y as u32, Luma([window[4]]));
        }
    }
    out
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
    let mut erase = Vec::new();
    for (k, (x, y, _)) in dots.iter().enumerate() {
        let mut neighbours = 0;
        for cx in (x / reach).saturating_sub(1)..=x / reach + 1 {
            for cy in (y / reach).saturating_sub(1)..=y / reach + 1 {
                for &other in grid.get(&(cx, cy)).map(Vec::as_slice).unwrap_or(&[]) {
                    let (ox, oy, _) = &dots[other];
                    if other != k && ox.abs_diff(*x) <= reach && oy.abs_diff(*y) * 2 <= max_dot {
                        neighbours += 1;
                    }
                }
            }
        }
        if neighbours >= 3 {
            erase.push(k);
        }
    }
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
    let block = (width.min(height) / 40).max(16);
    let cols = width.div_ceil(block);
    let rows = height.div_ceil(block);
    // Paper brightness per block: a high percentile, robust to specks.
    let mut grid = vec![0f64; (cols * rows) as usize];
    let mut histogram = [0u32; 256];
    for by in 0..rows {
        for bx in 0..cols {
            histogram.fill(0);
            let mut count = 0u32;
            for y in (by * block)..((by + 1) * block).min(height) {
                for x in (bx * block)..((bx + 1) * block).min(width) {
                    histogram[usize::from(image.get_pixel(x, y).0[0])] += 1;
                    count += 1;
                }
            }
            grid[(by * cols + bx) as usize] = percentile(&histogram, count, 0.9);
        }
    }
    // Smooth the grid (3 × 3 maximum then mean) so text-filled blocks take their neighbours'
    // paper brightness.
    let at = |g: &[f64], x: i64, y: i64| {
        let x = x.clamp(0, i64::from(cols) - 1) as u32;
        let y = y.clamp(0, i64::from(rows) - 1) as u32;
        g[(y * cols + x) as usize]
    };
    let mut maxed = grid.clone();
    for y in 0..i64::from(rows) {
        for x in 0..i64::from(cols) {
            let mut m = 0f64;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    m = m.max(at(&grid, x + dx, y + dy));
                }
            }
            maxed[(y as u32 * cols + x as u32) as usize] = m;
        }
    }
    let mut smooth = maxed.clone();
    for y in 0..i64::from(rows) {
        for x in 0..i64::from(cols) {
            let mut s = 0f64;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    s += at(&maxed, x + dx, y + dy);
                }
            }
            smooth[(y as u32 * cols + x as u32) as usize] = s / 9.0;
        }
    }
    let mut out = GrayImage::new(width, height);
    let half = f64::from(block) / 2.0;
    for y in 0..height {
        let gy = ((f64::from(y) - half) / f64::from(block)).max(0.0);
        let y0 = gy.floor() as i64;
        let fy = gy - y0 as f64;
        for x in 0..width {
            let gx = ((f64::from(x) - half) / f64::from(block)).max(0.0);
            let x0 = gx.floor() as i64;
            let fx = gx - x0 as f64;
            let background = (1.0 - fy)
                * ((1.0 - fx) * at(&smooth, x0, y0) + fx * at(&smooth, x0 + 1, y0))
                + fy * ((1.0 - fx) * at(&smooth, x0, y0 + 1) + fx * at(&smooth, x0 + 1, y0 + 1));
            let value = f64::from(image.get_pixel(x, y).0[0]) / background.max(1.0);
            out.put_pixel(x, y, Luma([(value * 255.0).clamp(0.0, 255.0) as u8]));
        }
    }
    // Stretch: the darkest 0.5 % becomes black.
    let mut histogram = [0u32; 256];
    for p in out.pixels() {
        histogram[usize::from(p.0[0])] += 1;
    }
    let low = percentile(&histogram, width * height, 0.005);
    if low < 200.0 {
        let span = (255.0 - low).max(1.0);
        for p in out.pixels_mut() {
            let v = (f64::from(p.0[0]) - low) / span * 255.0;
            p.0[0] = v.clamp(0.0, 255.0) as u8;
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
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let mut out = GrayImage::from_pixel(width, height, Luma([255]));
    let sample = |x: i64, y: i64| -> f64 {
        if x < 0 || y < 0 || x >= i64::from(width) || y >= i64::from(height) {
            255.0
        } else {
            f64::from(image.get_pixel(x as u32, y as u32).0[0])
        }
    };
    for yo in 0..height {
        let dy = f64::from(yo) - cy;
        for xo in 0..width {
            let dx = f64::from(xo) - cx;
            let xs = cx + dx * cos - dy * sin;
            let ys = cy + dx * sin + dy * cos;
            let (x0, y0) = (xs.floor(), ys.floor());
            let (fx, fy) = (xs - x0, ys - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let v = (1.0 - fy) * ((1.0 - fx) * sample(x0, y0) + fx * sample(x0 + 1, y0))
                + fy * ((1.0 - fx) * sample(x0, y0 + 1) + fx * sample(x0 + 1, y0 + 1));
            out.put_pixel(xo, yo, Luma([v.round().clamp(0.0, 255.0) as u8]));
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

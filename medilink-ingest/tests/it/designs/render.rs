//! Scans and photos of generated reports: the text PDF rasterised by `pdftoppm` (Debian
//! `poppler-utils`, installed by `scripts/setup`), then degraded.
//!
//! - **scan**: 150 dpi grey, rotated 0.3–1.5°, grey paper, noise and specks, JPEG quality 70,
//!   one image per page in a PDF without a text layer;
//! - **photo**: the first page at 130 dpi, rotated 2–5°, blurred (σ 0.7), lit unevenly (a
//!   gradient from one corner, 55–100 % brightness), noisy, JPEG quality 75.

use std::io::Cursor;
use std::process::Command;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, Luma};

use super::{Report, Rng};

/// Whether `pdftoppm` can be run.
pub(crate) fn available() -> bool {
    Command::new("pdftoppm")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty())
}

/// The pages of `pdf` as grey images at `dpi` (the first `pages` only).
fn rasterise(pdf: &[u8], dpi: u32, pages: usize) -> Vec<GrayImage> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("report.pdf");
    std::fs::write(&input, pdf).expect("PDF written");
    let output = Command::new("pdftoppm")
        .arg("-r")
        .arg(dpi.to_string())
        .arg("-gray")
        .arg("-png")
        .arg("-l")
        .arg(pages.to_string())
        .arg(&input)
        .arg(dir.path().join("page"))
        .output()
        .expect("pdftoppm runs (apt-get install poppler-utils)");
    assert!(output.status.success(), "pdftoppm: {output:?}");
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("pages")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| image::open(p).expect("page image").to_luma8())
        .collect()
}

/// `image` turned by `degrees` about its centre (bilinear), the corners filled with `fill`.
fn rotate(image: &GrayImage, degrees: f64, fill: u8) -> GrayImage {
    let (w, h) = image.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    GrayImage::from_fn(w, h, |x, y| {
        let dx = f64::from(x) - cx;
        let dy = f64::from(y) - cy;
        let sx = cos * dx + sin * dy + cx;
        let sy = -sin * dx + cos * dy + cy;
        if sx < 0.0 || sy < 0.0 || sx >= f64::from(w - 1) || sy >= f64::from(h - 1) {
            return Luma([fill]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let p = |x: u32, y: u32| f64::from(image.get_pixel(x, y).0[0]);
        let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
        let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
        Luma([(top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8])
    })
}

fn jpeg(image: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut out), quality)
        .encode_image(image)
        .expect("JPEG encoded");
    out
}

/// A scanned PDF of the report (the first `pages` pages).
pub(crate) fn scan(report: &Report, seed: u64, pages: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x5CA7);
    let mut images = Vec::new();
    for page in rasterise(&report.pdf(), 150, pages) {
        let angle = (0.3 + rng.unit() * 1.2) * if rng.chance(0.5) { 1.0 } else { -1.0 };
        let mut page = rotate(&page, angle, 235);
        let paper = 225.0 + rng.unit() * 20.0;
        for pixel in page.pixels_mut() {
            let ink = f64::from(pixel.0[0]) / 255.0;
            let noise = (rng.unit() - 0.5) * 30.0;
            let mut v = ink * paper + noise;
            if rng.chance(0.0008) {
                v = 40.0;
            }
            pixel.0[0] = v.clamp(0.0, 255.0) as u8;
        }
        let (w, h) = page.dimensions();
        images.push((jpeg(&page, 70), w, h));
    }
    super::pdf::scanned(&images, report.page_size)
}

/// A photo (JPEG) of the report's first page.
pub(crate) fn photo(report: &Report, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0xF070);
    let page = rasterise(&report.pdf(), 130, 1).remove(0);
    let angle = (2.0 + rng.unit() * 3.0) * if rng.chance(0.5) { 1.0 } else { -1.0 };
    let page = rotate(&page, angle, 90);
    let mut page = image::imageops::blur(&page, 0.7);
    let (w, h) = page.dimensions();
    let corner = rng.below(4);
    for (x, y, pixel) in page.enumerate_pixels_mut() {
        let fx = f64::from(x) / f64::from(w);
        let fy = f64::from(y) / f64::from(h);
        let (gx, gy) = match corner {
            0 => (fx, fy),
            1 => (1.0 - fx, fy),
            2 => (fx, 1.0 - fy),
            _ => (1.0 - fx, 1.0 - fy),
        };
        let light = 1.0 - 0.45 * (gx + gy) / 2.0;
        let noise = (rng.unit() - 0.5) * 24.0;
        let v = f64::from(pixel.0[0]) * light + noise;
        pixel.0[0] = v.clamp(0.0, 255.0) as u8;
    }
    jpeg(&page, 75)
}

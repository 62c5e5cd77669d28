//! The clean-up steps for page images before OCR: lighting, specks, skew, dot leaders.
//! Each works on grey pixels in place of the whole page; [`super::image_prep::prepare`] runs
//! them in order.

use image::{GrayImage, Luma};

use super::image_prep::bilinear;

/// Divides every pixel by the local paper brightness (the bright end of its neighbourhood),
/// which removes shadows and gradients, then stretches the contrast.
pub(super) fn even_out_light(image: &GrayImage) -> GrayImage {
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

/// 3 × 3 median: removes specks of a pixel or two, keeps strokes and decimal points (several
/// pixels wide at OCR resolution).
pub(super) fn median3(image: &GrayImage) -> GrayImage {
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
pub(super) fn erase_leader_dots(image: &mut GrayImage) {
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

/// The angle of the text lines, in degrees (positive: lines fall to the right in image
/// coordinates), found by maximising the sharpness of the horizontal projection of the dark
/// pixels over candidate angles.
pub(super) fn skew_angle(image: &GrayImage) -> f64 {
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
pub(super) fn rotate(image: &GrayImage, degrees: f64) -> GrayImage {
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
}

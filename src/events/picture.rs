//! Motion in the picture, pure: the luma plane scaled down to about [`HEIGHT`] rows (box
//! filter), at most one analysis per [`MIN_GAP`], each pixel compared with its running mean
//! against a threshold of its own running deviation (pixels that always change — a clock
//! burned into the picture, leaves, noise — learn a wide band and stop counting) and a noise
//! floor. Only pixels inside the zones (all of them without zones) and outside the masks
//! count; motion is a share of them changed of at least `min_area`. A change over most of
//! the picture (lights, the camera's IR switching) recalibrates instead of firing.

use std::time::Duration;

/// Rows the picture is analysed at.
pub const HEIGHT: usize = 100;
/// At most five analyses a second.
pub const MIN_GAP: Duration = Duration::from_millis(200);
/// Analyses spent learning the scene before any can fire (and after a recalibration), at
/// [`LEARN_RATE`]: long enough for a clock burned into the picture to widen its band.
const LEARN: u32 = 15;
/// How fast the mean and deviation follow the scene, per analysis (≈ 4 s at 5 a second).
const RATE: f32 = 0.05;
const LEARN_RATE: f32 = 0.3;
/// Changed over more than this share of the picture: the whole picture changed.
const GLOBAL: f32 = 0.6;

/// A polygon in picture coordinates, `0..1` both ways from the top left.
pub type Polygon = Vec<(f32, f32)>;

/// What to look at and how hard.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Only these areas count (none: the whole picture).
    pub zones: Vec<Polygon>,
    /// These areas never count.
    pub masks: Vec<Polygon>,
    /// 0 (only large, strong changes) … 1 (the faintest); default 0.5.
    pub sensitivity: f32,
    /// The share of the counted area that must change; default 0.01.
    pub min_area: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            masks: Vec::new(),
            sensitivity: 0.5,
            min_area: 0.01,
        }
    }
}

/// Whether `(x, y)` lies inside `poly` (even-odd rule).
pub fn inside(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut c = false;
    let n = poly.len();
    for i in 0..n {
        let (xi, yi) = poly[i];
        let (xj, yj) = poly[(i + n - 1) % n];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            c = !c;
        }
    }
    c
}

/// `columns` summed in groups of `F` into `out`, times `scale` (`F` known when compiled: the
/// common sizes get straight code: 180, 270, 360, 540, 720 and 1080 rows).
fn groups<const F: usize>(columns: &[u32], out: &mut [f32], scale: f32) {
    for (o, group) in out.iter_mut().zip(columns.chunks_exact(F)) {
        *o = group.iter().sum::<u32>() as f32 * scale;
    }
}

/// One camera's detector.
#[derive(Debug, Clone)]
pub struct Detector {
    settings: Settings,
    /// The analysed size and the source size it came from.
    size: (usize, usize),
    source: (usize, usize),
    /// Counted pixels (zones less masks) of the analysed size.
    counted: Vec<bool>,
    counted_n: usize,
    mean: Vec<f32>,
    /// Running squared deviation.
    var: Vec<f32>,
    small: Vec<f32>,
    learning: u32,
    last: Option<Duration>,
    /// The share changed at the last analysis (for tests and benches).
    pub changed: f32,
}

impl Detector {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            size: (0, 0),
            source: (0, 0),
            counted: Vec::new(),
            counted_n: 0,
            mean: Vec::new(),
            var: Vec::new(),
            small: Vec::new(),
            learning: LEARN,
            last: None,
            changed: 0.0,
        }
    }

    /// The noise floor (luma levels) and the deviations a pixel must be off by.
    fn thresholds(&self) -> (f32, f32) {
        let s = self.settings.sensitivity.clamp(0.0, 1.0);
        (30.0 - 20.0 * s, 4.0 - 1.5 * s)
    }

    fn resize(&mut self, width: usize, height: usize) {
        let factor = height.div_ceil(HEIGHT).max(1);
        let (w, h) = ((width / factor).max(1), (height / factor).max(1));
        self.source = (width, height);
        self.size = (w, h);
        self.counted = (0..w * h)
            .map(|i| {
                let x = ((i % w) as f32 + 0.5) / w as f32;
                let y = ((i / w) as f32 + 0.5) / h as f32;
                let zoned = self.settings.zones.is_empty()
                    || self.settings.zones.iter().any(|z| inside(z, x, y));
                zoned && !self.settings.masks.iter().any(|m| inside(m, x, y))
            })
            .collect();
        self.counted_n = self.counted.iter().filter(|c| **c).count();
        self.mean.clear();
        self.learning = LEARN;
    }

    /// The luma plane box-filtered down to the analysed size: each output row's source rows
    /// added column by column first (each source row read once, in order, in a loop the
    /// compiler vectorises), then those column sums in groups.
    fn shrink(&mut self, luma: &[u8], stride: usize) {
        let (w, h) = self.size;
        let factor = self.source.1.div_ceil(HEIGHT).max(1);
        let scale = 1.0 / (factor * factor) as f32;
        self.small.clear();
        self.small.resize(w * h, 0.0);
        let mut columns = vec![0u32; w * factor];
        for (y, out) in self.small.chunks_exact_mut(w).enumerate() {
            columns.fill(0);
            for row in y * factor..(y + 1) * factor {
                let Some(line) = luma.get(row * stride..row * stride + w * factor) else {
                    continue;
                };
                for (sum, &px) in columns.iter_mut().zip(line) {
                    *sum += u32::from(px);
                }
            }
            match factor {
                2 => groups::<2>(&columns, out, scale),
                3 => groups::<3>(&columns, out, scale),
                4 => groups::<4>(&columns, out, scale),
                6 => groups::<6>(&columns, out, scale),
                8 => groups::<8>(&columns, out, scale),
                11 => groups::<11>(&columns, out, scale),
                _ => {
                    for (o, group) in out.iter_mut().zip(columns.chunks_exact(factor)) {
                        *o = group.iter().sum::<u32>() as f32 * scale;
                    }
                }
            }
        }
    }

    /// Looks at one picture's luma plane taken at `at`; `None` when it is too soon after the
    /// last one or the detector is still learning, else whether there is motion.
    pub fn feed(
        &mut self,
        luma: &[u8],
        stride: usize,
        width: usize,
        height: usize,
        at: Duration,
    ) -> Option<bool> {
        if width == 0 || height == 0 || luma.len() < stride * (height - 1) + width {
            return None;
        }
        if self.last.is_some_and(|t| at < t + MIN_GAP) {
            return None;
        }
        self.last = Some(at);
        if self.source != (width, height) {
            self.resize(width, height);
        }
        self.shrink(luma, stride);
        if self.mean.is_empty() {
            let (floor, _) = self.thresholds();
            self.mean = self.small.clone();
            self.var = vec![floor * floor / 4.0; self.small.len()];
            return None;
        }
        let (floor, k) = self.thresholds();
        let rate = if self.learning > 0 { LEARN_RATE } else { RATE };
        let (mut changed, mut changed_all) = (0u32, 0u32);
        let k2 = k * k;
        let n = self.small.len();
        let (small, mean, var) = (&self.small[..n], &mut self.mean[..n], &mut self.var[..n]);
        let counted = &self.counted[..n];
        // One straight loop over equal slices, without branches (most pixels are still): the
        // compiler turns it into vector code.
        for i in 0..n {
            let d = small[i] - mean[i];
            let d2 = d * d;
            let hit = u32::from((d.abs() > floor) & (d2 > k2 * var[i]));
            changed_all += hit;
            changed += hit & u32::from(counted[i]);
            mean[i] += rate * d;
            var[i] += rate * (d2 - var[i]);
        }
        let (changed, changed_all) = (changed as usize, changed_all as usize);
        self.changed = changed as f32 / self.counted_n.max(1) as f32;
        if changed_all as f32 > GLOBAL * self.small.len() as f32 {
            // The lights went on, or the camera switched to night: learn the new scene.
            self.mean.copy_from_slice(&self.small);
            self.learning = LEARN;
            return None;
        }
        if self.learning > 0 {
            self.learning -= 1;
            if self.learning == 0 {
                tracing::info!("looking for motion in the picture");
            }
            return None;
        }
        Some(self.counted_n > 0 && self.changed >= self.settings.min_area)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 320;
    const H: usize = 180;

    /// A textured still scene with `noise` (± luma levels, repeatable), a box at `bx`, and
    /// a brightness `shift`.
    fn scene(t: u32, noise: i32, bx: Option<usize>, shift: i32) -> Vec<u8> {
        let mut px = vec![0u8; W * H];
        let mut seed = t.wrapping_mul(2_654_435_761).wrapping_add(1);
        for y in 0..H {
            for x in 0..W {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let n = if noise > 0 {
                    (seed % (2 * noise as u32 + 1)) as i32 - noise
                } else {
                    0
                };
                let texture = 60 + ((x / 16 + y / 16) % 3) as i32 * 40;
                px[y * W + x] = (texture + n + shift).clamp(0, 255) as u8;
            }
        }
        if let Some(bx) = bx {
            for y in 70..106 {
                for x in bx..bx + 36 {
                    px[y * W + x] = 235;
                }
            }
        }
        px
    }

    fn run(d: &mut Detector, frames: impl Iterator<Item = (u32, Vec<u8>)>) -> Vec<Option<bool>> {
        frames
            .map(|(t, px)| d.feed(&px, W, W, H, MIN_GAP * t))
            .collect()
    }

    #[test]
    fn shrinking_is_a_box_filter_at_every_size() {
        // Heights whose factor has its own code (2, 3, 4, 6, 8, 11) and one that has not (5).
        for height in [180, 270, 360, 500, 540, 720, 1080] {
            let width = height * 16 / 9;
            let stride = width + 7;
            let luma: Vec<u8> = (0..stride * height)
                .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            let mut d = Detector::new(Settings::default());
            d.resize(width, height);
            d.shrink(&luma, stride);
            let factor = height.div_ceil(HEIGHT);
            let (w, h) = d.size;
            for (y, x) in [(0, 0), (h / 2, w / 3), (h - 1, w - 1)] {
                let mut sum = 0u32;
                for row in y * factor..(y + 1) * factor {
                    for col in x * factor..(x + 1) * factor {
                        sum += u32::from(luma[row * stride + col]);
                    }
                }
                let want = sum as f32 / (factor * factor) as f32;
                assert!(
                    (d.small[y * w + x] - want).abs() < 1e-3,
                    "{height} rows at ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn a_moving_box_fires_and_a_still_noisy_scene_does_not() {
        let mut d = Detector::new(Settings::default());
        let still = run(&mut d, (0..40).map(|t| (t, scene(t, 6, None, 0))));
        assert!(still.iter().all(|m| *m != Some(true)), "{still:?}");
        let moving = run(
            &mut d,
            (40..50).map(|t| (t, scene(t, 6, Some(20 + (t as usize - 40) * 25), 0))),
        );
        assert!(moving.iter().all(|m| *m == Some(true)), "{moving:?}");
    }

    #[test]
    fn a_brightness_jump_recalibrates_instead_of_firing() {
        let mut d = Detector::new(Settings::default());
        run(&mut d, (0..20).map(|t| (t, scene(t, 4, None, 0))));
        let after = run(&mut d, (20..50).map(|t| (t, scene(t, 4, None, 50))));
        assert!(after.iter().all(|m| *m != Some(true)), "{after:?}");
    }

    #[test]
    fn a_mask_over_the_motion_silences_it_and_a_zone_elsewhere_ignores_it() {
        let band = vec![(0.0, 0.3), (1.0, 0.3), (1.0, 0.65), (0.0, 0.65)];
        for settings in [
            Settings {
                masks: vec![band.clone()],
                ..Settings::default()
            },
            Settings {
                zones: vec![vec![(0.0, 0.0), (1.0, 0.0), (1.0, 0.2), (0.0, 0.2)]],
                ..Settings::default()
            },
        ] {
            let mut d = Detector::new(settings);
            run(&mut d, (0..20).map(|t| (t, scene(t, 4, None, 0))));
            let moving = run(
                &mut d,
                (20..30).map(|t| (t, scene(t, 4, Some(20 + (t as usize - 20) * 25), 0))),
            );
            assert!(moving.iter().all(|m| *m != Some(true)), "{moving:?}");
        }
    }

    #[test]
    fn at_most_five_a_second_and_polygons() {
        let mut d = Detector::new(Settings::default());
        let px = scene(0, 0, None, 0);
        assert_eq!(d.feed(&px, W, W, H, Duration::ZERO), None);
        assert_eq!(d.feed(&px, W, W, H, Duration::from_millis(100)), None);
        assert_eq!(d.last, Some(Duration::ZERO), "too soon: not analysed");
        let square = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)];
        assert!(inside(&square, 0.5, 0.5));
        assert!(!inside(&square, 0.1, 0.5));
        // A short plane is refused, never read out of bounds.
        assert_eq!(d.feed(&px[..100], W, W, H, Duration::from_secs(9)), None);
    }
}

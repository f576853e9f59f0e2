//! The simulated camera's picture source: draws a synthetic scene (a textured landscape seen
//! through the PTZ head's viewport, its luma shifted by the brightness; a moving box, the
//! camera name, a frame counter, the wall-clock time and, along the top edge, the capture
//! clock as a machine-readable code for glass-to-glass latency) into YUV 4:2:0 and encodes
//! it with FFmpeg (libx264/libx265) on its own thread, at the configured rate, only while
//! someone watches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;
use font8x8::UnicodeFonts;
use tokio::sync::{broadcast, watch};

use crate::media::nal::parameter_sets;
use crate::media::{VideoCodec, clock_code, init_ffmpeg, unix_ms};

use super::ptz::{Head, View};

/// One encoded access unit (Annex B, parameter sets before keyframes).
#[derive(Debug)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    /// Counts frames from the source's start; the RTP timestamp derives from it.
    pub index: u64,
}

/// What a source looks like.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    /// 0-based position; picks the picture's colour.
    pub index: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub codec: VideoCodec,
    /// H.265 with open GOPs: CRA keyframes instead of IDR (as some cameras send).
    pub open_gop: bool,
    /// Sensor noise: each luma pixel off by up to ± this much, anew every frame.
    pub noise: u8,
    /// Seconds between keyframes (at least 1).
    pub keyframe_secs: u32,
}

/// A running source, shared by all sessions of one simulated camera.
pub struct Source {
    pub spec: SourceSpec,
    pub frames: broadcast::Sender<Arc<EncodedFrame>>,
    /// Parameter set NAL units (VPS,) SPS, PPS once the first keyframe is out.
    pub params: watch::Receiver<Option<Vec<Vec<u8>>>>,
    /// Ask for an IDR at the next frame (a new viewer is waiting).
    pub force_keyframe: AtomicBool,
    pub encoded: AtomicU64,
    /// Where the camera looks (moved over ONVIF).
    pub head: Arc<Head>,
    /// Whether the box moves (shared with the sub stream, as the head is).
    pub activity: Arc<Activity>,
    stop: AtomicBool,
}

/// Whether the scene's box moves: always (as the simulated camera always did) until someone
/// sets it; then only while motion is on, which the camera's ONVIF event service reports.
pub struct Activity {
    state: std::sync::Mutex<Moved>,
    /// Motion as the event service reports it (false until set).
    motion: watch::Sender<bool>,
}

struct Moved {
    on: bool,
    since: Instant,
    /// Time moved before `since`.
    before: Duration,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            state: std::sync::Mutex::new(Moved {
                on: true,
                since: Instant::now(),
                before: Duration::ZERO,
            }),
            motion: watch::channel(false).0,
        }
    }
}

impl Activity {
    /// Starts (`true`) or stops the box, and says so over ONVIF.
    pub fn set(&self, on: bool) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("activity lock");
        if s.on != on {
            if s.on {
                let since = s.since;
                s.before += now - since;
            }
            s.on = on;
            s.since = now;
        }
        drop(s);
        self.motion
            .send_if_modified(|m| std::mem::replace(m, on) != on);
    }

    /// How long the box has moved by `now`.
    fn moved(&self, now: Instant) -> Duration {
        let s = self.state.lock().expect("activity lock");
        s.before + if s.on { now - s.since } else { Duration::ZERO }
    }

    /// Motion as reported, watched for changes.
    pub fn motion(&self) -> watch::Receiver<bool> {
        self.motion.subscribe()
    }
}

impl Source {
    /// Starts the encoder thread; the first frame is encoded at once to learn the parameter sets.
    /// `head` is where it looks (a sub stream shares its main stream's).
    pub fn start(
        spec: SourceSpec,
        head: Arc<Head>,
        activity: Arc<Activity>,
    ) -> std::io::Result<Arc<Self>> {
        let (frames, _) = broadcast::channel(64);
        let (params_tx, params) = watch::channel(None);
        let source = Arc::new(Self {
            spec,
            frames,
            params,
            force_keyframe: AtomicBool::new(false),
            encoded: AtomicU64::new(0),
            head,
            activity,
            stop: AtomicBool::new(false),
        });
        let src = source.clone();
        std::thread::Builder::new()
            .name(format!("simcam {}", source.spec.name))
            .spawn(move || {
                if let Err(e) = src.encode_loop(&params_tx) {
                    tracing::error!("simulated camera {}: encoder failed: {e}", src.spec.name);
                }
            })?;
        Ok(source)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn encode_loop(
        &self,
        params_tx: &watch::Sender<Option<Vec<Vec<u8>>>>,
    ) -> Result<(), ffmpeg::Error> {
        init_ffmpeg();
        let spec = &self.spec;
        let mut encoder = open_encoder(spec)?;
        let mut picture = ffmpeg::frame::Video::new(Pixel::YUV420P, spec.width, spec.height);
        let mut packet = ffmpeg::Packet::empty();
        let period = Duration::from_secs_f64(1.0 / f64::from(spec.fps));
        let mut index = 0u64;
        let mut next = Instant::now();
        let mut idle = true;
        while !self.stop.load(Ordering::Relaxed) {
            let watched = self.frames.receiver_count() > 0;
            if !watched && params_tx.borrow().is_some() {
                // Nobody watches: encode nothing, keep the clock fresh.
                idle = true;
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            if idle {
                idle = false;
                next = Instant::now();
                self.force_keyframe.store(true, Ordering::Relaxed);
            }
            let (view, brightness) = self.head.sample(Instant::now());
            let moved = self.activity.moved(Instant::now());
            draw(&mut picture, spec, index, moved, view, brightness);
            picture.set_pts(Some(index as i64));
            let key = self.force_keyframe.swap(false, Ordering::Relaxed);
            picture.set_kind(if key {
                ffmpeg::picture::Type::I
            } else {
                ffmpeg::picture::Type::None
            });
            encoder.send_frame(&picture)?;
            while encoder.receive_packet(&mut packet).is_ok() {
                let Some(data) = packet.data() else { continue };
                let keyframe = packet.is_key();
                if keyframe && params_tx.borrow().is_none() {
                    let sets: Vec<Vec<u8>> = parameter_sets(spec.codec, data)
                        .into_iter()
                        .map(<[u8]>::to_vec)
                        .collect();
                    if !sets.is_empty() {
                        let _ = params_tx.send(Some(sets));
                    }
                }
                self.encoded.fetch_add(1, Ordering::Relaxed);
                let _ = self.frames.send(Arc::new(EncodedFrame {
                    data: data.to_vec(),
                    keyframe,
                    index,
                }));
            }
            index += 1;
            next += period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > period * 10 {
                next = now; // fell far behind (machine busy): do not burst to catch up
            }
        }
        Ok(())
    }
}

/// The simulated camera's encoder: x264 (or x265), else Cisco's OpenH264 for H.264 (the
/// Windows build's FFmpeg, which stays LGPL, has only that one).
fn open_encoder(spec: &SourceSpec) -> Result<ffmpeg::encoder::Video, ffmpeg::Error> {
    let names: &[&str] = match spec.codec {
        VideoCodec::H264 => &["libx264", "libopenh264"],
        VideoCodec::H265 => &["libx265"],
    };
    let codec = names
        .iter()
        .find_map(|n| ffmpeg::encoder::find_by_name(n))
        .ok_or(ffmpeg::Error::EncoderNotFound)?;
    let mut enc = ffmpeg::codec::Context::new_with_codec(codec)
        .encoder()
        .video()?;
    enc.set_width(spec.width);
    enc.set_height(spec.height);
    enc.set_format(Pixel::YUV420P);
    enc.set_time_base((1, spec.fps as i32));
    enc.set_frame_rate(Some((spec.fps as i32, 1)));
    // A keyframe every second by default: a new viewer waits at most that long.
    enc.set_gop(spec.fps * spec.keyframe_secs.max(1));
    enc.set_max_b_frames(0);
    let mut opts = ffmpeg::Dictionary::new();
    match (codec.name(), spec.open_gop) {
        ("libopenh264", _) => {
            // No quality mode: about 0.1 bit per pixel, like x264's CRF 28 on this scene.
            enc.set_bit_rate((spec.width * spec.height * spec.fps / 10) as usize);
            opts.set("rc_mode", "bitrate");
            opts.set("allow_skip_frames", "0");
        }
        (x26, open_gop) => {
            opts.set("preset", "ultrafast");
            opts.set("tune", "zerolatency");
            opts.set("crf", "28");
            opts.set("threads", "2");
            match x26 {
                "libx264" => opts.set("x264-params", "log-level=error"),
                _ => opts.set(
                    "x265-params",
                    if open_gop {
                        "log-level=error:repeat-headers=1:open-gop=1"
                    } else {
                        "log-level=error:repeat-headers=1:open-gop=0"
                    },
                ),
            }
        }
    }
    enc.open_with(opts)
}

/// Cells across the scene, each way.
const CELLS: f64 = 32.0;

/// The scene's luma at cell `(cx, cy)`: a fixed pseudo-random texture (so a moved view shows
/// a shifted picture) over a gentle gradient.
fn cell_luma(cx: i64, cy: i64) -> i32 {
    let mut h = (cx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (cy as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    40 + (h % 110) as i32 + (cy as i32) * 2
}

/// The scene through `view` into the luma plane, brightness 50 drawing it as it is.
fn draw_scene(y: &mut [u8], stride: usize, w: usize, h: usize, view: View, brightness: f32) {
    let size = view.size();
    let (left, top) = (view.x - size / 2.0, view.y - size / 2.0);
    let offset = ((brightness - 50.0) * 1.6) as i32;
    let col_cell: Vec<(i64, bool)> = (0..w)
        .map(|px| {
            let sx = (left + (px as f64 + 0.5) / w as f64 * size) * CELLS;
            (sx.floor() as i64, sx.fract() < 0.06)
        })
        .collect();
    for row in 0..h {
        let sy = (top + (row as f64 + 0.5) / h as f64 * size) * CELLS;
        let (cy, line) = (sy.floor() as i64, sy.fract() < 0.06);
        let out = &mut y[row * stride..row * stride + w];
        for (px, &(cx, vline)) in out.iter_mut().zip(&col_cell) {
            let base = if line || vline { 24 } else { cell_luma(cx, cy) };
            *px = (base + offset).clamp(16, 235) as u8;
        }
    }
}

/// Draws frame `index` of the scene as seen through `view`, the box where `moved` of
/// moving has taken it.
pub fn draw(
    picture: &mut ffmpeg::frame::Video,
    spec: &SourceSpec,
    index: u64,
    moved: Duration,
    view: View,
    brightness: f32,
) {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let hue = f64::from(spec.index) * 2.4;
    let (cu, cv) = (
        (128.0 + 70.0 * hue.cos()) as u8,
        (128.0 + 70.0 * hue.sin()) as u8,
    );
    let stride = picture.stride(0);
    draw_scene(picture.data_mut(0), stride, w, h, view, brightness);
    if spec.noise > 0 {
        add_noise(picture.data_mut(0), stride, w, h, spec.noise, index);
    }
    for plane in [1, 2] {
        let s = picture.stride(plane);
        let fill = if plane == 1 { cu } else { cv };
        let data = picture.data_mut(plane);
        for row in 0..h.div_ceil(2) {
            data[row * s..row * s + w.div_ceil(2)].fill(fill);
        }
    }
    // A box bouncing across the picture.
    let size = (h / 5).max(4) & !1;
    let t = moved.as_secs_f64();
    let bx = bounce(t * 0.35 + f64::from(spec.index) * 0.17, w - size);
    let by = bounce(t * 0.23 + f64::from(spec.index) * 0.31, h - size);
    fill_rect(
        picture,
        bx & !1,
        by & !1,
        size,
        size,
        225,
        255 - cu,
        255 - cv,
    );
    // Text: name, frame counter, wall-clock time.
    let captured = unix_ms();
    let scale = (h / 135).max(1);
    let now = chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    let lines = [spec.name.clone(), format!("frame {index:08}"), now];
    // Below the clock code's band.
    let top = clock_code::band(w, h).map_or(0, |b| b.rows);
    for (i, line) in lines.iter().enumerate() {
        draw_text(
            picture,
            line,
            8 * scale,
            top + 8 * scale + i * 11 * scale,
            scale,
        );
    }
    burn_clock(picture, captured);
}

/// The capture time as a code along the top edge, over neutral chroma.
fn burn_clock(picture: &mut ffmpeg::frame::Video, captured_ms: i64) {
    let (w, h) = (picture.width() as usize, picture.height() as usize);
    let Some(band) = clock_code::band(w, h) else {
        return;
    };
    let stride = picture.stride(0);
    clock_code::draw(picture.data_mut(0), stride, w, h, captured_ms as u32);
    for plane in [1, 2] {
        let s = picture.stride(plane);
        let data = picture.data_mut(plane);
        for row in band.top / 2..(band.top + band.rows) / 2 {
            if let Some(line) = data.get_mut(row * s..row * s + w.div_ceil(2)) {
                line.fill(128);
            }
        }
    }
}

/// Sensor noise on the luma plane: a cheap xorshift, different every frame.
fn add_noise(y: &mut [u8], stride: usize, w: usize, h: usize, amount: u8, index: u64) {
    let span = 2 * u32::from(amount) + 1;
    let mut seed = (index as u32).wrapping_mul(2_654_435_761) | 1;
    for row in 0..h {
        for px in &mut y[row * stride..row * stride + w] {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed % span) as i32 - i32::from(amount);
            *px = (i32::from(*px) + n).clamp(16, 235) as u8;
        }
    }
}

/// Position in `0..=span` moving back and forth with period 2 in `t`.
fn bounce(t: f64, span: usize) -> usize {
    let f = t.rem_euclid(2.0);
    let f = if f > 1.0 { 2.0 - f } else { f };
    (f * span as f64) as usize
}

#[allow(clippy::too_many_arguments)]
fn fill_rect(
    p: &mut ffmpeg::frame::Video,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    luma: u8,
    u: u8,
    v: u8,
) {
    let s0 = p.stride(0);
    let yp = p.data_mut(0);
    for row in y..y + h {
        yp[row * s0 + x..row * s0 + x + w].fill(luma);
    }
    for (plane, val) in [(1, u), (2, v)] {
        let s = p.stride(plane);
        let d = p.data_mut(plane);
        for row in y / 2..(y + h) / 2 {
            d[row * s + x / 2..row * s + (x + w) / 2].fill(val);
        }
    }
}

/// 8×8 bitmap text, scaled, white with a dark outline, clipped to the picture.
fn draw_text(p: &mut ffmpeg::frame::Video, text: &str, x0: usize, y0: usize, scale: usize) {
    let (w, h) = (p.width() as usize, p.height() as usize);
    let stride = p.stride(0);
    let glyphs: Vec<[u8; 8]> = text
        .chars()
        .map(|c| font8x8::BASIC_FONTS.get(c).unwrap_or([0; 8]))
        .collect();
    for (pass, luma) in [(0, 16u8), (1, 235u8)] {
        for (ci, glyph) in glyphs.iter().enumerate() {
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits >> gx & 1 == 0 {
                        continue;
                    }
                    let px = x0 + (ci * 8 + gx) * scale;
                    let py = y0 + gy * scale;
                    // The outline pass draws each dot one pixel larger on every side.
                    let grow = if pass == 0 { 1 } else { 0 };
                    for yy in py.saturating_sub(grow)..(py + scale + grow).min(h) {
                        let row = yy * stride;
                        let (a, b) = (px.saturating_sub(grow).min(w), (px + scale + grow).min(w));
                        p.data_mut(0)[row + a..row + b].fill(luma);
                        // Neutral chroma under the text: white and black, whatever the background.
                        for plane in [1, 2] {
                            let s = p.stride(plane);
                            p.data_mut(plane)[(yy / 2) * s + a / 2..(yy / 2) * s + b.div_ceil(2)]
                                .fill(128);
                        }
                    }
                }
            }
        }
    }
}

//! The decode thread of one camera: compressed access units in (bounded crossbeam channel),
//! decoded YUV 4:2:0 pictures out to the latest-frame slot, each with its access unit's
//! arrival time and, for cameras that burn one in, the capture clock read from the picture.
//! FFmpeg software decode; the rare non-4:2:0 stream is converted to 4:2:0 here so the GPU
//! path has one layout. Headless (nobody shows the pictures) the latency ends here.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};
use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;

use super::{Demand, Figures, FrameSlot, Viewers};
use crate::media::{Plane, VideoCodec, VideoFrame, VideoUnit, clock_code, init_ffmpeg, unix_ms};

/// How many access units may wait for the decoder. Beyond this the worker drops packets up to
/// the next keyframe rather than wait: a slow decoder must never stall the RTSP session.
pub const PACKET_QUEUE: usize = 32;

/// Where the decode thread's pictures go.
pub struct DecodeOutputs {
    /// The wall's latest-frame slot.
    pub slot: FrameSlot,
    /// The JPEG encoder's slot, fed only while someone watches.
    pub mjpeg: FrameSlot,
}

/// What the decode thread reads (the demand, its viewers) and publishes (its figures), and
/// its motion analysis.
pub struct DecodeLinks {
    pub figures: Arc<Figures>,
    pub demand: tokio::sync::watch::Receiver<Demand>,
    pub viewers: Arc<Viewers>,
    pub motion: Option<super::MotionProbe>,
}

/// Starts the decode thread; it ends when every sender of the returned channel is dropped.
pub fn spawn_decoder(
    camera: &str,
    links: DecodeLinks,
    outputs: DecodeOutputs,
) -> std::io::Result<Sender<VideoUnit>> {
    let (tx, rx) = bounded(PACKET_QUEUE);
    let name = camera.to_owned();
    thread::Builder::new()
        .name(format!("decode {camera}"))
        .spawn(move || {
            let span = tracing::info_span!("decode", camera = %name);
            let _guard = span.enter();
            decode_loop(&rx, links, &outputs);
        })?;
    Ok(tx)
}

/// Arrival times of access units in the decoder, by the pts we gave them (decoders may hold
/// a few units back; B-frames are not reordered by retina, so order is kept).
#[derive(Default)]
struct Arrivals(VecDeque<(i64, Instant)>);

impl Arrivals {
    fn push(&mut self, pts: i64, at: Instant) {
        if self.0.len() >= 64 {
            self.0.pop_front();
        }
        self.0.push_back((pts, at));
    }

    /// The arrival of the unit with `pts` (and forgets older ones).
    fn take(&mut self, pts: Option<i64>) -> Option<Instant> {
        let pts = pts?;
        while let Some(&(p, at)) = self.0.front() {
            self.0.pop_front();
            if p == pts {
                return Some(at);
            }
            if p > pts {
                return None;
            }
        }
        None
    }
}

struct Active {
    codec: VideoCodec,
    decoder: ffmpeg::decoder::Video,
    scaler: Scaler,
    /// Decoding for the motion detector alone ([`decode_lightly`]).
    light: bool,
    /// Back to full decoding: pictures are not clean until a keyframe comes out (pictures
    /// that come out before it, reordered or leading an open GOP, are not), or, for a
    /// decoder that marks none, until the second keyframe goes in.
    unclean: bool,
    /// Keyframes sent to the decoder since it became unclean.
    keys_since: u8,
}

impl Active {
    /// Decodes lightly while only the motion detector looks (`light`), else in full; the
    /// pictures of a full decoding are shown from its first keyframe on.
    fn set_light(&mut self, light: bool) {
        if light != self.light {
            decode_lightly(&mut self.decoder, self.codec, light);
            if !light {
                self.unclean = true;
                self.keys_since = 0;
            }
            self.light = light;
        }
    }
}

/// A decoder for pictures only the motion detector looks at: no deblocking, and on H.264 the
/// pictures nothing refers to skipped (H.265's sub-layer non-reference pictures may still be
/// referred to by higher temporal layers: all are decoded); `false` decodes in full again.
pub(crate) fn decode_lightly(decoder: &mut ffmpeg::decoder::Video, codec: VideoCodec, light: bool) {
    use ffmpeg::Discard;
    let (filter, frames) = match (light, codec) {
        (true, VideoCodec::H264) => (Discard::All, Discard::NonReference),
        (true, VideoCodec::H265) => (Discard::All, Discard::Default),
        (false, _) => (Discard::Default, Discard::Default),
    };
    decoder.skip_loop_filter(filter);
    decoder.skip_frame(frames);
}

fn open(codec: VideoCodec) -> Result<ffmpeg::decoder::Video, ffmpeg::Error> {
    let id = match codec {
        VideoCodec::H264 => ffmpeg::codec::Id::H264,
        VideoCodec::H265 => ffmpeg::codec::Id::HEVC,
    };
    let found = ffmpeg::decoder::find(id).ok_or(ffmpeg::Error::DecoderNotFound)?;
    let mut ctx = ffmpeg::codec::Context::new_with_codec(found);
    slice_threads(&mut ctx);
    ctx.decoder().video()
}

/// Two slice threads: they add no latency (frame threads would delay every picture).
pub(crate) fn slice_threads(ctx: &mut ffmpeg::codec::Context) {
    let mut threading =
        ffmpeg::codec::threading::Config::kind(ffmpeg::codec::threading::Type::Slice);
    threading.count = 2;
    ctx.set_threading(threading);
}

fn decode_loop(rx: &Receiver<VideoUnit>, mut links: DecodeLinks, out: &DecodeOutputs) {
    let figures = links.figures.clone();
    let stats = &*figures;
    let started = Instant::now();
    let mut moving = false;
    init_ffmpeg();
    let mut active: Option<Active> = None;
    let mut picture = ffmpeg::frame::Video::empty();
    let mut seq = 0u64;
    let mut waiting_for_key = true;
    let mut arrivals = Arrivals::default();
    let mut next_pts = 0i64;
    for packet in rx.iter() {
        if active.as_ref().is_none_or(|a| a.codec != packet.codec) {
            active = match open(packet.codec) {
                Ok(decoder) => Some(Active {
                    codec: packet.codec,
                    decoder,
                    scaler: None,
                    light: false,
                    unclean: false,
                    keys_since: 0,
                }),
                Err(e) => {
                    tracing::error!("cannot open the {} decoder: {e}", packet.codec.as_str());
                    Figures::bump(&stats.decode_errors, 1);
                    continue;
                }
            };
            waiting_for_key = true;
        }
        if waiting_for_key && !packet.keyframe {
            continue;
        }
        waiting_for_key = false;
        let Some(a) = active.as_mut() else { continue };
        let asked = *links.demand.borrow();
        a.set_light(asked.motion && !asked.decode && !links.viewers.watched());
        if a.unclean && packet.keyframe {
            a.keys_since = a.keys_since.saturating_add(1);
            a.unclean = a.keys_since < 2;
        }
        let mut compressed = ffmpeg::Packet::copy(&packet.data);
        compressed.set_pts(Some(next_pts));
        arrivals.push(next_pts, packet.arrival);
        next_pts += 1;
        if a.decoder.send_packet(&compressed).is_err() {
            Figures::bump(&stats.decode_errors, 1);
            continue;
        }
        while a.decoder.receive_frame(&mut picture).is_ok() {
            seq += 1;
            a.unclean &= !picture.is_key();
            let arrival = arrivals.take(picture.pts()).unwrap_or(packet.arrival);
            // Every camera is read: a picture that does not carry a valid, current code
            // (sync, check byte, an age under a minute) reads as none.
            let capture_ms = read_clock(&picture);
            let demand = *links.demand.borrow();
            if demand.motion
                && let Some(probe) = links.motion.as_mut()
            {
                look_for_motion(probe, &picture, started.elapsed(), &mut moving);
            }
            let shown = demand.pictures && !a.unclean;
            let watched = links.viewers.watched() && !a.unclean;
            if !shown {
                // Headless: nobody uploads this picture, so its latency ends here.
                let now = Instant::now();
                let glass = capture_ms.and_then(|c| clock_code::age_ms(c, unix_ms()));
                stats.decoded_latency.record(now, arrival, glass);
            }
            if !shown && !watched {
                Figures::bump(&stats.decoded, 1);
                continue;
            }
            let stamp = Stamp {
                seq,
                arrival,
                capture_ms,
            };
            match to_frame(&picture, &mut a.scaler, stamp) {
                Some(frame) => {
                    Figures::bump(&stats.decoded, 1);
                    let frame = Arc::new(frame);
                    if watched {
                        out.mjpeg.publish(frame.clone());
                    }
                    if shown {
                        out.slot.publish(frame);
                    }
                }
                None => Figures::bump(&stats.decode_errors, 1),
            }
        }
    }
}

/// Feeds `picture`'s luma to the motion detector; motion found is sent as an edge each time
/// (the tracker holds the event while it goes on), its end once.
fn look_for_motion(
    probe: &mut super::MotionProbe,
    picture: &ffmpeg::frame::Video,
    at: std::time::Duration,
    moving: &mut bool,
) {
    probe.refresh();
    let (w, h) = (picture.width() as usize, picture.height() as usize);
    let Some(found) = probe
        .detector
        .feed(picture.data(0), picture.stride(0), w, h, at)
    else {
        return;
    };
    if found || *moving {
        probe.edges.send(crate::events::Edge {
            camera: probe.camera.clone(),
            source: crate::events::Source::Local,
            kind: crate::events::Kind::Motion,
            active: found,
            lasting: false,
        });
    }
    *moving = found;
}

/// The capture clock burned into a decoded 4:2:0 picture, if it carries one.
pub(crate) fn read_clock(picture: &ffmpeg::frame::Video) -> Option<u32> {
    if !matches!(picture.format(), Pixel::YUV420P | Pixel::YUVJ420P) {
        return None;
    }
    let (w, h) = (picture.width() as usize, picture.height() as usize);
    clock_code::read(picture.data(0), picture.stride(0), w, h)
}

/// What a picture carries besides its planes.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    pub seq: u64,
    pub arrival: Instant,
    pub capture_ms: Option<u32>,
}

/// A conversion to 4:2:0 kept for the stream's format and size.
pub(crate) type Scaler = Option<(Pixel, u32, u32, ffmpeg::software::scaling::Context)>;

/// Copies the planes out of FFmpeg's buffer (converting to 4:2:0 only when the stream is not).
pub(crate) fn to_frame(
    picture: &ffmpeg::frame::Video,
    scaler: &mut Scaler,
    stamp: Stamp,
) -> Option<VideoFrame> {
    let (w, h, format) = (picture.width(), picture.height(), picture.format());
    if w == 0 || h == 0 {
        return None;
    }
    match format {
        Pixel::YUV420P | Pixel::YUVJ420P => copy_planes(
            picture,
            format == Pixel::YUVJ420P || picture.color_range() == ffmpeg::color::Range::JPEG,
            stamp,
        ),
        other => {
            if scaler
                .as_ref()
                .is_none_or(|(f, sw, sh, _)| (*f, *sw, *sh) != (other, w, h))
            {
                let ctx = ffmpeg::software::scaling::Context::get(
                    other,
                    w,
                    h,
                    Pixel::YUV420P,
                    w,
                    h,
                    ffmpeg::software::scaling::Flags::POINT,
                )
                .ok()?;
                *scaler = Some((other, w, h, ctx));
            }
            let (_, _, _, ctx) = scaler.as_mut()?;
            let mut out = ffmpeg::frame::Video::empty();
            ctx.run(picture, &mut out).ok()?;
            copy_planes(&out, false, stamp)
        }
    }
}

/// The picture's planes, copied out (`None` if FFmpeg's buffers are shorter than the size says).
fn copy_planes(
    picture: &ffmpeg::frame::Video,
    full_range: bool,
    stamp: Stamp,
) -> Option<VideoFrame> {
    let (w, h) = (picture.width(), picture.height());
    let plane = |i: usize| {
        let (pw, ph) = if i == 0 {
            (w, h)
        } else {
            (w.div_ceil(2), h.div_ceil(2))
        };
        let stride = picture.stride(i);
        let len = stride * ph as usize;
        Some(Plane {
            data: picture.data(i).get(..len)?.to_vec(),
            stride: stride as u32,
            width: pw,
            height: ph,
        })
    };
    Some(VideoFrame {
        width: w,
        height: h,
        full_range,
        planes: [plane(0)?, plane(1)?, plane(2)?],
        seq: stamp.seq,
        arrival: stamp.arrival,
        capture_ms: stamp.capture_ms,
    })
}

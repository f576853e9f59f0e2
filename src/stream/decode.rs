//! The decode thread of one camera: compressed access units in (bounded crossbeam channel),
//! decoded YUV 4:2:0 pictures out to the latest-frame slot. FFmpeg software decode; the rare
//! non-4:2:0 stream is converted to 4:2:0 here so the GPU path has one layout.

use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded};
use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;

use super::{FrameSlot, Plane, StreamStats, VideoCodec, VideoFrame};

/// One access unit in Annex B form with parameter sets before each keyframe
/// (retina's `FrameFormat::SIMPLE`).
#[derive(Debug)]
pub struct Packet {
    pub codec: VideoCodec,
    pub data: Arc<[u8]>,
    pub keyframe: bool,
}

/// How many access units may wait for the decoder. Beyond this the worker drops packets up to
/// the next keyframe rather than wait: a slow decoder must never stall the RTSP session.
pub const PACKET_QUEUE: usize = 32;

/// Starts the decode thread; it ends when every sender of the returned channel is dropped.
/// `slot` feeds the wall; `mjpeg` the JPEG encoder, only while someone watches.
pub fn spawn_decoder(
    camera: &str,
    stats: Arc<StreamStats>,
    slot: FrameSlot,
    mjpeg: FrameSlot,
) -> std::io::Result<Sender<Packet>> {
    let (tx, rx) = bounded(PACKET_QUEUE);
    let name = camera.to_owned();
    thread::Builder::new()
        .name(format!("decode {camera}"))
        .spawn(move || {
            let span = tracing::info_span!("decode", camera = %name);
            let _guard = span.enter();
            decode_loop(&rx, &stats, &slot, &mjpeg);
        })?;
    Ok(tx)
}

/// Sets FFmpeg's own logging to errors only, once per process.
pub fn init_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ffmpeg::init() {
            tracing::error!("FFmpeg failed to initialise: {e}");
        }
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

struct Active {
    codec: VideoCodec,
    decoder: ffmpeg::decoder::Video,
    scaler: Option<(Pixel, u32, u32, ffmpeg::software::scaling::Context)>,
}

fn open(codec: VideoCodec) -> Result<ffmpeg::decoder::Video, ffmpeg::Error> {
    let id = match codec {
        VideoCodec::H264 => ffmpeg::codec::Id::H264,
        VideoCodec::H265 => ffmpeg::codec::Id::HEVC,
    };
    let found = ffmpeg::decoder::find(id).ok_or(ffmpeg::Error::DecoderNotFound)?;
    let mut ctx = ffmpeg::codec::Context::new_with_codec(found);
    // Slice threads add no latency (frame threads would delay every picture).
    let mut threading =
        ffmpeg::codec::threading::Config::kind(ffmpeg::codec::threading::Type::Slice);
    threading.count = 2;
    ctx.set_threading(threading);
    ctx.decoder().video()
}

fn decode_loop(rx: &Receiver<Packet>, stats: &StreamStats, slot: &FrameSlot, mjpeg: &FrameSlot) {
    init_ffmpeg();
    let mut active: Option<Active> = None;
    let mut picture = ffmpeg::frame::Video::empty();
    let mut seq = 0u64;
    let mut waiting_for_key = true;
    for packet in rx.iter() {
        if active.as_ref().is_none_or(|a| a.codec != packet.codec) {
            active = match open(packet.codec) {
                Ok(decoder) => Some(Active {
                    codec: packet.codec,
                    decoder,
                    scaler: None,
                }),
                Err(e) => {
                    tracing::error!("cannot open the {} decoder: {e}", packet.codec.as_str());
                    StreamStats::bump(&stats.decode_errors, 1);
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
        if a.decoder
            .send_packet(&ffmpeg::Packet::copy(&packet.data))
            .is_err()
        {
            StreamStats::bump(&stats.decode_errors, 1);
            continue;
        }
        while a.decoder.receive_frame(&mut picture).is_ok() {
            seq += 1;
            let shown = stats
                .pictures_wanted
                .load(std::sync::atomic::Ordering::Relaxed);
            let watched = stats.mjpeg_watched();
            if !shown && !watched {
                StreamStats::bump(&stats.decoded, 1);
                continue;
            }
            match to_frame(&picture, &mut a.scaler, seq) {
                Some(frame) => {
                    StreamStats::bump(&stats.decoded, 1);
                    let frame = Arc::new(frame);
                    if watched {
                        mjpeg.publish(frame.clone());
                    }
                    if shown {
                        slot.publish(frame);
                    }
                }
                None => StreamStats::bump(&stats.decode_errors, 1),
            }
        }
    }
}

/// Copies the planes out of FFmpeg's buffer (converting to 4:2:0 only when the stream is not).
fn to_frame(
    picture: &ffmpeg::frame::Video,
    scaler: &mut Option<(Pixel, u32, u32, ffmpeg::software::scaling::Context)>,
    seq: u64,
) -> Option<VideoFrame> {
    let (w, h, format) = (picture.width(), picture.height(), picture.format());
    if w == 0 || h == 0 {
        return None;
    }
    match format {
        Pixel::YUV420P | Pixel::YUVJ420P => Some(copy_planes(
            picture,
            format == Pixel::YUVJ420P || picture.color_range() == ffmpeg::color::Range::JPEG,
            seq,
        )),
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
            Some(copy_planes(&out, false, seq))
        }
    }
}

fn copy_planes(picture: &ffmpeg::frame::Video, full_range: bool, seq: u64) -> VideoFrame {
    let (w, h) = (picture.width(), picture.height());
    let plane = |i: usize| {
        let (pw, ph) = if i == 0 {
            (w, h)
        } else {
            (w.div_ceil(2), h.div_ceil(2))
        };
        let stride = picture.stride(i);
        let len = stride * ph as usize;
        Plane {
            data: picture.data(i)[..len].to_vec(),
            stride: stride as u32,
            width: pw,
            height: ph,
        }
    };
    VideoFrame {
        width: w,
        height: h,
        full_range,
        planes: [plane(0), plane(1), plane(2)],
        seq,
    }
}

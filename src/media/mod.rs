//! The media vocabulary every other module shares, with no Bevy and no sockets: codec enums,
//! Annex B/NAL helpers, AAC configuration and ADTS framing, the audio track description, the
//! units a session hands on (access units, audio frames, the session they belong to) and the
//! sink they are handed to, decoded pictures, FFmpeg set-up and the FFmpeg encoders (JPEG, AAC)
//! that several modules use, and the capture clock simulated cameras burn into their pictures.
//! The client (`stream`), the recorder (`record`), the servers (`serve`) and the simulated camera
//! (`simcam`) meet here and nowhere else.

pub mod aac;
pub mod clock_code;
pub mod encode;
pub mod g711;
pub mod nal;
pub mod pcm;

use std::sync::Arc;
use std::time::Instant;

/// Video codecs the wall decodes and the recorder remuxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// From an SDP encoding name (any case).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "h264" => Some(Self::H264),
            "h265" => Some(Self::H265),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
        }
    }
}

/// Audio codecs we serve and record (AAC as RFC 3640 `mpeg4-generic`, G.711 A-law/µ-law).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    Aac,
    Pcma,
    Pcmu,
}

impl AudioCodec {
    /// From an SDP encoding name (any case); AAC only as `mpeg4-generic`.
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mpeg4-generic" => Some(Self::Aac),
            "pcma" => Some(Self::Pcma),
            "pcmu" => Some(Self::Pcmu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aac => "AAC",
            Self::Pcma => "G.711 A-law",
            Self::Pcmu => "G.711 µ-law",
        }
    }
}

/// A camera's audio track as its session describes it. What the camera *declares*: the
/// samples it really sends may differ, and every consumer must treat a mismatch as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    pub codec: AudioCodec,
    pub sample_rate: u32,
    pub channels: u16,
    /// AAC: the AudioSpecificConfig; G.711: empty.
    pub extradata: Vec<u8>,
}

impl AudioTrack {
    /// "AAC 16000 Hz, 1 ch".
    pub fn describe(&self) -> String {
        format!(
            "{} {} Hz, {} ch",
            self.codec.as_str(),
            self.sample_rate,
            self.channels
        )
    }
}

/// One RTSP session of a camera: every unit carries it, so a consumer sees a new session by
/// its id even when a message about the old one's end was lost.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// Counts the camera's sessions from 1.
    pub id: u64,
    /// The session's audio track, if it has one we can use.
    pub audio: Option<AudioTrack>,
}

/// One video access unit: Annex B, parameter sets in band before every keyframe.
#[derive(Debug, Clone)]
pub struct VideoUnit {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    pub data: Arc<[u8]>,
    /// 1/90000 s since the session's first frame.
    pub pts: i64,
    /// Wall clock (Unix ms) of this frame: the session's first frame's arrival plus `pts`.
    pub wall_ms: i64,
    pub keyframe: bool,
    /// When the frame's last RTP packet arrived (the start of the latency we add).
    pub arrival: Instant,
}

/// One audio frame as the camera sent it (a raw AAC access unit or G.711 samples).
#[derive(Debug, Clone)]
pub struct AudioUnit {
    pub data: Arc<[u8]>,
    /// Samples since the session's first audio frame.
    pub pts: i64,
    /// Wall clock (Unix ms) of this frame.
    pub wall_ms: i64,
    /// Samples in this frame.
    pub duration: i64,
}

/// Where a camera's session hands its media (the recorder is one). Called from the session's
/// task: an implementation must never block; it drops what it cannot take and says so itself.
pub trait MediaSink: Send + Sync {
    fn video(&self, session: &Arc<SessionInfo>, unit: &VideoUnit);
    fn audio(&self, session: &Arc<SessionInfo>, unit: &AudioUnit);
    /// Session `id` is over (drop, stall, reconnect, shutdown): nothing more comes from it.
    fn session_ended(&self, id: u64);
    /// Whether this sink needs the session even when nobody else does (RTSP clients of a
    /// restream).
    fn wanted(&self) -> bool {
        false
    }
    /// The camera's sender report: in session `id`, the unit with `pts` (of the video track,
    /// or of the audio track when `audio`) was captured at NTP time `ntp`.
    fn sender_report(&self, _id: u64, _audio: bool, _pts: i64, _ntp: u64) {}
}

/// Several sinks fed in turn (the recorder first, then the restream).
pub struct Tee(pub Vec<Arc<dyn MediaSink>>);

impl MediaSink for Tee {
    fn video(&self, session: &Arc<SessionInfo>, unit: &VideoUnit) {
        self.0.iter().for_each(|s| s.video(session, unit));
    }
    fn audio(&self, session: &Arc<SessionInfo>, unit: &AudioUnit) {
        self.0.iter().for_each(|s| s.audio(session, unit));
    }
    fn session_ended(&self, id: u64) {
        self.0.iter().for_each(|s| s.session_ended(id));
    }
    fn wanted(&self) -> bool {
        self.0.iter().any(|s| s.wanted())
    }
    fn sender_report(&self, id: u64, audio: bool, pts: i64, ntp: u64) {
        self.0
            .iter()
            .for_each(|s| s.sender_report(id, audio, pts, ntp));
    }
}

/// A sink that keeps nothing: for streams that are only shown (a sub stream, a bench).
pub struct NoSink;

impl MediaSink for NoSink {
    fn video(&self, _: &Arc<SessionInfo>, _: &VideoUnit) {}
    fn audio(&self, _: &Arc<SessionInfo>, _: &AudioUnit) {}
    fn session_ended(&self, _: u64) {}
}

/// One decoded picture in planar YUV 4:2:0, as FFmpeg laid it out (rows may be padded:
/// `stride >= width`). Shared by `Arc` from the decode thread to the GPU upload.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    /// JPEG/full-range levels (0..255) instead of video range (16..235).
    pub full_range: bool,
    /// Y, U, V.
    pub planes: [Plane; 3],
    /// Counts pictures of this camera, from 1.
    pub seq: u64,
    /// When its access unit arrived from the camera.
    pub arrival: Instant,
    /// The capture clock burned into the picture (Unix ms modulo 2³², see [`clock_code`]),
    /// when the camera burns one (simulated cameras do).
    pub capture_ms: Option<u32>,
}

/// One plane of a [`VideoFrame`].
#[derive(Debug, Clone)]
pub struct Plane {
    pub data: Vec<u8>,
    pub stride: u32,
    pub width: u32,
    pub height: u32,
}

pub type SharedFrame = Arc<VideoFrame>;

/// Sets FFmpeg up (and its own logging to fatal only) once per process.
pub fn init_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ffmpeg_next::init() {
            tracing::error!("FFmpeg failed to initialise: {e}");
        }
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ticks` of a `clock` Hz clock in units of a `to` Hz clock (`90_000` for RTP video time,
/// `1000` for ms), without overflow whatever a camera's timestamps claim: saturates instead.
pub fn rescale(ticks: i64, to: i64, clock: i64) -> i64 {
    let wide = i128::from(ticks) * i128::from(to) / i128::from(clock.max(1));
    i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX })
}

/// Failed reads in a row after which a damaged file is read no further.
const MAX_BAD_READS: u32 = 32;

/// The packets of `input` in order, with their stream's index. ffmpeg-next's own `packets()`
/// retries a read that fails with "invalid data" for ever, and a damaged MP4 can answer that
/// on every call without moving on (found by fuzzing: the index hung at 100 % CPU); this gives
/// up after [`MAX_BAD_READS`] failed reads in a row, and at any other error.
pub fn packets(
    input: &mut ffmpeg_next::format::context::Input,
) -> impl Iterator<Item = (usize, ffmpeg_next::Packet)> + '_ {
    let mut bad = 0;
    std::iter::from_fn(move || {
        loop {
            let mut packet = ffmpeg_next::Packet::empty();
            match packet.read(input) {
                Ok(()) => {
                    bad = 0;
                    return Some((packet.stream(), packet));
                }
                Err(ffmpeg_next::Error::InvalidData) if bad < MAX_BAD_READS => bad += 1,
                Err(_) => return None,
            }
        }
    })
}

#[cfg(test)]
mod rescale_tests {
    #[test]
    fn rescaling_saturates_instead_of_overflowing() {
        assert_eq!(super::rescale(90_000, 1000, 90_000), 1000);
        assert_eq!(super::rescale(16_000, 90_000, 8_000), 180_000);
        assert_eq!(super::rescale(i64::MAX / 2, 90_000, 8_000), i64::MAX);
        assert_eq!(super::rescale(i64::MIN / 2, 90_000, 8_000), i64::MIN);
        assert_eq!(
            super::rescale(5, 1000, 0),
            5000,
            "a zero clock is taken as 1 Hz"
        );
    }
}

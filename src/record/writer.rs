//! One segment file: an FFmpeg muxer (fragmented MP4 or Matroska) fed with Annex B access
//! units, remuxed without re-encoding. FFmpeg turns the Annex B parameter sets given as
//! extradata into avcC/hvcC and the packets into length-prefixed samples.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;

use crate::config::RecordFormat;
use crate::media::{AudioCodec, AudioTrack, VideoCodec};

/// What a segment's video track is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// Parameter sets ((VPS,) SPS, PPS) with Annex B start codes.
    pub extradata: Vec<u8>,
}

/// Whether `format` can hold `track`; if not, why (for the status).
pub fn audio_fits(track: &AudioTrack, format: RecordFormat) -> Result<(), String> {
    match (track.codec, format) {
        (AudioCodec::Aac, _) | (_, RecordFormat::Mkv) => Ok(()),
        (codec, RecordFormat::Mp4) => Err(format!(
            "{} audio cannot be stored in MP4 (use format: Mkv); recording video only",
            codec.as_str()
        )),
    }
}

/// Copies `data` into FFmpeg-allocated, padded extradata of `par`.
///
/// # Safety
/// `par` must be a valid `AVCodecParameters` without extradata.
unsafe fn set_extradata(par: *mut ffmpeg::ffi::AVCodecParameters, data: &[u8]) -> bool {
    if data.is_empty() {
        return true;
    }
    // SAFETY: the caller guarantees `par`; the buffer is allocated by FFmpeg (which frees it)
    // with the padding FFmpeg's readers expect.
    unsafe {
        let buf = ffmpeg::ffi::av_mallocz(
            data.len() + ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize,
        ) as *mut u8;
        if buf.is_null() {
            return false;
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        (*par).extradata = buf;
        (*par).extradata_size = data.len() as i32;
    }
    true
}

/// Why a segment could not be written; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {what}")]
pub struct WriteError {
    pub path: String,
    pub what: String,
}

/// RTP video clock: every packet timestamp is in 1/90000 s.
pub const TIME_BASE: (i32, i32) = (1, 90_000);

pub struct SegmentWriter {
    out: ffmpeg::format::context::Output,
    path: PathBuf,
    stream_time_base: ffmpeg::Rational,
    /// (sample clock, the muxer's time base) of the audio stream, when there is one.
    audio_time_base: Option<(ffmpeg::Rational, ffmpeg::Rational)>,
    pub bytes: u64,
    pub packets: u64,
    /// The file's size once its header was written.
    header_bytes: u64,
    /// Where the file ended after the last write that succeeded and reached the disk: every
    /// byte before it is a whole fragment (MP4) or cluster (MKV), since each packet is flushed
    /// before `write` returns. A full disk can leave half a fragment after it; `finish` cuts
    /// that off.
    whole_bytes: u64,
    /// A write failed: the file may end in part of a fragment.
    broken: bool,
}

impl SegmentWriter {
    /// Creates the file (and its directories) and writes the header. `creation_ms` is the wall
    /// clock of the first frame (Unix ms) and becomes the `creation_time` tag. When that
    /// fails (a full disk), the file it began is removed: no unreadable stub is left behind.
    /// `path` must be a new name (the recorder never reuses one).
    pub fn create(
        path: &Path,
        format: RecordFormat,
        track: &VideoTrack,
        audio: Option<&AudioTrack>,
        creation_ms: i64,
    ) -> Result<Self, WriteError> {
        Self::begin(path, format, track, audio, creation_ms).inspect_err(|_| {
            let _ = std::fs::remove_file(path);
        })
    }

    fn begin(
        path: &Path,
        format: RecordFormat,
        track: &VideoTrack,
        audio: Option<&AudioTrack>,
        creation_ms: i64,
    ) -> Result<Self, WriteError> {
        let fail = |what: String| WriteError {
            path: path.display().to_string(),
            what,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create directory: {e}")))?;
        }
        let muxer = match format {
            RecordFormat::Mp4 => "mp4",
            RecordFormat::Mkv => "matroska",
        };
        let mut out = ffmpeg::format::output_as(path, muxer)
            .map_err(|e| fail(format!("cannot create: {e}")))?;
        {
            let mut stream = out
                .add_stream(None::<ffmpeg::Codec>)
                .map_err(|e| fail(format!("cannot add stream: {e}")))?;
            stream.set_time_base(TIME_BASE);
            // SAFETY: the stream was just created by FFmpeg and owns a valid `codecpar`;
            // extradata is allocated with FFmpeg's allocator (freed by FFmpeg) and padded.
            unsafe {
                let par = (*stream.as_mut_ptr()).codecpar;
                (*par).codec_type = ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
                (*par).codec_id = match track.codec {
                    VideoCodec::H264 => ffmpeg::ffi::AVCodecID::AV_CODEC_ID_H264,
                    VideoCodec::H265 => ffmpeg::ffi::AVCodecID::AV_CODEC_ID_HEVC,
                };
                (*par).width = track.width as i32;
                (*par).height = track.height as i32;
                if track.codec == VideoCodec::H265 && format == RecordFormat::Mp4 {
                    // 'hvc1': the tag Apple players require for HEVC in MP4.
                    (*par).codec_tag = u32::from_le_bytes(*b"hvc1");
                }
                if !set_extradata(par, &track.extradata) {
                    return Err(fail("out of memory".into()));
                }
            }
        }
        if let Some(a) = audio {
            let mut stream = out
                .add_stream(None::<ffmpeg::Codec>)
                .map_err(|e| fail(format!("cannot add audio stream: {e}")))?;
            stream.set_time_base((1, a.sample_rate as i32));
            // SAFETY: as above, a fresh stream's `codecpar`.
            unsafe {
                let par = (*stream.as_mut_ptr()).codecpar;
                (*par).codec_type = ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
                (*par).codec_id = match a.codec {
                    AudioCodec::Aac => ffmpeg::ffi::AVCodecID::AV_CODEC_ID_AAC,
                    AudioCodec::Pcma => ffmpeg::ffi::AVCodecID::AV_CODEC_ID_PCM_ALAW,
                    AudioCodec::Pcmu => ffmpeg::ffi::AVCodecID::AV_CODEC_ID_PCM_MULAW,
                };
                (*par).sample_rate = a.sample_rate as i32;
                ffmpeg::ffi::av_channel_layout_default(
                    &mut (*par).ch_layout,
                    i32::from(a.channels),
                );
                if a.codec == AudioCodec::Aac {
                    (*par).frame_size = 1024;
                } else {
                    (*par).bits_per_coded_sample = 8;
                    (*par).block_align = i32::from(a.channels);
                }
                if !set_extradata(par, &a.extradata) {
                    return Err(fail("out of memory".into()));
                }
            }
        }
        let mut meta = ffmpeg::Dictionary::new();
        meta.set("creation_time", &super::policy::creation_time(creation_ms));
        meta.set("encoder", concat!("OpticLink ", env!("CARGO_PKG_VERSION")));
        out.set_metadata(meta);
        let mut opts = ffmpeg::Dictionary::new();
        // Every packet reaches the file at once: a crash loses at most the open fragment.
        opts.set("flush_packets", "1");
        if format == RecordFormat::Mp4 {
            opts.set(
                "movflags",
                "+frag_keyframe+empty_moov+default_base_moof+use_metadata_tags",
            );
            opts.set("frag_duration", "1000000");
        }
        out.write_header_with(opts)
            .map_err(|e| fail(format!("cannot write header: {e}")))?;
        // SAFETY: the output context is open and owns its I/O context (`pb`, set by
        // `output_as`); flushing it only writes what FFmpeg buffered.
        unsafe {
            let pb = (*out.as_mut_ptr()).pb;
            if !pb.is_null() {
                ffmpeg::ffi::avio_flush(pb);
            }
        }
        // What the file holds before any picture: a segment no bigger holds nothing.
        let header_bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        let stream_time_base = out
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(ffmpeg::Rational(1, 90_000));
        let audio_time_base = audio.and_then(|a| {
            Some((
                ffmpeg::Rational(1, a.sample_rate as i32),
                out.stream(1)?.time_base(),
            ))
        });
        Ok(Self {
            out,
            path: path.to_owned(),
            stream_time_base,
            audio_time_base,
            bytes: 0,
            packets: 0,
            header_bytes,
            whole_bytes: header_bytes,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one access unit; `pts` and `duration` in 1/90000 s from the segment's start.
    pub fn write(
        &mut self,
        data: &[u8],
        pts: i64,
        duration: i64,
        keyframe: bool,
    ) -> Result<(), WriteError> {
        let mut p = ffmpeg::Packet::copy(data);
        p.set_stream(0);
        p.set_pts(Some(pts));
        p.set_dts(Some(pts));
        p.set_duration(duration);
        if keyframe {
            p.set_flags(ffmpeg::codec::packet::Flags::KEY);
        }
        p.rescale_ts(
            ffmpeg::Rational(TIME_BASE.0, TIME_BASE.1),
            self.stream_time_base,
        );
        self.put(p, "write failed")?;
        self.bytes += data.len() as u64;
        self.packets += 1;
        Ok(())
    }

    /// Whether the segment has an audio track.
    pub fn has_audio(&self) -> bool {
        self.audio_time_base.is_some()
    }

    /// Appends one audio frame; `pts` and `duration` in samples from the segment's start.
    pub fn write_audio(&mut self, data: &[u8], pts: i64, duration: i64) -> Result<(), WriteError> {
        let Some((src, dst)) = self.audio_time_base else {
            return Ok(());
        };
        let mut p = ffmpeg::Packet::copy(data);
        p.set_stream(1);
        p.set_pts(Some(pts));
        p.set_dts(Some(pts));
        p.set_duration(duration);
        p.rescale_ts(src, dst);
        self.put(p, "audio write failed")?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Hands one packet to the muxer and checks that what it flushed reached the file. A
    /// packet the muxer refuses (a timestamp out of order) leaves the file whole; only lost
    /// bytes make it `broken`.
    fn put(&mut self, packet: ffmpeg::Packet, what: &str) -> Result<(), WriteError> {
        let written = match packet.write(&mut self.out) {
            Ok(_) => self.check_written(),
            Err(e) => {
                self.broken |= self.io_failed();
                Err(e.to_string())
            }
        };
        written.map_err(|e| WriteError {
            path: self.path.display().to_string(),
            what: format!("{what}: {e}"),
        })
    }

    /// Whether FFmpeg's I/O has failed (its error is sticky: nothing more reaches the file).
    fn io_failed(&mut self) -> bool {
        // SAFETY: the output context is open and owns its I/O context; reading its error
        // field has no side effect.
        unsafe {
            let pb = (*self.out.as_mut_ptr()).pb;
            !pb.is_null() && (*pb).error < 0
        }
    }

    /// Where FFmpeg's I/O stands: every byte it was handed, flushed or not.
    fn position(&mut self) -> Option<u64> {
        // SAFETY: the output context is open and owns its I/O context; a relative seek of 0
        // (what FFmpeg's `avio_tell` does) only reads its position.
        let at = unsafe {
            let pb = (*self.out.as_mut_ptr()).pb;
            if pb.is_null() {
                return None;
            }
            ffmpeg::ffi::avio_seek(pb, 0, libc::SEEK_CUR)
        };
        u64::try_from(at).ok()
    }

    /// After a write: when FFmpeg flushed something (a fragment or cluster ended), the file
    /// must have grown to its I/O position — a full disk can take part of a write without
    /// FFmpeg reporting it — and then that position is the end of a whole fragment. (A network
    /// filesystem whose `st_size` lags behind writes would fail this; local disks do not.)
    fn check_written(&mut self) -> Result<(), String> {
        let Some(at) = self.position() else {
            return Ok(());
        };
        if at == self.whole_bytes {
            return Ok(());
        }
        let on_disk = std::fs::metadata(&self.path)
            .map_err(|e| e.to_string())?
            .len();
        if on_disk < at {
            self.broken = true;
            return Err(format!("the disk took {on_disk} of {at} bytes"));
        }
        self.whole_bytes = at;
        Ok(())
    }

    /// Writes the trailer (MP4: the final fragment index) and closes the file. When writing
    /// failed (a full disk) — a write, the trailer, or bytes FFmpeg counted that never reached
    /// the file — the file is cut back to its last whole fragment, so what it holds plays; a
    /// segment left with nothing beyond its header is no recording and is removed rather than
    /// left as a file nothing can play.
    pub fn finish(mut self) -> Result<u64, WriteError> {
        // FFmpeg 5.1's MP4 trailer reports success over a sticky I/O error (its positive
        // return hides it), so the I/O error and the sizes are checked here.
        let trailer = self.out.write_trailer().map_err(|e| e.to_string());
        let end = self.position();
        let (path, header, whole) = (self.path.clone(), self.header_bytes, self.whole_bytes);
        let broken = self.broken || self.io_failed();
        // Closes the file.
        drop(self);
        let fail = |what: String| WriteError {
            path: path.display().to_string(),
            what: format!("cannot finish: {what}"),
        };
        let on_disk = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            // Nothing to measure (or cut): say so and leave the file as it is.
            Err(e) => return Err(fail(e.to_string())),
        };
        let lost = end.is_some_and(|end| on_disk < end);
        let size = if broken || lost {
            let cut = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(whole.min(on_disk)));
            if let Err(e) = cut {
                tracing::warn!("cannot cut {} back to {whole} bytes: {e}", path.display());
            }
            whole.min(on_disk)
        } else {
            on_disk
        };
        if size <= header {
            let _ = std::fs::remove_file(&path);
        }
        trailer.map_err(fail)?;
        if lost {
            return Err(fail(format!(
                "the disk took {on_disk} of {} bytes",
                end.unwrap_or(0)
            )));
        }
        Ok(size)
    }
}

//! One recorded segment opened for playback: its demuxer and decoder, read forward to the
//! picture at a wall-clock instant (only from the last keyframe at or before it: earlier
//! groups of pictures are read, never decoded), or to the keyframe at or before an instant
//! (reverse play). Frames keep their wall-clock time: the segment's start plus their pts.

use ffmpeg::Rescale;
use ffmpeg_next as ffmpeg;

use super::{Segment, source::Source};

/// Milliseconds, the unit of every wall-clock time here.
const MS: ffmpeg::Rational = ffmpeg::Rational(1, 1000);

/// A decoded picture and its wall-clock time (ms).
pub struct Decoded {
    pub at_ms: i64,
    pub picture: ffmpeg::frame::Video,
}

/// A file's demuxer with its video track opened for decoding.
pub struct VideoFile {
    pub input: ffmpeg::format::context::Input,
    /// The video track's index and time base.
    pub video: usize,
    pub tb: ffmpeg::Rational,
    pub decoder: ffmpeg::decoder::Video,
}

impl VideoFile {
    /// Segment `file` of `source`, demuxed, its video decoder open.
    pub fn open(source: &Source, file: &str) -> Result<VideoFile, String> {
        let input = source.open(file)?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or("no video track")?;
        let (video, tb) = (stream.index(), stream.time_base());
        let mut ctx = ffmpeg::codec::Context::from_parameters(stream.parameters())
            .map_err(|e| e.to_string())?;
        crate::stream::decode::slice_threads(&mut ctx);
        let decoder = ctx.decoder().video().map_err(|e| e.to_string())?;
        Ok(VideoFile {
            input,
            video,
            tb,
            decoder,
        })
    }
}

/// A segment being played.
pub struct Reader {
    /// The segment's path under the camera folder (`2026-12-03/22-01-00.mp4`).
    pub file: String,
    start_ms: i64,
    input: ffmpeg::format::context::Input,
    video: usize,
    tb: ffmpeg::Rational,
    decoder: ffmpeg::decoder::Video,
    /// Read, not yet decoded: the packets from the last keyframe up to the target.
    pending: Vec<(i64, bool, ffmpeg::Packet)>,
    /// The first packet read past the target.
    lookahead: Option<(i64, bool, ffmpeg::Packet)>,
    /// A picture decoded past the target (the next one to show when playing on).
    held: Option<Decoded>,
    /// The newest picture shown (at or before the target).
    pub shown_ms: Option<i64>,
    /// The demuxer reached the end of what the file holds (so far: the newest segment grows).
    pub at_end: bool,
    /// Reverse play: the keyframe shown and the next keyframe after it (or the end).
    key_span: Option<(i64, i64)>,
    /// How much the segment held when opened ([`Source::extent`]: the newest segment grows
    /// while it is played).
    pub extent: u64,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Reader {
    /// Opens segment `seg` of `source`.
    pub fn open(source: &Source, seg: &Segment) -> Result<Reader, String> {
        let extent = source.extent(seg);
        let file = &seg.file;
        let VideoFile {
            input,
            video,
            tb,
            decoder,
        } = VideoFile::open(source, file).map_err(|e| err(file, e))?;
        Ok(Reader {
            file: file.to_owned(),
            start_ms: seg.start_ms,
            input,
            video,
            tb,
            decoder,
            pending: Vec::new(),
            lookahead: None,
            held: None,
            shown_ms: None,
            at_end: false,
            key_span: None,
            extent,
        })
    }

    /// The next video packet: its wall-clock time, whether it is a keyframe, the packet.
    fn next_packet(&mut self) -> Option<(i64, bool, ffmpeg::Packet)> {
        loop {
            let mut packet = ffmpeg::Packet::empty();
            // The end, or where a file cut short by a crash stops making sense.
            if packet.read(&mut self.input).is_err() {
                self.at_end = true;
                return None;
            }
            if packet.stream() != self.video {
                continue;
            }
            let Some(pts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let at = self.start_ms.saturating_add(pts.rescale(self.tb, MS));
            return Some((at, packet.is_key(), packet));
        }
    }

    /// Whether this reader can go forward to `at_ms` without starting over.
    pub fn can_advance_to(&self, at_ms: i64) -> bool {
        self.key_span.is_none() && self.shown_ms.is_none_or(|s| s <= at_ms)
    }

    /// Reads and decodes forward to the last picture at or before `at_ms`; the picture when it
    /// is a new one. A picture past `at_ms` is kept for later (its time is [`Self::next_ms`]).
    pub fn advance(&mut self, at_ms: i64) -> Option<Decoded> {
        let mut shown: Option<Decoded> = None;
        if let Some(h) = self.held.take_if(|h| h.at_ms <= at_ms) {
            shown = Some(h);
        }
        // Read up to the first packet past the target; an earlier group of pictures that a
        // later keyframe replaces is never decoded.
        loop {
            let next = match self.lookahead.take() {
                Some(p) => Some(p),
                None if self.at_end => None,
                None => self.next_packet(),
            };
            let Some(p) = next else { break };
            if p.0 > at_ms {
                self.lookahead = Some(p);
                break;
            }
            if p.1 {
                self.pending.clear();
                shown = None;
            }
            self.pending.push(p);
        }
        let pending = std::mem::take(&mut self.pending);
        for (_, _, packet) in pending {
            self.decode(&packet, at_ms, &mut shown);
        }
        // The next picture, decoded now: its time is what a frame step goes to.
        if self.held.is_none()
            && let Some((_, _, packet)) = self.lookahead.take()
        {
            self.decode(&packet, at_ms, &mut shown);
        }
        if self.at_end && self.held.is_none() && self.lookahead.is_none() {
            self.drain(at_ms, &mut shown);
        }
        if let Some(s) = &shown {
            self.shown_ms = Some(s.at_ms);
        }
        shown
    }

    /// Decodes one packet (a damaged one is skipped: the next keyframe repairs the picture).
    fn decode(&mut self, packet: &ffmpeg::Packet, at_ms: i64, shown: &mut Option<Decoded>) {
        if self.decoder.send_packet(packet).is_ok() {
            self.receive(at_ms, shown);
        }
    }

    fn receive(&mut self, at_ms: i64, shown: &mut Option<Decoded>) {
        let mut picture = ffmpeg::frame::Video::empty();
        while self.decoder.receive_frame(&mut picture).is_ok() {
            let Some(pts) = picture.timestamp().or(picture.pts()) else {
                continue;
            };
            let at = self.start_ms.saturating_add(pts.rescale(self.tb, MS));
            let d = Decoded {
                at_ms: at,
                picture: std::mem::replace(&mut picture, ffmpeg::frame::Video::empty()),
            };
            if at <= at_ms {
                *shown = Some(d);
            } else if self.held.as_ref().is_none_or(|h| at < h.at_ms) {
                self.held = Some(d);
            }
        }
    }

    /// At the end of the file: the pictures the decoder still holds.
    fn drain(&mut self, at_ms: i64, shown: &mut Option<Decoded>) {
        if self.decoder.send_eof().is_ok() {
            self.receive(at_ms, shown);
        }
        self.decoder.flush();
    }

    /// The time of the next picture after the one shown, when known.
    pub fn next_ms(&self) -> Option<i64> {
        self.held
            .as_ref()
            .map(|h| h.at_ms)
            .or(self.lookahead.as_ref().map(|l| l.0))
    }

    /// Reverse play: the keyframe at or before `at_ms` (the segment's first one when `at_ms`
    /// is before it), when it is not the one shown already. Reads the segment from its start.
    pub fn keyframe_at(source: &Source, seg: &Segment, at_ms: i64) -> Result<Reader, String> {
        let file = &seg.file;
        let mut r = Reader::open(source, seg)?;
        let mut key: Option<(i64, ffmpeg::Packet)> = None;
        let mut next_key = i64::MAX;
        while let Some((at, is_key, packet)) = r.next_packet() {
            if !is_key {
                continue;
            }
            if at <= at_ms || key.is_none() {
                key = Some((at, packet));
            } else {
                next_key = at;
                break;
            }
        }
        let (at, packet) = key.ok_or_else(|| format!("{file}: no keyframe"))?;
        let mut shown = None;
        if r.decoder.send_packet(&packet).is_ok() {
            r.receive(i64::MAX, &mut shown);
            if shown.is_none() {
                r.drain(i64::MAX, &mut shown);
            }
        }
        r.held = shown;
        r.key_span = Some((at, next_key));
        Ok(r)
    }

    /// Reverse play: whether the keyframe this reader shows is still the one for `at_ms`.
    pub fn shows_keyframe_for(&self, at_ms: i64) -> bool {
        self.key_span
            .is_some_and(|(k, next)| k <= at_ms && at_ms < next)
    }

    /// Reverse play: the keyframe's picture, once.
    pub fn take_keyframe(&mut self) -> Option<Decoded> {
        let d = self.held.take()?;
        self.shown_ms = Some(d.at_ms);
        Some(d)
    }
}

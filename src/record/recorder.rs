//! The recorder thread of one camera: takes access units with their 90 kHz timestamps and
//! wall-clock times, holds one packet back to know its duration, opens a segment at a keyframe,
//! rotates at the first keyframe at or after each boundary, closes on session end, and keeps
//! going (retrying every few seconds) when the disk fails.
//!
//! It reads the two lanes of `sink`. Every unit carries its session, so a new session always
//! starts a new segment even if a control message was lost, and a segment left open by a lost
//! message is closed when media stops for [`IDLE_CLOSE`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{never, select};

use super::policy;
use super::sink::{Control, Lanes, Media, RecordSink, lanes};
use super::writer::{SegmentWriter, VideoTrack, audio_fits};
use crate::config::RecordFormat;
use crate::media::{AudioTrack, AudioUnit, SessionInfo, VideoUnit, nal};

/// Where and how a camera records.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    pub dir: PathBuf,
    pub format: RecordFormat,
    pub segment_secs: u64,
    /// Recording at start-up (`record: true`).
    pub active: bool,
}

/// What the ECS shows about a recorder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecorderStatus {
    /// Segments started since start-up.
    pub segments: u64,
    /// Bytes written since start-up.
    pub bytes: u64,
    /// The open segment.
    pub current: Option<PathBuf>,
    /// Wall clock (Unix ms) the open segment started.
    pub current_since_ms: Option<i64>,
    /// Why recording is not working right now (disk full, unwritable directory …).
    pub error: Option<String>,
    /// The audio being recorded, or why the camera's audio is not.
    pub audio: Option<String>,
}

/// The ECS's end of a recorder.
#[derive(Clone)]
pub struct RecorderHandle {
    pub active: Arc<AtomicBool>,
    /// What the recorder publishes about itself (only it writes; watchers see changes).
    pub status: tokio::sync::watch::Sender<RecorderStatus>,
    /// When recording failed, for the listing of recordings.
    pub outages: super::SharedOutages,
}

impl Default for RecorderHandle {
    fn default() -> Self {
        Self {
            active: Arc::default(),
            status: tokio::sync::watch::Sender::new(RecorderStatus::default()),
            outages: Default::default(),
        }
    }
}

impl RecorderHandle {
    pub fn set_active(&self, on: bool) {
        self.active.store(on, Ordering::Relaxed);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> RecorderStatus {
        self.status.borrow().clone()
    }
}

/// With no media for this long the open segment is finished (a safety net: session ends
/// normally close it at once).
const IDLE_CLOSE: Duration = Duration::from_secs(15);

/// After a write failure, try again this much later (at the next keyframe).
const RETRY_MS: i64 = 3000;

/// Starts the recorder thread of `camera`. It ends (finishing its segment) when the returned
/// sink is dropped.
pub fn spawn_recorder(
    camera: &str,
    settings: RecordSettings,
) -> std::io::Result<(RecordSink, RecorderHandle, JoinHandle<()>)> {
    let (sink, lanes) = lanes();
    let handle = RecorderHandle {
        active: Arc::new(AtomicBool::new(settings.active)),
        ..RecorderHandle::default()
    };
    let mut rec = Recorder {
        camera: camera.to_owned(),
        settings,
        handle: handle.clone(),
        open: None,
        pending: None,
        last_duration: None,
        retry_at_ms: None,
        session: None,
        audio: None,
        held_audio: Vec::new(),
    };
    let name = camera.to_owned();
    let thread = std::thread::Builder::new()
        .name(format!("record {camera}"))
        .spawn(move || {
            let span = tracing::info_span!("record", camera = %name);
            let _guard = span.enter();
            rec.run(&lanes);
        })?;
    Ok((sink, handle, thread))
}

struct Open {
    writer: SegmentWriter,
    track: VideoTrack,
    start_pts: i64,
    start_wall_ms: i64,
    /// Wall clock of the newest picture written.
    last_wall_ms: i64,
    boundary_ms: i64,
    /// (session audio pts, segment audio pts) of the segment's first audio frame.
    audio_anchor: Option<(i64, i64)>,
}

struct Recorder {
    camera: String,
    settings: RecordSettings,
    handle: RecorderHandle,
    open: Option<Open>,
    /// The newest frame, written once the next one gives its duration.
    pending: Option<VideoUnit>,
    last_duration: Option<i64>,
    retry_at_ms: Option<i64>,
    /// The session whose media is being recorded.
    session: Option<u64>,
    /// The current session's audio track, when the container can hold it.
    audio: Option<AudioTrack>,
    /// Audio frames not written yet, oldest first.
    held_audio: Vec<AudioUnit>,
}

impl Recorder {
    fn run(&mut self, lanes: &Lanes) {
        let media = &lanes.media;
        let mut control = lanes.control.clone();
        loop {
            select! {
                recv(media) -> item => match item {
                    Ok(item) => self.take(item),
                    Err(_) => break,
                },
                recv(control) -> msg => match msg {
                    Ok(Control::SessionEnded(id)) => {
                        // The session's last frames were queued before its end: write them.
                        while let Ok(item) = media.try_recv() {
                            self.take(item);
                        }
                        if self.session == Some(id) {
                            self.end_session();
                            self.session = None;
                        }
                    }
                    Err(_) => control = never(),
                },
                default(IDLE_CLOSE) => {
                    if self.open.is_some() {
                        tracing::info!("no media for {}s: finishing the segment", IDLE_CLOSE.as_secs());
                        self.end_session();
                    }
                }
            }
        }
        self.end_session();
    }

    /// Moves to `session` if it is a new one: the old one's segment ends, the new one's audio
    /// track is adopted.
    fn follow(&mut self, session: &SessionInfo) {
        if self.session == Some(session.id) {
            return;
        }
        if self.session.is_some() {
            self.end_session();
        }
        self.session = Some(session.id);
        let track = session.audio.clone();
        let note = track
            .as_ref()
            .map(|t| match audio_fits(t, self.settings.format) {
                Ok(()) => format!("{} {} Hz", t.codec.as_str(), t.sample_rate),
                Err(why) => why,
            });
        self.audio = track.filter(|t| audio_fits(t, self.settings.format).is_ok());
        self.update(|s| s.audio = note);
    }

    fn take(&mut self, item: Media) {
        match item {
            Media::Video {
                session,
                unit,
                after_gap,
            } => {
                self.follow(&session);
                if !self.handle.is_active() {
                    self.end_session();
                    return;
                }
                if after_gap {
                    // Frames are missing before this one: close here, restart at a keyframe.
                    self.end_session();
                }
                if let Some(prev) = self.pending.replace(unit) {
                    let next_pts = self.pending.as_ref().map(|n| n.pts);
                    self.write(prev, next_pts);
                }
            }
            Media::Audio { session, unit } => {
                // Audio may come before its session's first video frame.
                self.follow(&session);
                // Audio waits for the video frame that decides which segment it belongs to
                // (video is held back one frame for its duration).
                self.held_audio.push(unit);
                if self.held_audio.len() > 256 {
                    self.flush_audio(None);
                }
            }
        }
    }

    /// Writes the held frame (its duration from the last one) and closes the segment.
    fn end_session(&mut self) {
        if let Some(last) = self.pending.take() {
            self.write(last, None);
        }
        self.flush_audio(None);
        self.close();
        self.last_duration = None;
    }

    fn update(&self, f: impl FnOnce(&mut RecorderStatus)) {
        self.handle.status.send_modify(f);
    }

    fn close(&mut self) {
        let Some(open) = self.open.take() else { return };
        let path = open.writer.path().to_owned();
        match open.writer.finish() {
            Ok(_) => tracing::info!("segment closed: {}", path.display()),
            // The segment's end was lost (a full disk at its last fragment): an outage from
            // its last picture, and the next segment waits like after a failed write.
            Err(e) => self.fail(e.to_string(), Some(open.last_wall_ms)),
        }
        self.update(|s| {
            s.current = None;
            s.current_since_ms = None;
        });
    }

    fn fail(&mut self, error: String, at_ms: Option<i64>) {
        tracing::error!("recording failed: {error}");
        if let Some(ms) = at_ms {
            self.retry_at_ms = Some(ms.saturating_add(RETRY_MS));
            if let Ok(mut o) = self.handle.outages.lock() {
                o.failed(ms, &error);
            }
        }
        self.update(|s| s.error = Some(error));
    }

    fn write(&mut self, f: VideoUnit, next_pts: Option<i64>) {
        // Audio from before this frame belongs with the frames before it (the old segment,
        // if this frame rotates); the rest follows this frame.
        self.flush_audio(Some(f.wall_ms));
        self.write_video(&f, next_pts);
        self.flush_audio(None);
    }

    /// Writes held audio older than `before_ms` (all of it for `None`).
    fn flush_audio(&mut self, before_ms: Option<i64>) {
        let split = before_ms.map_or(self.held_audio.len(), |ms| {
            self.held_audio.partition_point(|a| a.wall_ms < ms)
        });
        let ready: Vec<AudioUnit> = self.held_audio.drain(..split).collect();
        for a in &ready {
            self.write_audio(a);
        }
    }

    fn write_video(&mut self, f: &VideoUnit, next_pts: Option<i64>) {
        let duration = policy::packet_duration(f.pts, next_pts, self.last_duration, 90_000 / 25);
        self.last_duration = Some(duration);
        if let Some(open) = &self.open {
            let changed = f.keyframe && track_of(f).is_some_and(|t| t != open.track);
            if policy::rotates(f.wall_ms, open.boundary_ms, f.keyframe) || changed {
                self.close();
            }
        }
        if self.open.is_none() {
            if !f.keyframe || self.retry_at_ms.is_some_and(|t| f.wall_ms < t) {
                return;
            }
            let Some(track) = track_of(f) else { return };
            let start = policy::local(f.wall_ms);
            let path = policy::segment_path(
                &self.settings.dir,
                &self.camera,
                start,
                self.settings.format,
                |p| p.exists(),
            );
            match SegmentWriter::create(
                &path,
                self.settings.format,
                &track,
                self.audio.as_ref(),
                f.wall_ms,
            ) {
                Ok(writer) => {
                    tracing::info!("segment opened: {}", path.display());
                    self.retry_at_ms = None;
                    self.open = Some(Open {
                        writer,
                        track,
                        start_pts: f.pts,
                        start_wall_ms: f.wall_ms,
                        last_wall_ms: f.wall_ms,
                        audio_anchor: None,
                        boundary_ms: policy::next_boundary_ms(
                            f.wall_ms,
                            self.settings.segment_secs,
                        ),
                    });
                    self.update(|s| {
                        s.segments += 1;
                        s.current = Some(path);
                        s.current_since_ms = Some(f.wall_ms);
                        s.error = None;
                    });
                }
                Err(e) => {
                    self.fail(e.to_string(), Some(f.wall_ms));
                    return;
                }
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        match open.writer.write(
            &f.data,
            f.pts.saturating_sub(open.start_pts),
            duration,
            f.keyframe,
        ) {
            Ok(()) => {
                open.last_wall_ms = f.wall_ms;
                let n = f.data.len() as u64;
                self.update(|s| s.bytes += n);
            }
            Err(e) => {
                // Keep what is in the file (one that got nothing is removed by `finish`);
                // start over at a keyframe once writing works.
                if let Some(open) = self.open.take() {
                    let _ = open.writer.finish();
                }
                self.update(|s| {
                    s.current = None;
                    s.current_since_ms = None;
                });
                self.fail(e.to_string(), Some(f.wall_ms));
            }
        }
    }
}

impl Recorder {
    /// Writes an audio frame into the open segment, placed on the segment's timeline by its
    /// wall clock once, then by its own sample count. Audio from before the segment is dropped.
    fn write_audio(&mut self, a: &AudioUnit) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if !open.writer.has_audio() || !self.handle.is_active() {
            return;
        }
        let rate = i64::from(self.audio.as_ref().map_or(8000, |t| t.sample_rate));
        let anchor = match open.audio_anchor {
            Some(anchor) => anchor,
            None => {
                let since = a.wall_ms.saturating_sub(open.start_wall_ms);
                let offset = crate::media::rescale(since, rate, 1000);
                if offset < 0 {
                    return;
                }
                *open.audio_anchor.insert((a.pts, offset))
            }
        };
        let pts = anchor.1.saturating_add(a.pts.saturating_sub(anchor.0));
        if pts < 0 {
            return;
        }
        match open.writer.write_audio(&a.data, pts, a.duration) {
            Ok(()) => {
                let n = a.data.len() as u64;
                self.update(|s| s.bytes += n);
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

/// The track a keyframe describes (its in-band parameter sets); `None` for other frames.
fn track_of(f: &VideoUnit) -> Option<VideoTrack> {
    if !f.keyframe {
        return None;
    }
    let sets = nal::parameter_sets(f.codec, &f.data);
    if sets.is_empty() {
        return None;
    }
    Some(VideoTrack {
        codec: f.codec,
        width: f.width,
        height: f.height,
        extradata: nal::join_annex_b(&sets),
    })
}

#[cfg(test)]
mod tests;

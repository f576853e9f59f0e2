//! Playback of one camera's recordings on a thread of its own (`play <camera>`), started when
//! the camera's tile goes into playback and ended when it returns to live. The wall says what
//! it wants — an instant and how the playhead moves — as often as it likes (only the newest
//! want counts); the thread shows the last picture at or before that instant (forward and
//! paused), or the keyframe at or before it (reverse), or "no recording" when nothing was
//! recorded then. Pictures go out through a latest-value slot in the same YUV 4:2:0 frames the
//! live decoder makes. The index of the camera's segments is reloaded now and then, so footage
//! recorded since playback began can be played too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::index::{Index, JOIN_MS, Segment};
use super::reader::{Decoded, Reader};
use super::source::Source;
use crate::media::SharedFrame;
use crate::stream::Slot;
use crate::stream::decode::{Scaler, Stamp, read_clock, to_frame};

/// How the playhead moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    /// Still, or playing forward at any speed: every picture (as many as decoding keeps up with).
    Forward,
    /// Playing backward: keyframes only.
    Reverse,
}

/// What the wall wants shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub at_ms: i64,
    pub motion: Motion,
    /// Counts wants; [`Player::done`] says which one was last carried out.
    pub seq: u64,
}

/// What the player shows now.
#[derive(Debug, Clone)]
pub enum Shown {
    /// A recorded picture taken at `at_ms`; `next_ms` is the next picture's time, when known.
    Picture {
        frame: SharedFrame,
        at_ms: i64,
        next_ms: Option<i64>,
    },
    /// Nothing recorded at the instant wanted (or it cannot be read), and why.
    Nothing { at_ms: i64, reason: String },
}

/// Reload the index at most this often while playing past its end (the newest segment grows
/// and the next one starts).
const RELOAD_EVERY: Duration = Duration::from_millis(250);
/// And in any case this often (segments come and go: retention, hands).
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// A picture this far past its segment's last one still shows it (the next segment follows
/// within [`JOIN_MS`] when recording went on).
const HOLD_MS: i64 = JOIN_MS;

#[derive(Default)]
struct Mailbox {
    want: Option<Want>,
    closed: bool,
}

/// What the wall and the thread share.
struct Shared {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
    /// The seq of the last want carried out.
    done: AtomicU64,
    /// The camera's index as last loaded (for the wall's timeline), with a version.
    index: Mutex<(u64, Arc<Index>)>,
}

/// The wall's handle on a camera's playback thread; dropping it ends the thread (and any
/// read from a node it is waiting on).
pub struct Player {
    shared: Arc<Shared>,
    shown: crossbeam_channel::Receiver<Shown>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Player {
    /// Starts playing `camera`'s recordings from `source` (its folder under the recording
    /// directory, or its node); each picture shown rings `bell`.
    pub fn start(
        camera: &str,
        source: Source,
        bell: Option<crate::stream::Bell>,
    ) -> std::io::Result<Player> {
        let shared = Arc::new(Shared {
            mailbox: Mutex::default(),
            wake: Condvar::new(),
            done: AtomicU64::new(0),
            index: Mutex::new((0, Arc::default())),
        });
        let (slot, shown) = Slot::with_bell(bell);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let source = source.stopped_by(stop.clone(), None);
        let thread_shared = shared.clone();
        let name = camera.to_owned();
        std::thread::Builder::new()
            .name(format!("play {camera}"))
            .spawn(move || {
                let span = tracing::info_span!("play", camera = %name);
                let _guard = span.enter();
                Thread::new(source, thread_shared, slot).run();
            })?;
        Ok(Player {
            shared,
            shown,
            stop,
        })
    }

    /// Asks for `want` (replacing any want not yet carried out).
    pub fn want(&self, want: Want) {
        let mut m = lock(&self.shared.mailbox);
        if m.want != Some(want) {
            m.want = Some(want);
            self.shared.wake.notify_one();
        }
    }

    /// What the player has shown since last asked (the newest only).
    pub fn take_shown(&self) -> Option<Shown> {
        self.shown.try_iter().last()
    }

    /// The seq of the last want carried out.
    pub fn done(&self) -> u64 {
        self.shared.done.load(Ordering::Acquire)
    }

    /// The index as last loaded and its version (which changes when it is reloaded).
    pub fn index(&self) -> (u64, Arc<Index>) {
        let g = lock(&self.shared.index);
        (g.0, g.1.clone())
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        lock(&self.shared.mailbox).closed = true;
        self.shared.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The segment to play at `at_ms`: the last one starting at or before it, if `at_ms` is
/// within it (or just past its last picture).
pub fn locate(index: &Index, at_ms: i64) -> Option<&Segment> {
    let i = index.segments.partition_point(|s| s.start_ms <= at_ms);
    let seg = index.segments.get(i.checked_sub(1)?)?;
    (at_ms < seg.end_ms + HOLD_MS).then_some(seg)
}

/// Why nothing shows at `at_ms`: the reason of the gap there, when a file in it is unreadable.
fn nothing_reason(index: &Index, at_ms: i64) -> String {
    index.gap_at(at_ms).reason.map_or_else(
        || "no recording".to_owned(),
        |r| format!("no recording: {r}"),
    )
}

struct Thread {
    source: Source,
    shared: Arc<Shared>,
    slot: Slot<Shown>,
    index: Arc<Index>,
    loaded: Instant,
    reader: Option<Reader>,
    scaler: Scaler,
    seq: u64,
    /// The reason sent with "nothing", while nothing is what was last sent.
    nothing_sent: Option<String>,
    /// Why the recordings could not be listed last time (a node that does not answer).
    unlisted: Option<String>,
    /// The instant the index was last asked around.
    listed_around: i64,
}

impl Thread {
    fn new(source: Source, shared: Arc<Shared>, slot: Slot<Shown>) -> Self {
        Self {
            source,
            shared,
            slot,
            index: Arc::default(),
            loaded: Instant::now(),
            reader: None,
            scaler: None,
            seq: 0,
            nothing_sent: None,
            unlisted: None,
            listed_around: 0,
        }
    }

    /// Looks at the recordings again (a node's around `around_ms`).
    fn reload(&mut self, around_ms: i64) {
        self.loaded = Instant::now();
        self.listed_around = around_ms;
        match self.source.index(around_ms) {
            Ok(index) => {
                self.unlisted = None;
                self.index = Arc::new(index);
            }
            // A node that does not answer: what it listed last still plays.
            Err(e) => {
                if self.unlisted.is_none() {
                    tracing::warn!("cannot list the recordings: {e}");
                }
                self.unlisted = Some(e);
                return;
            }
        }
        let mut g = lock(&self.shared.index);
        g.0 += 1;
        g.1 = self.index.clone();
    }

    fn run(mut self) {
        self.reload(chrono::Utc::now().timestamp_millis());
        let mut last: Option<Want> = None;
        loop {
            let want = {
                let mut m = lock(&self.shared.mailbox);
                loop {
                    if m.closed {
                        return;
                    }
                    if m.want.is_some() && m.want != last {
                        break m.want;
                    }
                    let (g, timeout) = self
                        .shared
                        .wake
                        .wait_timeout(m, REFRESH_EVERY)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    m = g;
                    if timeout.timed_out() && !m.closed {
                        break None;
                    }
                }
            };
            let Some(want) = want else {
                // Idle for a while: look at the files again, and show the change if any.
                self.reload(last.map_or(self.listed_around, |w| w.at_ms));
                if let Some(w) = last {
                    self.show(w);
                }
                continue;
            };
            self.show(want);
            self.shared.done.store(want.seq, Ordering::Release);
            last = Some(want);
        }
    }

    /// Shows what `want` asks for.
    fn show(&mut self, want: Want) {
        let at = want.at_ms;
        let newest_end = self.index.segments.last().map_or(i64::MIN, |s| s.end_ms);
        let stale = self.loaded.elapsed() >= self.source.reload_every(RELOAD_EVERY)
            && (at >= newest_end || locate(&self.index, at).is_none());
        // A node's listing covers a window around where it was asked: past its middle, again.
        let away = self
            .source
            .window_ms()
            .is_some_and(|w| at.abs_diff(self.listed_around) > (w / 2).unsigned_abs());
        if stale || away || self.loaded.elapsed() >= REFRESH_EVERY {
            self.reload(at);
        }
        let Some(seg) = locate(&self.index, at).cloned() else {
            self.reader = None;
            let reason = match &self.unlisted {
                Some(e) => format!("no recording: {e}"),
                None => nothing_reason(&self.index, at),
            };
            self.send_nothing(at, reason);
            return;
        };
        let newest = self
            .index
            .segments
            .last()
            .is_some_and(|s| s.file == seg.file);
        let result = match want.motion {
            Motion::Forward => {
                let reusable = self.reader.as_ref().is_some_and(|r| {
                    r.file == seg.file
                        && r.can_advance_to(at)
                        // The newest segment grows: read it again once its end was reached
                        // and it has grown since.
                        && !(newest
                            && r.at_end
                            && r.shown_ms.is_some_and(|s| s < at)
                            && self.source.extent(&seg) != r.extent)
                });
                if !reusable {
                    self.reader = None;
                }
                let reader = match self.reader.take() {
                    Some(r) => Ok(r),
                    None => Reader::open(&self.source, &seg),
                };
                reader.map(|mut r| {
                    let d = r.advance(at);
                    (r, d)
                })
            }
            Motion::Reverse => {
                let keep = self
                    .reader
                    .take()
                    .filter(|r| r.file == seg.file && r.shows_keyframe_for(at));
                match keep {
                    Some(r) => Ok((r, None)),
                    None => Reader::keyframe_at(&self.source, &seg, at).map(|mut r| {
                        let d = r.take_keyframe();
                        (r, d)
                    }),
                }
            }
        };
        match result {
            Ok((reader, decoded)) => {
                let next = reader.next_ms();
                let shown_ms = reader.shown_ms;
                self.reader = Some(reader);
                match decoded {
                    Some(d) => self.send_picture(d, next),
                    // Nothing new, or nothing at all before `at` in this segment (it starts
                    // with a picture after `at`: within a frame of its start).
                    None if shown_ms.is_none() => {
                        self.send_nothing(at, "no recording".into());
                    }
                    None => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot play {e}");
                self.reader = None;
                self.send_nothing(at, format!("no recording: {e}"));
            }
        }
    }

    fn send_picture(&mut self, d: Decoded, next_ms: Option<i64>) {
        self.seq += 1;
        let stamp = Stamp {
            seq: self.seq,
            arrival: Instant::now(),
            capture_ms: read_clock(&d.picture),
        };
        let Some(frame) = to_frame(&d.picture, &mut self.scaler, stamp) else {
            return;
        };
        self.nothing_sent = None;
        self.slot.publish(Shown::Picture {
            frame: Arc::new(frame),
            at_ms: d.at_ms,
            next_ms,
        });
    }

    fn send_nothing(&mut self, at_ms: i64, reason: String) {
        if self.nothing_sent.as_ref() == Some(&reason) {
            return;
        }
        self.nothing_sent = Some(reason.clone());
        self.slot.publish(Shown::Nothing { at_ms, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::super::index::tests::seg;
    use super::*;

    #[test]
    fn an_instant_is_played_from_the_segment_holding_it() {
        let index = Index {
            segments: vec![
                seg("a", 1000, 3000),
                seg("b", 3010, 5000),
                seg("c", 9000, 9500),
            ],
            unreadable: vec![super::super::index::Unreadable {
                file: "x".into(),
                at_ms: 6000,
                reason: "no pictures".into(),
            }],
        };
        let at = |t| locate(&index, t).map(|s| s.file.as_str());
        assert_eq!(at(999), None);
        assert_eq!(at(1000), Some("a"));
        // Between two segments that join: the last picture of the first.
        assert_eq!(at(3005), Some("a"));
        assert_eq!(at(3010), Some("b"));
        assert_eq!(at(5999), Some("b"));
        assert_eq!(at(6000), None);
        assert_eq!(at(9400), Some("c"));
        assert_eq!(nothing_reason(&index, 6500), "no recording: x: no pictures");
        // Anywhere in that gap, not only near the unreadable file's start.
        assert_eq!(nothing_reason(&index, 8900), "no recording: x: no pictures");
        assert_eq!(nothing_reason(&index, 500), "no recording");
    }
}

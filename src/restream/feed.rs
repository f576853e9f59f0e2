//! One camera stream as the restream serves it: a [`MediaSink`] beside the recorder in the
//! camera's one session, keeping the current description, the group of pictures since the
//! last keyframe (so a new client starts at once), one timeline that runs on across the
//! camera's reconnects, and the camera's own clock (its sender reports) for ours. Units go
//! out by a broadcast: the worker never waits for a client.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::media::{
    AudioTrack, AudioUnit, MediaSink, SessionInfo, VideoCodec, VideoUnit, nal, rescale, unix_ms,
};

/// The cache holds at most this much of one group of pictures; a longer group is not cached
/// (its clients wait for the next keyframe).
pub const GOP_BYTES: usize = 8 << 20;
pub const GOP_UNITS: usize = 600;
/// Units a client may be behind before it skips to the next keyframe.
const BROADCAST: usize = 512;
/// The session stays wanted this long after its last client left (a client that reconnects
/// finds it running).
const LINGER_MS: i64 = 5_000;

/// What a client is told in DESCRIBE. A new one (another codec, size or audio track) ends
/// the clients of the old one.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// The parameter sets (NAL units without start codes) of the last keyframe.
    pub params: Vec<Vec<u8>>,
    pub audio: Option<AudioTrack>,
    /// Counts descriptions from 1.
    pub generation: u64,
}

impl Description {
    fn same_stream(&self, other: &Self) -> bool {
        (self.codec, self.width, self.height, &self.audio)
            == (other.codec, other.width, other.height, &other.audio)
    }
}

/// One access unit or audio frame, on the feed's timeline.
#[derive(Debug)]
pub struct Unit {
    pub audio: bool,
    pub data: Arc<[u8]>,
    pub keyframe: bool,
    /// In the track's clock (90 kHz, or the audio sample rate), continuous across the
    /// camera's sessions.
    pub pts: i64,
    /// The description it belongs to.
    pub generation: u64,
}

/// A client's start: the cached group of pictures (from its keyframe), then what follows.
pub struct Subscription {
    pub backlog: Vec<Arc<Unit>>,
    pub live: broadcast::Receiver<Arc<Unit>>,
    pub description: Arc<Description>,
    _client: Client,
}

/// Counts as a client of the feed while it lives: the camera's session stays up for it.
pub struct Client(Arc<Feed>);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.last_left.store(unix_ms(), Ordering::Relaxed);
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One camera stream's restream side.
pub struct Feed {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<Unit>>,
    /// Set when the camera is gone (removed, or its node's list dropped it): clients end.
    ended: watch::Sender<bool>,
    described: watch::Sender<Option<Arc<Description>>>,
    clients: AtomicUsize,
    last_left: AtomicI64,
}

#[derive(Default)]
struct State {
    description: Option<Arc<Description>>,
    gop: Vec<Arc<Unit>>,
    gop_bytes: usize,
    /// The current group is being cached (it started at a keyframe and fits).
    caching: bool,
    video: Timeline,
    audio: Timeline,
    /// (pts, NTP) of each track from the camera's sender reports, this session.
    clocks: [Option<(i64, u64)>; 2],
}

/// One track's timeline across the camera's sessions: each session's units start at zero,
/// ours go on from where the last session stopped, plus the time between.
#[derive(Default)]
struct Timeline {
    session: u64,
    offset: i64,
    last: Option<(i64, i64)>,
}

impl Timeline {
    /// Our pts for a unit of `session` with `pts`, at Unix ms `wall`, in a `clock` Hz clock.
    fn place(&mut self, session: u64, pts: i64, wall: i64, clock: i64) -> i64 {
        if self.session != session {
            self.session = session;
            self.offset = match self.last {
                Some((out, at)) => {
                    let gap = rescale(wall.saturating_sub(at), clock, 1000).max(1);
                    out.saturating_add(gap).saturating_sub(pts)
                }
                None => 0,
            };
        }
        let out = pts.saturating_add(self.offset);
        self.last = Some((out, wall));
        out
    }

    /// Our pts for `pts` of `session`, if that is the session this timeline follows.
    fn map(&self, session: u64, pts: i64) -> Option<i64> {
        (self.session == session).then(|| pts.saturating_add(self.offset))
    }
}

/// NTP time (RFC 5905: seconds since 1900 in the high 32 bits) of Unix ms `ms`.
pub fn ntp_of_unix_ms(ms: i64) -> u64 {
    let secs = (ms.div_euclid(1000) + 2_208_988_800) as u64;
    let frac = ((ms.rem_euclid(1000) as u64) << 32) / 1000;
    (secs << 32) | frac
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            live: broadcast::channel(BROADCAST).0,
            ended: watch::channel(false).0,
            described: watch::channel(None).0,
            clients: AtomicUsize::new(0),
            last_left: AtomicI64::new(i64::MIN / 2),
        }
    }
}

impl Feed {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The state, even after a panic elsewhere left its lock poisoned (the worker must go
    /// on feeding).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The camera is gone: every client ends (BYE), and no new one starts.
    pub fn end(&self) {
        self.ended.send_replace(true);
    }

    /// Becomes true once the camera is gone.
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    /// Counts a client from now until the handle is dropped.
    pub fn client(self: &Arc<Self>) -> Client {
        self.clients.fetch_add(1, Ordering::Relaxed);
        Client(self.clone())
    }

    /// Clients now (those describing, set up or playing).
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// The description, waiting up to `wait` for the stream's first keyframe.
    pub async fn describe(&self, wait: Duration) -> Option<Arc<Description>> {
        let mut rx = self.described.subscribe();
        let found = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        found.ok()?.ok()?.clone()
    }

    /// A client's start: the cached group of pictures and the live units after it, exactly;
    /// the client back when there is nothing to describe yet or the camera is gone.
    pub fn subscribe(&self, client: Client) -> Result<Subscription, Client> {
        let state = self.lock();
        match state.description.clone() {
            Some(description) if !*self.ended.borrow() => Ok(Subscription {
                description,
                live: self.live.subscribe(),
                backlog: state.gop.clone(),
                _client: client,
            }),
            _ => Err(client),
        }
    }

    /// The NTP time of `pts` on the audio or video track: by the camera's sender reports
    /// when it sends them, else by our arrival clock.
    pub fn ntp(&self, audio: bool, pts: i64) -> Option<u64> {
        let state = self.lock();
        let (at, ntp) = state.clocks[usize::from(audio)]?;
        let clock = if audio {
            i64::from(state.description.as_ref()?.audio.as_ref()?.sample_rate)
        } else {
            90_000
        };
        let delta = (i128::from(pts) - i128::from(at)) * (1i128 << 32) / i128::from(clock.max(1));
        Some((i128::from(ntp) + delta) as u64)
    }

    /// Takes a keyframe's description; a new stream (codec, size, audio) starts a new
    /// generation.
    fn describe_keyframe(&self, state: &mut State, session: &SessionInfo, unit: &VideoUnit) {
        let params = nal::parameter_sets(unit.codec, &unit.data)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>();
        let mut next = Description {
            codec: unit.codec,
            width: unit.width,
            height: unit.height,
            params,
            audio: session.audio.clone(),
            generation: 1,
        };
        match &state.description {
            Some(old) if old.same_stream(&next) && old.params == next.params => return,
            Some(old) if old.same_stream(&next) => next.generation = old.generation,
            Some(old) => {
                tracing::info!(
                    "restream: the stream changed ({} {}x{} → {} {}x{}): its clients are ended",
                    old.codec.as_str(),
                    old.width,
                    old.height,
                    next.codec.as_str(),
                    next.width,
                    next.height
                );
                next.generation = old.generation + 1;
                state.gop.clear();
            }
            None => {}
        }
        let next = Arc::new(next);
        state.description = Some(next.clone());
        self.described.send_replace(Some(next));
    }
}

impl MediaSink for Feed {
    fn video(&self, session: &Arc<SessionInfo>, unit: &VideoUnit) {
        let mut state = self.lock();
        let pts = state
            .video
            .place(session.id, unit.pts, unit.wall_ms, 90_000);
        if unit.keyframe {
            self.describe_keyframe(&mut state, session, unit);
            state.gop.clear();
            state.gop_bytes = 0;
            state.caching = true;
        }
        let Some(generation) = state.description.as_ref().map(|d| d.generation) else {
            return; // nothing to describe before the first keyframe
        };
        if state.clocks[0].is_none() {
            state.clocks[0] = Some((pts, ntp_of_unix_ms(unit.wall_ms)));
        }
        let unit = Arc::new(Unit {
            audio: false,
            data: unit.data.clone(),
            keyframe: unit.keyframe,
            pts,
            generation,
        });
        if state.caching {
            state.gop_bytes += unit.data.len();
            state.gop.push(unit.clone());
            if state.gop_bytes > GOP_BYTES || state.gop.len() > GOP_UNITS {
                state.gop = Vec::new();
                state.caching = false;
            }
        }
        // Sent under the lock: a subscriber gets each unit once, from the cache or from here.
        let _ = self.live.send(unit);
    }

    fn audio(&self, session: &Arc<SessionInfo>, unit: &AudioUnit) {
        let mut state = self.lock();
        let Some(description) = state.description.clone() else {
            return;
        };
        // Audio of another track than described waits for the keyframe that describes it.
        let Some(track) = description
            .audio
            .as_ref()
            .filter(|t| Some(*t) == session.audio.as_ref())
        else {
            return;
        };
        let clock = i64::from(track.sample_rate);
        let pts = state.audio.place(session.id, unit.pts, unit.wall_ms, clock);
        if state.clocks[1].is_none() {
            state.clocks[1] = Some((pts, ntp_of_unix_ms(unit.wall_ms)));
        }
        let _ = self.live.send(Arc::new(Unit {
            audio: true,
            data: unit.data.clone(),
            keyframe: false,
            pts,
            generation: description.generation,
        }));
    }

    fn session_ended(&self, _id: u64) {
        let mut state = self.lock();
        state.gop = Vec::new();
        state.caching = false;
        state.clocks = [None, None];
    }

    fn wanted(&self) -> bool {
        self.clients() > 0
            || unix_ms().saturating_sub(self.last_left.load(Ordering::Relaxed)) < LINGER_MS
    }

    fn sender_report(&self, id: u64, audio: bool, pts: i64, ntp: u64) {
        let mut state = self.lock();
        let timeline = if audio { &state.audio } else { &state.video };
        if let Some(ours) = timeline.map(id, pts) {
            state.clocks[usize::from(audio)] = Some((ours, ntp));
        }
    }
}

#[cfg(test)]
pub(super) mod tests;

//! The built-in simulated camera, with no Bevy: a real RTSP server on loopback (OPTIONS,
//! DESCRIBE with sprop parameter sets, SETUP over TCP-interleaved or UDP, PLAY, GET_PARAMETER,
//! TEARDOWN, Digest auth) serving one synthetic, encoded picture per path (`/cam1` …), plus
//! the faults tests need: a late first frame, a dropped connection, refused connections,
//! jittery delivery. With `onvif_port` each camera is also an ONVIF device whose PTZ head
//! moves the picture (`onvif`, `ptz`). It shares nothing with the client but the `media` layer.

mod events;
mod isapi;
mod onvif;
pub mod ptz;
mod rtsp;
pub mod scene;
mod send;
mod session;
pub mod sound;
pub(crate) mod talk;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpSocket;
use tokio::task::AbortHandle;

use crate::media::VideoCodec;
use scene::{Source, SourceSpec};

/// The Digest realm of the simulated cameras' RTSP and ISAPI.
pub(crate) const REALM: &str = "OpticLink simulated camera";

/// How to run a simulated camera server.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Paths `/cam1` … `/camN`.
    pub cameras: u32,
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub codec: VideoCodec,
    /// H.265 only: open GOPs (CRA keyframes), as some cameras send.
    pub open_gop: bool,
    /// Names burned into the pictures; missing ones are "Sim N".
    pub names: Vec<String>,
    /// When set, every request but OPTIONS needs Digest auth with these.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Each camera also sends sound (AAC 16 kHz mono, a beep every second).
    pub audio: bool,
    /// Serve ONVIF (device, media, PTZ, imaging) on this port (0 picks one); `None`: no ONVIF.
    pub onvif_port: Option<u16>,
    /// Accept talk: offer an ONVIF backchannel track (PCMU/PCMA) to clients that ask for one.
    pub backchannel: bool,
    /// Write what each talk session carried to `DIR/camN-K.wav`.
    pub talk_out: Option<std::path::PathBuf>,
    /// Each camera also serves a sub stream of this size at `/camN/sub` (the same scene,
    /// the same PTZ head).
    pub sub_size: Option<(u32, u32)>,
    /// At most this many sessions at once per camera, main and sub together (cheap cameras
    /// allow 2); one more is refused with `453 Not Enough Bandwidth`.
    pub max_sessions: Option<u32>,
    /// Every camera serves camera 1's pictures from one encoder (benches that measure the
    /// receiving side need many cameras without encoding each).
    pub one_encoder: bool,
    /// The box moves for [`MOTION_SECS`] every this often (camera `i` of `n` a share of the
    /// period later), and each camera's ONVIF event service reports it. `None`: the box
    /// always moves and the event service reports no motion, unless [`SimServer::set_motion`]
    /// says otherwise.
    pub motion_every: Option<Duration>,
    /// Sensor noise: each luma pixel off by up to ± this much, anew every frame. Default 0.
    pub noise: u8,
    /// Seconds between keyframes (a new client still gets one at once). Default 1.
    pub keyframe_secs: u32,
    /// Each camera also serves Hikvision's ISAPI event stream on a port of its own
    /// ([`SimServer::isapi_url`]).
    pub isapi: bool,
    pub faults: SimFaults,
}

/// How long the box moves each time under [`SimConfig::motion_every`].
pub const MOTION_SECS: Duration = Duration::from_secs(4);

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            cameras: 1,
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            width: 640,
            height: 360,
            fps: 25,
            codec: VideoCodec::H264,
            open_gop: false,
            names: Vec::new(),
            user: None,
            password: None,
            audio: false,
            onvif_port: None,
            sub_size: None,
            max_sessions: None,
            one_encoder: false,
            backchannel: false,
            talk_out: None,
            motion_every: None,
            noise: 0,
            keyframe_secs: 1,
            isapi: false,
            faults: SimFaults::default(),
        }
    }
}

/// Misbehaviour on demand. Changeable while running ([`SimServer::set_faults`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimFaults {
    /// Wait this long after PLAY before the first frame.
    pub first_frame_delay: Duration,
    /// Close the connection after sending this many frames in a session.
    pub drop_after_frames: Option<u64>,
    /// Stop sending after this many frames in a session but keep the connection open (a
    /// frozen camera: only a watchdog notices).
    pub freeze_after_frames: Option<u64>,
    /// Close every new connection at once.
    pub refuse: bool,
    /// Send slice data as random bytes (parameter sets stay valid): a decoder's nightmare.
    pub garbage: bool,
    /// Deliver each frame late by a random 0 … 2 × this fraction of the frame period, so
    /// frames arrive ±this fraction around their (shifted) times, as over a jittery network.
    /// RTP timestamps stay regular. 0 = none.
    pub jitter: f64,
    /// The ONVIF device's clock runs this far ahead of the real one (negative: behind).
    pub clock_offset_secs: i64,
    /// The ONVIF device takes connections and never answers.
    pub onvif_hang: bool,
    /// The camera stops reading a backchannel once talk audio arrives (its TCP receive
    /// window fills and stays shut), as a hung camera does.
    pub talk_deaf: bool,
    /// The ONVIF device wants a WS-Security token on every call, `GetSystemDateAndTime`
    /// included, and refuses without one as some vendors do: a plain `Sender` fault whose
    /// reason says "Sender not authorized".
    pub onvif_wsse_always: bool,
    /// The event service takes requests and never answers (the rest of ONVIF still does).
    pub events_hang: bool,
    /// Subscriptions live at most this long unless renewed.
    pub events_lifetime_secs: Option<u64>,
    /// The event service reports motion starting and never stopping.
    pub events_no_stop: bool,
    /// The event service says `1`/`0` instead of `true`/`false`.
    pub events_numeric: bool,
    /// The device has no event service, as many cameras have none: its capabilities and
    /// services leave it out, and event calls get `ActionNotSupported`.
    pub events_none: bool,
}

/// Counters tests read.
#[derive(Debug, Default)]
pub struct SimStats {
    pub connections: AtomicU64,
    /// Sessions created by SETUP.
    pub sessions: AtomicU64,
    pub plays: AtomicU64,
    pub teardowns: AtomicU64,
    /// Video frames sent, all sessions together.
    pub frames_sent: AtomicU64,
    /// Sessions refused for the camera's session limit.
    pub refused_sessions: AtomicU64,
    /// Sub-stream sessions created.
    pub sub_sessions: AtomicU64,
    /// ONVIF event subscriptions created, renewed, pulled and ended.
    pub event_subscriptions: AtomicU64,
    pub event_renewals: AtomicU64,
    pub event_pulls: AtomicU64,
    pub event_unsubscribes: AtomicU64,
}

impl SimStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct Shared {
    config: SimConfig,
    rtsp_addr: SocketAddr,
    sources: Vec<Arc<Source>>,
    /// Sub streams, one per camera when `sub_size` is set, else none.
    subs: Vec<Arc<Source>>,
    /// Open sessions per camera (for `max_sessions`).
    open_sessions: Mutex<Vec<u32>>,
    /// One per camera when `audio` is on, else none.
    sounds: Vec<Arc<sound::Sound>>,
    stats: SimStats,
    faults: Mutex<SimFaults>,
    tasks: Mutex<Vec<AbortHandle>>,
    next_session: AtomicU64,
    /// Cameras someone is talking to now.
    talking: Mutex<std::collections::HashSet<usize>>,
    /// Talk sessions heard, for file names.
    talk_count: AtomicU64,
    subscriptions: Mutex<events::Subscriptions>,
}

/// A running simulated camera server. Dropping it stops it.
pub struct SimServer {
    addr: SocketAddr,
    onvif_addr: Option<SocketAddr>,
    /// Each camera's ISAPI server, camera 1 first (none unless asked for).
    isapi_addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
}

impl SimServer {
    /// Binds (with `SO_REUSEADDR`, so a restarted server gets its port back) and starts
    /// serving. Must be called inside a tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let addr = SocketAddr::new(config.bind, config.port);
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(64)?;
        let addr = listener.local_addr()?;
        let spec = |i: u32, (width, height): (u32, u32)| SourceSpec {
            name: config
                .names
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| format!("Sim {}", i + 1)),
            index: i,
            width,
            height,
            fps: config.fps,
            codec: config.codec,
            open_gop: config.open_gop,
            noise: config.noise,
            keyframe_secs: config.keyframe_secs,
        };
        let encoders = if config.one_encoder {
            1
        } else {
            config.cameras
        };
        let mut sources = (0..encoders)
            .map(|i| {
                Source::start(
                    spec(i, (config.width, config.height)),
                    Arc::new(ptz::Head::default()),
                    Arc::new(scene::Activity::default()),
                )
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        // One encoder: every camera is camera 1.
        while sources.len() < config.cameras as usize {
            sources.push(sources[0].clone());
        }
        // A sub stream looks through the same head as its main stream.
        let subs = match config.sub_size {
            None => Vec::new(),
            Some(size) => {
                let mut subs = sources[..encoders as usize]
                    .iter()
                    .map(|main| {
                        Source::start(
                            spec(main.spec.index, size),
                            main.head.clone(),
                            main.activity.clone(),
                        )
                    })
                    .collect::<std::io::Result<Vec<_>>>()?;
                while subs.len() < sources.len() {
                    subs.push(subs[0].clone());
                }
                subs
            }
        };
        let sounds = if config.audio {
            sources
                .iter()
                .map(|s| sound::Sound::start(&s.spec.name, s.spec.index))
                .collect::<std::io::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let shared = Arc::new(Shared {
            sounds,
            faults: Mutex::new(config.faults.clone()),
            rtsp_addr: addr,
            open_sessions: Mutex::new(vec![0; sources.len()]),
            config,
            sources,
            subs,
            stats: SimStats::default(),
            tasks: Mutex::new(Vec::new()),
            next_session: AtomicU64::new(1),
            talking: Mutex::new(Default::default()),
            talk_count: AtomicU64::new(0),
            subscriptions: Mutex::new(Default::default()),
        });
        if let Some(every) = shared.config.motion_every {
            shared.track(tokio::spawn(motion_schedule(shared.clone(), every)));
        }
        shared.track(tokio::spawn(rtsp::accept_loop(listener, shared.clone())));
        tracing::info!(
            "simulated cameras listening on rtsp://{addr}/cam1 … /cam{}",
            shared.sources.len()
        );
        let onvif_addr = match shared.config.onvif_port {
            None => None,
            Some(port) => Some(start_onvif(&shared, port).await?),
        };
        let isapi_addrs = if shared.config.isapi {
            let addrs = isapi::start(&shared).await?;
            if let Some(first) = addrs.first() {
                tracing::info!(
                    "simulated ISAPI event streams at http://{first}{} …",
                    isapi::ALERT_STREAM
                );
            }
            addrs
        } else {
            Vec::new()
        };
        Ok(Self {
            addr,
            onvif_addr,
            isapi_addrs,
            shared,
        })
    }

    /// Where the ONVIF devices listen, if they do.
    pub fn onvif_addr(&self) -> Option<SocketAddr> {
        self.onvif_addr
    }

    /// Camera `n`'s ONVIF device service (1-based), if ONVIF is on.
    pub fn onvif_url(&self, n: u32) -> Option<String> {
        self.onvif_addr
            .map(|a| format!("http://{a}/onvif/cam{n}/device_service"))
    }

    /// Camera `n`'s ISAPI base URL (1-based), if the cameras serve ISAPI.
    pub fn isapi_url(&self, n: u32) -> Option<String> {
        let at = self.isapi_addrs.get((n as usize).checked_sub(1)?)?;
        Some(format!("http://{at}/"))
    }

    /// Camera `n`'s PTZ head (1-based).
    pub fn head(&self, n: u32) -> Option<&Arc<ptz::Head>> {
        self.shared
            .sources
            .get((n as usize).checked_sub(1)?)
            .map(|s| &s.head)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `rtsp://ADDR/camN` for camera `n` (1-based).
    pub fn url(&self, n: u32) -> String {
        format!("rtsp://{}/cam{n}", self.addr)
    }

    /// `rtsp://ADDR/camN/sub`: camera `n`'s sub stream (with `sub_size`).
    pub fn sub_url(&self, n: u32) -> String {
        format!("rtsp://{}/cam{n}/sub", self.addr)
    }

    /// Starts (`true`) or stops camera `n`'s moving box (1-based), which its ONVIF event
    /// service reports; from then on the box moves only while motion is on.
    pub fn set_motion(&self, n: u32, on: bool) {
        if let Some(s) = self.shared.sources.get((n as usize).wrapping_sub(1)) {
            s.activity.set(on);
        }
    }

    /// Ends every ONVIF event subscription, as a camera reboot does.
    pub fn drop_subscriptions(&self) {
        events::drop_all(&self.shared);
    }

    /// ONVIF event subscriptions open now.
    pub fn open_subscriptions(&self) -> usize {
        events::open_count(&self.shared)
    }

    pub fn stats(&self) -> &SimStats {
        &self.shared.stats
    }

    pub fn set_faults(&self, faults: SimFaults) {
        *self.shared.faults.lock().expect("faults lock") = faults;
    }

    /// Closes the listener and every connection at once (like pulling the camera's plug).
    pub fn stop(&self) {
        for task in self.shared.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        for s in self.shared.sources.iter().chain(&self.shared.subs) {
            s.stop();
        }
        for s in &self.shared.sounds {
            s.stop();
        }
    }
}

impl Shared {
    /// Keeps `task` to abort when the server stops.
    fn track(&self, task: tokio::task::JoinHandle<()>) {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        // Connections come and go: the list holds the ones still running.
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }
}

/// Serves every camera's ONVIF device on `port` of the bind address; where it listens.
async fn start_onvif(shared: &Arc<Shared>, port: u16) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(shared.config.bind, port)).await?;
    let at = listener.local_addr()?;
    shared.track(tokio::spawn(onvif::accept_loop(listener, shared.clone())));
    tracing::info!("simulated ONVIF devices listening on http://{at}/onvif/cam1/device_service …");
    Ok(at)
}

/// Motion on every camera for [`MOTION_SECS`] each `every`, camera `i` starting `i / n` of
/// the period after camera 1.
async fn motion_schedule(shared: Arc<Shared>, every: Duration) {
    let n = shared.sources.len().max(1);
    let every = every.max(MOTION_SECS + Duration::from_secs(1));
    for s in &shared.sources {
        s.activity.set(false);
    }
    let start = tokio::time::Instant::now();
    loop {
        let now = start.elapsed();
        let mut next = every;
        for (i, s) in shared.sources.iter().enumerate() {
            let offset = every.mul_f64(i as f64 / n as f64);
            let Some(t) = now.checked_sub(offset) else {
                next = next.min(offset - now);
                continue;
            };
            let phase = Duration::from_secs_f64(t.as_secs_f64() % every.as_secs_f64());
            let on = phase < MOTION_SECS;
            s.activity.set(on);
            let change = if on {
                MOTION_SECS - phase
            } else {
                every - phase
            };
            next = next.min(change);
        }
        tokio::time::sleep(next.max(Duration::from_millis(10))).await;
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
    }
}

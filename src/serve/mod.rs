//! Local HTTP servers, with no Bevy: the supervised serving loop every server runs (access
//! token, restart on failure), the status snapshot the API serves, and the port policy.

pub(crate) mod access;
pub mod api;
pub mod audio;
mod cameras;
mod events;
pub mod guard;
pub(crate) mod http;
pub mod metrics;
pub mod mjpeg;
pub mod ports;
mod ptz;
pub(crate) mod recordings;
pub(crate) mod stall;
mod talk;
mod windows;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

#[cfg(test)]
pub(crate) use access::query_param;
pub use access::{Access, Limits, unlock_key};

/// What `/api/status` answers; written by the ECS, read by the API. Plain values only (the
/// ECS turns its components into these). No credentials in here: URLs are redacted before
/// they enter.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StatusSnapshot {
    pub cameras: Vec<CameraStatus>,
    pub api_port: u16,
    /// The RTSP restream's port (0 while it is not running).
    pub rtsp_port: u16,
    /// `rtsp://HOST:PORT` of the restream, for the cameras' URLs.
    #[serde(skip)]
    pub rtsp_base: Option<String>,
    /// This process as a node (`GET /api/node`).
    #[serde(skip)]
    pub node: crate::node::NodeInfo,
    /// The wall's drawing (window mode; absent headless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall: Option<WallStatus>,
    /// The wall's windows (none headless), for `/api/windows`.
    #[serde(skip)]
    pub windows: Vec<WindowStatus>,
    /// The layouts windows choose from, for `/api/windows`.
    #[serde(skip)]
    pub layouts: Vec<LayoutStatus>,
    /// Every state a camera can be in (for the metrics' 0/1 gauges).
    #[serde(skip)]
    pub states: Vec<String>,
}

impl StatusSnapshot {
    /// The snapshot as the servers show it: a locked camera shows its state and settings,
    /// nothing that reveals activity behind the lock (rates, counts, sizes, bytes, files,
    /// latency, which stream a window shows).
    pub fn locked_hidden(mut self) -> Self {
        for c in self.cameras.iter_mut().filter(|c| c.locked) {
            let shown = CameraStatus {
                name: std::mem::take(&mut c.name),
                url: std::mem::take(&mut c.url),
                state: std::mem::take(&mut c.state),
                reconnects: c.reconnects,
                last_error: c.last_error.take(),
                grace_secs_left: c.grace_secs_left,
                ports: std::mem::take(&mut c.ports),
                recording: RecordingStatus {
                    active: c.recording.active,
                    error: c.recording.error.take(),
                    ..Default::default()
                },
                ptz: PtzStatus {
                    available: c.ptz.available,
                    imaging: c.ptz.imaging,
                    ..Default::default()
                },
                locked: true,
                talk: c.talk,
                ..Default::default()
            };
            *c = shown;
        }
        self
    }
}

/// One window of the wall in [`StatusSnapshot`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WindowStatus {
    pub name: String,
    /// The layout shown.
    pub layout: String,
    /// The camera shown full window, if one is.
    pub maximised: Option<String>,
    /// The window's size in physical pixels.
    pub width: u32,
    pub height: u32,
    pub tour: Option<TourStatus>,
}

/// How much the wall draws: frames since start and over the last second. A wall draws when
/// a shown picture changes, on input and at a 1 Hz tick, so this follows the cameras.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WallStatus {
    pub frames: u64,
    pub fps: f64,
}

/// A window's tour in [`WindowStatus`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TourStatus {
    pub paused: bool,
    pub secs: u64,
    /// Layout or camera names, in turn.
    pub steps: Vec<String>,
}

/// One layout in [`StatusSnapshot`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LayoutStatus {
    pub name: String,
    /// `Auto`, or columns×rows.
    pub grid: String,
    /// The camera of each cell (`null`: empty), for the cameras there are now.
    pub cells: Vec<Option<String>>,
}

/// One camera in [`StatusSnapshot`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CameraStatus {
    pub name: String,
    /// Redacted RTSP URL.
    pub url: String,
    /// `connecting`, `live`, `stalled`, `reconnecting`, `auth_failed` or `offline`.
    pub state: String,
    pub codec: Option<String>,
    /// The audio served on the audio port, or why the camera's audio cannot be; `null`
    /// without audio.
    pub audio: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Frames received per second over the last few seconds.
    pub fps: f64,
    pub bitrate_bps: f64,
    /// Video frames received since start.
    pub frames: u64,
    /// Of those, decoded.
    pub decoded: u64,
    pub reconnects: u32,
    pub last_error: Option<String>,
    /// While connecting inside the startup grace.
    pub grace_secs_left: Option<f64>,
    /// Latency we add: a frame's arrival to its texture upload (window) or to its decoded
    /// picture (headless), over the last seconds; `null` until measured.
    pub latency_ms: Option<Latency>,
    /// Capture to upload (or decoded), for cameras that burn their clock into the picture
    /// (simulated cameras); `null` otherwise.
    pub glass_ms: Option<Latency>,
    pub ports: Ports,
    pub recording: RecordingStatus,
    /// PTZ and brightness over ONVIF (all false without an ONVIF endpoint).
    pub ptz: PtzStatus,
    /// The camera has a view password: its streams and routes need an unlock key.
    pub locked: bool,
    /// The camera may be talked to (`talk:` not `Off`; whether it can is known on trying).
    pub talk: bool,
    /// The stream the wall shows: `"main"` or `"sub"`; `null` while no window shows it.
    pub display_stream: Option<String>,
    /// An event (motion, a line crossed, a zone entered) is going on at the camera.
    pub motion: bool,
    /// Each stream on its own, for cameras with a sub stream (the fields above describe the
    /// stream that holds the camera: the one shown, else the main one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<Streams>,
    /// Where the RTSP restream serves the camera; `null` when it is not served (disabled,
    /// failed to start, or locked: the count of clients would tell who watches).
    pub restream: Option<RestreamStatus>,
}

/// A camera's RTSP restream in [`CameraStatus`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RestreamStatus {
    /// `rtsp://HOST:PORT/<camera>/main` (HOST as the servers bind, loopback for a wildcard).
    pub main: String,
    /// The same for the sub stream, when the camera has one.
    pub sub: Option<String>,
    /// RTSP clients now, both streams together.
    pub clients: usize,
}

/// A camera's main and sub streams in [`CameraStatus`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Streams {
    pub main: StreamDetail,
    pub sub: StreamDetail,
}

/// One stream of a camera.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StreamDetail {
    /// As the camera's `state`, plus `standby`: no session because nobody needs one.
    pub state: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub frames: u64,
    pub decoded: u64,
}

/// A camera's ONVIF control in [`CameraStatus`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PtzStatus {
    /// The camera can pan/tilt/zoom.
    pub available: bool,
    /// It has brightness control.
    pub imaging: bool,
    /// It moves by a command of ours.
    pub moving: bool,
    /// Percent of the camera's range, once known.
    pub brightness: Option<f32>,
    /// The last control failure, cleared by the next success.
    pub last_error: Option<String>,
}

/// Median and 99th percentile, milliseconds (rounded to 0.1).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Ports {
    pub mjpeg: Option<u16>,
    pub audio: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RecordingStatus {
    pub active: bool,
    pub segments: u64,
    pub bytes: u64,
    pub current: Option<String>,
    /// Why recording is failing right now (disk full, unwritable directory …).
    pub error: Option<String>,
    /// The audio being recorded ("AAC 16000 Hz"), or why the camera's audio is not.
    pub audio: Option<String>,
}

/// An HTTP response with any body (full or streaming).
pub type HttpResponse =
    hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>>;

/// The log lines of a camera's `kind` server ("MJPEG", "audio") serving `path`: where it is
/// listening and, when the preferred port was refused, why and which it took instead.
pub(crate) fn camera_server_log(camera: &str, kind: &'static str, path: &'static str) -> OnBound {
    let camera = camera.to_owned();
    Arc::new(move |addr, refused| {
        if let Some((port, why)) = refused.first() {
            tracing::warn!(camera = %camera, "{kind} port {port} unavailable ({}); using {}", ports::refusal_text(*why), addr.port());
        }
        tracing::info!(camera = %camera, "{kind} listening on http://{addr}{path}");
    })
}

/// `addr` as a client on this machine reaches it: a wildcard bind as loopback.
pub fn shown_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// A server's request handler (any async closure of the right shape).
pub(crate) trait Handler: Clone + Send + Sync + 'static {
    fn call(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> impl std::future::Future<Output = HttpResponse> + Send + 'static;
}

impl<F, Fut> Handler for F
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = HttpResponse> + Send + 'static,
{
    fn call(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> impl std::future::Future<Output = HttpResponse> + Send + 'static {
        self(req)
    }
}

/// Called with the bound address and the ports refused on the way (for the log line and the
/// status), at start and after every restart.
pub type OnBound = Arc<dyn Fn(SocketAddr, &[(u16, io::ErrorKind)]) + Send + Sync>;

/// A running HTTP server, supervised: if its listening socket fails at run time it is bound
/// again by the same port policy (its last port first). Dropping it stops the server and
/// closes its connections.
pub struct Server {
    port: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
    /// Dropped with the server: every connection task sees it and ends.
    _stop: watch::Sender<()>,
}

impl Server {
    /// The port it is bound to now.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server(port {})", self.port())
    }
}

/// Binds `preferred` (or a fallback by [`ports::bind_tcp`]) and serves HTTP/1 there on
/// `runtime`: requests without the access token get 401, the others go to `handle`. Every
/// server here runs through this. `what` names the server in log lines.
pub(crate) fn start_server(
    runtime: &tokio::runtime::Handle,
    preferred: SocketAddr,
    what: String,
    access: Access,
    on_bound: OnBound,
    handle: impl Handler,
) -> io::Result<Server> {
    supervised(
        runtime,
        preferred,
        what,
        on_bound,
        http_service(access, handle),
        ports::bind_tcp,
    )
}

/// What a supervised server does with its listener until the listener fails: serves HTTP
/// with `handle` behind `access`.
fn http_service(
    access: Access,
    handle: impl Handler,
) -> impl Fn(std::net::TcpListener, watch::Receiver<()>) -> ServeFuture + Send + 'static {
    move |listener, stop| {
        let (access, handle) = (access.clone(), handle.clone());
        Box::pin(async move { serve_until_error(listener, &access, &handle, &stop).await })
    }
}

/// A server's run on one listener: it ends with the error that broke the listener.
pub(crate) type ServeFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = io::Error> + Send>>;

/// A supervised server of another protocol (RTSP): `connection` serves each accepted
/// connection until it ends or the server is dropped, at most `max_connections` at once.
pub(crate) fn start_tcp_server<C, F>(
    runtime: &tokio::runtime::Handle,
    preferred: SocketAddr,
    what: String,
    on_bound: OnBound,
    max_connections: usize,
    connection: C,
) -> io::Result<Server>
where
    C: Fn(tokio::net::TcpStream) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let serve = move |listener, stop: watch::Receiver<()>| -> ServeFuture {
        let connection = connection.clone();
        Box::pin(async move {
            accept_until_error(listener, max_connections, |stream, _peer, slot| {
                let (work, mut stop) = (connection(stream), stop.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        _ = work => {}
                        _ = stop.changed() => {}
                    }
                });
            })
            .await
        })
    };
    supervised(runtime, preferred, what, on_bound, serve, ports::bind_tcp)
}

/// A listener by the port policy, and the ports refused on the way.
type Bound = (std::net::TcpListener, Vec<(u16, io::ErrorKind)>);

/// A server on `preferred` (or a fallback by `bind`; tests break the sockets it makes)
/// running `serve` on its listener, and again on a new one whenever that fails.
fn supervised<B, S>(
    runtime: &tokio::runtime::Handle,
    preferred: SocketAddr,
    what: String,
    on_bound: OnBound,
    serve: S,
    mut bind: B,
) -> io::Result<Server>
where
    B: FnMut(std::net::IpAddr, u16) -> io::Result<Bound> + Send + 'static,
    S: Fn(std::net::TcpListener, watch::Receiver<()>) -> ServeFuture + Send + 'static,
{
    let (mut listener, refused) = bind(preferred.ip(), preferred.port())?;
    let addr = listener.local_addr()?;
    on_bound(addr, &refused);
    let port = Arc::new(AtomicU16::new(addr.port()));
    let (stop_tx, stop_rx) = watch::channel(());
    let current = port.clone();
    let task = runtime.spawn(async move {
        let mut delay = RESTART_FIRST;
        loop {
            let started = tokio::time::Instant::now();
            let port = current.load(Ordering::Relaxed);
            let error = serve(listener, stop_rx.clone()).await;
            if started.elapsed() > RESTART_HEALTHY {
                delay = RESTART_FIRST;
            }
            tracing::warn!("{what} on port {port} failed ({error}); restarting in {delay:?}");
            listener = loop {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RESTART_MAX);
                match bind(preferred.ip(), port).and_then(|(l, refused)| {
                    let addr = l.local_addr()?;
                    Ok((l, refused, addr))
                }) {
                    Ok((l, refused, addr)) => {
                        current.store(addr.port(), Ordering::Relaxed);
                        on_bound(addr, &refused);
                        break l;
                    }
                    Err(e) => {
                        tracing::warn!("{what} cannot bind again ({e}); retrying in {delay:?}")
                    }
                }
            };
        }
    });
    Ok(Server {
        port,
        task,
        _stop: stop_tx,
    })
}

/// First wait before a failed server is bound again; doubles up to [`RESTART_MAX`], and
/// starts over once a server has run for [`RESTART_HEALTHY`].
const RESTART_FIRST: Duration = Duration::from_millis(200);
const RESTART_MAX: Duration = Duration::from_secs(30);
const RESTART_HEALTHY: Duration = Duration::from_secs(60);

/// The connections one address off this machine may hold at once: a quarter of the cap (at
/// least 4), so one client on the network cannot take every slot. Loopback has no such
/// limit (a local process can do anything anyway).
fn per_address(max_connections: usize) -> usize {
    (max_connections / 4).max(4)
}

/// A connection's place: one of the server's slots, and one of its address's.
pub(crate) struct Slot {
    _server: tokio::sync::OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

/// Connections open by address.
type ByAddress = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One of an address's connections, given back when dropped.
struct AddressSlot(ByAddress, std::net::IpAddr);

impl AddressSlot {
    /// A slot for `ip` among `most`, if it has one free.
    fn take(counts: &ByAddress, ip: std::net::IpAddr, most: usize) -> Option<Self> {
        let mut map = counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_default();
        if *n >= most {
            return None;
        }
        *n += 1;
        Some(Self(counts.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Accepts connections until the listening socket fails, and returns why; each one goes to
/// `serve` with its slot among `max_connections` (and among [`per_address`] of its
/// address's), or is closed at once when none is free.
async fn accept_until_error(
    listener: std::net::TcpListener,
    max_connections: usize,
    mut serve: impl FnMut(tokio::net::TcpStream, SocketAddr, Slot),
) -> io::Error {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let by_address = ByAddress::default();
    let most = per_address(max_connections);
    let mut refused = Refusals::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if accept_error_is_transient(&e) => {
                // Out of file descriptors or buffers: wait for some to come back.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return e,
        };
        // Over the cap: closed at once, so a flood costs a socket for a moment, never a task.
        let Ok(server) = slots.clone().try_acquire_owned() else {
            drop(stream);
            refused.one(max_connections);
            continue;
        };
        let address = match peer.ip().to_canonical() {
            ip if ip.is_loopback() => None,
            ip => match AddressSlot::take(&by_address, ip, most) {
                Some(s) => Some(s),
                None => {
                    drop(stream);
                    refused.one_of(ip, most);
                    continue;
                }
            },
        };
        serve(
            stream,
            peer,
            Slot {
                _server: server,
                _address: address,
            },
        );
    }
}

/// Accepts and serves HTTP connections until the listening socket fails; returns why.
async fn serve_until_error(
    listener: std::net::TcpListener,
    access: &Access,
    handle: &impl Handler,
    stop: &watch::Receiver<()>,
) -> io::Error {
    accept_until_error(
        listener,
        access.limits.max_connections,
        |stream, peer, slot| {
            let (access, handle, mut stop) = (access.clone(), handle.clone(), stop.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let header_timeout = access.limits.header_timeout;
                let service = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(Peer(peer));
                        let response = admit(&access, &req);
                        let handle = handle.clone();
                        async move {
                            let response = match response {
                                Some(refused) => refused,
                                None => handle.call(req).await,
                            };
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    },
                );
                let connection = hyper::server::conn::http1::Builder::new()
                    // The timer makes the head timeout real (hyper has none without one); it
                    // also runs while a kept-alive connection waits for its next request.
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stall::StallGuard::new(
                            stream,
                            stall::WRITE_STALL,
                        )),
                        service,
                    )
                    .with_upgrades();
                tokio::select! {
                    _ = connection => {}
                    _ = stop.changed() => {}
                }
            });
        },
    )
    .await
}

/// The client's address, in every request's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// The answer for a request refused before routing (foreign host or origin, no token, a
/// locked camera's server without its key); `None` lets it through.
fn admit(access: &Access, req: &hyper::Request<hyper::body::Incoming>) -> Option<HttpResponse> {
    if let Err(denied) = access.guard.check(req.method(), req.headers()) {
        return Some(http::error_response(denied.status(), &denied.message()));
    }
    if !access.allows(req.headers(), req.uri().query()) {
        return Some(http::unauthorized());
    }
    access.view_lock(req.headers(), req.uri().query())
}

/// Connections refused over the cap, logged at most once a minute.
#[derive(Default)]
struct Refusals {
    count: u64,
    logged: Option<tokio::time::Instant>,
}

impl Refusals {
    fn one(&mut self, cap: usize) {
        if let Some(n) = self.due() {
            tracing::warn!(
                "{n} connection(s) refused: {cap} are open already (servers.max_connections)"
            );
        }
    }

    fn one_of(&mut self, ip: std::net::IpAddr, most: usize) {
        if let Some(n) = self.due() {
            tracing::warn!(
                "{n} connection(s) refused: {ip} holds {most} already (a quarter of servers.max_connections)"
            );
        }
    }

    /// Counts one refusal; the count to log when a minute passed since the last line.
    fn due(&mut self) -> Option<u64> {
        self.count += 1;
        let now = tokio::time::Instant::now();
        let due = self
            .logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
        due.then(|| {
            self.logged = Some(now);
            std::mem::take(&mut self.count)
        })
    }
}

/// Accept errors that concern one connection or a passing shortage, not the socket.
fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) || matches!(e.raw_os_error(), Some(WSAEMFILE | WSAENOBUFS))
}

/// Winsock's "too many sockets" and "no buffer space" (Windows reports those, not errno's).
const WSAEMFILE: i32 = 10024;
const WSAENOBUFS: i32 = 10055;

/// What one camera serves, for the API port too (browsers refuse some ports, e.g. 556 and
/// 563 right after the default base 555, and one origin is simpler for a page).
#[derive(Clone)]
pub struct CameraFeeds {
    pub mjpeg: mjpeg::MjpegFeed,
    pub audio: Arc<crate::stream::audio::AudioFeed>,
    /// The camera's ONVIF control, if it has an endpoint.
    pub control: Option<crate::onvif::ControlHandle>,
    /// The camera's settings (credentials included, never served) when it may be talked to.
    pub talk: Option<Arc<crate::config::CameraConfig>>,
    /// When its recording failed (reasons for the gaps in its listing).
    pub outages: crate::record::SharedOutages,
    /// A node's camera: its recordings routes are the node's, passed through.
    pub node: Option<crate::playback::source::NodeRecordings>,
}

/// Every camera's feeds by name; the ECS adds and removes cameras.
pub type FeedHub = Arc<std::sync::RwLock<std::collections::HashMap<String, CameraFeeds>>>;

/// The snapshot shared between the ECS (writer) and the API (readers).
pub type StatusBoard = std::sync::Arc<std::sync::RwLock<StatusSnapshot>>;

// Breaks the socket with libc's shutdown(2): Unix only.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_a_quarter_of_the_slots_at_most() {
        assert_eq!(per_address(256), 64);
        assert_eq!(per_address(8), 4);
        let counts = ByAddress::default();
        let ip: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        let other: std::net::IpAddr = "10.0.0.8".parse().unwrap();
        let held: Vec<_> = (0..4)
            .map(|_| AddressSlot::take(&counts, ip, 4).unwrap())
            .collect();
        assert!(AddressSlot::take(&counts, ip, 4).is_none(), "the fifth");
        assert!(
            AddressSlot::take(&counts, other, 4).is_some(),
            "another address"
        );
        drop(held);
        assert!(counts.lock().unwrap().is_empty(), "given back, forgotten");
        assert!(AddressSlot::take(&counts, ip, 4).is_some());
    }

    /// One GET over a fresh connection; the status line, or the error.
    fn get(port: u16) -> io::Result<String> {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        c.read_to_string(&mut out)?;
        Ok(out.lines().next().unwrap_or_default().to_owned())
    }

    #[test]
    fn a_server_whose_socket_fails_is_bound_again_on_its_port() {
        use std::os::fd::AsRawFd;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sockets = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sockets.clone();
        let bind = move |ip, port| {
            let bound = ports::bind_tcp(ip, port)?;
            seen.lock().unwrap().push(bound.0.as_raw_fd());
            Ok(bound)
        };
        let binds = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = binds.clone();
        let on_bound: OnBound = Arc::new(move |addr: SocketAddr, _: &[_]| {
            log.lock().unwrap().push(addr.port());
        });
        let handle = |_req| async {
            use http_body_util::BodyExt;
            hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok")).boxed())
        };
        let server = supervised(
            rt.handle(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "test server".into(),
            on_bound,
            http_service(Access::default(), handle),
            bind,
        )
        .unwrap();
        let port = server.port();
        assert!(get(port).unwrap().contains("200"));
        // Break the listening socket under the server, as a vanished address or a fault
        // would: accept() now fails with EINVAL.
        let fd = sockets.lock().unwrap()[0];
        // SAFETY: `fd` is the server's open listening socket; shutdown() does not close it.
        assert_eq!(unsafe { libc::shutdown(fd, libc::SHUT_RDWR) }, 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while binds.lock().unwrap().len() < 2 {
            assert!(std::time::Instant::now() < deadline, "never bound again");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(*binds.lock().unwrap(), [port, port], "same port again");
        assert_eq!(server.port(), port);
        assert!(get(port).unwrap().contains("200"));
        // Dropping the server stops it.
        drop(server);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while get(port).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still serving");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

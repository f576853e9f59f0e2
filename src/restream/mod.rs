//! The RTSP server shared by the restream and the simulated camera, and the restream itself:
//! every camera stream served at `rtsp://HOST:PORT/<camera>/main|sub` from the camera's one
//! session (no second connection to the camera, no transcoding). `conn` frames a connection,
//! `rtp`/`sdp`/`digest` are the protocol's pieces, `feed` is one stream's tap beside the
//! recorder (description, cached group of pictures, timeline), `send` one client's sender,
//! `server` the requests and `gate` who may make them.

pub mod conn;
pub mod digest;
pub mod feed;
pub mod gate;
pub mod rtp;
pub mod sdp;
mod send;
pub(crate) mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

pub use feed::Feed;

/// Every camera's restreamed streams, by camera name; the ECS adds and removes cameras.
#[derive(Clone, Default)]
pub struct Catalog(Arc<RwLock<HashMap<String, Streams>>>);

/// One camera's feeds.
#[derive(Clone)]
pub struct Streams {
    pub main: Arc<Feed>,
    pub sub: Option<Arc<Feed>>,
}

impl Catalog {
    pub fn insert(&self, camera: &str, main: Arc<Feed>) {
        let streams = Streams { main, sub: None };
        self.write().insert(camera.to_owned(), streams);
    }

    pub fn set_sub(&self, camera: &str, sub: Arc<Feed>) {
        if let Some(s) = self.write().get_mut(camera) {
            s.sub = Some(sub);
        }
    }

    /// Camera `camera` is gone: its clients end.
    pub fn remove(&self, camera: &str) {
        if let Some(s) = self.write().remove(camera) {
            s.main.end();
            s.sub.iter().for_each(|f| f.end());
        }
    }

    pub fn streams(&self, camera: &str) -> Option<Streams> {
        self.0.read().ok()?.get(camera).cloned()
    }

    /// The feed a path names.
    pub fn feed(&self, path: &StreamPath) -> Option<Arc<Feed>> {
        let streams = self.streams(&path.camera)?;
        if path.sub {
            streams.sub
        } else {
            Some(streams.main)
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Streams>> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a request's path names: `/<camera>/main|sub[/trackID=N]`, each part percent-encoded.
/// A camera name may hold `/` (a node's `Floor 2/Gate`), encoded or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPath {
    pub camera: String,
    pub sub: bool,
    pub track: Option<u8>,
}

/// What a camera name's path keeps encoded (`/` stays: it reads as one either way).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

impl StreamPath {
    pub fn parse(path: &str) -> Option<Self> {
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let track = match parts.last()?.strip_prefix("trackID=") {
            Some(n) => {
                parts.pop();
                Some(n.parse().ok()?)
            }
            None => None,
        };
        let sub = match parts.pop()? {
            "main" => false,
            "sub" => true,
            _ => return None,
        };
        let camera = parts
            .iter()
            .map(|p| percent_decode_str(p).decode_utf8().ok())
            .collect::<Option<Vec<_>>>()?
            .join("/");
        (!camera.is_empty()).then_some(Self { camera, sub, track })
    }

    pub fn stream(&self) -> &'static str {
        if self.sub { "sub" } else { "main" }
    }

    /// The path of `camera`'s main or sub stream.
    pub fn of(camera: &str, sub: bool) -> String {
        let stream = if sub { "sub" } else { "main" };
        format!("/{}/{stream}", utf8_percent_encode(camera, PATH))
    }
}

/// Starts the restream server on `servers.rtsp_port` (or the next free port, as every
/// server here), serving `catalog` behind the servers' token and `locks`; its address goes
/// into the status on every bind.
pub fn start(
    runtime: &tokio::runtime::Handle,
    servers: &crate::config::ServersConfig,
    catalog: Catalog,
    locks: Arc<crate::locks::Locks>,
    board: crate::serve::StatusBoard,
) -> std::io::Result<crate::serve::Server> {
    let shared = Arc::new(server::Shared {
        catalog,
        gate: gate::Gate {
            token: servers
                .token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(Arc::from),
            locks: Some(locks),
        },
    });
    let limits = conn::Limits {
        max_message: 16 * 1024,
        idle: std::time::Duration::from_secs(servers.header_timeout_secs),
        write_stall: crate::serve::stall::WRITE_STALL,
        queue: 64,
        queue_bytes: 4 << 20,
    };
    let on_bound: crate::serve::OnBound = Arc::new(move |addr: SocketAddr, refused| {
        if let Some((port, why)) = refused.first() {
            let why = crate::serve::ports::refusal_text(*why);
            tracing::warn!(
                "RTSP port {port} unavailable ({why}); using {}",
                addr.port()
            );
        }
        let base = format!("rtsp://{}", crate::serve::shown_addr(addr));
        tracing::info!("RTSP restream listening on {base}/<camera>/main and /sub");
        if let Ok(mut snapshot) = board.write() {
            snapshot.rtsp_port = addr.port();
            snapshot.rtsp_base = Some(base);
        }
    });
    crate::serve::start_tcp_server(
        runtime,
        SocketAddr::new(servers.bind, servers.rtsp_port),
        "RTSP restream".into(),
        on_bound,
        servers.max_connections as usize,
        move |stream| conn::serve(stream, server::Connection::new(shared.clone()), limits),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_camera_its_stream_and_track() {
        let p = StreamPath::parse("/Front%20Door/main").unwrap();
        assert_eq!(
            (p.camera.as_str(), p.sub, p.track),
            ("Front Door", false, None)
        );
        let p = StreamPath::parse("/Floor%202/Gate/sub/trackID=1").unwrap();
        assert_eq!(
            (p.camera.as_str(), p.sub, p.track),
            ("Floor 2/Gate", true, Some(1))
        );
        assert_eq!(
            StreamPath::parse("/Floor%202%2FGate/sub/").unwrap().camera,
            "Floor 2/Gate"
        );
        for bad in [
            "/",
            "/main",
            "/cam/other",
            "/cam/main/trackID=x",
            "/%FF/main",
        ] {
            assert_eq!(StreamPath::parse(bad), None, "{bad}");
        }
        let path = StreamPath::of("Door #1?", true);
        assert_eq!(path, "/Door%20%231%3F/sub");
        assert_eq!(StreamPath::parse(&path).unwrap().camera, "Door #1?");
    }
}

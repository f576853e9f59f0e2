//! The status/control API over hyper: its command channel to the ECS and its router. The
//! router is a table of routes, each one line handing the request to what owns it: the status
//! (`GET /api/status`, `GET /metrics`, the live page) and live media here, camera changes
//! (`cameras`: recording, adding, editing, removing, handed to the ECS), windows, recordings,
//! talk, and PTZ and imaging (`ptz`, to the camera's control agent). Answers are built in
//! `http`, which no route file needs this module for.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use tokio::sync::oneshot;

use super::http::{Body, MAX_BODY, error_response, percent_decode, reply, reply_json};
use super::{Access, FeedHub, OnBound, Ports, Server, StatusBoard};
use crate::config::CameraConfig;

/// The API's end of the command channel to the ECS. Each command sent rings the wall's bell:
/// a window that sleeps until something changes acts on it at once.
#[derive(Clone)]
pub struct CommandSender {
    tx: crossbeam_channel::Sender<ApiCommand>,
    bell: crate::stream::Bell,
}

impl CommandSender {
    pub fn new(tx: crossbeam_channel::Sender<ApiCommand>, bell: crate::stream::Bell) -> Self {
        Self { tx, bell }
    }

    pub fn try_send(
        &self,
        command: ApiCommand,
    ) -> Result<(), crossbeam_channel::TrySendError<ApiCommand>> {
        self.tx.try_send(command)?;
        self.bell.ring();
        Ok(())
    }
}

/// A control request for the ECS, from `POST`/`DELETE /api/cameras…`.
#[derive(Debug)]
pub enum ApiCommand {
    SetRecording {
        camera: String,
        active: bool,
    },
    /// Add a camera (already checked on its own); the answer carries its bound ports.
    AddCamera {
        camera: Box<CameraConfig>,
        reply: oneshot::Sender<Result<Ports, Refusal>>,
    },
    /// Remove a camera: its worker stops (finishing its segment), its servers close.
    RemoveCamera {
        camera: String,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// Replace a camera's settings (same name); the answer carries its ports (kept).
    ReplaceCamera {
        camera: Box<CameraConfig>,
        reply: oneshot::Sender<Result<Ports, Refusal>>,
    },
    /// Change what a window shows; the answer is the window afterwards.
    SetWindow {
        window: String,
        change: WindowChange,
        reply: oneshot::Sender<Result<super::WindowStatus, Refusal>>,
    },
}

/// A change to a window, from `POST /api/windows/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowChange {
    /// Show this layout (pauses a tour).
    #[serde(default)]
    pub layout: Option<String>,
    /// Pause (`false`) or resume (`true`) the window's tour.
    #[serde(default)]
    pub tour: Option<bool>,
}

/// Why the ECS refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound(String),
    Conflict(String),
    /// The request itself is wrong (a field the ECS could not use); names the field.
    BadRequest(String),
    /// The camera cannot take the change now; nothing was changed, try again.
    Busy(String),
}

impl Refusal {
    pub(super) fn response(&self) -> Response<Body> {
        match self {
            Self::NotFound(m) => error_response(StatusCode::NOT_FOUND, m),
            Self::Conflict(m) => error_response(StatusCode::CONFLICT, m),
            Self::BadRequest(m) => error_response(StatusCode::BAD_REQUEST, m),
            Self::Busy(m) => error_response(StatusCode::SERVICE_UNAVAILABLE, m),
        }
    }
}

/// How long the API waits for the ECS to carry out a request (it runs every frame).
const ECS_ANSWER: std::time::Duration = std::time::Duration::from_secs(10);

/// Control requests waiting for the ECS. Bounded: a flood of requests gets 503, never memory.
pub const COMMAND_QUEUE: usize = 64;

/// Binds `ip:preferred` (or a fallback) and serves the API; logs its address on every bind
/// and keeps `api_port` in the status current.
#[allow(clippy::too_many_arguments)]
pub fn start(
    runtime: &tokio::runtime::Handle,
    ip: IpAddr,
    preferred: u16,
    board: StatusBoard,
    commands: CommandSender,
    hub: FeedHub,
    access: Access,
    locks: Arc<crate::locks::Locks>,
    floor: crate::talk::Floor,
    record_dir: std::path::PathBuf,
    events: crate::events::log::EventLog,
) -> std::io::Result<Server> {
    super::recordings::clear_exports();
    let status = board.clone();
    let on_bound: OnBound = Arc::new(move |addr: SocketAddr, refused| {
        for (port, why) in refused {
            tracing::warn!(
                "API port {port} unavailable ({}); trying the next",
                super::ports::refusal_text(*why)
            );
        }
        if let Ok(mut snapshot) = status.write() {
            snapshot.api_port = addr.port();
        }
        tracing::info!(
            "status API listening on http://{addr}/api/status (metrics: http://{addr}/metrics)"
        );
    });
    let shared = Arc::new(Shared {
        board,
        commands,
        hub,
        locks,
        floor,
        record_dir,
        events,
    });
    let handle = move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move { route(req, &shared).await }
    };
    super::start_server(
        runtime,
        SocketAddr::new(ip, preferred),
        "status API".into(),
        access,
        on_bound,
        handle,
    )
}

/// `GET /api/node`: who this node is and where it serves.
fn node(snapshot: &super::StatusSnapshot) -> Response<Body> {
    reply_json(
        StatusCode::OK,
        &serde_json::json!({
            "id": snapshot.node.id,
            "name": snapshot.node.name,
            "version": snapshot.node.version,
            "ports": { "api": snapshot.api_port, "rtsp": snapshot.rtsp_port },
        }),
    )
}

/// What every request of the API may reach.
struct Shared {
    board: StatusBoard,
    commands: CommandSender,
    hub: FeedHub,
    locks: Arc<crate::locks::Locks>,
    floor: crate::talk::Floor,
    record_dir: std::path::PathBuf,
    events: crate::events::log::EventLog,
}

async fn route(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let Shared {
        board,
        commands,
        hub,
        locks,
        floor,
        ..
    } = shared;
    let snapshot = match board.read() {
        Ok(s) => s.clone(),
        Err(_) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "status unavailable"),
    };
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let Some(refused) = refuse_locked(&req, &segments, locks) {
        return refused;
    }
    if let Some(refused) = refuse_body(&req, &segments) {
        return refused;
    }
    let snapshot = snapshot.locked_hidden();
    let camera = |name: &str| percent_decode(name);
    match (req.method(), segments.as_slice()) {
        (&Method::POST, ["api", "cameras", name, "unlock"]) => {
            super::access::unlock(req, &camera(name), locks).await
        }
        (&Method::GET, ["api", "cameras", name, "unlock"]) => {
            super::access::key_opens(&req, &camera(name), locks)
        }
        (&Method::GET, [""]) => page(&snapshot),
        (&Method::GET, ["api", "status"]) => match serde_json::to_vec(&snapshot) {
            Ok(json) => reply(StatusCode::OK, "application/json", json),
            Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (&Method::GET, ["api", "events"]) => events_route(&req, shared, &snapshot, false).await,
        (&Method::GET, ["api", "events", "stream"]) => {
            events_route(&req, shared, &snapshot, true).await
        }
        (&Method::GET, ["api", "node"]) => node(&snapshot),
        (&Method::GET, ["api", "windows"]) => super::windows::list(&snapshot),
        (&Method::POST, ["api", "windows", name]) => {
            super::windows::change(req, &percent_decode(name), &snapshot, commands).await
        }
        (&Method::GET, ["metrics"]) => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            super::metrics::metrics(&snapshot).into_bytes(),
        ),
        (&Method::GET, ["api", "cameras", name, "snapshot.jpg"]) => {
            snapshot_jpg(hub, &camera(name)).await
        }
        (
            &Method::GET,
            [
                "api",
                "cameras",
                name,
                media @ ("video.mjpeg" | "audio.aac"),
            ],
        ) => live_media(hub, &camera(name), media),
        (&Method::POST, ["api", "cameras"]) => super::cameras::put(req, None, commands).await,
        (&Method::PUT, ["api", "cameras", name]) => {
            super::cameras::put(req, Some(&camera(name)), commands).await
        }
        (&Method::DELETE, ["api", "cameras", name]) => {
            super::cameras::remove(&camera(name), commands).await
        }
        (&Method::POST, ["api", "cameras", name, "recording"]) => {
            super::cameras::set_recording(req, &camera(name), &snapshot, commands).await
        }
        (
            _,
            [
                "api",
                "cameras",
                name,
                op @ ("recordings" | "export"),
                rest @ ..,
            ],
        ) => recordings_route(req, &camera(name), (op, rest), shared, &snapshot).await,
        (&Method::POST, ["api", "cameras", name, "talk"]) => {
            super::talk::route(req, &camera(name), hub, floor).await
        }
        (&Method::GET, ["api", "cameras", name, "talk"]) if super::talk::is_websocket(&req) => {
            super::talk::websocket(req, &camera(name), hub, floor)
        }
        (_, ["api", "cameras", _, "talk"]) => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST (a message), or GET with Upgrade: websocket (live)",
        ),
        (
            _,
            [
                "api",
                "cameras",
                name,
                op @ ("ptz" | "imaging" | "preset" | "presets"),
            ],
        ) => super::ptz::route(req, &camera(name), op, hub)
            .await
            .unwrap_or_else(|| error_response(StatusCode::NOT_FOUND, "no route")),
        (_, ["api", "status"] | ["metrics"]) => {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "use GET")
        }
        (_, ["api", "cameras", _, "recording"]) | (_, ["api", "cameras"]) => {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "use POST")
        }
        (_, ["api", "cameras", _]) => error_response(StatusCode::METHOD_NOT_ALLOWED, "use DELETE"),
        _ => error_response(StatusCode::NOT_FOUND, &format!("no route {path}")),
    }
}

/// The recordings routes of camera `name` (`op`: `recordings` or `export`, `rest` after it):
/// its folder's, or its node's passed through.
async fn recordings_route(
    req: Request<Incoming>,
    name: &str,
    (op, rest): (&str, &[&str]),
    shared: &Shared,
    snapshot: &super::StatusSnapshot,
) -> Response<Body> {
    if !snapshot.cameras.iter().any(|c| c.name == name) {
        return error_response(StatusCode::NOT_FOUND, &format!("no camera {name:?}"));
    }
    let (outages, node) = shared
        .hub
        .read()
        .ok()
        .and_then(|h| {
            h.get(name)
                .map(|f| (Some(f.outages.clone()), f.node.clone()))
        })
        .unwrap_or_default();
    if let Some(node) = node {
        return super::recordings::at_node(req, &node, op, rest).await;
    }
    let dir = shared.record_dir.clone();
    super::recordings::route(req, name, op, rest, dir, outages).await
}

/// A locked camera's every route needs its unlock key, whatever the wall shows: editing or
/// removing it too (a PUT's body cannot say `view_lock`, and a removed camera's lock is kept
/// for its name). Unlocking is the one route it does not need.
fn refuse_locked(
    req: &Request<Incoming>,
    segments: &[&str],
    locks: &crate::locks::Locks,
) -> Option<Response<Body>> {
    let ["api", "cameras", name, rest @ ..] = segments else {
        return None;
    };
    if rest == ["unlock"] {
        return None;
    }
    let name = percent_decode(name);
    let key = super::unlock_key(req.headers(), req.uri().query());
    (!locks.key_allows(&name, key.as_deref())).then(|| super::http::locked(&name))
}

/// `GET /api/events` (or its live `stream`). A locked camera's events are its own: shown only
/// with its unlock key, as its `motion` in the status is.
async fn events_route(
    req: &Request<Incoming>,
    shared: &Shared,
    snapshot: &super::StatusSnapshot,
    stream: bool,
) -> Response<Body> {
    let key = super::unlock_key(req.headers(), req.uri().query());
    let locks = shared.locks.clone();
    let visible = move |name: &str| locks.key_allows(name, key.as_deref());
    if stream {
        return super::events::stream(&shared.events, visible);
    }
    let names: Vec<String> = snapshot.cameras.iter().map(|c| c.name.clone()).collect();
    let query = req.uri().query();
    super::events::list(query, &shared.events, &shared.record_dir, &names, visible).await
}

/// The live page, with the status it starts from inlined.
fn page(snapshot: &super::StatusSnapshot) -> Response<Body> {
    // `</` cannot end the script early once escaped; JSON stays valid.
    let json = serde_json::to_string(snapshot)
        .unwrap_or_default()
        .replace("</", "<\\/");
    let page = INDEX_HTML.replace("/*INITIAL_STATUS*/{\"cameras\": []}", &json);
    reply(
        StatusCode::OK,
        "text/html; charset=utf-8",
        page.into_bytes(),
    )
}

/// The next JPEG of camera `name` (it waits for a keyframe).
async fn snapshot_jpg(hub: &FeedHub, name: &str) -> Response<Body> {
    let feed = hub
        .read()
        .ok()
        .and_then(|h| h.get(name).map(|f| f.mjpeg.clone()));
    match feed {
        Some(f) => super::mjpeg::snapshot_response(name, &f).await,
        None => not_streaming(name),
    }
}

/// Camera `name`'s MJPEG or AAC stream.
fn live_media(hub: &FeedHub, name: &str, media: &str) -> Response<Body> {
    let feeds = hub.read().ok().and_then(|h| h.get(name).cloned());
    match (feeds, media) {
        (Some(f), "video.mjpeg") => super::mjpeg::stream_response(&f.mjpeg),
        (Some(f), _) => super::audio::stream_response(name, &f.audio),
        (None, _) => not_streaming(name),
    }
}

fn not_streaming(name: &str) -> Response<Body> {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("no camera {name:?} is streaming"),
    )
}

/// The answer for a body refused before it is read: 413 when its `Content-Length` is over the
/// route's limit, 415 when it is not JSON on a route that reads JSON (every body but talk's
/// audio: a cross-site form or `text/plain` fetch cannot pass as a JSON request).
fn refuse_body(req: &Request<Incoming>, segments: &[&str]) -> Option<Response<Body>> {
    let headers = req.headers();
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let has_body =
        headers.contains_key(hyper::header::TRANSFER_ENCODING) || declared.is_some_and(|n| n > 0);
    if !has_body {
        return None;
    }
    let talk = matches!(segments, ["api", "cameras", _, "talk"]);
    let max = if talk {
        super::talk::MAX_TALK_BODY
    } else {
        MAX_BODY
    };
    if declared.is_some_and(|n| n > max as u64) {
        return Some(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body may be at most {max} bytes"),
        ));
    }
    let json = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    (!talk && !json).then(|| {
        error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request bodies here are JSON: send Content-Type: application/json",
        )
    })
}

/// Sends `command` to the ECS and waits for its answer; the error is the response to give.
pub(super) async fn ask<T>(
    commands: &CommandSender,
    command: ApiCommand,
    answer: oneshot::Receiver<Result<T, Refusal>>,
) -> Result<T, Response<Body>> {
    if commands.try_send(command).is_err() {
        return Err(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests; try again",
        ));
    }
    match tokio::time::timeout(ECS_ANSWER, answer).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(refusal))) => Err(refusal.response()),
        Ok(Err(_)) | Err(_) => Err(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the wall did not answer; try again",
        )),
    }
}

/// The live page: every camera as an MJPEG tile, refreshed from `/api/status`.
const INDEX_HTML: &str = include_str!("index.html");

//! The status/control API over hyper: `GET /api/status` (JSON), `GET /metrics` (Prometheus
//! text), the live page, every camera's streams, and control (recording, adding and removing
//! cameras) handed to the ECS; PTZ and imaging go to the camera's control agent (`ptz`).
//! Errors map to status codes in one place (`error_response`).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use tokio::sync::oneshot;

use super::{Access, FeedHub, OnBound, Ports, Server, StatusBoard};
use crate::config::CameraConfig;

pub(super) type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

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
    fn response(&self) -> Response<Body> {
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
    let handle = move |req: Request<Incoming>| {
        let (board, commands, hub) = (board.clone(), commands.clone(), hub.clone());
        let (locks, floor, dir) = (locks.clone(), floor.clone(), record_dir.clone());
        async move { route(req, &board, &commands, &hub, &locks, &floor, dir).await }
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

async fn route(
    req: Request<Incoming>,
    board: &StatusBoard,
    commands: &CommandSender,
    hub: &FeedHub,
    locks: &Arc<crate::locks::Locks>,
    floor: &crate::talk::Floor,
    record_dir: std::path::PathBuf,
) -> Response<Body> {
    let snapshot = match board.read() {
        Ok(s) => s.clone(),
        Err(_) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "status unavailable"),
    };
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // A locked camera's every route needs its unlock key, whatever the wall shows: editing or
    // removing it too (a PUT's body cannot say `view_lock`, and a removed camera's lock is
    // kept for its name).
    if let ["api", "cameras", name, rest @ ..] = segments.as_slice()
        && rest != ["unlock"]
    {
        let name = percent_decode(name);
        let key = super::unlock_key(req.headers(), req.uri().query());
        if !locks.key_allows(&name, key.as_deref()) {
            return locked(&name);
        }
    }
    if let Some(refused) = refuse_body(&req, &segments) {
        return refused;
    }
    let snapshot = snapshot.locked_hidden();
    match (req.method(), segments.as_slice()) {
        (&Method::POST, ["api", "cameras", name, "unlock"]) => {
            let name = percent_decode(name);
            super::access::unlock(req, &name, locks).await
        }
        (&Method::GET, [""]) => {
            // `</` cannot end the script early once escaped; JSON stays valid.
            let json = serde_json::to_string(&snapshot)
                .unwrap_or_default()
                .replace("</", "<\\/");
            let page = INDEX_HTML.replace("/*INITIAL_STATUS*/{\"cameras\": []}", &json);
            reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                page.into_bytes(),
            )
        }
        (&Method::GET, ["api", "status"]) => match serde_json::to_vec(&snapshot) {
            Ok(json) => reply(StatusCode::OK, "application/json", json),
            Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (&Method::GET, ["api", "windows"]) => super::windows::list(&snapshot),
        (&Method::POST, ["api", "windows", name]) => {
            let name = percent_decode(name);
            super::windows::change(req, &name, &snapshot, commands).await
        }
        (&Method::GET, ["metrics"]) => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            super::metrics::metrics(&snapshot).into_bytes(),
        ),
        (&Method::GET, ["api", "cameras", name, "snapshot.jpg"]) => {
            let name = percent_decode(name);
            let feed = hub
                .read()
                .ok()
                .and_then(|h| h.get(&name).map(|f| f.mjpeg.clone()));
            match feed {
                Some(f) => super::mjpeg::snapshot_response(&name, &f).await,
                None => error_response(
                    StatusCode::NOT_FOUND,
                    &format!("no camera {name:?} is streaming"),
                ),
            }
        }
        (
            &Method::GET,
            [
                "api",
                "cameras",
                name,
                media @ ("video.mjpeg" | "audio.aac"),
            ],
        ) => {
            let name = percent_decode(name);
            let feeds = hub.read().ok().and_then(|h| h.get(&name).cloned());
            match (feeds, *media) {
                (Some(f), "video.mjpeg") => super::mjpeg::stream_response(&f.mjpeg),
                (Some(f), _) => super::audio::stream_response(&name, &f.audio),
                (None, _) => error_response(
                    StatusCode::NOT_FOUND,
                    &format!("no camera {name:?} is streaming"),
                ),
            }
        }
        (&Method::POST, ["api", "cameras"]) => {
            let camera = match read_json::<CameraConfig>(req).await {
                Ok(c) => c,
                Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
            };
            if let Some(refused) = camera_problems(&camera) {
                return refused;
            }
            crate::secret::remember_camera(&camera);
            let name = camera.name.clone();
            let (reply, answer) = oneshot::channel();
            let command = ApiCommand::AddCamera {
                camera: Box::new(camera),
                reply,
            };
            match ask(commands, command, answer).await {
                Ok(ports) => {
                    let json = serde_json::json!({ "camera": name, "ports": ports });
                    reply_json(StatusCode::CREATED, &json)
                }
                Err(r) => r,
            }
        }
        (&Method::PUT, ["api", "cameras", name]) => {
            let name = percent_decode(name);
            let camera = match read_json::<CameraConfig>(req).await {
                Ok(c) => c,
                Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
            };
            if camera.name != name {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "name: {:?} in the body, {name:?} in the path: a camera cannot be renamed (DELETE it and POST the new one)",
                        camera.name
                    ),
                );
            }
            if let Some(refused) = camera_problems(&camera) {
                return refused;
            }
            crate::secret::remember_camera(&camera);
            let (reply, answer) = oneshot::channel();
            let command = ApiCommand::ReplaceCamera {
                camera: Box::new(camera),
                reply,
            };
            match ask(commands, command, answer).await {
                Ok(ports) => reply_json(
                    StatusCode::OK,
                    &serde_json::json!({ "camera": name, "ports": ports }),
                ),
                Err(r) => r,
            }
        }
        (&Method::DELETE, ["api", "cameras", name]) => {
            let name = percent_decode(name);
            let (reply, answer) = oneshot::channel();
            let command = ApiCommand::RemoveCamera {
                camera: name.clone(),
                reply,
            };
            match ask(commands, command, answer).await {
                Ok(()) => reply_json(StatusCode::OK, &serde_json::json!({ "removed": name })),
                Err(r) => r,
            }
        }
        (&Method::POST, ["api", "cameras", name, "recording"]) => {
            let name = percent_decode(name);
            if !snapshot.cameras.iter().any(|c| c.name == name) {
                return error_response(StatusCode::NOT_FOUND, &format!("no camera {name:?}"));
            }
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                active: bool,
            }
            let body = match read_json::<Body>(req).await {
                Ok(b) => b,
                Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
            };
            let command = ApiCommand::SetRecording {
                camera: name.clone(),
                active: body.active,
            };
            match commands.try_send(command) {
                Ok(()) => {
                    let json = serde_json::json!({ "camera": name, "recording": { "active": body.active } });
                    reply(
                        StatusCode::ACCEPTED,
                        "application/json",
                        json.to_string().into_bytes(),
                    )
                }
                Err(_) => error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests; try again",
                ),
            }
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
        ) => {
            let name = percent_decode(name);
            if !snapshot.cameras.iter().any(|c| c.name == name) {
                return error_response(StatusCode::NOT_FOUND, &format!("no camera {name:?}"));
            }
            let outages = hub
                .read()
                .ok()
                .and_then(|h| h.get(&name).map(|f| f.outages.clone()));
            super::recordings::route(req, &name, op, rest, record_dir, outages).await
        }
        (&Method::POST, ["api", "cameras", name, "talk"]) => {
            let name = percent_decode(name);
            super::talk::route(req, &name, hub, floor).await
        }
        (&Method::GET, ["api", "cameras", name, "talk"]) if super::talk::is_websocket(&req) => {
            let name = percent_decode(name);
            super::talk::websocket(req, &name, hub, floor)
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
        ) => {
            let name = percent_decode(name);
            let op = op.to_string();
            super::ptz::route(req, &name, &op, hub)
                .await
                .unwrap_or_else(|| error_response(StatusCode::NOT_FOUND, "no route"))
        }
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

/// 400 naming every problem of a camera from a request body.
fn camera_problems(camera: &CameraConfig) -> Option<Response<Body>> {
    let problems: Vec<String> = camera.problems().into_iter().map(|(_, m)| m).collect();
    (!problems.is_empty()).then(|| error_response(StatusCode::BAD_REQUEST, &problems.join("; ")))
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

pub(super) fn reply_json(status: StatusCode, json: &serde_json::Value) -> Response<Body> {
    reply(status, "application/json", json.to_string().into_bytes())
}

/// The live page: every camera as an MJPEG tile, refreshed from `/api/status`.
const INDEX_HTML: &str = include_str!("index.html");

/// Largest JSON request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// How long a request body may take to arrive (a client that stops sending loses its request).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A request body on its way.
type PendingBody =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bytes, String>> + Send>>;

/// The request's body, at most `max` bytes within [`BODY_TIMEOUT`] (a `Content-Length` over
/// the limit was refused before routing, by `refuse_body`); the error names what went wrong:
/// too large after all, cut, too slow.
pub(super) fn body_within(req: Request<Incoming>, max: usize) -> PendingBody {
    let limited = http_body_util::Limited::new(req.into_body(), max);
    Box::pin(async move {
        match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => Err(format!("cannot read the body: {e}")),
            Err(_) => Err(format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            )),
        }
    })
}

/// Reads a JSON body; the error says what is wrong, with line and column.
pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, String> {
    let bytes = body_within(req, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON body: {e}"))
}

/// `%20` and friends in a path segment (camera names may have spaces; `+` stays a plus).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// 401 for a request without the access token.
pub fn unauthorized() -> Response<Body> {
    let mut r = error_response(
        StatusCode::UNAUTHORIZED,
        "missing or wrong access token (servers.token)",
    );
    r.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// 401 for a request to a locked camera without a valid unlock key.
pub fn locked(camera: &str) -> Response<Body> {
    error_response(
        StatusCode::UNAUTHORIZED,
        &format!(
            "camera {camera:?} is locked: unlock it with POST /api/cameras/{{name}}/unlock and send the key (X-Unlock-Key or ?key=)"
        ),
    )
}

/// Every error answer: a status code and `{"error": "…"}`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    reply(status, "application/json", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("Sim%201"), "Sim 1");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }
}

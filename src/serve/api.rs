//! The status/control API over hyper: `GET /api/status` (JSON) and `GET /metrics`
//! (Prometheus text), served from the shared [`StatusBoard`]. Errors map to status codes in
//! one place (`error_response`).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::mjpeg::MjpegHub;
use super::{Access, StatusBoard, StatusSnapshot, ports};

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Binds the API by the fallback policy and serves it on the current runtime. Returns the
/// bound address; logs one `listening on` line.
/// A control request for the ECS, from `POST /api/cameras/{name}/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCommand {
    SetRecording { camera: String, active: bool },
}

/// Control requests waiting for the ECS. Bounded: a flood of requests gets 503, never memory.
pub const COMMAND_QUEUE: usize = 64;

pub fn start(
    runtime: &tokio::runtime::Handle,
    ip: IpAddr,
    preferred: u16,
    board: StatusBoard,
    commands: crossbeam_channel::Sender<ApiCommand>,
    hub: MjpegHub,
    access: Access,
) -> std::io::Result<SocketAddr> {
    let (std_listener, refused) = ports::bind_tcp(ip, preferred)?;
    let addr = std_listener.local_addr()?;
    for (port, why) in refused {
        tracing::warn!("API port {port} unavailable ({why}); trying the next");
    }
    if let Ok(mut snapshot) = board.write() {
        snapshot.api_port = addr.port();
    }
    tracing::info!(
        "status API listening on http://{addr}/api/status (metrics: http://{addr}/metrics)"
    );
    let handle = move |req: Request<Incoming>| {
        let (board, commands, hub) = (board.clone(), commands.clone(), hub.clone());
        async move { route(req, &board, &commands, &hub).await }
    };
    super::serve_http(
        runtime,
        std_listener,
        format!("status API on {addr}"),
        access,
        handle,
    );
    Ok(addr)
}

async fn route(
    req: Request<Incoming>,
    board: &StatusBoard,
    commands: &crossbeam_channel::Sender<ApiCommand>,
    hub: &MjpegHub,
) -> Response<Body> {
    let snapshot = match board.read() {
        Ok(s) => s.clone(),
        Err(_) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "status unavailable"),
    };
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
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
        (&Method::GET, ["metrics"]) => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics(&snapshot).into_bytes(),
        ),
        (&Method::GET, ["api", "cameras", name, "video.mjpeg"]) => {
            let name = percent_decode(name);
            let feed = hub.read().ok().and_then(|h| h.get(&name).cloned());
            match feed {
                Some(feed) => super::mjpeg::stream_response(&feed),
                None => error_response(
                    StatusCode::NOT_FOUND,
                    &format!("no MJPEG stream for {name:?}"),
                ),
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
        (_, ["api", "status"] | ["metrics"]) => {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "use GET")
        }
        (_, ["api", "cameras", _, "recording"]) => {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "use POST")
        }
        _ => error_response(StatusCode::NOT_FOUND, &format!("no route {path}")),
    }
}

/// The live page: every camera as an MJPEG tile, refreshed from `/api/status`.
const INDEX_HTML: &str = include_str!("index.html");

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// Reads a JSON body; the error says what is wrong, with line and column.
async fn read_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, String> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| format!("cannot read body: {e}"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON body: {e}"))
}

/// `%20` and friends in a path segment (camera names may have spaces).
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| s.to_owned(), |(_, v)| v.into_owned())
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
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

/// Every error answer: a status code and `{"error": "…"}`.
fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    reply(status, "application/json", body)
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition of the snapshot.
pub fn metrics(s: &StatusSnapshot) -> String {
    let mut out = String::new();
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&super::CameraStatus) -> f64,
    );
    let families: [Family; 6] = [
        (
            "opticlink_camera_fps",
            "gauge",
            "Frames received per second",
            |c| c.fps,
        ),
        (
            "opticlink_camera_bitrate_bps",
            "gauge",
            "Video bits received per second",
            |c| c.bitrate_bps,
        ),
        (
            "opticlink_camera_frames_total",
            "counter",
            "Video frames received",
            |c| c.frames as f64,
        ),
        (
            "opticlink_camera_decoded_total",
            "counter",
            "Video frames decoded",
            |c| c.decoded as f64,
        ),
        (
            "opticlink_camera_reconnects_total",
            "counter",
            "Times the camera came back after a drop",
            |c| f64::from(c.reconnects),
        ),
        (
            "opticlink_camera_recorded_bytes_total",
            "counter",
            "Bytes recorded",
            |c| c.recording.bytes as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for c in &s.cameras {
            let _ = writeln!(out, "{name}{{camera=\"{}\"}} {}", label(&c.name), value(c));
        }
    }
    let _ = writeln!(
        out,
        "# HELP opticlink_camera_state 1 for the camera's current state\n# TYPE opticlink_camera_state gauge"
    );
    for c in &s.cameras {
        for state in crate::camera::state::StreamState::ALL {
            let v = u8::from(c.state == state.as_str());
            let _ = writeln!(
                out,
                "opticlink_camera_state{{camera=\"{}\",state=\"{}\"}} {v}",
                label(&c.name),
                state.as_str()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::CameraStatus;

    #[test]
    fn metrics_text() {
        let s = StatusSnapshot {
            cameras: vec![CameraStatus {
                name: "Gate \"1\"".into(),
                state: "live".into(),
                fps: 25.0,
                frames: 7,
                ..Default::default()
            }],
            api_port: 1,
        };
        let m = metrics(&s);
        assert!(
            m.contains("opticlink_camera_fps{camera=\"Gate \\\"1\\\"\"} 25"),
            "{m}"
        );
        assert!(
            m.contains("opticlink_camera_frames_total{camera=\"Gate \\\"1\\\"\"} 7"),
            "{m}"
        );
        assert!(m.contains("state=\"live\"} 1"), "{m}");
        assert!(m.contains("state=\"stalled\"} 0"), "{m}");
    }
}

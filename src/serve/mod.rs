//! Local HTTP servers, with no Bevy: the status/control API (`/api/status`, `/metrics`), the
//! snapshot of camera status it serves, and the port fallback policy every server uses.

pub mod api;
pub mod mjpeg;
pub mod ports;

use serde::Serialize;

/// What `/api/status` answers; written by the ECS, read by the API. No credentials in here:
/// URLs are redacted before they enter.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StatusSnapshot {
    pub cameras: Vec<CameraStatus>,
    pub api_port: u16,
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
    pub ports: Ports,
    pub recording: RecordingStatus,
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

/// Serves HTTP/1 on an already bound listener, forever, on `runtime`: requests without the
/// access token get 401, the others go to `handle`. Every server here runs through this.
pub(crate) fn serve_http<F, Fut>(
    runtime: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    what: String,
    access: Access,
    handle: F,
) where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = HttpResponse> + Send + 'static,
{
    runtime.spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{what} cannot start: {e}");
                return;
            }
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (access, handle) = (access.clone(), handle.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let allowed = access.allows(req.headers(), req.uri().query());
                        let handle = handle.clone();
                        async move {
                            let response = if allowed {
                                handle(req).await
                            } else {
                                api::unauthorized()
                            };
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// Who may use the local servers: with a token set, every request must carry it, as
/// `Authorization: Bearer TOKEN` or `?token=TOKEN` (for `<img>` tags).
#[derive(Clone, Default)]
pub struct Access {
    token: Option<std::sync::Arc<str>>,
}

impl Access {
    pub fn new(token: Option<&str>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()).map(std::sync::Arc::from),
        }
    }

    /// Whether a request with these headers and query string may pass.
    pub fn allows(&self, headers: &hyper::HeaderMap, query: Option<&str>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let param = query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        });
        [bearer.map(str::to_owned), param]
            .iter()
            .flatten()
            .any(|given| same(given.as_bytes(), token.as_bytes()))
    }
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The snapshot shared between the ECS (writer) and the API (readers).
pub type StatusBoard = std::sync::Arc<std::sync::RwLock<StatusSnapshot>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_needs_the_token_only_when_set() {
        let open = Access::new(None);
        let none = hyper::HeaderMap::new();
        assert!(open.allows(&none, None));
        let locked = Access::new(Some("s3cret"));
        assert!(!locked.allows(&none, None));
        assert!(!locked.allows(&none, Some("token=nope")));
        assert!(locked.allows(&none, Some("a=1&token=s3cret")));
        let mut bearer = hyper::HeaderMap::new();
        bearer.insert(
            hyper::header::AUTHORIZATION,
            "Bearer s3cret".parse().unwrap(),
        );
        assert!(locked.allows(&bearer, None));
        bearer.insert(
            hyper::header::AUTHORIZATION,
            "Bearer s3cre".parse().unwrap(),
        );
        assert!(!locked.allows(&bearer, None));
    }
}

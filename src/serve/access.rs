//! Who may use the local servers and how much of them: the names and origins they answer
//! (`guard`), the servers' token, a locked camera's unlock key on its own servers, the
//! connection limits, and `POST /api/cameras/{name}/unlock`, which hands out that key.

use std::sync::Arc;
use std::time::Duration;

use super::guard::Guard;
use super::{HttpResponse, http};
use crate::restream::digest::same;

/// Who may use the local servers: requests must name one of our hosts and, when they change
/// something, come from our origin (`guard`); with a token set, every request must carry it,
/// as `Authorization: Bearer TOKEN` or `?token=TOKEN` (for `<img>` tags).
/// A camera's own servers also need its unlock key while it has a view lock.
#[derive(Clone, Default)]
pub struct Access {
    token: Option<std::sync::Arc<str>>,
    view_lock: Option<(Arc<crate::locks::Locks>, Arc<str>)>,
    pub(super) guard: Arc<Guard>,
    pub(super) limits: Limits,
}

/// Connections a camera's own MJPEG or audio server serves at once.
pub const CAMERA_SERVER_CONNECTIONS: usize = 256;

/// How much of a server one process hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's head must arrive within this, and an idle keep-alive connection is closed
    /// after it.
    pub header_timeout: Duration,
    /// Connections served at once; more are closed as they are accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let servers = crate::config::ServersConfig::default();
        Self {
            header_timeout: Duration::from_secs(servers.header_timeout_secs),
            max_connections: servers.max_connections as usize,
        }
    }
}

/// The unlock key a request carries: `X-Unlock-Key` or `?key=`.
pub fn unlock_key(headers: &hyper::HeaderMap, query: Option<&str>) -> Option<String> {
    headers
        .get("x-unlock-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_param(query, "key"))
}

/// One query parameter's value, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl Access {
    /// Access as `servers:` says.
    pub fn new(servers: &crate::config::ServersConfig) -> Self {
        Self {
            token: servers
                .token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(std::sync::Arc::from),
            view_lock: None,
            guard: Arc::new(Guard::new(&servers.allowed_hosts, &servers.allowed_origins)),
            limits: Limits {
                header_timeout: Duration::from_secs(servers.header_timeout_secs),
                max_connections: servers.max_connections as usize,
            },
        }
    }

    /// The same access for camera `name`'s own servers: its unlock key on top while it is
    /// locked, and at most [`CAMERA_SERVER_CONNECTIONS`] connections each (a process has two
    /// such servers per camera beside the API).
    pub fn for_camera(&self, locks: Arc<crate::locks::Locks>, name: &str) -> Self {
        Self {
            view_lock: Some((locks, Arc::from(name))),
            limits: Limits {
                max_connections: self.limits.max_connections.min(CAMERA_SERVER_CONNECTIONS),
                ..self.limits
            },
            ..self.clone()
        }
    }

    /// The 401 for a request that does not pass the camera's view lock (if it has one).
    pub fn view_lock(
        &self,
        headers: &hyper::HeaderMap,
        query: Option<&str>,
    ) -> Option<HttpResponse> {
        match &self.view_lock {
            Some((locks, name))
                if !locks.key_allows(name, unlock_key(headers, query).as_deref()) =>
            {
                Some(http::locked(name))
            }
            _ => None,
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
        let param = query_param(query, "token");
        [bearer.map(str::to_owned), param]
            .iter()
            .flatten()
            .any(|given| same(given.as_bytes(), token.as_bytes()))
    }
}

/// Password checks (argon2, ~20 MB each) running at once, for every client together: a flood
/// of attempts from many addresses queues here instead of filling memory.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Password checks at a node (a node's camera) running at once: they wait on the node, not
/// on this machine, so a slow node never holds up the checks of this process's cameras.
static AT_NODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// `POST …/unlock {"password"}`: waits for the turn this client's attempt reserved on the
/// camera (later after each wrong one), checks the password off the runtime, then 200
/// `{"key"}`, 403 (wrong, with the next delay) or 409 (the camera has no lock).
pub(super) async fn unlock(
    req: hyper::Request<hyper::body::Incoming>,
    name: &str,
    locks: &Arc<crate::locks::Locks>,
) -> HttpResponse {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        password: String,
    }
    let client = req.extensions().get::<super::Peer>().map_or(
        crate::locks::Client::Address(std::net::Ipv4Addr::UNSPECIFIED.into()),
        |p| crate::locks::Client::Address(p.0.ip()),
    );
    let body = match http::read_json::<Body>(req).await {
        Ok(b) => b,
        Err(_) => {
            // Never echo the body: it holds a password.
            return http::error_response(
                hyper::StatusCode::BAD_REQUEST,
                "expected {\"password\": \"…\"}",
            );
        }
    };
    let turn = match locks.reserve(name, client, std::time::Instant::now()) {
        Ok(turn) => turn,
        Err(refused) => return refusal(name, refused),
    };
    tokio::time::sleep_until(turn.into()).await;
    let checks = if locks.is_remote(name) {
        &AT_NODES
    } else {
        &VERIFYING
    };
    let Ok(permit) = checks.acquire().await else {
        return refusal(name, crate::locks::Refused::NotLocked);
    };
    let (locks, camera) = (locks.clone(), name.to_owned());
    // Checked as of its turn: the answer's `retry_after` is the delay this attempt earns. The
    // permit goes with the check: a client that hangs up does not free it early.
    let checked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        locks.unlock(&camera, client, &body.password, turn)
    })
    .await;
    match checked {
        Ok(Ok(key)) => http::reply_json(
            hyper::StatusCode::OK,
            &serde_json::json!({ "camera": name, "key": key }),
        ),
        Ok(Err(refused)) => refusal(name, refused),
        Err(e) => http::error_response(
            hyper::StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the password check failed: {e}"),
        ),
    }
}

/// `GET …/unlock` with a key: 200 while the key opens camera `name` (a wall asks this of
/// the cameras it unlocked at their node), else the locked answer.
pub(super) fn key_opens(
    req: &hyper::Request<hyper::body::Incoming>,
    name: &str,
    locks: &crate::locks::Locks,
) -> HttpResponse {
    if locks.key_allows(
        name,
        unlock_key(req.headers(), req.uri().query()).as_deref(),
    ) {
        http::reply_json(
            hyper::StatusCode::OK,
            &serde_json::json!({"camera": name, "open": true}),
        )
    } else {
        http::locked(name)
    }
}

/// The answer to a refused unlock: 403 wrong (with the next delay), 429 too many queued, 409
/// no lock.
fn refusal(name: &str, refused: crate::locks::Refused) -> HttpResponse {
    use crate::locks::Refused;
    let (status, error, retry_after) = match refused {
        Refused::Wrong { retry_after } => (
            hyper::StatusCode::FORBIDDEN,
            format!("wrong view password for camera {name:?}"),
            retry_after,
        ),
        Refused::Busy { retry_after } => (
            hyper::StatusCode::TOO_MANY_REQUESTS,
            format!("too many attempts on camera {name:?} are waiting"),
            retry_after,
        ),
        Refused::NotLocked => {
            return http::error_response(
                hyper::StatusCode::CONFLICT,
                &format!("camera {name:?} has no view password"),
            );
        }
        Refused::Elsewhere(why) => {
            return http::error_response(
                hyper::StatusCode::BAD_GATEWAY,
                &format!("camera {name:?}: the password cannot be checked at its node: {why}"),
            );
        }
    };
    let json = serde_json::json!({
        "error": error,
        "retry_after_secs": retry_after.as_secs_f64(),
    });
    http::reply_json(status, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_needs_the_token_only_when_set() {
        let open = Access::default();
        let none = hyper::HeaderMap::new();
        assert!(open.allows(&none, None));
        let locked = Access::new(&crate::config::ServersConfig {
            token: Some("s3cret".into()),
            ..Default::default()
        });
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

//! A node camera's view lock at the wall: the camera is locked at its node, which keeps its
//! view password, so the wall's lock for it ([`crate::locks::CameraLock::remote`]) sends a
//! password to the node's `POST /api/cameras/{camera}/unlock` and keeps the key the node
//! answers with as the camera's [`NodeKey`], which its restream, control, playback and talk
//! then carry. The wall's own unlock (for its operator, or a key for an API client of the
//! wall) follows as for a local camera.

use std::time::Duration;

use super::control::NodeRoute;
use crate::locks::{Refused, RemoteCheck};

/// How long a node may take over a password: its wait after wrong ones, and the check.
const UNLOCK_TIMEOUT: Duration = Duration::from_secs(75);

/// Whether camera `route`'s key still opens it at the node: `false` only when the node says
/// it does not (401); a node that does not answer keeps it.
pub async fn key_still_opens(route: &NodeRoute) -> bool {
    match route.ask(hyper::Method::GET, "unlock", None).await {
        Ok((status, _)) => status != hyper::StatusCode::UNAUTHORIZED,
        Err(_) => true,
    }
}

/// The longest unlock key taken from a node (ours are 43 characters).
const MAX_KEY: usize = 128;

/// Checks a node camera's view password at its node.
pub struct NodeUnlock(pub NodeRoute);

impl RemoteCheck for NodeUnlock {
    fn unlock(&self, password: &str) -> Result<(), Refused> {
        let route = &self.0;
        let body = serde_json::json!({ "password": password })
            .to_string()
            .into_bytes();
        // The node makes a client wait after wrong passwords (up to a minute): wait with it.
        let ask = route.ask(hyper::Method::POST, "unlock", Some(body));
        let (status, answer) =
            super::http::blocking(ask, UNLOCK_TIMEOUT).map_err(Refused::Elsewhere)?;
        route.key.open_with(verdict(status, &answer)?);
        Ok(())
    }

    fn forget(&self) {
        self.0.key.forget();
    }

    fn open(&self) -> bool {
        self.0.key.is_open()
    }
}

/// What the node's answer to an unlock says: right (the key to keep, or none when the node
/// has no lock on the camera any more), or refused, and for how long.
fn verdict(status: hyper::StatusCode, body: &[u8]) -> Result<Option<String>, Refused> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let retry_after = Duration::from_secs_f64(
        json["retry_after_secs"]
            .as_f64()
            .unwrap_or(1.0)
            .clamp(0.0, 3_600.0),
    );
    match status.as_u16() {
        200 => json["key"]
            .as_str()
            .filter(|k| {
                !k.is_empty()
                    && k.len() <= MAX_KEY
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(|k| Some(k.to_owned()))
            .ok_or_else(|| Refused::Elsewhere("the node's answer has no key".into())),
        403 => Err(Refused::Wrong { retry_after }),
        429 => Err(Refused::Busy { retry_after }),
        409 => Ok(None),
        401 => Err(Refused::Elsewhere("the node refuses our token".into())),
        _ => Err(Refused::Elsewhere(super::http::error_text(status, body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn the_nodes_answer_decides() {
        let ok = br#"{"camera":"Gate","key":"aB3-x_9"}"#;
        assert_eq!(verdict(StatusCode::OK, ok), Ok(Some("aB3-x_9".into())));
        let bad_key = br#"{"key":"a\r\nX-Evil: 1"}"#;
        assert!(matches!(
            verdict(StatusCode::OK, bad_key),
            Err(Refused::Elsewhere(_))
        ));
        let wrong = br#"{"error":"wrong","retry_after_secs":4.5}"#;
        assert_eq!(
            verdict(StatusCode::FORBIDDEN, wrong),
            Err(Refused::Wrong {
                retry_after: Duration::from_millis(4_500)
            })
        );
        let busy = br#"{"retry_after_secs":1e300}"#;
        assert_eq!(
            verdict(StatusCode::TOO_MANY_REQUESTS, busy),
            Err(Refused::Busy {
                retry_after: Duration::from_secs(3_600)
            })
        );
        assert_eq!(verdict(StatusCode::CONFLICT, b"{}"), Ok(None));
        assert!(matches!(
            verdict(StatusCode::UNAUTHORIZED, b""),
            Err(Refused::Elsewhere(e)) if e.contains("token")
        ));
    }
}

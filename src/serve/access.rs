//! Who may use the local servers: the servers' token, a locked camera's unlock key on its
//! own servers, and `POST /api/cameras/{name}/unlock`, which hands out that key.

use std::sync::Arc;

use super::{HttpResponse, api};

/// Who may use the local servers: with a token set, every request must carry it, as
/// `Authorization: Bearer TOKEN` or `?token=TOKEN` (for `<img>` tags).
/// A camera's own servers also need its unlock key while it has a view lock.
#[derive(Clone, Default)]
pub struct Access {
    token: Option<std::sync::Arc<str>>,
    view_lock: Option<(Arc<crate::locks::Locks>, Arc<str>)>,
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
pub(super) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl Access {
    pub fn new(token: Option<&str>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()).map(std::sync::Arc::from),
            view_lock: None,
        }
    }

    /// The same access, and camera `name`'s unlock key on top while it is locked.
    pub fn for_camera(&self, locks: Arc<crate::locks::Locks>, name: &str) -> Self {
        Self {
            token: self.token.clone(),
            view_lock: Some((locks, Arc::from(name))),
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
                Some(api::locked(name))
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

/// Compares without stopping at the first difference (no timing hint about the token).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST …/unlock {"password"}`: waits out the camera's delay after wrong passwords, then
/// 200 `{"key"}`, 403 (wrong, with the next delay) or 409 (the camera has no lock).
pub(super) async fn unlock(
    req: hyper::Request<hyper::body::Incoming>,
    name: &str,
    locks: &crate::locks::Locks,
) -> HttpResponse {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        password: String,
    }
    let body = match api::read_json::<Body>(req).await {
        Ok(b) => b,
        Err(_) => {
            // Never echo the body: it holds a password.
            return api::error_response(
                hyper::StatusCode::BAD_REQUEST,
                "expected {\"password\": \"…\"}",
            );
        }
    };
    let wait = locks.wait_before_attempt(name, std::time::Instant::now());
    tokio::time::sleep(wait).await;
    match locks.unlock(name, &body.password, false, std::time::Instant::now()) {
        Ok(key) => api::reply_json(
            hyper::StatusCode::OK,
            &serde_json::json!({ "camera": name, "key": key }),
        ),
        Err(crate::locks::Refused::Wrong { retry_after }) => {
            let json = serde_json::json!({
                "error": format!("wrong view password for camera {name:?}"),
                "retry_after_secs": retry_after.as_secs_f64(),
            });
            api::reply_json(hyper::StatusCode::FORBIDDEN, &json)
        }
        Err(crate::locks::Refused::NotLocked) => api::error_response(
            hyper::StatusCode::CONFLICT,
            &format!("camera {name:?} has no view password"),
        ),
    }
}

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

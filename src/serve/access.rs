//! Who may use the local servers: the servers' token, and a locked camera's unlock key on
//! its own servers.

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
        .or_else(|| {
            query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "key")
                    .map(|(_, v)| v.into_owned())
            })
        })
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

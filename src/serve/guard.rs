//! Who may ask at all, before any route or token is looked at (pure): a `Host` that is one of
//! ours (DNS rebinding points a name of the attacker's at our address, so the browser sends
//! that name), and, on anything that can change state (every method but GET/HEAD/OPTIONS, and
//! WebSocket upgrades), an `Origin` that is our own page's or one the config allows, so
//! another web page in the operator's browser cannot post to us.

use hyper::{HeaderMap, Method, StatusCode};

/// The names and origins the servers accept, from `servers.allowed_hosts` and
/// `servers.allowed_origins`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// Lower-case host names (no port); `*.example.com` allows every name under it.
    hosts: Vec<String>,
    /// Lower-case `scheme://host[:port]`, without a trailing slash.
    origins: Vec<String>,
}

/// Why a request is refused before routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The `Host` header names a host that is not ours.
    Host(String),
    /// A state-changing request from another origin (or from an opaque one, `null`).
    Origin(String),
}

impl Denied {
    /// 421 Misdirected Request for a foreign `Host`, 403 for a foreign `Origin`.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Host(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::Origin(_) => StatusCode::FORBIDDEN,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Host(h) => format!(
                "Host {h:?} is not one of this server's names; add it to servers.allowed_hosts if it is"
            ),
            Self::Origin(o) => format!(
                "requests from origin {o:?} may not change anything here; add it to servers.allowed_origins if it is yours"
            ),
        }
    }
}

impl Guard {
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        Self {
            hosts: hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            origins: origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a request with this method and these headers may be routed.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Denied> {
        let host = header(headers, hyper::header::HOST);
        if let Some(host) = host
            && !self.host_allowed(host)
        {
            return Err(Denied::Host(host.to_owned()));
        }
        if !changes_state(method, headers) {
            return Ok(());
        }
        match header(headers, hyper::header::ORIGIN) {
            Some(origin) if !self.origin_allowed(origin, host) => {
                Err(Denied::Origin(origin.to_owned()))
            }
            // No Origin: not a browser (curl, ffmpeg, scripts). Browsers send it on every
            // cross-origin request and on every POST, PUT and DELETE.
            _ => Ok(()),
        }
    }

    /// IP literals (a rebinding attack needs a name), loopback names, and the configured
    /// names are ours.
    fn host_allowed(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        if name.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost"
            || name.ends_with(".localhost")
            || self.hosts.iter().any(|h| match h.strip_prefix("*.") {
                Some(suffix) => name
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.')),
                None => *h == name,
            })
    }

    /// Same origin as the request (`http://` + its `Host`), or configured.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let (Some(rest), Some(host)) = (origin.strip_prefix("http://"), host) else {
            return false;
        };
        with_port(rest) == with_port(&host.to_ascii_lowercase())
    }
}

/// Every method but the safe ones, and any WebSocket upgrade (its GET opens a channel that
/// acts).
fn changes_state(method: &Method, headers: &HeaderMap) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || header(headers, hyper::header::UPGRADE).is_some()
}

fn header(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// The name part of a `Host` value (`[::1]:80` → `::1`); `None` when it is malformed.
fn host_name(host: &str) -> Option<&str> {
    if let Some(v6) = host.strip_prefix('[') {
        let (addr, rest) = v6.split_once(']')?;
        return (rest.is_empty() || port_ok(rest.strip_prefix(':')?)).then_some(addr);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port_ok(port) && !name.contains(':') => Some(name),
        Some(_) => None,
        None => Some(host),
    }
    .filter(|n| !n.is_empty())
}

fn port_ok(port: &str) -> bool {
    port.parse::<u16>().is_ok()
}

/// `host[:port]` with HTTP's default port written out, for comparing.
fn with_port(host: &str) -> String {
    match host_name(host) {
        Some(_) if host.ends_with(']') || !host.contains(':') => format!("{host}:80"),
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn hosts_ours_and_foreign() {
        let g = Guard::new(&["nvr.lan".into(), "*.example.org".into()], &[]);
        for ok in [
            "127.0.0.1:8555",
            "127.0.0.1",
            "localhost:8555",
            "LOCALHOST",
            "wall.localhost",
            "[::1]:8555",
            "[::1]",
            "192.168.1.9:8555",
            "nvr.lan:8555",
            "NVR.LAN.",
            "cam.example.org",
        ] {
            assert_eq!(
                g.check(&Method::GET, &headers(&[("host", ok)])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "evil.example:8555",
            "localhost.evil.example",
            "example.org",
            "badexample.org",
            "nvr.lan:99999",
            "",
            "[::1",
            "a:b:c",
        ] {
            let got = g.check(&Method::GET, &headers(&[("host", bad)]));
            assert!(
                matches!(&got, Err(Denied::Host(h)) if h == bad),
                "{bad}: {got:?}"
            );
            assert_eq!(got.unwrap_err().status(), StatusCode::MISDIRECTED_REQUEST);
        }
        assert_eq!(g.check(&Method::GET, &HeaderMap::new()), Ok(()), "no Host");
    }

    #[test]
    fn origins_on_state_changing_requests() {
        let g = Guard::new(&[], &["https://wall.example.org/".into()]);
        let ask = |method: Method, pairs: &[(&str, &str)]| g.check(&method, &headers(pairs));
        let host = ("host", "127.0.0.1:8555");
        assert_eq!(
            ask(Method::POST, &[host, ("origin", "http://127.0.0.1:8555")]),
            Ok(()),
            "same origin"
        );
        assert_eq!(
            ask(
                Method::POST,
                &[("host", "localhost"), ("origin", "http://localhost:80")]
            ),
            Ok(()),
            "default port"
        );
        assert_eq!(
            ask(Method::PUT, &[host, ("origin", "https://wall.example.org")]),
            Ok(()),
            "configured"
        );
        assert_eq!(
            ask(Method::DELETE, &[host]),
            Ok(()),
            "no Origin: not a browser"
        );
        assert_eq!(
            ask(Method::GET, &[host, ("origin", "http://evil.example")]),
            Ok(()),
            "reads are the same-origin policy's job"
        );
        for (method, extra) in [
            (Method::POST, ("origin", "http://evil.example")),
            (Method::DELETE, ("origin", "http://127.0.0.1:8556")),
            (Method::PUT, ("origin", "https://127.0.0.1:8555")),
            (Method::POST, ("origin", "null")),
        ] {
            let got = ask(method.clone(), &[host, extra]);
            assert!(matches!(got, Err(Denied::Origin(_))), "{method} {extra:?}");
            assert_eq!(got.unwrap_err().status(), StatusCode::FORBIDDEN);
        }
        let upgrade = [
            host,
            ("upgrade", "websocket"),
            ("origin", "http://evil.example"),
        ];
        assert!(matches!(ask(Method::GET, &upgrade), Err(Denied::Origin(_))));
    }
}

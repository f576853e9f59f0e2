//! Plain HTTP/1.1 client connections to cameras (ONVIF SOAP, ISAPI talk, the vendors' event
//! streams): one TCP connection per request with its hyper connection driven on a task of its
//! own, the `Host` header as the URL names it, and the camera's authentication challenge
//! read for `http-auth` (Digest or Basic).

use tokio::net::TcpStream;

/// Sends a connection's request.
pub type Sender<B> = hyper::client::conn::http1::SendRequest<B>;

/// `url`'s host (an IPv6 address without its brackets) and port.
pub fn host_port(url: &url::Url) -> Result<(String, u16), String> {
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("URL without a host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// The `Host` header for `url`: its host, with the port when the URL names one.
pub fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Connects to `url`'s host and port, sets the socket up with `prepare`, and shakes hands.
/// The connection runs on a task of its own until the sender is dropped (or the task
/// returned is aborted). Errors name `host:port`.
pub async fn connect<B>(
    url: &url::Url,
    prepare: impl FnOnce(&TcpStream),
) -> Result<(Sender<B>, tokio::task::JoinHandle<()>), String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (host, port) = host_port(url)?;
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    prepare(&stream);
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{host}:{port}: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, driver))
}

/// The challenges of a 401 answer, as `http-auth` reads them (all `WWW-Authenticate` headers
/// in one list).
pub fn challenge(headers: &hyper::HeaderMap) -> String {
    headers
        .get_all(hyper::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `Authorization` value for `method` on `uri` once a challenge has been answered
/// (`auth`), with `creds` (user, password); none before.
pub fn authorization(
    auth: &mut Option<http_auth::PasswordClient>,
    creds: Option<&(String, String)>,
    method: &str,
    uri: &str,
) -> Option<String> {
    let (client, (username, password)) = (auth.as_mut()?, creds?);
    client
        .respond(&http_auth::PasswordParams {
            username,
            password,
            uri,
            method,
            body: None,
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_and_authorities() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            host_port(&u("http://[::1]:8080/x")).unwrap(),
            ("::1".into(), 8080)
        );
        assert_eq!(host_port(&u("http://cam/x")).unwrap(), ("cam".into(), 80));
        assert_eq!(authority(&u("http://[::1]:8080/x")), "[::1]:8080");
        assert_eq!(authority(&u("http://cam/x")), "cam");
        let mut h = hyper::HeaderMap::new();
        h.append(
            hyper::header::WWW_AUTHENTICATE,
            "Basic realm=\"a\"".parse().unwrap(),
        );
        h.append(
            hyper::header::WWW_AUTHENTICATE,
            "Digest realm=\"a\", nonce=\"n\"".parse().unwrap(),
        );
        assert_eq!(
            challenge(&h),
            "Basic realm=\"a\", Digest realm=\"a\", nonce=\"n\""
        );
        let mut auth = Some(http_auth::PasswordClient::try_from(challenge(&h).as_str()).unwrap());
        let creds = ("admin".to_string(), "pw".to_string());
        let v = authorization(&mut auth, Some(&creds), "GET", "/x").unwrap();
        assert!(v.starts_with("Digest "), "{v}");
        assert_eq!(authorization(&mut None, Some(&creds), "GET", "/x"), None);
    }
}

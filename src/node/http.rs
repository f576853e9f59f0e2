//! One request to a node's API: over `http1`'s connection, with the deployment's token as a
//! bearer header (and a locked camera's unlock key at the node as `X-Unlock-Key`), a JSON
//! body when there is one, an answer read to a bound; and the same from a thread that is not
//! the runtime's (a player, a password check).

use http_body_util::BodyExt;

/// The most of an answer read.
const MAX_ANSWER: usize = 8 << 20;

/// What a request to a node proves: the deployment's token, and the camera's unlock key at
/// the node when it is locked there and was unlocked.
#[derive(Clone, Copy, Default)]
pub struct Auth<'a> {
    pub token: Option<&'a str>,
    pub key: Option<&'a str>,
}

/// `method path` on the node at `base` with `headers` (and `body` as JSON): the answer as it
/// comes, its body still to read (the connection lives until it is read or dropped).
pub async fn forward(
    base: &url::Url,
    method: hyper::Method,
    path: &str,
    auth: Auth<'_>,
    headers: &[(hyper::header::HeaderName, hyper::header::HeaderValue)],
    body: Option<Vec<u8>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let url = base.join(path).map_err(|e| e.to_string())?;
    let (mut sender, _driver) =
        crate::http1::connect::<http_body_util::Full<bytes::Bytes>>(&url, |_| {}).await?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header(hyper::header::HOST, crate::http1::authority(&url));
    if let Some(t) = auth.token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(k) = auth.key {
        req = req.header("x-unlock-key", k);
    }
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req
        .body(http_body_util::Full::new(body.unwrap_or_default().into()))
        .map_err(|e| e.to_string())?;
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// `method path` on the node at `base` (with `body` as JSON): its status and body.
pub async fn request(
    base: &url::Url,
    method: hyper::Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Vec<u8>>,
) -> Result<(hyper::StatusCode, bytes::Bytes), String> {
    let answer = forward(base, method, path, auth, &[], body).await?;
    let status = answer.status();
    let bytes = http_body_util::Limited::new(answer.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the node's answer: {e}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// Runs `ask` (a [`request`]) to its end on this thread, which must not be a runtime's
/// (a player's, a password check's), within `limit`.
pub fn blocking<T>(
    ask: impl Future<Output = Result<T, String>>,
    limit: std::time::Duration,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        tokio::time::timeout(limit, ask)
            .await
            .map_err(|_| "the node did not answer in time".to_owned())?
    })
}

/// A node's route `/api/cameras/{camera}/{what}`, the camera's name encoded (`what`: route
/// words and checked recording names, which the node takes as they are).
pub fn camera_path(camera: &str, what: &str) -> String {
    let camera = percent_encoding::utf8_percent_encode(camera, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/cameras/{camera}/{what}")
}

/// The `error` of a JSON error answer, else its status.
pub fn error_text(status: hyper::StatusCode, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(clean))
        .unwrap_or_else(|| format!("the node answers {status}"))
}

/// The most characters of a node's text we keep (an error, a file name).
const MAX_TEXT: usize = 200;

/// Whether `c` would move or hide text in a log line or on the wall: control characters,
/// and the invisible formatting ones (bidirectional overrides, zero widths).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A node's text as we show and log it: no hidden characters, at most [`MAX_TEXT`].
pub fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !hidden(*c))
        .take(MAX_TEXT)
        .collect()
}

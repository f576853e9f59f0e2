//! One request to a node's API: over `http1`'s connection, with the deployment's token as a
//! bearer header, a JSON body when there is one, an answer read to a bound.

use http_body_util::BodyExt;

/// The most of an answer read.
const MAX_ANSWER: usize = 8 << 20;

/// `method path` on the node at `base` (with `body` as JSON): its status and body.
pub async fn request(
    base: &url::Url,
    method: hyper::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<(hyper::StatusCode, bytes::Bytes), String> {
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
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(http_body_util::Full::new(body.unwrap_or_default().into()))
        .map_err(|e| e.to_string())?;
    let answer = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = answer.status();
    let bytes = http_body_util::Limited::new(answer.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the node's answer: {e}"))?
        .to_bytes();
    Ok((status, bytes))
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

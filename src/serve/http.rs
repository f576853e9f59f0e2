//! HTTP answers and request bodies, shared by every server's routes: the reply builders
//! (every error is `{"error": "…"}` with its status, built in one place), the limits a
//! request body is read within, and path segment decoding.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

pub(crate) fn reply_json(status: StatusCode, json: &serde_json::Value) -> Response<Body> {
    reply(status, "application/json", json.to_string().into_bytes())
}

/// Largest JSON request body accepted.
pub(super) const MAX_BODY: usize = 64 * 1024;

/// A node's answer passed on: its status (a final one: 2xx, 4xx or 5xx) and length, range
/// and retry headers; the content type the route serves (`kind`; JSON for an error) and
/// never the node's, with `nosniff`; the body streamed as it comes. A success must say its
/// length, so a body the node cuts short is a broken connection to the client, never a
/// shorter file that looks whole.
pub(super) fn passed_through(
    answer: hyper::Response<Incoming>,
    kind: &'static str,
) -> Response<Body> {
    use futures::StreamExt;
    use hyper::header;
    let (parts, incoming) = answer.into_parts();
    let status = parts.status;
    let final_status = status.is_success() || status.is_client_error() || status.is_server_error();
    let sized = parts.headers.contains_key(header::CONTENT_LENGTH);
    if !final_status || (status.is_success() && !sized) {
        return error_response(
            StatusCode::BAD_GATEWAY,
            &format!("the node answered {status} without a length"),
        );
    }
    let frames = http_body_util::BodyStream::new(incoming)
        .scan((), |_, frame| std::future::ready(frame.ok()))
        .map(Ok::<_, Infallible>);
    let mut r = Response::new(BodyExt::boxed(http_body_util::StreamBody::new(frames)));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::RETRY_AFTER,
    ] {
        if let Some(v) = parts.headers.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    let kind = if status.is_success() {
        kind
    } else {
        "application/json"
    };
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    if kind == "video/mp4"
        && status == StatusCode::OK
        && parts.headers.contains_key(header::CONTENT_DISPOSITION)
    {
        headers.insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_static("attachment; filename=\"clip.mp4\""),
        );
    }
    r
}

/// How long a request body may take to arrive (a client that stops sending loses its request).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A request body on its way.
type PendingBody =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bytes, String>> + Send>>;

/// The request's body, at most `max` bytes within [`BODY_TIMEOUT`] (a `Content-Length` over
/// the limit was refused before routing, by `refuse_body`); the error names what went wrong:
/// too large after all, cut, too slow.
pub(crate) fn body_within(req: Request<Incoming>, max: usize) -> PendingBody {
    let limited = http_body_util::Limited::new(req.into_body(), max);
    Box::pin(async move {
        match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => Err(format!("cannot read the body: {e}")),
            Err(_) => Err(format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            )),
        }
    })
}

/// Reads a JSON body; the error says what is wrong, with line and column.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, String> {
    let bytes = body_within(req, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON body: {e}"))
}

/// `%20` and friends in a path segment (camera names may have spaces; `+` stays a plus).
pub(super) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
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

/// 401 for a request to a locked camera without a valid unlock key.
pub fn locked(camera: &str) -> Response<Body> {
    error_response(
        StatusCode::UNAUTHORIZED,
        &format!(
            "camera {camera:?} is locked: unlock it with POST /api/cameras/{{name}}/unlock and send the key (X-Unlock-Key or ?key=)"
        ),
    )
}

/// Every error answer: a status code and `{"error": "…"}`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    reply(status, "application/json", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("Sim%201"), "Sim 1");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }
}

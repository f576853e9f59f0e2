//! The recordings routes: `GET /api/cameras/{name}/recordings?from=&to=`, a camera's footage
//! as spans and gaps (RFC 3339 times) from the recording index, read off the request's task.

use std::path::PathBuf;

use hyper::{Response, StatusCode};

use super::api::{Body, error_response, reply_json};
use crate::playback::{self, index};

/// The range a listing covers when the request gives none: the last 24 hours.
const DEFAULT_HOURS: i64 = 24;

/// One query parameter's value, percent-decoded.
fn param(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `from` and `to` of a request (Unix ms), or what is wrong, naming the parameter.
pub(super) fn range(query: Option<&str>) -> Result<(i64, i64), String> {
    let now = chrono::Utc::now().timestamp_millis();
    let get = |key: &str, default: i64| match param(query, key) {
        None => Ok(default),
        Some(text) => index::parse_time(&text).map_err(|e| format!("{key}: {e}")),
    };
    let to = get("to", now)?;
    let from = get("from", to - DEFAULT_HOURS * 3_600_000)?;
    if to <= from {
        return Err("to: must be after from".into());
    }
    Ok((from, to))
}

/// The listing of `camera`'s footage between the request's `from` and `to`.
pub(super) async fn list(camera: &str, query: Option<&str>, record_dir: PathBuf) -> Response<Body> {
    let (from, to) = match range(query) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let folder = playback::camera_folder(&record_dir, camera);
    let Ok(index) = tokio::task::spawn_blocking(move || playback::Index::load(&folder)).await
    else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the index could not be read",
        );
    };
    let spans: Vec<_> = index
        .spans(from, to)
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "start": index::rfc3339(s.start_ms),
                "end": index::rfc3339(s.end_ms),
                "files": s.files,
            })
        })
        .collect();
    let gaps: Vec<_> = index
        .gaps(from, to)
        .into_iter()
        .map(|g| {
            let mut gap = serde_json::json!({
                "start": index::rfc3339(g.start_ms),
                "end": index::rfc3339(g.end_ms),
            });
            if let Some(reason) = g.reason {
                gap["reason"] = reason.into();
            }
            gap
        })
        .collect();
    reply_json(
        StatusCode::OK,
        &serde_json::json!({
            "camera": camera,
            "from": index::rfc3339(from),
            "to": index::rfc3339(to),
            "spans": spans,
            "gaps": gaps,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_time_names_its_parameter() {
        for (query, field) in [
            ("from=yesterday", "from"),
            ("from=2026-01-01T00:00:00Z&to=noon", "to"),
            ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ] {
            let e = range(Some(query)).unwrap_err();
            assert!(e.starts_with(&format!("{field}: ")), "{query}: {e}");
        }
        let (from, to) = range(Some(
            "from=2026-01-01T00:00:00%2B01:00&to=2026-01-01T01:00:00Z",
        ))
        .unwrap();
        assert_eq!(to - from, 2 * 3_600_000);
        let (from, to) = range(None).unwrap();
        assert_eq!(to - from, DEFAULT_HOURS * 3_600_000);
    }
}

//! The recordings routes: `GET /api/cameras/{name}/recordings?from=&to=`, a camera's footage
//! as spans and gaps (RFC 3339 times) from the recording index, read off the request's task;
//! `GET /api/cameras/{name}/recordings/{day}/{file}`, one segment with HTTP range requests,
//! so a browser's `<video>` plays and seeks the fragmented MP4 directly; and
//! `POST /api/cameras/{name}/export`, a clip remuxed across segments, as a download.

use std::path::PathBuf;

use hyper::{Method, Response, StatusCode};

use super::api::{Body, error_response, reply_json};
use crate::playback::{self, index};

/// The range a listing covers when the request gives none: the last 24 hours.
const DEFAULT_HOURS: i64 = 24;

/// The recordings routes of camera `camera` (known to exist): `op` is `recordings` or
/// `export`, `rest` what follows it in the path.
pub(super) async fn route(
    req: hyper::Request<hyper::body::Incoming>,
    camera: &str,
    op: &str,
    rest: &[&str],
    record_dir: PathBuf,
) -> Response<Body> {
    match (req.method(), op, rest) {
        (&Method::GET, "recordings", []) => list(camera, req.uri().query(), record_dir).await,
        (&Method::GET, "recordings", [day, file]) => {
            let range = req
                .headers()
                .get(hyper::header::RANGE)
                .and_then(|v| v.to_str().ok());
            segment(camera, day, file, range, record_dir).await
        }
        (&Method::POST, "export", []) => match super::api::read_json::<ExportBody>(req).await {
            Ok(body) => export(camera, body, record_dir).await,
            Err(e) => error_response(StatusCode::BAD_REQUEST, &e),
        },
        _ => error_response(
            StatusCode::NOT_FOUND,
            "use GET …/recordings, GET …/recordings/DAY/FILE or POST …/export",
        ),
    }
}

/// `from` and `to` of a request (Unix ms), or what is wrong, naming the parameter.
pub(super) fn range(query: Option<&str>) -> Result<(i64, i64), String> {
    let now = chrono::Utc::now().timestamp_millis();
    let get = |key: &str, default: i64| match super::access::query_param(query, key) {
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
async fn list(camera: &str, query: Option<&str>, record_dir: PathBuf) -> Response<Body> {
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
    let by_file: std::collections::HashMap<&str, &playback::Segment> = index
        .segments
        .iter()
        .map(|s| (s.file.as_str(), s))
        .collect();
    let spans: Vec<_> = index
        .spans(from, to)
        .into_iter()
        .map(|s| {
            // Each file's own times too: a player seeks to a time by the file that holds it.
            let segments: Vec<_> = s
                .files
                .iter()
                .filter_map(|f| by_file.get(f.as_str()))
                .map(|seg| {
                    serde_json::json!({
                        "file": seg.file,
                        "start": index::rfc3339(seg.start_ms),
                        "end": index::rfc3339(seg.end_ms),
                    })
                })
                .collect();
            serde_json::json!({
                "start": index::rfc3339(s.start_ms),
                "end": index::rfc3339(s.end_ms),
                "files": s.files,
                "segments": segments,
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

/// The largest part of a segment sent for an open-ended range (`bytes=N-`): the browser asks
/// for the rest as it plays.
const MAX_PART: u64 = 4 << 20;

/// Whether a request's `{day}/{file}` is a segment's name (`2026-12-03/22-15-00[-1].mp4`):
/// nothing else (no `..`, no other file) is ever served.
fn segment_name(day: &str, file: &str) -> bool {
    let digits_and_dashes =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '-');
    let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
    day.len() == 10
        && digits_and_dashes(day)
        && digits_and_dashes(stem)
        && matches!(ext, "mp4" | "mkv")
}

/// One segment of `camera`, whole or the part the `Range` header asks for.
async fn segment(
    camera: &str,
    day: &str,
    file: &str,
    range: Option<&str>,
    record_dir: PathBuf,
) -> Response<Body> {
    if !segment_name(day, file) {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("{day}/{file}: not a recording's name (YYYY-MM-DD/HH-MM-SS.mp4)"),
        );
    }
    let path = playback::camera_folder(&record_dir, camera)
        .join(day)
        .join(file);
    let Ok(meta) = std::fs::metadata(&path) else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("{camera:?} has no recording {day}/{file}"),
        );
    };
    let size = meta.len();
    let (status, start, end) = match range.map(http_range_header::parse_range_header) {
        None => (StatusCode::OK, 0, size.saturating_sub(1)),
        Some(parsed) => match parsed.and_then(|p| p.validate(size)).ok().as_deref() {
            Some([one]) if size > 0 => {
                let open_ended = range.is_some_and(|r| r.trim_end().ends_with('-'));
                let end = if open_ended {
                    (*one.end()).min(one.start() + MAX_PART - 1)
                } else {
                    *one.end()
                };
                (StatusCode::PARTIAL_CONTENT, *one.start(), end)
            }
            _ => {
                let mut r = error_response(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    &format!("{day}/{file} has {size} bytes; one range within them, please"),
                );
                if let Ok(v) = format!("bytes */{size}").parse() {
                    r.headers_mut().insert(hyper::header::CONTENT_RANGE, v);
                }
                return r;
            }
        },
    };
    let part = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&path)?;
        f.seek(std::io::SeekFrom::Start(start))?;
        let mut buf = vec![0; (end + 1 - start.min(end + 1)) as usize];
        f.read_exact(&mut buf)?;
        std::io::Result::Ok(buf)
    });
    let bytes = match part.await.map_err(std::io::Error::other).and_then(|r| r) {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{day}/{file}: {e}"),
            );
        }
    };
    let kind = if file.ends_with(".mkv") {
        "video/x-matroska"
    } else {
        "video/mp4"
    };
    let mut r = super::api::reply(status, kind, bytes);
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::ACCEPT_RANGES,
        hyper::header::HeaderValue::from_static("bytes"),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = format!("bytes {start}-{end}/{size}").parse()
    {
        headers.insert(hyper::header::CONTENT_RANGE, v);
    }
    r
}

/// The longest clip the API exports in one request (the CLI has no limit).
const MAX_CLIP_MS: i64 = 3_600_000;

/// `{"from", "to"}` → the clip as an MP4 download; 404 with the nearest footage when there is
/// none in the range.
async fn export(camera: &str, body: ExportBody, record_dir: PathBuf) -> Response<Body> {
    use playback::export::ExportError;
    let parse = |key: &str, text: &str| index::parse_time(text).map_err(|e| format!("{key}: {e}"));
    let (from, to) = match (parse("from", &body.from), parse("to", &body.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    if to - from > MAX_CLIP_MS {
        return error_response(
            StatusCode::BAD_REQUEST,
            "to: at most one hour per clip here (opticlink export has no limit)",
        );
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("opticlink-export-{}-{n}.mp4", std::process::id()));
    let name = camera.to_owned();
    let out = tmp.clone();
    let done = tokio::task::spawn_blocking(move || {
        let folder = playback::camera_folder(&record_dir, &name);
        let index = playback::Index::load(&folder);
        let clip = playback::export::export(&folder, &index, &name, from, to, &out)?;
        let bytes = std::fs::read(&out).map_err(|e| ExportError::Media {
            file: out.display().to_string(),
            what: e.to_string(),
        });
        let _ = std::fs::remove_file(&out);
        Ok::<_, ExportError>((clip, bytes?))
    })
    .await;
    let _ = std::fs::remove_file(&tmp);
    match done {
        Ok(Ok((clip, bytes))) => {
            let mut r = super::api::reply(StatusCode::OK, "video/mp4", bytes);
            let file = format!(
                "{}_{}.mp4",
                crate::record::names::folder_name(camera),
                index::rfc3339(clip.start_ms).replace(':', "-")
            );
            if let Ok(v) = format!("attachment; filename=\"{file}\"").parse() {
                r.headers_mut()
                    .insert(hyper::header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok(Err(e @ ExportError::NoFootage { before, after, .. })) => reply_json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "error": e.to_string(),
                "nearest": {
                    "before": before.map(index::rfc3339),
                    "after": after.map(index::rfc3339),
                },
            }),
        ),
        Ok(Err(e @ ExportError::BadRange(_))) => {
            error_response(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok(Err(e)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The body of `POST /api/cameras/{name}/export`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    from: String,
    to: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_segment_names_are_served() {
        for (day, file, ok) in [
            ("2026-12-03", "22-15-00.mp4", true),
            ("2026-12-03", "22-15-00-1.mkv", true),
            ("2026-12-03", "index.json", false),
            ("..", "22-15-00.mp4", false),
            ("2026-12-03", "..", false),
            ("2026-12-03", "22-15-00.mp4.tmp", false),
            ("2026-12-0x", "22-15-00.mp4", false),
            ("2026-12-03", ".mp4", false),
        ] {
            assert_eq!(super::segment_name(day, file), ok, "{day}/{file}");
        }
    }

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

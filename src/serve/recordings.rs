//! The recordings routes: `GET /api/cameras/{name}/recordings?from=&to=`, a camera's footage
//! as spans and gaps (RFC 3339 times) from the recording index, read off the request's task;
//! `GET /api/cameras/{name}/recordings/{day}/{file}`, one segment with HTTP range requests,
//! so a browser's `<video>` plays and seeks the fragmented MP4 directly; and
//! `POST /api/cameras/{name}/export`, a clip remuxed across segments, as a download.

use std::path::PathBuf;

use hyper::{Method, Response, StatusCode};

use super::http::{Body, error_response, reply_json};
use crate::playback::{self, index};

/// How long a node may take to start answering a passed-on request.
const NODE_ANSWER: std::time::Duration = std::time::Duration::from_secs(15);

/// A node camera's recordings routes: the same three routes asked of its node (with the
/// token and the camera's unlock key there), the answer streamed back as it comes, so the
/// wall's page plays and exports a node's camera as a local one. Only those routes, with a
/// recording's name and `from`/`to` only: nothing else of the request reaches the node.
pub(super) async fn at_node(
    req: hyper::Request<hyper::body::Incoming>,
    node: &playback::source::NodeRecordings,
    op: &str,
    rest: &[&str],
) -> Response<Body> {
    let (what, kind): (Vec<&str>, &'static str) = match (req.method(), op, rest) {
        (&Method::GET, "recordings", []) => (vec![op], "application/json"),
        (&Method::GET, "recordings", [day, file])
            if crate::record::policy::is_segment_name(day, file) =>
        {
            let kind = if file.ends_with(".mkv") {
                "video/x-matroska"
            } else {
                "video/mp4"
            };
            (vec![op, day, file], kind)
        }
        (&Method::POST, "export", []) => (vec![op], "video/mp4"),
        _ => {
            return error_response(
                StatusCode::NOT_FOUND,
                "use GET …/recordings, GET …/recordings/DAY/FILE or POST …/export",
            );
        }
    };
    let mut path = match node.url(&what) {
        Ok(url) => url.path().to_owned(),
        Err(e) => return error_response(StatusCode::BAD_GATEWAY, &e),
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            ["from", "to"]
                .iter()
                .filter_map(|k| super::access::query_param(req.uri().query(), k).map(|v| (*k, v))),
        )
        .finish();
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let method = req.method().clone();
    let range = req.headers().get(hyper::header::RANGE).cloned();
    let body = if method == Method::POST {
        match super::http::body_within(req, super::http::MAX_BODY).await {
            Ok(b) => Some(b.to_vec()),
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        }
    } else {
        None
    };
    let key = node.key.get();
    let auth = crate::node::http::Auth {
        token: node.token.as_deref(),
        key: key.as_deref(),
    };
    let extra: Vec<_> = range
        .map(|r| (hyper::header::RANGE, r))
        .into_iter()
        .collect();
    let ask = crate::node::http::forward(&node.base, method, &path, auth, &extra, body);
    match tokio::time::timeout(NODE_ANSWER, ask).await {
        Ok(Ok(answer)) => super::http::passed_through(answer, kind),
        Ok(Err(e)) => error_response(StatusCode::BAD_GATEWAY, &format!("the node: {e}")),
        Err(_) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "the node did not answer in time",
        ),
    }
}

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
    outages: Option<crate::record::SharedOutages>,
) -> Response<Body> {
    match (req.method(), op, rest) {
        (&Method::GET, "recordings", []) => {
            list(camera, req.uri().query(), record_dir, outages).await
        }
        (&Method::GET, "recordings", [day, file]) => {
            let range = req
                .headers()
                .get(hyper::header::RANGE)
                .and_then(|v| v.to_str().ok());
            segment(camera, day, file, range, record_dir).await
        }
        (&Method::POST, "export", []) => match super::http::read_json::<ExportBody>(req).await {
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
pub(crate) fn range(query: Option<&str>) -> Result<(i64, i64), String> {
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
async fn list(
    camera: &str,
    query: Option<&str>,
    record_dir: PathBuf,
    outages: Option<crate::record::SharedOutages>,
) -> Response<Body> {
    let (from, to) = match range(query) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let folder = playback::camera_folder(&record_dir, camera);
    let Ok(mut index) = tokio::task::spawn_blocking(move || playback::Index::load(&folder)).await
    else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the index could not be read",
        );
    };
    if let Some(o) = outages.as_ref().and_then(|o| o.lock().ok()) {
        index.add_outages(o.iter());
    }
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

/// One segment of `camera`, whole or the part the `Range` header asks for.
async fn segment(
    camera: &str,
    day: &str,
    file: &str,
    range: Option<&str>,
    record_dir: PathBuf,
) -> Response<Body> {
    if !crate::record::policy::is_segment_name(day, file) {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("{day}/{file}: not a recording's name (YYYY-MM-DD/HH-MM-SS.mp4)"),
        );
    }
    let path = playback::camera_folder(&record_dir, camera)
        .join(day)
        .join(file);
    // The file itself, never through a link (retention follows none either).
    let Ok(meta) = std::fs::symlink_metadata(&path).and_then(|m| {
        m.is_file()
            .then_some(m)
            .ok_or_else(|| std::io::Error::other("not a file"))
    }) else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("{camera:?} has no recording {day}/{file}"),
        );
    };
    let size = meta.len();
    let (status, start, len) = match part(range, size) {
        Some(p) => p,
        None => {
            let mut r = error_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("{day}/{file} has {size} bytes; one range within them, please"),
            );
            if let Ok(v) = format!("bytes */{size}").parse() {
                r.headers_mut().insert(hyper::header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let body = match file_body(&path, start, len, None).await {
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
    let mut r = hyper::Response::new(body);
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(kind),
    );
    headers.insert(
        hyper::header::ACCEPT_RANGES,
        hyper::header::HeaderValue::from_static("bytes"),
    );
    headers.insert(hyper::header::CONTENT_LENGTH, len.into());
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = format!("bytes {start}-{}/{size}", start + len - 1).parse()
    {
        headers.insert(hyper::header::CONTENT_RANGE, v);
    }
    r
}

/// What a `Range` header asks of a file of `size` bytes: (status, first byte, bytes); `None`
/// when it cannot be served (416). One range only.
pub(crate) fn part(range: Option<&str>, size: u64) -> Option<(StatusCode, u64, u64)> {
    let Some(header) = range else {
        return Some((StatusCode::OK, 0, size));
    };
    let parsed = http_range_header::parse_range_header(header).ok()?;
    match parsed.validate(size).ok()?.as_slice() {
        [one] if size > 0 => {
            // An open-ended range (`bytes=N-`) gets all the rest: the body streams as the
            // client reads (a browser drops the connection when it has enough), and FFmpeg's
            // HTTP reader, which a wall uses on a node's recordings, takes a shorter part as a
            // file cut short.
            let (first, last) = (*one.start(), *one.end());
            Some((StatusCode::PARTIAL_CONTENT, first, last - first + 1))
        }
        _ => None,
    }
}

/// Bytes read from a file per chunk of a streamed body.
const CHUNK: usize = 64 * 1024;

/// A body of `len` bytes of the file at `path` from `start`, read a chunk at a time as the
/// client takes them (never the whole file in memory). `hold` (an export's turn and its file,
/// deleted then) is kept until the body is done with or dropped. A read error ends the body early, which the client
/// sees as a cut download.
async fn file_body(
    path: &std::path::Path,
    start: u64,
    len: u64,
    hold: Option<ExportSlot>,
) -> std::io::Result<Body> {
    use std::io::{Read, Seek};
    let path = path.to_owned();
    let file = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(path)?;
        f.seek(std::io::SeekFrom::Start(start))?;
        std::io::Result::Ok(f.take(len))
    })
    .await
    .map_err(std::io::Error::other)??;
    let chunks = futures::stream::unfold((file, hold), |(mut file, hold)| async move {
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; CHUNK];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            std::io::Result::Ok((file, buf))
        })
        .await;
        match read {
            Ok(Ok((file, buf))) if !buf.is_empty() => Some((
                Ok(hyper::body::Frame::data(bytes::Bytes::from(buf))),
                (file, hold),
            )),
            _ => None,
        }
    });
    Ok(http_body_util::BodyExt::boxed(
        http_body_util::StreamBody::new(chunks),
    ))
}

/// A temporary file deleted when dropped.
struct TempFile(PathBuf);

/// One of the [`EXPORTING`] turns and the clip's file, held from the export's start to the
/// end of its download.
struct ExportSlot {
    file: TempFile,
    _turn: tokio::sync::SemaphorePermit<'static>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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
    let Ok(turn) = EXPORTING.try_acquire() else {
        let mut r = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "two exports are running; try again when one is done",
        );
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("5"),
        );
        return r;
    };
    let slot = match private_temp_file() {
        Ok(file) => ExportSlot { file, _turn: turn },
        Err(e) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("no room for the clip: {e}"),
            );
        }
    };
    let name = camera.to_owned();
    // The job owns the slot (the turn and the file): a client that hangs up neither frees
    // the turn while the job still runs nor leaves the file behind.
    let done = tokio::task::spawn_blocking(move || {
        let folder = playback::camera_folder(&record_dir, &name);
        let index = playback::Index::load(&folder);
        let source = playback::Source::Folder(folder);
        let clip = playback::export::export(&source, &index, &name, from, to, &slot.file.0);
        (clip, slot)
    })
    .await;
    match done {
        Ok((Ok(clip), slot)) => {
            let path = slot.file.0.clone();
            let len = std::fs::metadata(&path).map_or(0, |m| m.len());
            // The download keeps the slot until it ends.
            let body = match file_body(&path, 0, len, Some(slot)).await {
                Ok(b) => b,
                Err(e) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            };
            let mut r = hyper::Response::new(body);
            let headers = r.headers_mut();
            headers.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("video/mp4"),
            );
            headers.insert(hyper::header::CONTENT_LENGTH, len.into());
            let file = format!(
                "{}_{}.mp4",
                crate::record::names::folder_name(camera),
                index::rfc3339(clip.start_ms).replace(':', "-")
            );
            if let Ok(v) = format!("attachment; filename=\"{file}\"").parse() {
                headers.insert(hyper::header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok((Err(e @ ExportError::NoFootage { before, after, .. }), _)) => reply_json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "error": e.to_string(),
                "nearest": {
                    "before": before.map(index::rfc3339),
                    "after": after.map(index::rfc3339),
                },
            }),
        ),
        Ok((Err(e @ ExportError::BadRange(_)), _)) => {
            error_response(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok((Err(e), _)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Exports running at once (each remuxes up to an hour of footage).
static EXPORTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Where exports write their clips: `exports` in our own data folder (else in the system's
/// temporary folder).
fn exports_dir() -> PathBuf {
    crate::paths::state_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("exports")
}

/// Removes clips a previous run left behind (it was killed mid-export).
pub(super) fn clear_exports() {
    for e in std::fs::read_dir(exports_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("clip-") && name.ends_with(".mp4") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A new, empty file only this user can read (0600, in a 0700 folder), in [`exports_dir`],
/// for an export to write its clip to.
fn private_temp_file() -> std::io::Result<TempFile> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = exports_dir();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("clip-{}-{n}.mp4", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(&path)?;
    Ok(TempFile(path))
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
            assert_eq!(
                crate::record::policy::is_segment_name(day, file),
                ok,
                "{day}/{file}"
            );
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

    #[test]
    fn a_range_is_served_whole_open_ended_or_not() {
        let big = 100 << 20;
        assert_eq!(part(None, big), Some((StatusCode::OK, 0, big)));
        // FFmpeg asks `bytes=0-` and reads all it is given as the file.
        assert_eq!(
            part(Some("bytes=0-"), big),
            Some((StatusCode::PARTIAL_CONTENT, 0, big))
        );
        assert_eq!(
            part(Some("bytes=1000-1999"), big),
            Some((StatusCode::PARTIAL_CONTENT, 1000, 1000))
        );
        assert_eq!(part(Some("bytes=0-1,5-6"), big), None);
        assert_eq!(part(Some("bytes=200-"), 100), None);
    }
}

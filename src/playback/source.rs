//! Where a camera's recordings are read from: its folder under the recording directory, or a
//! node's recordings routes over HTTP (issue 25) — the listing
//! `GET /api/cameras/{camera}/recordings` for the index, and each segment
//! `GET …/recordings/{day}/{file}` read by FFmpeg with range requests, the deployment's
//! token as a bearer header (never in the URL). Playback and export read through this, so
//! the wall's timeline, synced scrub and clips work the same on a node's camera.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;

use super::index::{self, Index, Segment, Unreadable};

/// A node's listing must come within this; FFmpeg gives up on a segment whose bytes stop
/// coming for as long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A node's listing covers this much either side of the instant played (a day of 2 s
/// segments would pass the answer's bound; the wall's timeline shows less).
const WINDOW_MS: i64 = 3 * 3_600_000;

/// How often a node's listing is asked again while playing at its newest footage (a folder
/// here is looked at every [`super::player`] reload).
const NODE_RELOAD: Duration = Duration::from_secs(2);

/// What ends FFmpeg's reading of a node's segment early: the player dropped (a node that
/// trickles bytes would hold its thread), or a deadline (an export).
#[derive(Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Stop {
    fn now(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Where one camera's recordings are.
#[derive(Debug, Clone)]
pub enum Source {
    /// The camera's folder here.
    Folder(PathBuf),
    /// The recordings of a node's camera.
    Node(NodeRecordings),
}

/// A node's camera, as its recordings routes name it.
#[derive(Clone)]
pub struct NodeRecordings {
    /// The node's API.
    pub base: url::Url,
    /// The camera's name at the node.
    pub camera: String,
    pub token: Option<String>,
    /// The camera's unlock key at the node, when it is locked there.
    pub key: Arc<crate::node::control::NodeKey>,
    pub stop: Stop,
}

impl std::fmt::Debug for NodeRecordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.camera, self.base)
    }
}

impl NodeRecordings {
    /// The node's route `/api/cameras/{camera}/{rest}`, the camera's name encoded; `rest`
    /// is route words and checked recording names, which the node takes as they are.
    pub(crate) fn url(&self, rest: &[&str]) -> Result<url::Url, String> {
        let path = crate::node::http::camera_path(&self.camera, &rest.join("/"));
        self.base.join(&path).map_err(|e| e.to_string())
    }

    /// The camera's index as the node lists it between `from_ms` and `to_ms`: its segments,
    /// and why the gaps with unreadable files are gaps.
    fn index(&self, from_ms: i64, to_ms: i64) -> Result<Index, String> {
        let at = |ms: i64| {
            percent_encoding::utf8_percent_encode(
                &index::rfc3339(ms.max(0)),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string()
        };
        let path = format!(
            "{}?from={}&to={}",
            self.url(&["recordings"])?.path(),
            at(from_ms),
            at(to_ms)
        );
        let key = self.key.get();
        let auth = crate::node::http::Auth {
            token: self.token.as_deref(),
            key: key.as_deref(),
        };
        let (status, body) = crate::node::http::blocking(
            crate::node::http::request(&self.base, hyper::Method::GET, &path, auth, None),
            TIMEOUT,
        )?;
        if !status.is_success() {
            return Err(crate::node::http::error_text(status, &body));
        }
        let listing: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("the node's listing: {e}"))?;
        Ok(from_listing(&listing))
    }

    /// Opens segment `file` (`DAY/FILE`) for FFmpeg: over HTTP to the node only (no redirect,
    /// no other protocol or container a file's own references could name), with the token as
    /// a header, ended early by [`Stop`].
    fn open(&self, file: &str) -> Result<ffmpeg::format::context::Input, String> {
        let (day, name) = file
            .split_once('/')
            .filter(|(day, name)| crate::record::policy::is_segment_name(day, name))
            .ok_or_else(|| format!("{file}: not a recording's name"))?;
        let url = self.url(&["recordings", day, name])?;
        let mut opts = ffmpeg::Dictionary::new();
        let mut headers = String::new();
        if let Some(t) = &self.token {
            headers.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(k) = self.key.get() {
            headers.push_str(&format!("X-Unlock-Key: {k}\r\n"));
        }
        if !headers.is_empty() {
            opts.set("headers", &headers);
        }
        opts.set("protocol_whitelist", "http,tcp");
        opts.set("max_redirects", "0");
        opts.set("format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm");
        opts.set("rw_timeout", &TIMEOUT.as_micros().to_string());
        let stop = self.stop.clone();
        ffmpeg::format::input_with_interrupt_and_dictionary(url.as_str(), move || stop.now(), opts)
            .map_err(|e| e.to_string())
    }
}

/// The index a node's listing (`spans` with their `segments`, `gaps` with their reasons)
/// describes. Entries that are not a recording's name or time are left out.
pub fn from_listing(listing: &serde_json::Value) -> Index {
    let time = |v: &serde_json::Value| v.as_str().and_then(|t| index::parse_time(t).ok());
    fn list(v: &serde_json::Value) -> &[serde_json::Value] {
        v.as_array().map_or(&[], Vec::as_slice)
    }
    let mut out = Index::default();
    for span in list(&listing["spans"]) {
        for seg in list(&span["segments"]) {
            let Some(file) = seg["file"].as_str() else {
                continue;
            };
            let named = file
                .split_once('/')
                .is_some_and(|(day, name)| crate::record::policy::is_segment_name(day, name));
            if let (true, Some(start_ms), Some(end_ms)) =
                (named, time(&seg["start"]), time(&seg["end"]))
                && start_ms <= end_ms
            {
                out.segments.push(Segment {
                    file: file.to_owned(),
                    start_ms,
                    end_ms,
                });
            }
        }
    }
    out.segments.sort_by_key(|s| s.start_ms);
    out.segments.dedup_by(|a, b| a.file == b.file);
    for gap in list(&listing["gaps"]) {
        let (Some(at_ms), Some(reasons)) = (time(&gap["start"]), gap["reason"].as_str()) else {
            continue;
        };
        // The node's reasons read `FILE: WHY; FILE: WHY`.
        for reason in reasons.split("; ") {
            let (file, reason) = reason.split_once(": ").unwrap_or(("", reason));
            out.unreadable.push(Unreadable {
                file: crate::node::http::clean(file),
                at_ms,
                reason: crate::node::http::clean(reason),
            });
        }
    }
    out
}

impl Source {
    /// The camera's index now: all of a folder's, a node's around `around_ms`.
    pub fn index(&self, around_ms: i64) -> Result<Index, String> {
        let (from, to) = (
            around_ms.saturating_sub(WINDOW_MS),
            around_ms.saturating_add(WINDOW_MS),
        );
        self.index_between(from, to)
    }

    /// The camera's index now: all of a folder's, a node's between `from_ms` and `to_ms`.
    pub fn index_between(&self, from_ms: i64, to_ms: i64) -> Result<Index, String> {
        match self {
            Source::Folder(folder) => Ok(Index::load(folder)),
            Source::Node(node) => node.index(from_ms, to_ms),
        }
    }

    /// How far from the instant its index was asked around it still covers (a node's).
    pub fn window_ms(&self) -> Option<i64> {
        match self {
            Source::Folder(_) => None,
            Source::Node(_) => Some(WINDOW_MS),
        }
    }

    /// How often its index may be asked again while playing at its newest footage.
    pub fn reload_every(&self, folder: Duration) -> Duration {
        match self {
            Source::Folder(_) => folder,
            Source::Node(_) => NODE_RELOAD,
        }
    }

    /// This source for one reader, whose reading `stop` ends; a folder's reads end anyway.
    pub fn stopped_by(&self, flag: Arc<AtomicBool>, deadline: Option<Instant>) -> Source {
        match self {
            Source::Folder(_) => self.clone(),
            Source::Node(node) => Source::Node(NodeRecordings {
                stop: Stop { flag, deadline },
                ..node.clone()
            }),
        }
    }

    /// Opens segment `file` (a path under the camera's folder, `DAY/FILE`) for demuxing.
    pub fn open(&self, file: &str) -> Result<ffmpeg::format::context::Input, String> {
        crate::media::init_ffmpeg();
        match self {
            Source::Folder(folder) => {
                ffmpeg::format::input(&folder.join(file)).map_err(|e| e.to_string())
            }
            Source::Node(node) => node.open(file),
        }
    }

    /// A mark of how much segment `seg` holds, which changes as it grows: the file's size
    /// here, its listed end at a node.
    pub fn extent(&self, seg: &Segment) -> u64 {
        match self {
            Source::Folder(folder) => {
                std::fs::metadata(folder.join(&seg.file)).map_or(0, |m| m.len())
            }
            Source::Node(_) => u64::try_from(seg.end_ms).unwrap_or(0),
        }
    }

    /// The folder, for a camera recorded here.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            Source::Folder(f) => Some(f),
            Source::Node(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_becomes_an_index_of_recordings_names_only() {
        let listing = serde_json::json!({
            "spans": [{
                "segments": [
                    {"file": "2026-12-07/10-00-00.mp4", "start": "2026-12-07T10:00:00Z", "end": "2026-12-07T10:01:00Z"},
                    {"file": "../../etc/passwd", "start": "2026-12-07T10:01:00Z", "end": "2026-12-07T10:02:00Z"},
                    {"file": "2026-12-07/10-02-00.mp4", "start": "not a time", "end": "2026-12-07T10:03:00Z"},
                    {"file": "2026-12-07/10-03-00.mkv", "start": "2026-12-07T10:03:00Z", "end": "2026-12-07T10:02:00Z"},
                ]
            }, {
                "segments": [
                    {"file": "2026-12-07/09-00-00.mp4", "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:00:30Z"},
                ]
            }, "nonsense"],
            "gaps": [
                {"start": "2026-12-07T09:00:30Z", "end": "2026-12-07T10:00:00Z",
                 "reason": "2026-12-07/09-30-00.mp4: no pictures; disk full\u{202e}"},
                {"start": "2026-12-07T08:00:00Z", "end": "2026-12-07T09:00:00Z"},
            ]
        });
        let index = from_listing(&listing);
        let files: Vec<&str> = index.segments.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(
            files,
            ["2026-12-07/09-00-00.mp4", "2026-12-07/10-00-00.mp4"],
            "oldest first; no path that is not a recording's, no bad time"
        );
        assert_eq!(
            index.segments[1].end_ms - index.segments[1].start_ms,
            60_000
        );
        let at = index::parse_time("2026-12-07T09:30:00Z").unwrap();
        assert_eq!(
            index.gap_at(at).reason.as_deref(),
            Some("2026-12-07/09-30-00.mp4: no pictures; : disk full")
        );
        assert_eq!(
            from_listing(&serde_json::json!("nonsense")),
            Index::default()
        );
    }

    #[test]
    fn a_node_segments_url_encodes_every_part() {
        let node = NodeRecordings {
            base: "http://127.0.0.1:8555/".parse().unwrap(),
            camera: "Gate/../x ?".into(),
            token: Some("secret".into()),
            key: Default::default(),
            stop: Default::default(),
        };
        let url = node
            .url(&["recordings", "2026-12-07", "10-00-00.mp4"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8555/api/cameras/Gate%2F%2E%2E%2Fx%20%3F/recordings/2026-12-07/10-00-00.mp4"
        );
        assert!(node.open("../../x/10-00-00.mp4").is_err());
        assert!(!format!("{node:?}").contains("secret"));
    }
}

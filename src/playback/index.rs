//! The recording index of one camera: every segment under `<record dir>/<camera folder>/` with
//! its wall-clock start (the `creation_time` tag, else the file name) and end (its last packet),
//! read with FFmpeg's demuxer and kept in a small cache file (`index.json` in the camera's
//! folder) keyed by each file's size and modification time, so a file deleted by hand or by
//! retention, a new one, or the growing open one is noticed on the next look. Spans (segments
//! that join) and the gaps between them are pure functions of the index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

// Times as RFC 3339 (UTC, ms), the same text as a segment's `creation_time` tag; a segment's
// start from its name, the inverse of the name the recorder gives it.
pub use crate::record::policy::{creation_time as rfc3339, start_from_name as time_from_name};

/// Two segments whose end and start are at most this far apart (ms) are one span.
pub const JOIN_MS: i64 = 1000;

/// A file changed this recently (ms) that cannot be read yet is a segment being opened.
const OPENING_MS: i64 = 5000;

/// The cache file in each camera's folder.
pub const CACHE_FILE: &str = "index.json";

/// One segment, as far as playback needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Path under the camera's folder, with `/` (`2026-12-03/22-01-00.mp4`).
    pub file: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A segment that cannot be played, and why; placed at the time its name says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub file: String,
    pub at_ms: i64,
    pub reason: String,
}

/// What is known of one camera's recordings, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    pub segments: Vec<Segment>,
    pub unreadable: Vec<Unreadable>,
}

/// A stretch of footage without a break, and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
    pub files: Vec<String>,
}

/// A stretch without footage inside the asked range; `reason` when a file that should cover it
/// cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub start_ms: i64,
    pub end_ms: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    size: u64,
    modified_ms: i64,
    entry: Entry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Entry {
    Segment { start_ms: i64, end_ms: i64 },
    Unreadable { at_ms: i64, reason: String },
}

impl Index {
    /// The index of the camera whose recordings are in `folder`: the cache where it still
    /// describes the files, FFmpeg for the rest; the cache is rewritten when it changed.
    pub fn load(folder: &Path) -> Index {
        let cache_path = folder.join(CACHE_FILE);
        let old: BTreeMap<String, Cached> = std::fs::read(&cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut new = BTreeMap::new();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for (file, path) in segment_files(folder) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let size = meta.len();
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            let cached = match old.get(&file) {
                Some(c) if c.size == size && c.modified_ms == modified_ms => c.clone(),
                _ => Cached {
                    size,
                    modified_ms,
                    entry: probe(&path, &file),
                },
            };
            // A segment just opened has no fragment yet: it is being written, not broken.
            if matches!(cached.entry, Entry::Unreadable { .. }) && now_ms - modified_ms < OPENING_MS
            {
                continue;
            }
            new.insert(file, cached);
        }
        if !same_files(&old, &new)
            && let Ok(bytes) = serde_json::to_vec(&new)
        {
            // Written aside and renamed: a reader never sees half a cache.
            let tmp = folder.join(format!("{CACHE_FILE}.tmp"));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, &cache_path);
            }
        }
        let mut index = Index::default();
        for (file, c) in new {
            match c.entry {
                Entry::Segment { start_ms, end_ms } => index.segments.push(Segment {
                    file,
                    start_ms,
                    end_ms,
                }),
                Entry::Unreadable { at_ms, reason } => index.unreadable.push(Unreadable {
                    file,
                    at_ms,
                    reason,
                }),
            }
        }
        index.segments.sort_by_key(|s| (s.start_ms, s.end_ms));
        index.unreadable.sort_by_key(|u| u.at_ms);
        index
    }

    /// The spans overlapping `[from_ms, to_ms]`: segments that join within [`JOIN_MS`].
    pub fn spans(&self, from_ms: i64, to_ms: i64) -> Vec<Span> {
        let mut spans: Vec<Span> = Vec::new();
        for s in &self.segments {
            match spans.last_mut() {
                Some(last) if s.start_ms - last.end_ms <= JOIN_MS => {
                    last.end_ms = last.end_ms.max(s.end_ms);
                    last.files.push(s.file.clone());
                }
                _ => spans.push(Span {
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                    files: vec![s.file.clone()],
                }),
            }
        }
        spans.retain(|s| s.end_ms > from_ms && s.start_ms < to_ms);
        spans
    }

    /// What `[from_ms, to_ms]` has no footage for, with the reason an unreadable file gives.
    pub fn gaps(&self, from_ms: i64, to_ms: i64) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let mut at = from_ms;
        for s in self.spans(from_ms, to_ms) {
            if s.start_ms > at {
                gaps.push(self.gap(at, s.start_ms));
            }
            at = at.max(s.end_ms);
        }
        if at < to_ms {
            gaps.push(self.gap(at, to_ms));
        }
        gaps
    }

    /// Takes the recorder's outages as reasons for the gaps they fall in (`recording failed:
    /// …`): a full disk leaves no file to be unreadable, only a gap.
    pub fn add_outages<'a>(
        &mut self,
        outages: impl IntoIterator<Item = &'a crate::record::Outage>,
    ) {
        self.unreadable
            .extend(outages.into_iter().map(|o| Unreadable {
                file: "recording failed".into(),
                at_ms: o.from_ms,
                reason: o.reason.clone(),
            }));
        self.unreadable.sort_by_key(|u| u.at_ms);
    }

    /// The whole gap around `at_ms` (an instant no segment covers), from the footage before it
    /// to the footage after it, with the reason of any unreadable file in it.
    pub fn gap_at(&self, at_ms: i64) -> Gap {
        let (before, after) = self.nearest(at_ms);
        self.gap(before.unwrap_or(i64::MIN), after.unwrap_or(i64::MAX))
    }

    fn gap(&self, start_ms: i64, end_ms: i64) -> Gap {
        let reasons: Vec<String> = self
            .unreadable
            .iter()
            .filter(|u| u.at_ms >= start_ms.saturating_sub(JOIN_MS) && u.at_ms < end_ms)
            .map(|u| format!("{}: {}", u.file, u.reason))
            .collect();
        Gap {
            start_ms,
            end_ms,
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        }
    }

    /// The footage nearest to `at_ms`: the end of the last span before it and the start of
    /// the first after it (for "nothing recorded then" answers).
    pub fn nearest(&self, at_ms: i64) -> (Option<i64>, Option<i64>) {
        let before = self
            .segments
            .iter()
            .filter(|s| s.end_ms <= at_ms)
            .map(|s| s.end_ms)
            .max();
        let after = self
            .segments
            .iter()
            .filter(|s| s.start_ms >= at_ms)
            .map(|s| s.start_ms)
            .min();
        (before, after)
    }
}

fn same_files(a: &BTreeMap<String, Cached>, b: &BTreeMap<String, Cached>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
            ka == kb && va.size == vb.size && va.modified_ms == vb.modified_ms
        })
}

/// Every `<day>/<file>.mp4|mkv` under `folder`, as (name with `/`, path), sorted.
fn segment_files(folder: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        if !day.path().is_dir() {
            continue;
        }
        let day_name = day.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(day.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = f.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "mp4" || e == "mkv") {
                let name = f.file_name().to_string_lossy().into_owned();
                out.push((format!("{day_name}/{name}"), path));
            }
        }
    }
    out.sort();
    out
}

/// The end (pts + duration, in the stream's time base) of the last video packet from where
/// `input` is to its end; `None` without one.
fn last_end(input: &mut ffmpeg::format::context::Input, video: usize) -> Option<i64> {
    let mut end: Option<i64> = None;
    for (stream, packet) in crate::media::packets(input) {
        if stream != video {
            continue;
        }
        if let Some(pts) = packet.pts().or(packet.dts()) {
            let e = pts.saturating_add(packet.duration().max(0));
            end = Some(end.map_or(e, |x: i64| x.max(e)));
        }
    }
    end
}

/// Start and end of one segment by FFmpeg: `creation_time` (else the file name) and the end of
/// its last video packet (read from the last group of pictures when the container can seek
/// there, else the whole file, so a file cut short by a crash is measured by what it holds).
fn probe(path: &Path, file: &str) -> Entry {
    let named = time_from_name(file);
    let unreadable = |reason: String| Entry::Unreadable {
        at_ms: named.unwrap_or(0),
        reason,
    };
    crate::media::init_ffmpeg();
    let mut input = match ffmpeg::format::input(path) {
        Ok(i) => i,
        Err(e) => return unreadable(format!("unreadable ({e})")),
    };
    // ffmpeg-next hands tags over as `&str` without checking they are UTF-8 (a damaged or
    // hostile file's are not): checked here before anything treats them as text (found by
    // fuzzing: chrono panicked slicing one).
    let tagged = input
        .metadata()
        .get("creation_time")
        .and_then(|t| std::str::from_utf8(t.as_bytes()).ok())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    let Some(start_ms) = tagged.or(named) else {
        return unreadable("no start time (no creation_time tag, unknown file name)".into());
    };
    let Some(video) = input
        .streams()
        .find(|s| s.parameters().medium() == ffmpeg::media::Type::Video)
    else {
        return unreadable("no video track".into());
    };
    let (index, tb) = (video.index(), video.time_base());
    // Jump to the container's duration (MP4's fragment index, MKV's cues) and read the last
    // group of pictures; a file without an index (cut short by a crash) is read whole.
    let duration = input.duration();
    let fast = (duration > 0 && input.seek(duration, ..duration).is_ok())
        .then(|| last_end(&mut input, index))
        .flatten();
    let end = fast.or_else(|| {
        ffmpeg::format::input(path)
            .ok()
            .and_then(|mut whole| last_end(&mut whole, index))
    });
    match end {
        Some(end) => {
            let ms = end as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()) * 1000.0;
            Entry::Segment {
                start_ms,
                end_ms: start_ms.saturating_add(ms.round() as i64),
            }
        }
        _ => unreadable("no pictures (empty or cut before its first fragment)".into()),
    }
}

/// A time given by a user: RFC 3339 (`2026-11-26T02:14:00+01:00`) or local `YYYY-MM-DD
/// HH:MM:SS` (also with `T`), in Unix ms.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| format!("{text:?} does not exist in local time"));
        }
    }
    Err(format!(
        "{text:?} is not a time: use RFC 3339 (2026-11-26T02:14:00+01:00) or local \"YYYY-MM-DD HH:MM:SS\""
    ))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::playback) fn seg(file: &str, start_ms: i64, end_ms: i64) -> Segment {
        Segment {
            file: file.into(),
            start_ms,
            end_ms,
        }
    }

    fn index() -> Index {
        Index {
            segments: vec![
                seg("d/a", 0, 2000),
                seg("d/b", 2000, 4000),
                seg("d/c", 4500, 6000),
                seg("d/d", 10_000, 12_000),
            ],
            unreadable: vec![Unreadable {
                file: "d/x".into(),
                at_ms: 7000,
                reason: "unreadable (Invalid data)".into(),
            }],
        }
    }

    #[test]
    fn segments_that_join_are_one_span() {
        let spans = index().spans(i64::MIN, i64::MAX);
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[0].start_ms, spans[0].end_ms), (0, 6000));
        assert_eq!(spans[0].files, ["d/a", "d/b", "d/c"]);
        assert_eq!((spans[1].start_ms, spans[1].end_ms), (10_000, 12_000));
    }

    #[test]
    fn the_range_keeps_overlapping_spans_and_its_gaps() {
        let i = index();
        assert_eq!(i.spans(6000, 10_000), vec![]);
        assert_eq!(i.spans(5999, 10_001).len(), 2);
        let gaps = i.gaps(-1000, 15_000);
        let bounds: Vec<_> = gaps.iter().map(|g| (g.start_ms, g.end_ms)).collect();
        assert_eq!(bounds, [(-1000, 0), (6000, 10_000), (12_000, 15_000)]);
        assert_eq!(gaps[0].reason, None);
        assert_eq!(
            gaps[1].reason.as_deref(),
            Some("d/x: unreadable (Invalid data)")
        );
        assert_eq!(i.gaps(1000, 3000), vec![]);
    }

    #[test]
    fn nearest_footage_on_both_sides() {
        let i = index();
        assert_eq!(i.nearest(8000), (Some(6000), Some(10_000)));
        assert_eq!(i.nearest(20_000), (Some(12_000), None));
        assert_eq!(i.nearest(-5), (None, Some(0)));
    }

    #[test]
    fn times_from_users_and_names() {
        assert_eq!(
            parse_time("2026-11-26T02:14:00+01:00"),
            Ok(1_795_655_640_000)
        );
        assert_eq!(parse_time("2026-11-26T01:14:00Z"), Ok(1_795_655_640_000));
        let local = parse_time("2026-11-26 02:14:00").unwrap();
        assert_eq!(parse_time("2026-11-26T02:14:00"), Ok(local));
        assert_eq!(time_from_name("2026-11-26/02-14-00.mp4"), Some(local));
        assert_eq!(time_from_name("2026-11-26/02-14-00-1.mkv"), Some(local));
        assert_eq!(time_from_name("junk/02-14-00.mp4"), None);
        let e = parse_time("yesterday").unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
        assert_eq!(rfc3339(1_795_655_640_000), "2026-11-26T01:14:00.000Z");
    }

    /// Found by fuzzing: a segment whose `creation_time` tag is not UTF-8 panicked the index
    /// (and with it the listing and playback). It is read by its name's time instead.
    #[test]
    fn a_tag_that_is_not_utf8_is_no_panic() {
        let mut file = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/segments/fragmented.mp4"
        ))
        .unwrap();
        let tag = b"2026-01-01T00:00:00.000Z";
        let at = file.windows(tag.len()).position(|w| w == tag).unwrap();
        file[at + 20..at + 23].copy_from_slice(&[0xC3, 0x28, 0xFF]);
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("2026-01-02");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("03-04-05.mp4"), &file).unwrap();
        let index = Index::load(dir.path());
        assert_eq!(index.segments.len(), 1, "{index:?}");
        assert_eq!(
            Some(index.segments[0].start_ms),
            crate::record::policy::start_from_name("2026-01-02/03-04-05.mp4")
        );
    }
}

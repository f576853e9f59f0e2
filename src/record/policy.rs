//! Pure recording decisions: when a segment ends (the first keyframe at or after each
//! `segment_secs` boundary of the wall clock), what a segment is called, and how long each
//! packet lasts. Values in, values out; table-tested.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, TimeZone};

use crate::config::RecordFormat;

/// The first boundary strictly after `start_ms` (Unix milliseconds): boundaries are the
/// multiples of `segment_secs` since the epoch, so 60 s segments turn over on the minute.
pub fn next_boundary_ms(start_ms: i64, segment_secs: u64) -> i64 {
    let len = i64::try_from(segment_secs.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
    start_ms
        .div_euclid(len)
        .saturating_add(1)
        .saturating_mul(len)
}

/// Whether a packet starts a new segment: a keyframe at or after the boundary.
pub fn rotates(frame_ms: i64, boundary_ms: i64, keyframe: bool) -> bool {
    keyframe && frame_ms >= boundary_ms
}

pub fn extension(format: RecordFormat) -> &'static str {
    match format {
        RecordFormat::Mp4 => "mp4",
        RecordFormat::Mkv => "mkv",
    }
}

/// `<dir>/<camera folder>/<YYYY-MM-DD>/<HH-MM-SS>.<ext>` in local time (the camera's name as
/// [`folder_name`](super::names::folder_name) makes it acceptable on every OS). `taken` says whether a path
/// exists already (two segments in one second after a reconnect): then `-1`, `-2` … is added.
pub fn segment_path(
    dir: &Path,
    camera: &str,
    start: DateTime<Local>,
    format: RecordFormat,
    taken: impl Fn(&Path) -> bool,
) -> PathBuf {
    let day = dir
        .join(super::names::folder_name(camera))
        .join(start.format(DAY).to_string());
    let stem = start.format(CLOCK).to_string();
    let ext = extension(format);
    let mut path = day.join(format!("{stem}.{ext}"));
    let mut n = 1;
    while taken(&path) {
        path = day.join(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    path
}

/// A segment's folder and file name formats (local time).
const DAY: &str = "%Y-%m-%d";
const CLOCK: &str = "%H-%M-%S";

/// When a segment started by its name under the camera's folder (`2026-12-03/22-01-00-1.mp4`):
/// the inverse of [`segment_path`], in Unix ms.
pub fn start_from_name(file: &str) -> Option<i64> {
    let (day, name) = file.split_once('/')?;
    let naive = chrono::NaiveDateTime::parse_from_str(
        &format!("{day} {}", name.get(..8)?),
        &format!("{DAY} {CLOCK}"),
    )
    .ok()?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
}

/// Whether `day/file` is exactly a name [`segment_path`] makes (`2026-12-03/22-01-00.mp4`,
/// `…/22-01-00-2.mkv`): what retention may delete, and nothing a user put beside it.
pub fn is_segment_name(day: &str, file: &str) -> bool {
    let Some((stem, ext)) = file.rsplit_once('.') else {
        return false;
    };
    let (clock, suffix) = stem.split_at_checked(8).unwrap_or((stem, "x"));
    let suffix_ok = suffix.is_empty()
        || suffix
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    matches!(ext, "mp4" | "mkv")
        && suffix_ok
        && day.len() == 10
        && clock.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && chrono::NaiveDate::parse_from_str(day, DAY).is_ok()
        && chrono::NaiveTime::parse_from_str(clock, CLOCK).is_ok()
}

/// Local time of a Unix-milliseconds instant.
pub fn local(ms: i64) -> DateTime<Local> {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Local::now)
}

/// ISO 8601 UTC with milliseconds, the `creation_time` tag's form.
pub fn creation_time(ms: i64) -> String {
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Duration of a packet from the next one's timestamp; the last packet of a session, which
/// has no successor, lasts as long as the one before it (or `fallback`).
pub fn packet_duration(
    pts: i64,
    next_pts: Option<i64>,
    previous: Option<i64>,
    fallback: i64,
) -> i64 {
    match next_pts {
        Some(n) if n > pts => n.saturating_sub(pts),
        _ => previous.filter(|d| *d > 0).unwrap_or(fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_wall_clock_multiples() {
        assert_eq!(next_boundary_ms(0, 60), 60_000);
        assert_eq!(next_boundary_ms(59_999, 60), 60_000);
        assert_eq!(next_boundary_ms(60_000, 60), 120_000);
        assert_eq!(next_boundary_ms(61_500, 10), 70_000);
        assert_eq!(next_boundary_ms(5, 0), 1000, "0 s is treated as 1 s");
    }

    #[test]
    fn rotation_waits_for_a_keyframe_at_or_after_the_boundary() {
        let table = [
            (59_999, true, false),
            (60_000, false, false),
            (60_000, true, true),
            (63_000, false, false),
            (63_040, true, true),
        ];
        for (ms, key, want) in table {
            assert_eq!(rotates(ms, 60_000, key), want, "{ms} key={key}");
        }
    }

    #[test]
    fn paths_follow_the_contract_and_never_collide() {
        let t = Local.with_ymd_and_hms(2026, 11, 25, 7, 5, 9).unwrap();
        let p = segment_path(Path::new("rec"), "Gate", t, RecordFormat::Mp4, |_| false);
        assert_eq!(p, Path::new("rec/Gate/2026-11-25/07-05-09.mp4"));
        let p = segment_path(Path::new("rec"), "Gate", t, RecordFormat::Mkv, |p| {
            !p.ends_with("07-05-09-2.mkv")
        });
        assert_eq!(p, Path::new("rec/Gate/2026-11-25/07-05-09-2.mkv"));
    }

    #[test]
    fn creation_time_has_milliseconds() {
        assert_eq!(creation_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn durations_come_from_the_next_packet() {
        assert_eq!(packet_duration(0, Some(3600), None, 3000), 3600);
        assert_eq!(packet_duration(3600, None, Some(3600), 3000), 3600);
        assert_eq!(packet_duration(3600, None, None, 3000), 3000);
        assert_eq!(packet_duration(3600, Some(3600), Some(0), 3000), 3000);
    }
}

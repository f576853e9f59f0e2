//! Events kept on disk beside the recordings, with no Bevy: one file per camera per day,
//! `<recording.dir>/<camera folder>/<YYYY-MM-DD>/events.jsonl` (the day the event started, local
//! time), append-only, one JSON line per start and per end written whole with one `write`, so
//! a crash loses at most the line being written and a torn last line is skipped on reading.
//! The writer is a thread following the event log's live feed; readers merge a file's lines
//! by event id (the end line wins).

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDate, Utc};

use super::log::{Event, EventLog};

/// The events file's name in a day folder.
pub const FILE: &str = "events.jsonl";

/// Where the events of `camera` that started on `day` are kept.
pub fn path(dir: &Path, camera: &str, day: NaiveDate) -> PathBuf {
    dir.join(crate::record::names::folder_name(camera))
        .join(day.format("%Y-%m-%d").to_string())
        .join(FILE)
}

fn local_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Local).date_naive()
}

/// Appends `event` (a start, or an end) to its file.
pub fn append(dir: &Path, event: &Event) -> std::io::Result<()> {
    let file = path(dir, &event.camera, local_day(event.start));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)?;
    f.write_all(&line)
}

/// The events of one file, oldest first (unreadable lines skipped).
pub fn read_file(file: &Path) -> Vec<Event> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let mut by_id: std::collections::HashMap<u64, Event> = std::collections::HashMap::new();
    for line in text.lines() {
        if let Ok(e) = serde_json::from_str::<Event>(line) {
            by_id.insert(e.id, e);
        }
    }
    let mut out: Vec<Event> = by_id.into_values().collect();
    out.sort_by_key(|e| (e.start, e.id));
    out
}

/// `camera`'s events overlapping `from..=to`, read from the days they may have started on
/// (at most `max_days` back from `to`).
pub fn read_range(
    dir: &Path,
    camera: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_days: i64,
) -> Vec<Event> {
    // An event that overlaps the span may have started the day before it.
    let first = local_day(from).pred_opt().unwrap_or(local_day(from));
    let last = local_day(to);
    let first = last
        .checked_sub_days(chrono::Days::new(max_days.max(0) as u64))
        .map_or(first, |limit| first.max(limit));
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .flat_map(|d| read_file(&path(dir, camera, d)))
        .filter(|e| e.overlaps(Some(from), Some(to)))
        .collect()
}

/// Event `id` of `camera` (its id is its start in Unix milliseconds, so its day is known).
pub fn find(dir: &Path, camera: &str, id: u64) -> Option<Event> {
    let start = DateTime::from_timestamp_millis(i64::try_from(id).ok()?)?;
    let day = local_day(start);
    // Ids move on by a millisecond when two would meet: look a day either side at midnight.
    [day.pred_opt(), Some(day), day.succ_opt()]
        .into_iter()
        .flatten()
        .flat_map(|d| read_file(&path(dir, camera, d)))
        .find(|e| e.id == id)
}

/// Ends the events a process that stopped without ending them left open (a crash, a power
/// cut): in today's and yesterday's files, each is ended when its file was last written.
pub fn close_open(dir: &Path) {
    let today = Local::now().date_naive();
    let days = [today.pred_opt(), Some(today)];
    let Ok(cameras) = std::fs::read_dir(dir) else {
        return;
    };
    for cam in cameras
        .flatten()
        .filter(|c| c.file_type().is_ok_and(|t| t.is_dir()))
    {
        for day in days.iter().flatten() {
            let file = cam
                .path()
                .join(day.format("%Y-%m-%d").to_string())
                .join(FILE);
            let Ok(modified) = std::fs::metadata(&file).and_then(|m| m.modified()) else {
                continue;
            };
            let end = DateTime::<Utc>::from(modified);
            for mut e in read_file(&file).into_iter().filter(|e| e.end.is_none()) {
                e.end = Some(end.max(e.start));
                if append(dir, &e).is_ok() {
                    tracing::info!(camera = %e.camera, "event {} left open by the last run: ended", e.id);
                }
            }
        }
    }
}

/// Starts the thread that writes every start and end of `log` under `dir` (after ending what
/// the last run left open).
pub fn spawn_writer(dir: PathBuf, log: &EventLog) -> std::io::Result<()> {
    // Before any camera starts: a new event must not be taken for a left-over one.
    close_open(&dir);
    let mut live = log.subscribe();
    std::thread::Builder::new()
        .name("event store".into())
        .spawn(move || {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match live.blocking_recv() {
                    Ok(e) => {
                        if let Err(err) = append(&dir, &e) {
                            tracing::warn!(camera = %e.camera, "cannot store event {}: {err}", e.id);
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("the event store fell {n} events behind")
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Kind, Source};

    #[test]
    fn appended_lines_merge_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut e = Event {
            id: start.timestamp_millis() as u64,
            camera: "Front Door".into(),
            source: Source::Onvif,
            kind: Kind::Motion,
            start,
            end: None,
        };
        append(dir.path(), &e).unwrap();
        e.end = Some(start + chrono::TimeDelta::seconds(12));
        append(dir.path(), &e).unwrap();
        let file = path(dir.path(), "Front Door", local_day(start));
        // A crash mid-line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"{\"id\":17,\"cam")
            .unwrap();
        let read = read_file(&file);
        assert_eq!(read, [e.clone()]);
        assert_eq!(find(dir.path(), "Front Door", e.id), Some(e.clone()));
        let around = read_range(
            dir.path(),
            "Front Door",
            start + chrono::TimeDelta::seconds(5),
            start + chrono::TimeDelta::seconds(6),
            31,
        );
        assert_eq!(around, [e.clone()]);
        assert!(
            read_range(
                dir.path(),
                "Front Door",
                start + chrono::TimeDelta::hours(1),
                start + chrono::TimeDelta::hours(2),
                31
            )
            .is_empty()
        );
        assert_eq!(find(dir.path(), "Front Door", 42), None);
    }
}

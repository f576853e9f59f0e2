//! Retention: deletes the oldest segments when they are older than `retain_days` (segments
//! that overlap an event: `events_retain_days`) or when the store (or one camera) is over its
//! byte budget; for cameras with `record: Events`, every closed segment that overlaps no event
//! with its pre- and post-roll; never the open segment, and never a file that is not one of
//! our segments (the events files go with their day, once it is past every limit). The plan
//! is pure (`plan`); the thread scans the store at start-up and every minute and applies it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::RecorderHandle;

/// The limits, from the config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionPolicy {
    pub retain_days: Option<u64>,
    /// Whole store.
    pub max_bytes: Option<u64>,
    /// Per camera, by its folder's name ([`folder_name`](super::names::folder_name)).
    pub camera_max_bytes: HashMap<String, u64>,
    /// Segments overlapping an event are kept this long instead of `retain_days`.
    pub events_retain_days: Option<u64>,
    /// Camera folders that keep only what overlaps events (`record: Events`).
    pub events_only: HashSet<String>,
    /// Footage around an event that counts as the event's.
    pub pre_roll_secs: u64,
    pub post_roll_secs: u64,
}

impl RetentionPolicy {
    pub fn is_empty(&self) -> bool {
        self.retain_days.is_none()
            && self.max_bytes.is_none()
            && self.camera_max_bytes.is_empty()
            && self.events_only.is_empty()
            && self.events_retain_days.is_none()
    }

    /// Whether events matter to the plan (and must be read).
    fn needs_events(&self) -> bool {
        !self.events_only.is_empty() || self.events_retain_days.is_some()
    }
}

/// Each camera folder's events as `(start, end)` Unix seconds (`end` `u64::MAX` while one
/// lasts).
pub type EventSpans = HashMap<String, Vec<(u64, u64)>>;

/// One segment file in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub camera: String,
    pub bytes: u64,
    /// Last write (the segment's end), Unix seconds.
    pub modified_secs: u64,
    /// The segment's start (from its name), Unix seconds.
    pub start_secs: u64,
}

impl SegmentFile {
    /// Whether it overlaps one of `spans`, widened by the rolls.
    fn overlaps(&self, spans: Option<&Vec<(u64, u64)>>, policy: &RetentionPolicy) -> bool {
        spans.is_some_and(|spans| {
            spans.iter().any(|&(s, e)| {
                self.start_secs <= e.saturating_add(policy.post_roll_secs)
                    && self.modified_secs >= s.saturating_sub(policy.pre_roll_secs)
            })
        })
    }
}

/// Which segments to delete, oldest first. `open` segments are never chosen.
pub fn plan(
    files: &[SegmentFile],
    open: &HashSet<PathBuf>,
    policy: &RetentionPolicy,
    events: &EventSpans,
    now_secs: u64,
) -> Vec<PathBuf> {
    let mut candidates: Vec<&SegmentFile> = files.iter().collect();
    candidates.sort_by(|a, b| (a.modified_secs, &a.path).cmp(&(b.modified_secs, &b.path)));
    let mut doomed: HashSet<&Path> = HashSet::new();
    let cutoff = |days: u64| now_secs.saturating_sub(days.saturating_mul(86_400));
    for f in &candidates {
        if open.contains(&f.path) {
            continue;
        }
        let eventful = f.overlaps(events.get(&f.camera), policy);
        let days = match policy.events_retain_days {
            Some(d) if eventful => Some(d),
            _ => policy.retain_days,
        };
        let old = days.is_some_and(|d| f.modified_secs < cutoff(d));
        // Event footage only: a closed segment no event (or one starting within the pre-roll
        // after it) will want.
        let uneventful = policy.events_only.contains(&f.camera)
            && !eventful
            && f.modified_secs.saturating_add(policy.pre_roll_secs) < now_secs;
        if old || uneventful {
            doomed.insert(&f.path);
        }
    }
    let mut per_camera: HashMap<&str, u64> = HashMap::new();
    for f in candidates
        .iter()
        .filter(|f| !doomed.contains(f.path.as_path()))
    {
        *per_camera.entry(&f.camera).or_default() += f.bytes;
    }
    for (camera, cap) in &policy.camera_max_bytes {
        let mut total = per_camera.get(camera.as_str()).copied().unwrap_or(0);
        for f in candidates.iter().filter(|f| &f.camera == camera) {
            if total <= *cap {
                break;
            }
            if !open.contains(&f.path) && doomed.insert(&f.path) {
                total -= f.bytes;
            }
        }
    }
    if let Some(cap) = policy.max_bytes {
        let mut total: u64 = candidates
            .iter()
            .filter(|f| !doomed.contains(f.path.as_path()))
            .map(|f| f.bytes)
            .sum();
        for f in &candidates {
            if total <= cap {
                break;
            }
            if !open.contains(&f.path) && doomed.insert(&f.path) {
                total -= f.bytes;
            }
        }
    }
    candidates
        .iter()
        .filter(|f| doomed.contains(f.path.as_path()))
        .map(|f| f.path.clone())
        .collect()
}

/// Every segment under `<dir>/<camera>/<date>/` named as the recorder names them: nothing
/// else (a user's own videos in the same folder), and no symbolic link at any level (a link
/// could lead out of the store).
pub fn scan(dir: &Path) -> Vec<SegmentFile> {
    scan_cameras(dir, Scope::default())
}

/// Where a pass looks: the camera folders in `cameras`, their segments in the day folders in
/// `days` and their events in those of `event_days` (each: all without).
#[derive(Debug, Clone, Copy, Default)]
struct Scope<'a> {
    cameras: Option<&'a HashSet<String>>,
    days: Option<&'a [String]>,
    event_days: Option<&'a [String]>,
}

impl Scope<'_> {
    /// The camera folders of `dir` in scope, with their names.
    fn cameras(&self, dir: &Path) -> impl Iterator<Item = (String, PathBuf)> {
        entries(dir, std::fs::FileType::is_dir)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| self.cameras.is_none_or(|c| c.contains(name)))
    }

    /// The day folders of camera folder `cam` whose segments are in scope, with their names.
    fn days(&self, cam: &Path) -> impl Iterator<Item = (String, PathBuf)> {
        day_folders(cam, self.days)
    }

    /// The day folders of camera folder `cam` whose events are in scope.
    fn event_days(&self, cam: &Path) -> impl Iterator<Item = (String, PathBuf)> {
        day_folders(cam, self.event_days)
    }
}

/// The day folders of camera folder `cam` (those named in `only`), with their names.
fn day_folders<'a>(
    cam: &Path,
    only: Option<&'a [String]>,
) -> impl Iterator<Item = (String, PathBuf)> + 'a {
    entries(cam, std::fs::FileType::is_dir)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(move |(name, _)| only.is_none_or(|d| d.contains(name)))
}

/// The real (not linked: retention stays in the store) entries of `dir` of the kind `want`.
fn entries(
    dir: &Path,
    want: fn(&std::fs::FileType) -> bool,
) -> impl Iterator<Item = std::fs::DirEntry> + use<> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(move |e| e.file_type().is_ok_and(|t| want(&t)))
}

/// [`scan`] of the folders in `scope`.
fn scan_cameras(dir: &Path, scope: Scope<'_>) -> Vec<SegmentFile> {
    let mut out = Vec::new();
    for (camera, cam) in scope.cameras(dir) {
        for (day_name, day) in scope.days(&cam) {
            for seg in entries(&day, std::fs::FileType::is_file) {
                let name = seg.file_name().to_string_lossy().into_owned();
                if !super::policy::is_segment_name(&day_name, &name) {
                    continue;
                }
                let Ok(meta) = seg.metadata() else { continue };
                let modified_secs = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                let start_secs = super::policy::start_from_name(&format!("{day_name}/{name}"))
                    .map_or(modified_secs, |ms| (ms / 1000).max(0) as u64);
                out.push(SegmentFile {
                    path: seg.path(),
                    camera: camera.clone(),
                    bytes: meta.len(),
                    modified_secs,
                    start_secs,
                });
            }
        }
    }
    out
}

/// How often the store is checked after the start-up pass.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// How often the cameras that keep only event footage are checked (a closed segment goes
/// soon after its pre-roll has passed).
pub const EVENTS_INTERVAL: Duration = Duration::from_secs(5);

/// What retention works from; the ECS updates it as cameras come and go.
#[derive(Default)]
pub struct RetentionState {
    pub policy: RetentionPolicy,
    /// Every camera's recorder, by name (their open segments are never deleted).
    pub recorders: HashMap<String, RecorderHandle>,
}

/// [`RetentionState`] shared between the ECS and the retention thread.
pub type SharedRetention = std::sync::Arc<std::sync::Mutex<RetentionState>>;

/// Applies the policy now and then every [`INTERVAL`] (event-only cameras every
/// [`EVENTS_INTERVAL`]), for as long as the process runs.
pub fn spawn_retention(dir: PathBuf, state: SharedRetention) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            let mut last_full: Option<std::time::Instant> = None;
            // Events still open at the last full pass (the quick passes read only recent days).
            let mut open_events = EventSpans::new();
            loop {
                let (policy, recorders) = match state.lock() {
                    Ok(s) => (
                        s.policy.clone(),
                        s.recorders.values().cloned().collect::<Vec<_>>(),
                    ),
                    Err(_) => return,
                };
                let full = last_full.is_none_or(|t| t.elapsed() >= INTERVAL);
                if full {
                    last_full = Some(std::time::Instant::now());
                    if !policy.is_empty() {
                        open_events = enforce(&dir, &policy, &recorders);
                    }
                } else if !policy.events_only.is_empty() {
                    let today = chrono::Local::now().date_naive();
                    quick_pass(&dir, &policy, &recorders, &open_events, today);
                }
                std::thread::sleep(EVENTS_INTERVAL);
            }
        })?;
    Ok(())
}

/// One pass: scan, plan, delete, remove emptied day directories. Returns the events still
/// open (for [`quick_pass`]).
pub fn enforce(dir: &Path, policy: &RetentionPolicy, recorders: &[RecorderHandle]) -> EventSpans {
    let open = enforce_in(dir, policy, recorders, Scope::default(), &EventSpans::new());
    forget_old_event_days(dir, policy, chrono::Local::now().date_naive());
    open
}

/// The event-only rule alone, on the event-only cameras' segments closed since the last pass:
/// today's and yesterday's (the full pass judges the rest, at start and every [`INTERVAL`]).
/// Their events are read from the day before as well (an event is filed by the day it
/// started), with `open`, the events still open at the last full pass.
fn quick_pass(
    dir: &Path,
    policy: &RetentionPolicy,
    recorders: &[RecorderHandle],
    open: &EventSpans,
    today: chrono::NaiveDate,
) {
    let quick = RetentionPolicy {
        events_only: policy.events_only.clone(),
        pre_roll_secs: policy.pre_roll_secs,
        post_roll_secs: policy.post_roll_secs,
        ..Default::default()
    };
    let days = [0, 1, 2].map(|back| {
        (today - chrono::Days::new(back))
            .format("%Y-%m-%d")
            .to_string()
    });
    let scope = Scope {
        cameras: Some(&policy.events_only),
        days: Some(&days[..2]),
        event_days: Some(&days),
    };
    enforce_in(dir, &quick, recorders, scope, open);
}

/// [`enforce`] over the folders in `scope`, with the events `also` besides those it reads.
/// Returns the events it knew of that are still open.
fn enforce_in(
    dir: &Path,
    policy: &RetentionPolicy,
    recorders: &[RecorderHandle],
    scope: Scope<'_>,
    also: &EventSpans,
) -> EventSpans {
    let open: HashSet<PathBuf> = recorders
        .iter()
        .filter_map(|r| r.status().current)
        .collect();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut events = if policy.needs_events() {
        event_spans(dir, scope)
    } else {
        EventSpans::new()
    };
    for (camera, spans) in also {
        events.entry(camera.clone()).or_default().extend(spans);
    }
    for path in plan(&scan_cameras(dir, scope), &open, policy, &events, now) {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("retention: deleted {}", path.display()),
            Err(e) => tracing::warn!("retention: cannot delete {}: {e}", path.display()),
        }
        if let Some(day) = path.parent() {
            let _ = std::fs::remove_dir(day); // only succeeds when empty
        }
    }
    events
        .into_iter()
        .filter_map(|(camera, spans)| {
            let open: Vec<(u64, u64)> = spans.into_iter().filter(|s| s.1 == u64::MAX).collect();
            (!open.is_empty()).then_some((camera, open))
        })
        .collect()
}

/// The events of the camera folders in `scope`, from the event store's files of its days.
fn event_spans(dir: &Path, scope: Scope<'_>) -> EventSpans {
    let mut out = EventSpans::new();
    for (name, cam) in scope.cameras(dir) {
        let spans: Vec<(u64, u64)> = scope
            .event_days(&cam)
            .flat_map(|(_, day)| {
                crate::events::store::read_file(&day.join(crate::events::store::FILE))
            })
            .map(|e| {
                let s = e.start.timestamp().max(0) as u64;
                (s, e.end.map_or(u64::MAX, |t| t.timestamp().max(0) as u64))
            })
            .collect();
        out.insert(name, spans);
    }
    out
}

/// Events files of days past every age limit, with their day folders once empty.
fn forget_old_event_days(dir: &Path, policy: &RetentionPolicy, today: chrono::NaiveDate) {
    let Some(days) = policy.retain_days.max(policy.events_retain_days) else {
        return;
    };
    let scope = Scope::default();
    for (_, cam) in scope.cameras(dir) {
        for (name, day) in scope.days(&cam) {
            let Ok(date) = chrono::NaiveDate::parse_from_str(&name, "%Y-%m-%d") else {
                continue;
            };
            if (today - date).num_days() > i64::try_from(days).unwrap_or(i64::MAX) {
                let file = day.join(crate::events::store::FILE);
                if std::fs::remove_file(&file).is_ok() {
                    tracing::info!("retention: deleted {}", file.display());
                }
                let _ = std::fs::remove_dir(&day);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(camera: &str, name: &str, bytes: u64, modified_secs: u64) -> SegmentFile {
        SegmentFile {
            path: PathBuf::from(format!("{camera}/{name}")),
            camera: camera.into(),
            bytes,
            modified_secs,
            start_secs: modified_secs.saturating_sub(60),
        }
    }

    #[test]
    fn event_footage_only_and_longer_for_events() {
        // Minute segments of camera E ending at 60, 120, … 600.
        let files: Vec<SegmentFile> = (1..=10)
            .map(|i| f("E", &i.to_string(), 1, i * 60))
            .collect();
        let open: HashSet<PathBuf> = [PathBuf::from("E/10")].into();
        let policy = RetentionPolicy {
            events_only: ["E".to_string()].into(),
            pre_roll_secs: 5,
            post_roll_secs: 10,
            ..Default::default()
        };
        // One event 200..230 s, one still going since 530 s.
        let events: EventSpans = [("E".to_string(), vec![(200, 230), (530, u64::MAX)])].into();
        let doomed = names(plan(&files, &open, &policy, &events, 600));
        // Kept: 4 (180..240) holds the first event, and its post-roll (to 240) reaches 5
        // (240..300); 9 holds the pre-roll of the one going on, 10 is open.
        assert_eq!(doomed, ["E/1", "E/2", "E/3", "E/6", "E/7", "E/8"]);
        // A segment that just closed waits out the pre-roll.
        let recent = names(plan(
            &files[..9],
            &HashSet::new(),
            &policy,
            &EventSpans::new(),
            541,
        ));
        assert!(!recent.contains(&"E/9".to_string()) && recent.contains(&"E/8".to_string()));
        // Event footage outlives the rest.
        let policy = RetentionPolicy {
            retain_days: Some(1),
            events_retain_days: Some(30),
            ..Default::default()
        };
        let day = 86_400;
        let files = vec![f("C", "old", 1, 100), f("C", "event", 1, 200)];
        let events: EventSpans = [("C".to_string(), vec![(170, 175)])].into();
        assert_eq!(
            names(plan(&files, &HashSet::new(), &policy, &events, 3 * day)),
            ["C/old"]
        );
    }

    fn names(p: Vec<PathBuf>) -> Vec<String> {
        p.into_iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn table() {
        let day = 86_400;
        let files = vec![
            f("A", "1", 100, 10 * day),
            f("B", "1", 100, 11 * day),
            f("A", "2", 100, 12 * day),
            f("B", "2", 100, 13 * day),
            f("A", "3", 100, 14 * day),
        ];
        let open: HashSet<PathBuf> = [PathBuf::from("A/3")].into();
        let none = HashSet::new();
        let now = 14 * day + 10;
        let cases: Vec<(&str, RetentionPolicy, &HashSet<PathBuf>, Vec<&str>)> = vec![
            ("nothing to do", RetentionPolicy::default(), &open, vec![]),
            (
                "age",
                RetentionPolicy {
                    retain_days: Some(3),
                    ..Default::default()
                },
                &open,
                vec!["A/1", "B/1"],
            ),
            (
                "total, oldest first",
                RetentionPolicy {
                    max_bytes: Some(250),
                    ..Default::default()
                },
                &open,
                vec!["A/1", "B/1", "A/2"],
            ),
            (
                "per camera",
                RetentionPolicy {
                    camera_max_bytes: [("A".to_string(), 150)].into(),
                    ..Default::default()
                },
                &open,
                vec!["A/1", "A/2"],
            ),
            (
                "never the open segment",
                RetentionPolicy {
                    max_bytes: Some(0),
                    ..Default::default()
                },
                &open,
                vec!["A/1", "B/1", "A/2", "B/2"],
            ),
            (
                "all of it when nothing is open",
                RetentionPolicy {
                    retain_days: Some(0),
                    ..Default::default()
                },
                &none,
                vec!["A/1", "B/1", "A/2", "B/2", "A/3"],
            ),
        ];
        for (name, policy, open, want) in cases {
            assert_eq!(
                names(plan(&files, open, &policy, &EventSpans::new(), now)),
                want,
                "{name}"
            );
        }
    }

    /// A store with the user's own videos beside ours, and links out of it: only our
    /// segments are found.
    #[cfg(unix)]
    #[test]
    fn scan_finds_only_our_segments_and_follows_no_link() {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        let outside = root.path().join("outside");
        let ours = [
            "Gate/2026-12-03/22-01-00.mp4",
            "Gate/2026-12-03/22-01-00-2.mp4",
            "Sim 1/2025-01-31/00-00-59.mkv",
        ];
        let theirs = [
            "Holiday/2019/beach.mp4",
            "Gate/2026-12-03/beach.mp4",
            "Gate/2026-12-03/22-01-00.mp4.bak",
            "Gate/2026-12-03/22-01-00x.mp4",
            "Gate/2026-12-03/22-01-00-.mp4",
            "Gate/2026-13-03/22-01-00.mp4",
            "Gate/2026-12-03/25-01-00.mp4",
            "Gate/2026-12-03/sub/22-01-00.mp4",
            "22-01-00.mp4",
            "Gate/22-01-00.mp4",
        ];
        for rel in ours.iter().chain(&theirs) {
            let p = store.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        }
        let away = outside.join("Cam/2026-12-03/22-01-00.mp4");
        std::fs::create_dir_all(away.parent().unwrap()).unwrap();
        std::fs::write(&away, b"x").unwrap();
        // A linked camera folder, a linked day and a linked segment: none is followed.
        std::os::unix::fs::symlink(outside.join("Cam"), store.join("Cam")).unwrap();
        std::os::unix::fs::symlink(
            outside.join("Cam/2026-12-03"),
            store.join("Gate/2026-12-04"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&away, store.join("Gate/2026-12-03/23-00-00.mp4")).unwrap();
        let mut found: Vec<String> = scan(&store)
            .into_iter()
            .map(|f| {
                f.path
                    .strip_prefix(&store)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        found.sort();
        let mut want: Vec<String> = ours.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(found, want);
        // Everything is a year old and retention keeps a day: only ours go.
        let policy = RetentionPolicy {
            retain_days: Some(1),
            ..Default::default()
        };
        let later = SystemTime::now() + Duration::from_secs(400 * 86_400);
        let now_secs = later
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let doomed = plan(
            &scan(&store),
            &HashSet::new(),
            &policy,
            &EventSpans::new(),
            now_secs,
        );
        assert_eq!(doomed.len(), ours.len());
        for path in doomed {
            std::fs::remove_file(path).unwrap();
        }
        for rel in theirs {
            assert!(store.join(rel).exists(), "{rel} kept");
        }
        assert!(away.exists(), "nothing outside the store touched");
        // A scope: only the cameras and days it names.
        let cameras = HashSet::from(["Gate".to_string()]);
        let days = ["2026-12-03".to_string()];
        for rel in ours {
            let p = store.join(rel);
            std::fs::write(&p, b"x").unwrap();
        }
        let scoped = scan_cameras(
            &store,
            Scope {
                cameras: Some(&cameras),
                days: Some(&days),
                event_days: None,
            },
        );
        assert_eq!(scoped.len(), 2, "{scoped:?}");
        assert!(scoped.iter().all(|f| f.camera == "Gate"));
        let other_day = ["2026-12-02".to_string()];
        let scope = Scope {
            cameras: None,
            days: Some(&other_day),
            event_days: None,
        };
        assert!(scan_cameras(&store, scope).is_empty());
    }

    /// After midnight, yesterday's segment overlapping an event that started the day before
    /// stays; so does one under an event still open since a full pass days ago; one under no
    /// event goes.
    #[test]
    fn the_quick_pass_reads_events_from_the_day_before_and_those_still_open() {
        use chrono::{Local, TimeZone};
        let store = tempfile::tempdir().unwrap();
        let today = Local::now().date_naive();
        let day = |back: u64| today - chrono::Days::new(back);
        let at = |d: chrono::NaiveDate, h: u32, m: u32, s: u32| {
            Local
                .from_local_datetime(&d.and_hms_opt(h, m, s).unwrap())
                .earliest()
                .unwrap()
        };
        // A minute's segment starting at `h:m:s` of day `d` (closed a minute later).
        let segment = |d: chrono::NaiveDate, (h, m, s): (u32, u32, u32)| {
            let p = store
                .path()
                .join("E")
                .join(d.format("%Y-%m-%d").to_string());
            std::fs::create_dir_all(&p).unwrap();
            let file = p.join(format!("{h:02}-{m:02}-{s:02}.mp4"));
            std::fs::write(&file, b"x").unwrap();
            let closed = SystemTime::from(at(d, h, m, s)) + Duration::from_secs(60);
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(closed)
                .unwrap();
            file
        };
        // An event from 23:59:50 the day before yesterday to 00:01 yesterday.
        let started = at(day(2), 23, 59, 50).with_timezone(&chrono::Utc);
        crate::events::store::append(
            store.path(),
            &crate::events::log::Event {
                id: 1,
                camera: "E".into(),
                source: crate::events::Source::Local,
                kind: crate::events::Kind::Motion,
                start: started,
                end: Some(started + chrono::TimeDelta::seconds(70)),
            },
        )
        .unwrap();
        let after_midnight = segment(day(1), (0, 0, 10));
        let noon = segment(day(1), (12, 0, 0));
        let evening = segment(day(1), (20, 0, 0));
        let policy = RetentionPolicy {
            events_only: ["E".to_string()].into(),
            pre_roll_secs: 5,
            post_roll_secs: 10,
            ..Default::default()
        };
        // An event open since a full pass: from 19:59 yesterday on.
        let open_since = at(day(1), 19, 59, 0).timestamp() as u64;
        let open = EventSpans::from([("E".to_string(), vec![(open_since, u64::MAX)])]);
        quick_pass(store.path(), &policy, &[], &open, today);
        assert!(
            after_midnight.exists(),
            "footage of the event from the day before"
        );
        assert!(evening.exists(), "footage of the event still open");
        assert!(!noon.exists(), "footage of no event");
    }
}

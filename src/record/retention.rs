//! Retention: deletes the oldest segments when they are older than `retain_days` or when the
//! store (or one camera) is over its byte budget; never the open segment. The plan is pure
//! (`plan`); the thread scans the store at start-up and every minute and applies it.

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
}

impl RetentionPolicy {
    pub fn is_empty(&self) -> bool {
        self.retain_days.is_none() && self.max_bytes.is_none() && self.camera_max_bytes.is_empty()
    }
}

/// One segment file in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub camera: String,
    pub bytes: u64,
    /// Last write (the segment's end), Unix seconds.
    pub modified_secs: u64,
}

/// Which segments to delete, oldest first. `open` segments are never chosen.
pub fn plan(
    files: &[SegmentFile],
    open: &HashSet<PathBuf>,
    policy: &RetentionPolicy,
    now_secs: u64,
) -> Vec<PathBuf> {
    let mut candidates: Vec<&SegmentFile> = files.iter().collect();
    candidates.sort_by(|a, b| (a.modified_secs, &a.path).cmp(&(b.modified_secs, &b.path)));
    let mut doomed: HashSet<&Path> = HashSet::new();
    if let Some(days) = policy.retain_days {
        let cutoff = now_secs.saturating_sub(days.saturating_mul(86_400));
        for f in &candidates {
            if f.modified_secs < cutoff && !open.contains(&f.path) {
                doomed.insert(&f.path);
            }
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
    /// The real (not linked) entries of `dir` of the kind `want`.
    fn entries(dir: &Path, want: fn(&std::fs::FileType) -> bool) -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| want(&t)))
            .collect()
    }
    let mut out = Vec::new();
    for cam in entries(dir, std::fs::FileType::is_dir) {
        let camera = cam.file_name().to_string_lossy().into_owned();
        for day in entries(&cam.path(), std::fs::FileType::is_dir) {
            let day_name = day.file_name().to_string_lossy().into_owned();
            for seg in entries(&day.path(), std::fs::FileType::is_file) {
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
                out.push(SegmentFile {
                    path: seg.path(),
                    camera: camera.clone(),
                    bytes: meta.len(),
                    modified_secs,
                });
            }
        }
    }
    out
}

/// How often the store is checked after the start-up pass.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// What retention works from; the ECS updates it as cameras come and go.
#[derive(Default)]
pub struct RetentionState {
    pub policy: RetentionPolicy,
    /// Every camera's recorder, by name (their open segments are never deleted).
    pub recorders: HashMap<String, RecorderHandle>,
}

/// [`RetentionState`] shared between the ECS and the retention thread.
pub type SharedRetention = std::sync::Arc<std::sync::Mutex<RetentionState>>;

/// Applies the policy now and then every [`INTERVAL`], for as long as the process runs.
pub fn spawn_retention(dir: PathBuf, state: SharedRetention) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            loop {
                let (policy, recorders) = match state.lock() {
                    Ok(s) => (
                        s.policy.clone(),
                        s.recorders.values().cloned().collect::<Vec<_>>(),
                    ),
                    Err(_) => return,
                };
                if !policy.is_empty() {
                    enforce(&dir, &policy, &recorders);
                }
                std::thread::sleep(INTERVAL);
            }
        })?;
    Ok(())
}

/// One pass: scan, plan, delete, remove emptied day directories.
pub fn enforce(dir: &Path, policy: &RetentionPolicy, recorders: &[RecorderHandle]) {
    let open: HashSet<PathBuf> = recorders
        .iter()
        .filter_map(|r| r.status().current)
        .collect();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for path in plan(&scan(dir), &open, policy, now) {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("retention: deleted {}", path.display()),
            Err(e) => tracing::warn!("retention: cannot delete {}: {e}", path.display()),
        }
        if let Some(day) = path.parent() {
            let _ = std::fs::remove_dir(day); // only succeeds when empty
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
        }
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
            assert_eq!(names(plan(&files, open, &policy, now)), want, "{name}");
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
        let doomed = plan(&scan(&store), &HashSet::new(), &policy, now_secs);
        assert_eq!(doomed.len(), ours.len());
        for path in doomed {
            std::fs::remove_file(path).unwrap();
        }
        for rel in theirs {
            assert!(store.join(rel).exists(), "{rel} kept");
        }
        assert!(away.exists(), "nothing outside the store touched");
    }
}

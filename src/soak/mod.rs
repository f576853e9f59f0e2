//! The fault soak (`opticlink soak`, `.ci/soak MINUTES CAMERAS`): a real `opticlink --headless`
//! process records simulated cameras (one simulated server each, small pictures) while faults
//! are injected at random — sessions killed, cameras restarted, streams frozen, garbage on the
//! wire, a wrong password for a while, a full disk for a while, HTTP clients that stall — and
//! each recovery is timed through the status API. At the end: faults and recoveries, the worst
//! recovery, the process's memory, file descriptors and threads at start and end, segments
//! written and how many ffprobe reads, panics. Linux only (`/proc`, tmpfs).

mod faults;
mod process;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use faults::Disk;
use faults::{Fault, Record};
use process::{Child, Resources};

/// What to soak.
#[derive(Debug, Clone)]
pub struct Options {
    pub minutes: f64,
    pub cameras: u32,
    /// The opticlink binary to run.
    pub exe: std::path::PathBuf,
}

/// How long the process gets to show every camera live at start and after the last fault.
const SETTLE: Duration = Duration::from_secs(90);

/// Runs the soak; the report, or why it could not run. A report whose run saw a panic, an
/// unrecovered fault or an unreadable segment says so in its last line (see [`Report::ok`]).
pub fn run(options: &Options) -> Result<Report, String> {
    if options.cameras == 0 || options.minutes <= 0.0 {
        return Err("soak: --cameras and --minutes must be above 0".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("soak: no runtime: {e}"))?;
    let work = WorkDir::new()?;
    let disk = faults::Disk::mount(&work.path().join("recordings"));
    let cameras = faults::Cameras::start(&rt, options.cameras)?;
    let config = work.path().join("soak.ron");
    std::fs::write(&config, cameras.config(disk.path()))
        .map_err(|e| format!("soak: {}: {e}", config.display()))?;
    let child = Child::start(&options.exe, &config, work.path())?;
    let names = cameras.names();
    child.wait_all_live(&names, SETTLE)?;
    std::thread::sleep(Duration::from_secs(5));
    let start = child.resources()?;
    let records = Arc::new(Mutex::new(Vec::<Record>::new()));
    let deadline = Instant::now() + Duration::from_secs_f64(options.minutes * 60.0);
    let samples = Mutex::new(Vec::<Resources>::new());
    std::thread::scope(|s| {
        let (sampled, samples) = (&child, &samples);
        s.spawn(move || {
            while faults::pause(Duration::from_secs(20), deadline) {
                if let (Ok(r), Ok(mut all)) = (sampled.resources(), samples.lock()) {
                    all.push(r);
                }
            }
        });
        for n in 1..=options.cameras {
            let (cameras, child, records) = (&cameras, &child, &records);
            s.spawn(move || faults::camera_loop(cameras, n, child, deadline, records));
        }
        if disk.can_fill() {
            let (disk, child, records, names) = (&disk, &child, &records, &names);
            s.spawn(move || faults::disk_loop(disk, child, names, deadline, records));
        }
        let (child, records) = (&child, &records);
        s.spawn(move || faults::http_loop(child, deadline, records));
    });
    child.wait_all_live(&names, SETTLE)?;
    std::thread::sleep(Duration::from_secs(10));
    let end = child.resources()?;
    let samples = samples.into_inner().map_err(|_| "soak: samples lost")?;
    let middle = samples.get(samples.len() / 2).copied().unwrap_or(start);
    let log = child.stop()?;
    drop(cameras);
    let (segments, unreadable) = faults::probe_segments(disk.path());
    let disk_faults = disk.can_fill();
    drop(disk);
    let records = std::mem::take(&mut *records.lock().map_err(|_| "soak: records lost")?);
    Ok(Report {
        minutes: options.minutes,
        cameras: options.cameras,
        disk_faults,
        records,
        start,
        middle,
        end,
        segments,
        unreadable,
        panics: log.matches("panicked").count(),
    })
}

/// What a soak saw.
#[derive(Debug, Clone)]
pub struct Report {
    pub minutes: f64,
    pub cameras: u32,
    /// Whether full-disk faults could be injected (a tmpfs needs root).
    pub disk_faults: bool,
    pub records: Vec<Record>,
    pub start: Resources,
    /// Halfway through the faults: warm-up is over, so growth from here on is a leak.
    pub middle: Resources,
    pub end: Resources,
    pub segments: usize,
    /// Segments ffprobe reads no picture from.
    pub unreadable: Vec<std::path::PathBuf>,
    pub panics: usize,
}

impl Report {
    /// No panic, every fault recovered from, every segment readable.
    pub fn ok(&self) -> bool {
        self.panics == 0
            && self.records.iter().all(|r| r.recovered.is_some())
            && self.unreadable.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "soak: {:.1} min, {} cameras{}",
            self.minutes,
            self.cameras,
            if self.disk_faults {
                ""
            } else {
                " (no full-disk faults: mounting a tmpfs needs root)"
            }
        )?;
        writeln!(
            f,
            "fault                injected  recovered  worst recovery"
        )?;
        for kind in Fault::ALL {
            let of: Vec<&Record> = self.records.iter().filter(|r| r.fault == kind).collect();
            let recovered: Vec<Duration> = of.iter().filter_map(|r| r.recovered).collect();
            let worst = recovered.iter().max().map_or("-".into(), |d| secs(*d));
            writeln!(
                f,
                "{:<20} {:>8} {:>10}  {worst:>14}",
                kind.name(),
                of.len(),
                recovered.len()
            )?;
        }
        let all = self.records.len();
        let recovered = self
            .records
            .iter()
            .filter(|r| r.recovered.is_some())
            .count();
        let worst = self
            .records
            .iter()
            .filter_map(|r| r.recovered)
            .max()
            .map_or("-".into(), secs);
        let rss = |r: &Resources| r.rss_kb as f64 / 1024.0;
        let growth = |a: f64, b: f64| (b / a.max(0.001) - 1.0) * 100.0;
        let change = growth(rss(&self.start), rss(&self.end));
        writeln!(f, "recoveries: {recovered}/{all}, worst {worst}")?;
        let back = self
            .records
            .iter()
            .filter(|r| r.fault == Fault::LongOutage)
            .filter_map(|r| r.recovered)
            .max();
        if let Some(back) = back {
            writeln!(
                f,
                "back on the wall after a long outage: worst {} (goal ≤ 5 s)",
                secs(back)
            )?;
        }
        writeln!(
            f,
            "RSS: {:.1} MB → {:.1} MB ({change:+.1} %)",
            rss(&self.start),
            rss(&self.end)
        )?;
        let anon = |r: &Resources| r.anon_kb as f64 / 1024.0;
        writeln!(
            f,
            "  anonymous (heap, stacks): {:.1} → {:.1} → {:.1} MB (start, halfway, end: \
             {:+.1} % over the second half)",
            anon(&self.start),
            anon(&self.middle),
            anon(&self.end),
            growth(anon(&self.middle), anon(&self.end))
        )?;
        writeln!(f, "fds: {} → {}", self.start.fds, self.end.fds)?;
        writeln!(f, "threads: {} → {}", self.start.threads, self.end.threads)?;
        writeln!(
            f,
            "segments: {} written, {} readable by ffprobe",
            self.segments,
            self.segments - self.unreadable.len()
        )?;
        for file in self.unreadable.iter().take(5) {
            writeln!(f, "  unreadable: {}", file.display())?;
        }
        writeln!(f, "panics: {}", self.panics)?;
        write!(f, "soak: {}", if self.ok() { "PASS" } else { "FAIL" })
    }
}

/// The soak's own folder in the system's temporary folder, removed at the end.
struct WorkDir(std::path::PathBuf);

impl WorkDir {
    fn new() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("opticlink-soak-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("soak: {}: {e}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Every `.mp4`/`.mkv` under `dir`.
fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4" || x == "mkv") {
                out.push(p);
            }
        }
    }
    out
}

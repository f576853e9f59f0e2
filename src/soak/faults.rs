//! The soak's faults: one simulated server per camera (so each camera's faults are its own),
//! the recordings on a tmpfs that can be made full for a while, stalled HTTP clients, the
//! loops that inject them at random and time each recovery, and the ffprobe pass over the
//! segments.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::process::{Child, get};
use crate::simcam::{SimConfig, SimFaults, SimServer};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The camera closes its session.
    SessionKilled,
    /// The camera goes away (every connection closed, port shut) and comes back.
    Restarted,
    /// The camera is away for most of a minute (the reconnect backoff has grown to 30 s):
    /// it must be back on the wall within seconds of its return.
    LongOutage,
    /// The camera keeps the connection but sends nothing.
    Frozen,
    /// The camera sends random bytes as picture data.
    Garbage,
    /// The camera's password changes, then changes back.
    WrongPassword,
    /// The recordings' disk is full for a while.
    DiskFull,
    /// Hundreds of HTTP clients that send half a request, and MJPEG clients that never read.
    StalledClients,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::SessionKilled,
        Fault::Restarted,
        Fault::LongOutage,
        Fault::Frozen,
        Fault::Garbage,
        Fault::WrongPassword,
        Fault::DiskFull,
        Fault::StalledClients,
    ];

    /// A fault of one camera (the others are the whole process's).
    fn of_a_camera(self) -> bool {
        !matches!(self, Fault::DiskFull | Fault::StalledClients)
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::SessionKilled => "session killed",
            Fault::Restarted => "camera restarted",
            Fault::LongOutage => "camera away 40 s",
            Fault::Frozen => "stream frozen",
            Fault::Garbage => "garbage on the wire",
            Fault::WrongPassword => "wrong password",
            Fault::DiskFull => "disk full",
            Fault::StalledClients => "stalled clients",
        }
    }
}

/// One fault injected, and how long after it ended everything worked again (`None`: never,
/// within [`RECOVERY_LIMIT`]).
#[derive(Debug, Clone)]
pub struct Record {
    pub fault: Fault,
    pub camera: Option<String>,
    pub recovered: Option<Duration>,
}

/// The longest a recovery is waited for. A wrong password is retried no faster than every
/// 60 s (cameras lock accounts), so its recoveries take about that long.
const RECOVERY_LIMIT: Duration = Duration::from_secs(150);

const USER: &str = "soak";
const PASSWORD: &str = "soak-pass";

/// The simulated cameras, one server each.
pub struct Cameras {
    rt: tokio::runtime::Handle,
    slots: Vec<(u16, Mutex<Option<SimServer>>)>,
}

impl Cameras {
    pub fn start(rt: &tokio::runtime::Runtime, cameras: u32) -> Result<Self, String> {
        let mut slots = Vec::new();
        for n in 1..=cameras {
            let server = rt
                .block_on(SimServer::start(sim_config(n, 0, PASSWORD)))
                .map_err(|e| format!("soak: simulated camera {n}: {e}"))?;
            slots.push((server.addr().port(), Mutex::new(Some(server))));
        }
        Ok(Self {
            rt: rt.handle().clone(),
            slots,
        })
    }

    pub fn names(&self) -> Vec<String> {
        (1..=self.slots.len()).map(name).collect()
    }

    /// The config the soaked process runs: every camera recording into `dir`.
    pub fn config(&self, dir: &Path) -> String {
        let cameras: Vec<String> = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, (port, _))| {
                format!(
                    "(name: {:?}, url: \"rtsp://127.0.0.1:{port}/cam1\", username: Some({USER:?}), password: Some({PASSWORD:?}), record: true)",
                    name(i + 1)
                )
            })
            .collect();
        format!(
            "(cameras: [\n  {}\n],\n recording: (dir: {:?}, segment_secs: 60),\n servers: (api_port: 0))\n",
            cameras.join(",\n  "),
            dir.display().to_string()
        )
    }

    fn slot(&self, n: u32) -> &Mutex<Option<SimServer>> {
        &self.slots[n as usize - 1].1
    }

    fn set_faults(&self, n: u32, faults: SimFaults) {
        if let Ok(s) = self.slot(n).lock()
            && let Some(server) = s.as_ref()
        {
            server.set_faults(faults);
        }
    }

    /// Takes camera `n` away (every connection closed, the port shut).
    fn stop(&self, n: u32) {
        if let Ok(mut s) = self.slot(n).lock()
            && let Some(server) = s.take()
        {
            server.stop();
        }
    }

    /// Camera `n` back on its port, with `password` (the old server's listener closes as its
    /// task winds down: the port is tried again for a few seconds).
    fn start_again(&self, n: u32, password: &str) {
        self.stop(n);
        let port = self.slots[n as usize - 1].0;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .rt
                .block_on(SimServer::start(sim_config(n, port, password)))
            {
                Ok(server) => {
                    if let Ok(mut s) = self.slot(n).lock() {
                        *s = Some(server);
                    }
                    return;
                }
                Err(e) if Instant::now() > deadline => {
                    tracing::error!("soak: camera {n} cannot start again: {e}");
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

fn name(n: usize) -> String {
    format!("Soak {n}")
}

/// Small pictures, so 16 cameras fit on 2 cores with the process decoding them all.
fn sim_config(n: u32, port: u16, password: &str) -> SimConfig {
    SimConfig {
        cameras: 1,
        port,
        width: 160,
        height: 90,
        fps: 10,
        names: vec![name(n as usize)],
        user: Some(USER.into()),
        password: Some(password.into()),
        ..SimConfig::default()
    }
}

/// A random duration in `[lo, hi)` seconds.
fn secs(lo: f64, hi: f64) -> Duration {
    Duration::from_secs_f64(rand::random_range(lo..hi))
}

/// Sleeps `d`, or until `deadline`; whether time is left.
pub fn pause(d: Duration, deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    std::thread::sleep(d.min(deadline - now));
    Instant::now() < deadline
}

/// How long until `ok` holds (asked every 250 ms), at most [`RECOVERY_LIMIT`].
fn time_until(mut ok: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < RECOVERY_LIMIT {
        if ok() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}

fn decoded(child: &Child, camera: &str) -> u64 {
    child
        .camera(camera)
        .and_then(|c| c["decoded"].as_u64())
        .unwrap_or(0)
}

/// Faults on camera `n`, one at a time, until `deadline`.
pub fn camera_loop(
    cameras: &Cameras,
    n: u32,
    child: &Child,
    deadline: Instant,
    records: &Mutex<Vec<Record>>,
) {
    let camera = name(n as usize);
    let kinds: Vec<Fault> = Fault::ALL.into_iter().filter(|f| f.of_a_camera()).collect();
    while pause(secs(3.0, 12.0), deadline) {
        let fault = kinds[rand::random_range(0..kinds.len())];
        match fault {
            Fault::SessionKilled => {
                let drop = SimFaults {
                    drop_after_frames: Some(1),
                    ..SimFaults::default()
                };
                cameras.set_faults(n, drop);
                std::thread::sleep(Duration::from_millis(500));
                cameras.set_faults(n, SimFaults::default());
            }
            Fault::Restarted | Fault::LongOutage => {
                cameras.stop(n);
                let away = if fault == Fault::Restarted {
                    secs(2.0, 8.0)
                } else {
                    secs(35.0, 45.0)
                };
                std::thread::sleep(away);
                cameras.start_again(n, PASSWORD);
            }
            Fault::Frozen => {
                let frozen = SimFaults {
                    freeze_after_frames: Some(1),
                    ..SimFaults::default()
                };
                cameras.set_faults(n, frozen);
                // Past the stall watchdog (5 s): the process must notice.
                std::thread::sleep(secs(6.0, 10.0));
                cameras.set_faults(n, SimFaults::default());
            }
            Fault::Garbage => {
                let garbage = SimFaults {
                    garbage: true,
                    ..SimFaults::default()
                };
                cameras.set_faults(n, garbage);
                std::thread::sleep(secs(2.0, 6.0));
                cameras.set_faults(n, SimFaults::default());
            }
            _ => {
                cameras.start_again(n, "changed-password");
                std::thread::sleep(secs(2.0, 6.0));
                cameras.start_again(n, PASSWORD);
            }
        }
        let base = decoded(child, &camera);
        let recovered = time_until(|| {
            child.camera(&camera).is_some_and(|c| {
                c["state"] == "live" && c["decoded"].as_u64().unwrap_or(0) > base + 5
            })
        });
        if let Ok(mut r) = records.lock() {
            r.push(Record {
                fault,
                camera: Some(camera.clone()),
                recovered,
            });
        }
    }
}

/// The recordings' folder: a tmpfs of its own when this process may mount one (root), so it
/// can be made full for a while; else a plain folder (no full-disk faults).
pub struct Disk {
    path: PathBuf,
    size: Option<u64>,
}

/// The tmpfs' size: room for an hour of 16 small cameras many times over.
const DISK_BYTES: u64 = 1 << 30;

impl Disk {
    pub fn mount(path: &Path) -> Self {
        Self::mount_sized(path, DISK_BYTES)
    }

    /// A tmpfs of `bytes` at `path` (a plain folder where mounting fails: see `can_fill`).
    pub fn mount_sized(path: &Path, bytes: u64) -> Self {
        let _ = std::fs::create_dir_all(path);
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Self {
            path: path.to_owned(),
            size: mounted.then_some(bytes),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn can_fill(&self) -> bool {
        self.size.is_some()
    }

    /// Resizes the tmpfs to `bytes`; whether it took.
    fn resize(&self, bytes: u64) -> bool {
        std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Bytes in use on it.
    fn used(&self) -> Option<u64> {
        let path = std::ffi::CString::new(self.path.to_str()?).ok()?;
        // SAFETY: statvfs(3) with a NUL-terminated path and a zeroed struct we own.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return None;
        }
        Some((st.f_blocks - st.f_bfree) * st.f_frsize)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.size.is_some() {
            let _ = std::process::Command::new("umount")
                .arg(&self.path)
                .status();
        }
    }
}

/// A full disk every half minute or so, for a few seconds; recovered when every live camera
/// records again without an error.
pub fn disk_loop(
    disk: &Disk,
    child: &Child,
    names: &[String],
    deadline: Instant,
    records: &Mutex<Vec<Record>>,
) {
    let Some(size) = disk.size else { return };
    while pause(secs(15.0, 40.0), deadline) {
        let Some(used) = disk.used() else { continue };
        if !disk.resize(used + 16 * 1024) {
            continue;
        }
        // Full until a camera says so (it writes a few KB a second), then a while longer.
        let failing = |c: &serde_json::Value| c["recording"]["error"].is_string();
        let _ = time_until(|| child.cameras().unwrap_or_default().iter().any(failing));
        std::thread::sleep(secs(2.0, 6.0));
        disk.resize(size);
        // Every live camera records again (one in a fault of its own, say a wrong password,
        // has no session to record: its own recovery is timed by its loop).
        let recovered = time_until(|| {
            let cams = child.cameras().unwrap_or_default();
            names.iter().all(|n| {
                cams.iter().any(|c| {
                    c["name"] == n.as_str()
                        && (c["state"] != "live"
                            || (c["recording"]["error"].is_null()
                                && c["recording"]["current"].is_string()))
                })
            })
        });
        if let Ok(mut r) = records.lock() {
            r.push(Record {
                fault: Fault::DiskFull,
                camera: None,
                recovered,
            });
        }
    }
}

/// Stalled clients every few seconds: 200 half requests on the API port and 5 MJPEG viewers
/// that never read, held while a normal request must still be answered (its answer time is
/// the recovery).
pub fn http_loop(child: &Child, deadline: Instant, records: &Mutex<Vec<Record>>) {
    use std::io::Write;
    while pause(secs(8.0, 16.0), deadline) {
        let api = child.api_port();
        let mut held: Vec<std::net::TcpStream> = (0..200)
            .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", api)).ok())
            .collect();
        for s in &mut held {
            let _ = s.write_all(b"GET /api/sta");
        }
        let mjpeg: Vec<u16> = child
            .cameras()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["ports"]["mjpeg"].as_u64()?.try_into().ok())
            .take(5)
            .collect();
        for port in mjpeg {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                held.push(s);
            }
        }
        std::thread::sleep(Duration::from_secs(2));
        let t = Instant::now();
        let answered = matches!(get(api, "/api/status"), Ok((200, _)));
        let recovered = answered.then(|| t.elapsed());
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
        if let Ok(mut r) = records.lock() {
            r.push(Record {
                fault: Fault::StalledClients,
                camera: None,
                recovered,
            });
        }
    }
}

/// The segments under `dir`, and those ffprobe reads no picture from.
pub fn probe_segments(dir: &Path) -> (usize, Vec<PathBuf>) {
    let files = super::segment_files(dir);
    let unreadable = files
        .iter()
        .filter(|f| {
            !std::process::Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v", "-count_packets"])
                .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
                .arg(f.as_path())
                .output()
                .is_ok_and(|o| {
                    o.status.success()
                        && String::from_utf8_lossy(&o.stdout)
                            .trim()
                            .parse::<u64>()
                            .is_ok_and(|n| n > 0)
                })
        })
        .cloned()
        .collect();
    (files.len(), unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera taken away while a client is connected comes back on its port.
    #[test]
    fn a_camera_comes_back_on_its_port() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cameras = Cameras::start(&rt, 1).unwrap();
        let port = cameras.slots[0].0;
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        cameras.stop(1);
        std::thread::sleep(Duration::from_millis(500));
        cameras.start_again(1, PASSWORD);
        assert!(cameras.slots[0].1.lock().unwrap().is_some(), "back");
        drop(client);
    }
}

//! The soaked process: `opticlink --headless` started with the soak's config and its own state
//! folder, its log in a file, its status API asked over plain HTTP, its memory, descriptors and
//! threads read from `/proc`, and a clean stop by SIGTERM.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the process holds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub rss_kb: u64,
    /// The anonymous part of the RSS (heap, stacks): what a leak grows. The rest is the
    /// binary and libraries, paged in as code runs for the first time.
    pub anon_kb: u64,
    pub fds: usize,
    pub threads: u64,
}

pub struct Child {
    child: std::sync::Mutex<std::process::Child>,
    pid: u32,
    log: PathBuf,
    api: u16,
}

impl Child {
    /// Starts `exe --headless --config CONFIG` in `work` and waits for its API's port.
    pub fn start(exe: &Path, config: &Path, work: &Path) -> Result<Self, String> {
        let log = work.join("opticlink.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("soak: log: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("soak: log: {e}"))?;
        let child = std::process::Command::new(exe)
            .arg("--headless")
            .arg("--config")
            .arg(config)
            .current_dir(work)
            .env("OPTICLINK_STATE_DIR", work)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("soak: cannot start {}: {e}", exe.display()))?;
        let pid = child.id();
        let mut me = Self {
            child: std::sync::Mutex::new(child),
            pid,
            log,
            api: 0,
        };
        let marker = "status API listening on http://";
        let deadline = Instant::now() + Duration::from_secs(60);
        me.api = loop {
            let text = me.log_text();
            let port = text.find(marker).and_then(|at| {
                let addr = text[at + marker.len()..].split('/').next()?;
                addr.rsplit(':').next()?.parse().ok()
            });
            if let Some(p) = port {
                break p;
            }
            if Instant::now() > deadline {
                return Err(format!("soak: no status API within 60 s:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        Ok(me)
    }

    pub fn api_port(&self) -> u16 {
        self.api
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/api/status`'s cameras by name, or `None` when it does not answer in time.
    pub fn cameras(&self) -> Option<Vec<serde_json::Value>> {
        let (code, body) = get(self.api, "/api/status").ok()?;
        let status: serde_json::Value = serde_json::from_str(&body).ok().filter(|_| code == 200)?;
        status["cameras"].as_array().cloned()
    }

    /// Camera `name` in `/api/status`.
    pub fn camera(&self, name: &str) -> Option<serde_json::Value> {
        self.cameras()?.into_iter().find(|c| c["name"] == name)
    }

    /// Waits until every camera in `names` is live and decoding.
    pub fn wait_all_live(&self, names: &[String], limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let cams = self.cameras().unwrap_or_default();
            let live = names.iter().all(|n| {
                cams.iter()
                    .any(|c| c["name"] == n.as_str() && c["state"] == "live" && c["decoded"] != 0)
            });
            if live {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "soak: not every camera live within {limit:?}: {cams:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn resources(&self) -> Result<Resources, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .map_err(|e| format!("soak: /proc: {e}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map_err(|e| format!("soak: /proc: {e}"))?
            .count();
        Ok(Resources {
            rss_kb: field("VmRSS:"),
            anon_kb: field("RssAnon:"),
            fds,
            threads: field("Threads:"),
        })
    }

    /// SIGTERM, then waits (at most 30 s, then SIGKILL); the whole log.
    pub fn stop(&self) -> Result<String, String> {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        let mut child = self.child.lock().map_err(|_| "soak: child lost")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "soak: no exit within 30 s of SIGTERM\n{}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(self.log_text())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One GET on loopback; (status, body). Bounded by a 10 s timeout.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let code = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((code, body))
}

//! Helpers shared by the integration tests: the opticlink binary as a child process (logs
//! captured, status API found from its log line), a tiny HTTP client, waiting for a condition,
//! and a lock that keeps the CPU-heavy end-to-end tests from running at the same time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_opticlink");

/// End-to-end tests each run real encoders and decoders; one at a time keeps them honest on
/// a 2-core machine.
pub fn heavy() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `opticlink` process; killed (by its PID) on drop.
pub struct Proc {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
    /// The access token its status is read with (`servers.token`).
    pub token: Option<String>,
}

impl Proc {
    /// Starts `opticlink ARGS` in a fresh temporary working directory.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::start_with(args, envs, &[])
    }

    /// [`Proc::start`] with the variables in `removed` taken out of its environment first
    /// (`envs` may set them again).
    pub fn start_with(args: &[&str], envs: &[(&str, &str)], removed: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in_with(dir, args, envs, removed)
    }

    pub fn start_in(dir: tempfile::TempDir, args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::start_in_with(dir, args, envs, &[])
    }

    fn start_in_with(
        dir: tempfile::TempDir,
        args: &[&str],
        envs: &[(&str, &str)],
        removed: &[&str],
    ) -> Self {
        let mut cmd = Command::new(BIN);
        // State (unlocks, window layouts) stays in the test's directory unless `envs` says.
        cmd.args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("OPTICLINK_STATE_DIR", dir.path())
            .env("OPTICLINK_CONFIG_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for k in removed {
            cmd.env_remove(k);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn opticlink");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Self {
            child,
            log,
            dir,
            token: None,
        }
    }

    /// Headless with a config written from `ron`.
    pub fn headless(ron: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("test.ron");
        std::fs::write(&path, ron).unwrap();
        let path = path.to_str().unwrap().to_owned();
        Self::start_in(dir, &["--headless", "--config", &path], &[])
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The status API port, from the `listening on` log line.
    pub fn api_port(&self) -> u16 {
        let port = |log: &str| -> Option<u16> {
            let at = log.find("status API listening on http://")?;
            let rest = &log[at + "status API listening on http://".len()..];
            let addr = rest.split('/').next()?;
            addr.rsplit(':').next()?.parse().ok()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if let Some(p) = port(&log) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no status API log line within 30 s; the log so far:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn status(&self) -> serde_json::Value {
        let (code, body) = match &self.token {
            None => http_get(self.api_port(), "/api/status"),
            Some(t) => {
                let auth = format!("Authorization: Bearer {t}\r\n");
                let (code, _, body) = http_get_with(self.api_port(), "/api/status", &auth);
                (code, String::from_utf8_lossy(&body).into_owned())
            }
        };
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("status is JSON")
    }

    /// The camera named `name` in `/api/status`.
    /// (The API answers before the ECS has spawned the cameras: wait for them to appear.)
    pub fn camera(&self, name: &str) -> serde_json::Value {
        wait_for(
            Duration::from_secs(10),
            &format!("camera {name} in /api/status"),
            || {
                let s = self.status();
                s["cameras"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["name"] == name).cloned())
            },
        )
    }

    /// Polls until camera `name` is in `state`.
    pub fn wait_state(&self, name: &str, state: &str, limit: Duration) -> serde_json::Value {
        wait_for(limit, &format!("{name} to be {state}"), || {
            let c = self.camera(name);
            (c["state"] == state).then_some(c)
        })
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends `SIG` (`TERM`, `HUP`, `INT`) and waits for the process to exit.
    pub fn stop_with(&mut self, signal: &str) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "opticlink did not exit on SIG{signal}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Minimal HTTP/1.1 GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

/// Minimal HTTP/1.1 GET of a binary body on loopback: (status code, head, body).
pub fn http_get_raw(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http_get_with(port, path, "")
}

/// [`http_get_raw`] with more header lines (each ending in `\r\n`).
pub fn http_get_with(port: u16, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head, raw[split..].to_vec())
}

/// Minimal HTTP/1.1 POST of a JSON body on loopback: (status code, body).
pub fn http_post(port: u16, path: &str, json: &str) -> (u16, String) {
    http_json("POST", port, path, json)
}

/// `method` with a JSON body on loopback: (status code, body).
fn http_json(method: &str, port: u16, path: &str, json: &str) -> (u16, String) {
    http(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        ),
    )
}

/// Minimal HTTP/1.1 POST of a binary body on loopback: (status code, body).
pub fn http_post_bytes(port: u16, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    http_bytes(port, &req)
}

/// Minimal HTTP/1.1 PUT of a JSON body on loopback: (status code, body).
pub fn http_put(port: u16, path: &str, json: &str) -> (u16, String) {
    http_json("PUT", port, path, json)
}

/// Minimal HTTP/1.1 DELETE on loopback: (status code, body).
pub fn http_delete(port: u16, path: &str) -> (u16, String) {
    http(
        port,
        &format!("DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

/// Sends a raw request; returns (status code, body).
fn http(port: u16, request: &str) -> (u16, String) {
    http_bytes(port, request.as_bytes())
}

/// Sends `request` as it is (any method, any headers); (status code, body).
pub fn http_bytes(port: u16, request: &[u8]) -> (u16, String) {
    http_bytes_within(port, request, Duration::from_secs(10))
}

/// [`http_bytes`] whose answer may take up to `limit`.
pub fn http_bytes_within(port: u16, request: &[u8], limit: Duration) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let code = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (code, body)
}

/// A small, cheap simulated camera (320×180 at 25 fps) on `port` (0: any).
pub fn small(port: u16) -> opticlink::simcam::SimConfig {
    opticlink::simcam::SimConfig {
        width: 320,
        height: 180,
        fps: 25,
        port,
        ..Default::default()
    }
}

/// Starts a simulated camera server on `rt`.
pub fn sim(
    rt: &tokio::runtime::Runtime,
    cfg: opticlink::simcam::SimConfig,
) -> opticlink::simcam::SimServer {
    rt.block_on(opticlink::simcam::SimServer::start(cfg))
        .expect("simulated camera")
}

/// A multi-thread tokio runtime for in-process simulated cameras.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `ffprobe` a URL or file; returns its JSON.
pub fn ffprobe(args: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .output()
        .expect("ffprobe is installed (Debian package ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// Path of a file under `tests/`.
pub fn test_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// A 1600×900 primary window entity for a headless wall (no renderer behind it).
pub fn spawn_window(app: &mut bevy::prelude::App) -> bevy::prelude::Entity {
    use bevy::window::{PrimaryWindow, Window, WindowResolution};
    app.world_mut()
        .spawn((
            Window {
                resolution: WindowResolution::new(1600, 900),
                ..Default::default()
            },
            PrimaryWindow,
        ))
        .id()
}

/// What a camera on a headless wall needs to have a tile: named `name` at grid `index`, with
/// 1920×1080 textures.
pub fn tile_camera(name: &str, index: usize) -> impl bevy::prelude::Bundle {
    (
        opticlink::camera::IpCamera {
            name: name.to_string(),
            index,
            url: "rtsp://t/".into(),
        },
        opticlink::wall::video::VideoTextures {
            planes: Default::default(),
            material: Default::default(),
            size: (1920, 1080),
        },
        opticlink::wall::TileRect::default(),
    )
}

/// Gives camera `camera` a stream of `kind` whose worker the test plays through `link`,
/// connecting. Returns the stream's entity.
pub fn test_stream(
    world: &mut bevy::prelude::World,
    camera: bevy::prelude::Entity,
    kind: opticlink::camera::StreamKind,
    link: opticlink::camera::WorkerLink,
) -> bevy::prelude::Entity {
    use opticlink::camera::state::StreamMachine;
    world
        .spawn((
            opticlink::camera::CameraStream { kind },
            opticlink::camera::StreamOf(camera),
            opticlink::camera::StreamStatus {
                machine: StreamMachine::connecting(),
                ..Default::default()
            },
            link,
        ))
        .id()
}

/// A child process (a test peer, a bus, a daemon) ended by its PID on drop.
pub struct Owned(pub Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tests/peers/SCRIPT ARGS` with Debian's python3 (the one that can import `gi`);
/// the peer prints its bound port on its first line.
pub fn python_peer(script: &str, args: &[&str]) -> (Owned, u16) {
    let mut child = Command::new("/usr/bin/python3")
        .arg(test_file(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("/usr/bin/python3 (Debian python3-gi, gir1.2-gst-rtsp-server-1.0)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script} did not start: {line:?}"));
    (Owned(child), port)
}

/// Runs `opticlink ARGS` with `stdin` written to it and `envs` set; (success, stdout + stderr).
pub fn run_cli(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The display number an X server started with `-displayfd 1` reports on its stdout, once it
/// accepts clients. The rest of its stdout is drained for as long as it runs: a closed pipe
/// would kill it (or the `xkbcomp` it runs when the first client connects) on the next write,
/// and the first client would find no server.
pub fn display_number(child: &mut Child, what: &str) -> u32 {
    let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what} did not start: {line:?}"))
}

/// A loopback port free now (for a server whose port must be known before it starts, or kept
/// across its restart).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

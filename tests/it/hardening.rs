//! Issue 22, through the binary as an attacker would: a view lock that holds against PUT,
//! DELETE + POST and a new camera at its address; a folder another camera owns refused; no
//! cross-site or rebinding access (Origin, Host, Content-Type); unlock attempts that queue per
//! client; a locked camera that shows only its state; head and idle timeouts and a connection
//! cap; bodies refused before they are read; passwords of cameras added over the API redacted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, Proc, http_bytes, http_delete, http_get, http_post, http_put};

/// A request with `headers` (each ending in `\r\n`) and a body; (status, body).
fn request(port: u16, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    // As a browser sends it: with the port.
    let host = if headers.to_ascii_lowercase().contains("host:") {
        String::new()
    } else {
        format!("Host: 127.0.0.1:{port}\r\n")
    };
    let raw = format!(
        "{method} {path} HTTP/1.1\r\n{host}{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_bytes(port, raw.as_bytes())
}

/// `request` with an unlock key.
fn with_key(key: &str) -> String {
    format!("X-Unlock-Key: {key}\r\nContent-Type: application/json\r\n")
}

/// Unlocks camera `name` over the API; its key.
fn unlock(port: u16, name: &str, password: &str) -> String {
    let (code, body) = http_post(
        port,
        &format!("/api/cameras/{name}/unlock"),
        &format!(r#"{{"password":"{password}"}}"#),
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Two simulated cameras, "Sim 2" locked with the password "pw", headless in `dir`; once
/// "Sim 2" is live.
fn locked_app(dir: &std::path::Path) -> (Proc, serde_json::Value) {
    let (cfg, state) = crate::locks::locked_sim_config(dir, (160, 90));
    let app = Proc::start(
        &["--headless", "--config", &cfg],
        &[("OPTICLINK_STATE_DIR", state.as_str())],
    );
    let c = app.wait_state("Sim 2", "live", Duration::from_secs(30));
    (app, c)
}

#[test]
fn a_view_lock_holds_against_every_edit() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let (app, c) = locked_app(dir.path());
    let api = app.api_port();
    let url = app.camera("Sim 1")["url"].as_str().unwrap().to_owned();
    let sim2_url = c["url"].as_str().unwrap().to_owned();
    let body = format!(r#"{{"name":"Sim 2","url":"{sim2_url}"}}"#);
    let json = "Content-Type: application/json\r\n";
    // Without its key: PUT and DELETE are refused, like every other route.
    let (code, text) = request(api, "PUT", "/api/cameras/Sim%202", json, &body);
    assert_eq!(code, 401, "{text}");
    assert_eq!(http_delete(api, "/api/cameras/Sim%202").0, 401);
    assert_eq!(http_get(api, "/api/cameras/Sim%202/snapshot.jpg").0, 401);
    // The operator's own edit (with the key) keeps the lock.
    let key = unlock(api, "Sim%202", "pw");
    let (code, text) = request(api, "PUT", "/api/cameras/Sim%202", &with_key(&key), &body);
    assert_eq!(code, 200, "{text}");
    common::wait_for(Duration::from_secs(10), "the edit to apply", || {
        (app.camera("Sim 2")["locked"] == true).then_some(())
    });
    assert_eq!(http_get(api, "/api/cameras/Sim%202/snapshot.jpg").0, 401);
    // Removed and added again under its name: locked again.
    let (code, text) = request(api, "DELETE", "/api/cameras/Sim%202", &with_key(&key), "");
    assert_eq!(code, 200, "{text}");
    // A name that records into the removed camera's folder takes its lock (else its
    // footage would be served).
    let twin = body.replace("Sim 2", "SIM 2");
    let (code, text) = http_post(api, "/api/cameras", &twin);
    assert_eq!(code, 201, "{text}");
    assert_eq!(app.camera("SIM 2")["locked"], true);
    assert_eq!(http_get(api, "/api/cameras/SIM%202/recordings").0, 401);
    let (code, text) = request(api, "DELETE", "/api/cameras/SIM%202", &with_key(&key), "");
    assert_eq!(code, 200, "{text}");
    let (code, text) = http_post(api, "/api/cameras", &body);
    assert_eq!(code, 201, "{text}");
    assert_eq!(app.camera("Sim 2")["locked"], true);
    assert_eq!(http_get(api, "/api/cameras/Sim%202/snapshot.jpg").0, 401);
    // A new camera at the locked camera's address comes up locked too.
    let other = format!(r#"{{"name":"Back door","url":"{url}"}}"#);
    let (code, text) = http_post(api, "/api/cameras", &other);
    assert_eq!(code, 201, "{text}");
    assert_eq!(app.camera("Back door")["locked"], true);
    // A name whose recordings folder is another camera's is refused, as at start.
    for twin in ["SIM 1", "sim 1"] {
        let (code, text) = http_post(
            api,
            "/api/cameras",
            &format!(r#"{{"name":"{twin}","url":"{url}"}}"#),
        );
        assert_eq!(code, 409, "{twin}: {text}");
        assert!(text.contains("same folder"), "{text}");
    }
}

#[test]
fn another_site_cannot_change_or_read_anything() {
    let _g = common::heavy();
    let app = Proc::headless(
        "(simulated: Some((cameras: 1, width: 160, height: 90)),
          servers: (api_port: 0, allowed_hosts: [\"nvr.lan\"], allowed_origins: [\"https://wall.example.org\"]))",
    );
    app.wait_state("Sim 1", "live", Duration::from_secs(30));
    let api = app.api_port();
    let path = "/api/cameras/Sim%201/recording";
    // The page's own requests and a configured origin go through.
    let own = format!("Origin: http://127.0.0.1:{api}\r\nContent-Type: application/json\r\n");
    let on = r#"{"active":true}"#;
    assert_eq!(request(api, "POST", path, &own, on).0, 202);
    let configured = "Origin: https://wall.example.org\r\nContent-Type: application/json\r\n";
    assert_eq!(request(api, "POST", path, configured, on).0, 202);
    common::wait_for(Duration::from_secs(10), "recording on", || {
        (app.camera("Sim 1")["recording"]["active"] == true).then_some(())
    });
    let off = r#"{"active":false}"#;
    let evil = "Origin: http://evil.example\r\nContent-Type: text/plain\r\n";
    let (code, text) = request(api, "POST", path, evil, off);
    assert_eq!(code, 403, "{text}");
    let evil_json = "Origin: http://evil.example\r\nContent-Type: application/json\r\n";
    assert_eq!(request(api, "POST", path, evil_json, off).0, 403);
    let null = "Origin: null\r\nContent-Type: application/json\r\n";
    assert_eq!(request(api, "POST", path, null, off).0, 403);
    // Our own page's origin, but not JSON: refused as well.
    let plain = format!("Origin: http://127.0.0.1:{api}\r\nContent-Type: text/plain\r\n");
    assert_eq!(request(api, "POST", path, &plain, off).0, 415);
    // A WebSocket from another origin.
    let ws = "Origin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let (code, _, _) = common::http_get_with(api, "/api/cameras/Sim%201/talk", ws);
    assert_eq!(code, 403);
    // DNS rebinding: a name that is not ours reads nothing.
    let (code, text) = request(api, "GET", "/api/status", "Host: evil.example:8555\r\n", "");
    assert_eq!(code, 421, "{text}");
    assert!(!text.contains("Sim 1"), "{text}");
    // Our names and the configured ones do.
    for host in ["localhost", "127.0.0.1", "nvr.lan"] {
        let h = format!("Host: {host}:{api}\r\n");
        assert_eq!(request(api, "GET", "/api/status", &h, "").0, 200, "{host}");
    }
    // None of those reached the wall: once the status has moved on (the ECS has run since),
    // recording is still on.
    let f0 = app.camera("Sim 1")["frames"].as_u64().unwrap();
    common::wait_for(Duration::from_secs(10), "the status to move on", || {
        (app.camera("Sim 1")["frames"].as_u64()? > f0 + 5).then_some(())
    });
    assert_eq!(app.camera("Sim 1")["recording"]["active"], true);
    // The camera's own MJPEG server checks names too.
    let mjpeg = app.camera("Sim 1")["ports"]["mjpeg"].as_u64().unwrap() as u16;
    let (code, _) = request(mjpeg, "GET", "/video.mjpeg", "Host: evil.example\r\n", "");
    assert_eq!(code, 421);
}

/// A socket to the API from `source` (a loopback address of its own).
fn connect_from(source: [u8; 4], port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((source, 0)).into())
        .unwrap();
    socket
        .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    socket.into()
}

/// A wrong unlock attempt from `source`; when its answer came, after `t0`.
fn wrong_attempt(source: [u8; 4], port: u16, t0: Instant) -> (u16, Duration) {
    let mut s = connect_from(source, port);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = r#"{"password":"guess"}"#;
    write!(
        s,
        "POST /api/cameras/Sim%202/unlock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, t0.elapsed())
}

#[test]
fn unlock_attempts_queue_per_client_and_a_locked_camera_shows_only_its_state() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = locked_app(dir.path());
    let api = app.api_port();
    // Sent together from one address: they queue, 1 s then 2 s apart, instead of all being
    // checked after one wait. Another address is not held up by them.
    let t0 = Instant::now();
    let same: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || wrong_attempt([127, 0, 0, 1], api, t0)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let other = wrong_attempt([127, 0, 0, 2], api, t0);
    let mut times: Vec<Duration> = same
        .into_iter()
        .map(|h| {
            let (code, at) = h.join().unwrap();
            assert_eq!(code, 403);
            at
        })
        .collect();
    times.sort();
    assert_eq!(other.0, 403);
    assert!(times[2] >= Duration::from_millis(2900), "{times:?}");
    assert!(times[1] >= Duration::from_millis(900), "{times:?}");
    assert!(other.1 < times[2], "{other:?} waited for {times:?}");

    // Nothing of the locked camera's activity shows; the other's does.
    common::wait_for(Duration::from_secs(10), "Sim 1 to count frames", || {
        (app.camera("Sim 1")["frames"].as_u64()? > 0).then_some(())
    });
    let locked = app.camera("Sim 2");
    assert_eq!(locked["state"], "live");
    for field in ["fps", "bitrate_bps", "frames", "decoded", "width", "height"] {
        assert_eq!(locked[field].as_f64(), Some(0.0), "{field}: {locked}");
    }
    assert_eq!(locked["recording"]["bytes"], 0, "{locked}");
    assert!(locked["latency_ms"].is_null(), "{locked}");
    let (_, metrics) = http_get(api, "/metrics");
    assert!(metrics.contains("opticlink_camera_frames_total{camera=\"Sim 1\"}"));
    assert!(
        !metrics.contains("frames_total{camera=\"Sim 2\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("opticlink_camera_state{camera=\"Sim 2\",state=\"live\"} 1"));
    let (_, page) = http_get(api, "/");
    let status = page
        .split("\"name\":\"Sim 2\"")
        .nth(1)
        .and_then(|rest| rest.split("\"name\"").next())
        .unwrap_or_default();
    assert!(status.contains("\"frames\":0,"), "{status}");
}

/// Whether the server closes `s` within `limit` (EOF or reset).
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(t.elapsed()),
            Err(_) => return None,
        }
    }
}

#[test]
fn slow_idle_and_excess_connections_are_closed() {
    let _g = common::heavy();
    let app = Proc::headless(
        "(simulated: Some((cameras: 1, width: 160, height: 90)),
          servers: (api_port: 0, header_timeout_secs: 2, max_connections: 16))",
    );
    let api = app.api_port();
    // Half a request line, then nothing.
    let mut slow = TcpStream::connect(("127.0.0.1", api)).unwrap();
    slow.write_all(b"GET /api/sta").unwrap();
    let took = closed_within(&mut slow, Duration::from_secs(10)).expect("closed");
    assert!(
        took >= Duration::from_millis(1500),
        "closed early: {took:?}"
    );
    // A kept-alive connection that goes quiet after its answer.
    let mut idle = TcpStream::connect(("127.0.0.1", api)).unwrap();
    idle.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(10)).is_some());
    // The cap: 16 held, the 17th closed at once, while they still are.
    let mut held: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(("127.0.0.1", api)).unwrap())
        .collect();
    let mut excess = TcpStream::connect(("127.0.0.1", api)).unwrap();
    let took = closed_within(&mut excess, Duration::from_secs(10)).expect("refused");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(10)).is_some());
    }
    // Once they are gone, requests are answered again.
    assert_eq!(http_get(api, "/api/status").0, 200);
    assert!(
        app.log().contains("servers.max_connections"),
        "{}",
        app.log()
    );
}

/// Raises this process's soft limit on open files (the test holds thousands of sockets).
fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = want.min(lim.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn two_thousand_idle_connections_stop_no_camera_and_no_answer() {
    let _g = common::heavy();
    raise_fd_limit(8192);
    let rec = tempfile::tempdir().unwrap();
    let rt = common::runtime();
    let sim = common::sim(&rt, common::small(0));
    let app = Proc::headless(&crate::record::record_config(
        &sim.url(1),
        rec.path(),
        "Mp4",
        crate::record::NO_ROTATION,
    ));
    common::wait_for(Duration::from_secs(20), "a segment to open", || {
        app.camera("Rec")["recording"]["current"]
            .as_str()
            .map(str::to_owned)
    });
    let api = app.api_port();
    let frames = |app: &Proc| app.camera("Rec")["frames"].as_u64().unwrap_or(0);
    let held: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(("127.0.0.1", api)).expect("connect"))
        .collect();
    let before = frames(&app);
    let t = Instant::now();
    let (code, _) = http_get(api, "/api/status");
    let answer = t.elapsed();
    assert_eq!(code, 200);
    eprintln!("2000 idle connections: /api/status answered in {answer:?}");
    common::wait_for(Duration::from_secs(20), "frames to keep coming", || {
        (frames(&app) >= before + 50).then_some(())
    });
    drop(held);
    let c = app.camera("Rec");
    assert_eq!(c["reconnects"], 0, "{c}");
    assert_eq!(c["recording"]["segments"], 1, "one segment, no gap: {c}");
    let mut app = app;
    assert!(app.stop().success());
    let seg = crate::record::segments(rec.path()).pop().unwrap();
    let pts = crate::record::video_pts(&seg);
    let worst = pts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        pts.len() > 40 && worst < 0.2,
        "{} frames, worst gap {worst} s",
        pts.len()
    );
}

#[test]
fn bodies_are_refused_before_they_are_read() {
    let _g = common::heavy();
    // A camera that can talk: the body is what is refused.
    let app = Proc::headless(
        "(simulated: Some((cameras: 1, width: 160, height: 90, backchannel: true)), servers: (api_port: 0))",
    );
    app.wait_state("Sim 1", "live", Duration::from_secs(30));
    let api = app.api_port();
    // A body far over the limit is refused on its Content-Length alone.
    let mut s = TcpStream::connect(("127.0.0.1", api)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /api/cameras HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{",
    )
    .unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 413"));
    // A 1 KB WAV claiming 4 GHz (8-bit mono, every field consistent): 400, and no memory
    // spent on it.
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36u32 + 1000).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&4_000_000_000u32.to_le_bytes()); // samples per second
    wav.extend_from_slice(&4_000_000_000u32.to_le_bytes()); // bytes per second
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&1000u32.to_le_bytes());
    wav.extend(std::iter::repeat_n(0x80u8, 1000));
    let peak = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", app.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    // A zero-byte segment (a crash right after the file was made) is answered, empty.
    let day = app.dir.path().join("recordings/Sim 1/2026-01-01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("00-00-00.mp4"), b"").unwrap();
    let (code, head, body) = common::http_get_raw(
        api,
        "/api/cameras/Sim%201/recordings/2026-01-01/00-00-00.mp4",
    );
    assert_eq!(code, 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 0"),
        "{head}"
    );
    assert!(body.is_empty());
    let before = peak();
    let (code, text) = common::http_post_bytes(api, "/api/cameras/Sim%201/talk", "audio/wav", &wav);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("4000000000 Hz"), "{text}");
    let grown_mb = (peak() - before) / 1024;
    assert!(grown_mb < 50, "peak memory grew {grown_mb} MB");
}

#[test]
fn passwords_of_cameras_added_over_the_api_are_never_shown() {
    let _g = common::heavy();
    let app = Proc::headless("(servers: (api_port: 0))");
    let api = app.api_port();
    let body = r#"{"name":"Api cam","url":"rtsp://admin:UrlSecret66@127.0.0.1:1/cam?user=admin&pwd=QuerySecret77","password":"FieldSecret88","sub_url":"rtsp://127.0.0.1:1/sub?password=SubSecret99"}"#;
    let (code, text) = http_post(api, "/api/cameras", body);
    assert_eq!(code, 201, "{text}");
    common::wait_for(Duration::from_secs(30), "a failed connection", || {
        app.camera("Api cam")["last_error"]
            .as_str()
            .map(str::to_owned)
    });
    let edit = body.replace("FieldSecret88", "EditSecret55");
    let (code, text) = http_put(api, "/api/cameras/Api%20cam", &edit);
    assert_eq!(code, 200, "{text}");
    let (_, status) = http_get(api, "/api/status");
    let (_, page) = http_get(api, "/");
    assert!(status.contains("pwd=***"), "{status}");
    for secret in [
        "UrlSecret66",
        "QuerySecret77",
        "FieldSecret88",
        "SubSecret99",
        "EditSecret55",
    ] {
        for (what, text) in [("status", &status), ("page", &page), ("log", &app.log())] {
            assert!(!text.contains(secret), "{secret} in the {what}: {text}");
        }
    }
}

//! Per-camera MJPEG servers: a taken preferred port falls back and is reported; a client reads
//! valid JPEG pictures of the camera's size from the reported port; pictures are decoded and
//! encoded only while someone watches.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{self, Proc, sim, small};

/// Reads `n` JPEG parts from a multipart MJPEG stream; returns them.
fn read_jpegs(port: u16, n: usize) -> Vec<Vec<u8>> {
    read_jpegs_at(port, "/video.mjpeg", n)
}

fn read_jpegs_at(port: u16, path: &str, n: usize) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut jpegs = Vec::new();
    let mut chunk = [0u8; 65536];
    while jpegs.len() < n {
        let got = s.read(&mut chunk).expect("MJPEG data");
        assert!(got > 0, "stream ended after {} pictures", jpegs.len());
        buf.extend_from_slice(&chunk[..got]);
        let head = String::from_utf8_lossy(&buf[..buf.len().min(300)]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.contains("multipart/x-mixed-replace; boundary="),
            "{head}"
        );
        jpegs = split_jpegs(&buf);
    }
    jpegs
}

fn split_jpegs(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&buf[at..], b"\xff\xd8\xff").map(|i| i + at) {
        let Some(end) = find(&buf[start..], b"\xff\xd9").map(|i| i + start + 2) else {
            break;
        };
        out.push(buf[start..end].to_vec());
        at = end;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Width and height from a baseline JPEG's SOF0 segment.
fn jpeg_size(jpeg: &[u8]) -> (u16, u16) {
    let sof = find(jpeg, b"\xff\xc0").expect("SOF0");
    let h = u16::from_be_bytes([jpeg[sof + 5], jpeg[sof + 6]]);
    let w = u16::from_be_bytes([jpeg[sof + 7], jpeg[sof + 8]]);
    (w, h)
}

#[test]
fn taken_mjpeg_port_falls_back_and_serves_jpegs_on_demand() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(&rt, small(0));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let preferred = taken.local_addr().unwrap().port();
    // A recording box that decodes nothing until someone watches (no picture motion).
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Cam\", url: \"{}\", mjpeg_port: Some({preferred}), events: Off)],
          headless_decode: false, servers: (api_port: 0, mjpeg_fps: 25))",
        camera.url(1)
    ));
    let c = app.wait_state("Cam", "live", Duration::from_secs(20));
    let port = c["ports"]["mjpeg"].as_u64().expect("bound port reported") as u16;
    assert_ne!(port, preferred, "the taken port was not used");
    let log = app.log();
    assert!(
        log.contains(&format!(
            "MJPEG listening on http://127.0.0.1:{port}/video.mjpeg"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("MJPEG port {preferred} unavailable")),
        "{log}"
    );
    common::wait_for(Duration::from_secs(20), "frames to arrive", || {
        (app.camera("Cam")["frames"].as_u64()? >= 25).then_some(())
    });
    assert_eq!(
        app.camera("Cam")["decoded"],
        0,
        "nothing decodes while nobody watches"
    );
    let jpegs = read_jpegs(port, 5);
    for j in &jpegs {
        assert_eq!(jpeg_size(j), (320, 180));
    }
    assert!(jpegs.windows(2).any(|w| w[0] != w[1]), "the pictures move");
    common::wait_for(
        Duration::from_secs(10),
        "decoded pictures in the status",
        || (app.camera("Cam")["decoded"].as_u64()? >= 5).then_some(()),
    );
    let (code, _) = common::http_get(port, "/nope");
    assert_eq!(code, 404);
    drop(taken);
}

#[test]
fn a_taken_api_port_falls_back_and_says_where() {
    let _g = common::heavy();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let preferred = taken.local_addr().unwrap().port();
    let app = Proc::headless(&format!("(servers: (api_port: {preferred}))"));
    let port = app.api_port();
    assert_ne!(port, preferred);
    assert!(
        app.log()
            .contains(&format!("API port {preferred} unavailable")),
        "{}",
        app.log()
    );
    assert_eq!(app.status()["api_port"].as_u64(), Some(u64::from(port)));
    drop(taken);
}

#[test]
fn two_instances_with_one_config_both_serve_every_camera() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(
        &rt,
        opticlink::simcam::SimConfig {
            cameras: 2,
            ..small(0)
        },
    );
    let base = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ron = format!(
        "(cameras: [(name: \"A\", url: \"{}\"), (name: \"B\", url: \"{}\")],
          servers: (api_port: {base}, mjpeg_base_port: {}))",
        camera.url(1),
        camera.url(2),
        base + 1
    );
    let first = Proc::headless(&ron);
    let second = Proc::headless(&ron);
    let mut ports = Vec::new();
    for app in [&first, &second] {
        ports.push(app.api_port());
        for name in ["A", "B"] {
            let c = app.wait_state(name, "live", Duration::from_secs(20));
            let port = c["ports"]["mjpeg"].as_u64().unwrap() as u16;
            ports.push(port);
            assert_eq!(
                jpeg_size(&read_jpegs(port, 1)[0]),
                (320, 180),
                "{name} on {port}"
            );
            let audio = c["ports"]["audio"].as_u64().unwrap() as u16;
            ports.push(audio);
            let (code, body) = common::http_get(audio, "/audio.aac");
            assert!(
                code == 404 && body.contains("no audio"),
                "{name} on {audio}: {body}"
            );
        }
    }
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ports.len(),
        "every server has its own port: {ports:?}"
    );
}

/// Why this machine cannot run a test as `nobody` (not root, no such user), if it cannot.
fn cannot_become_nobody() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root to switch to the nobody user".into());
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !passwd.lines().any(|l| l.starts_with("nobody:")) {
        return Some("no nobody user on this machine".into());
    }
    None
}

#[test]
fn forbidden_ports_fall_back_for_an_unprivileged_user() {
    if let Some(why) = cannot_become_nobody() {
        eprintln!("skipped forbidden_ports_fall_back_for_an_unprivileged_user: {why}");
        return;
    }
    // Ports below this need privilege here (Linux default 1024; some boxes lower it).
    let unprivileged_from: u16 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
    if unprivileged_from < 2 {
        eprintln!(
            "skipped forbidden_ports_fall_back_for_an_unprivileged_user: every port is unprivileged here"
        );
        return;
    }
    let forbidden = 555.min(unprivileged_from - 1);
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(&rt, small(0));
    // `nobody` must be able to run the binary and read the config: copy both to a world-readable place.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("opticlink");
    std::fs::copy(common::BIN, &bin).unwrap();
    let cfg = dir.path().join("nobody.ron");
    std::fs::write(
        &cfg,
        format!("(cameras: [(name: \"Cam\", url: \"{}\", mjpeg_port: Some({forbidden}))], servers: (api_port: 0))", camera.url(1)),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.path(), bin.as_path(), cfg.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut child = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&bin)
        .args(["--headless", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv (util-linux)");
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let port: u16 = common::wait_for(Duration::from_secs(30), "the MJPEG log line", || {
        let l = log.lock().unwrap().clone();
        let at = l.find("MJPEG listening on http://127.0.0.1:")?;
        l[at + "MJPEG listening on http://127.0.0.1:".len()..]
            .split('/')
            .next()?
            .parse()
            .ok()
    });
    let jpeg = read_jpegs(port, 1);
    let text = log.lock().unwrap().clone();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        port >= unprivileged_from || port > forbidden + 16,
        "an unprivileged process cannot have port {port}"
    );
    assert!(
        text.contains(&format!(
            "MJPEG port {forbidden} unavailable (not permitted: a privileged port)"
        )),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(jpeg_size(&jpeg[0]), (320, 180));
}

#[test]
fn with_a_token_every_request_needs_it() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(&rt, small(0));
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Cam\", url: \"{}\")], servers: (api_port: 0, token: Some(\"tok-8842\")))",
        camera.url(1)
    ));
    let api = app.api_port();
    let (code, body) = common::http_get(api, "/api/status");
    assert_eq!(code, 401, "{body}");
    assert!(!body.contains("tok-8842"));
    let status = common::wait_for(Duration::from_secs(20), "Cam live", || {
        let (code, body) = common::http_get(api, "/api/status?token=tok-8842");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        (v["cameras"][0]["state"] == "live").then_some(v)
    });
    assert!(
        !status.to_string().contains("tok-8842"),
        "the token is never served"
    );
    let mjpeg = status["cameras"][0]["ports"]["mjpeg"].as_u64().unwrap() as u16;
    assert_eq!(common::http_get(mjpeg, "/video.mjpeg").0, 401);
    assert_eq!(common::http_get(api, "/api/cameras/Cam/video.mjpeg").0, 401);
    assert_eq!(common::http_get(api, "/").0, 401);
    let audio = status["cameras"][0]["ports"]["audio"].as_u64().unwrap() as u16;
    assert_eq!(common::http_get(audio, "/audio.aac").0, 401);
    // Past the token, the (video-only) camera's audio server answers for itself.
    assert_eq!(common::http_get(audio, "/audio.aac?token=tok-8842").0, 404);
    let add = r#"{"name": "X", "url": "rtsp://127.0.0.1/x"}"#;
    assert_eq!(common::http_post(api, "/api/cameras", add).0, 401);
    assert_eq!(
        jpeg_size(&read_jpegs_at(mjpeg, "/video.mjpeg?token=tok-8842", 1)[0]),
        (320, 180)
    );
    assert_eq!(
        jpeg_size(&read_jpegs_at(api, "/api/cameras/Cam/video.mjpeg?token=tok-8842", 1)[0]),
        (320, 180)
    );
    assert!(!app.log().contains("tok-8842"), "the token is never logged");
}

#[test]
fn cameras_added_and_removed_at_run_time_get_and_lose_their_servers() {
    let _g = common::heavy();
    let rt = common::runtime();
    let (a, b) = (sim(&rt, small(0)), sim(&rt, small(0)));
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"A\", url: \"{}\")], servers: (api_port: 0))",
        a.url(1)
    ));
    app.wait_state("A", "live", Duration::from_secs(20));
    let api = app.api_port();
    let add = format!(
        r#"{{"name": "B", "url": "{}", "username": "op", "password": "hunter2"}}"#,
        b.url(1)
    );
    let (code, body) = common::http_post(api, "/api/cameras", &add);
    assert_eq!(code, 201, "{body}");
    assert!(!body.contains("hunter2"), "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mjpeg = answer["ports"]["mjpeg"].as_u64().expect("MJPEG port") as u16;
    let audio = answer["ports"]["audio"].as_u64().expect("audio port") as u16;
    let c = app.wait_state("B", "live", Duration::from_secs(20));
    assert_eq!(c["ports"]["mjpeg"], mjpeg);
    assert_eq!(c["ports"]["audio"], audio);
    assert!(!app.status().to_string().contains("hunter2"));
    for j in read_jpegs(mjpeg, 2) {
        assert_eq!(jpeg_size(&j), (320, 180));
    }
    // Bad requests say what is wrong and change nothing.
    let (code, body) = common::http_post(api, "/api/cameras", &add);
    assert_eq!(code, 409, "{body}");
    let (code, body) = common::http_post(
        api,
        "/api/cameras",
        r#"{"name": "C", "url": "rtsp://127.0.0.1/x", "colour": 1}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("colour") && body.contains("line 1 column"),
        "{body}"
    );
    let (code, body) = common::http_post(
        api,
        "/api/cameras",
        r#"{"name": "C", "url": "http://admin:pw@127.0.0.1/x"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("not a valid RTSP URL") && !body.contains("pw@"),
        "{body}"
    );
    assert_eq!(app.status()["cameras"].as_array().unwrap().len(), 2);
    // Removing B closes its servers; A streams on.
    let frames = app.camera("A")["frames"].as_u64().unwrap();
    let (code, body) = common::http_delete(api, "/api/cameras/B");
    assert_eq!(code, 200, "{body}");
    common::wait_for(Duration::from_secs(10), "B to leave the status", || {
        let s = app.status();
        (s["cameras"].as_array()?.len() == 1).then_some(())
    });
    for port in [mjpeg, audio] {
        common::wait_for(Duration::from_secs(10), "B's servers to close", || {
            TcpStream::connect(("127.0.0.1", port))
                .is_err()
                .then_some(())
        });
    }
    let (code, _) = common::http_get(api, "/api/cameras/B/video.mjpeg");
    assert_eq!(code, 404);
    let (code, body) = common::http_delete(api, "/api/cameras/B");
    assert_eq!(code, 404, "{body}");
    common::wait_for(Duration::from_secs(10), "A to keep streaming", || {
        (app.camera("A")["frames"].as_u64()? > frames + 25).then_some(())
    });
    assert_eq!(app.camera("A")["state"], "live");
    // Added back, B comes up again under the same name.
    let (code, body) = common::http_post(api, "/api/cameras", &add);
    assert_eq!(code, 201, "{body}");
    app.wait_state("B", "live", Duration::from_secs(20));
    assert!(app.log().contains("removed"), "{}", app.log());
}

//! View locks and the credential store through the binary: `set-view-password` and
//! `set-credentials` write the secrets file (0600) beside the config; a locked camera's
//! streams answer 401 without a key on the API port and its own port; wrong passwords get 403
//! and a growing delay; the right one gives a key that opens the stream; the wall's screenshot
//! shows the lock, not the picture.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{self, Proc, http_post, sim, small};

/// Runs `opticlink ARGS` with `stdin` and the state dir; (success, stdout + stderr).
pub fn run(args: &[&str], stdin: &str, state: &Path) -> (bool, String) {
    common::run_cli(
        args,
        stdin,
        &[("OPTICLINK_STATE_DIR", state.to_str().unwrap())],
    )
}

/// A config with two simulated cameras of `size` (`"320, 180"`) in `dir`, "Sim 2" locked
/// with the view password "pw"; the config's path and the state directory to run with.
pub fn locked_sim_config(dir: &Path, size: (u32, u32)) -> (String, String) {
    let config = dir.join("wall.ron");
    std::fs::write(
        &config,
        format!(
            "(simulated: Some((cameras: 2, width: {}, height: {})), servers: (api_port: 0))",
            size.0, size.1
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let cfg = config.to_str().unwrap().to_string();
    let (ok, out) = run(
        &["set-view-password", "Sim 2", "--config", &cfg],
        "pw\n",
        &state,
    );
    assert!(ok, "{out}");
    (cfg, state.to_str().unwrap().to_string())
}

/// The status line and the first bytes of a streaming GET (the stream never ends).
fn stream_head(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 20_000 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&got);
        if text.starts_with("HTTP/1.1 4") && text.contains("\r\n\r\n{") && text.ends_with('}') {
            break;
        }
    }
    let code = String::from_utf8_lossy(&got)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, got)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_locked_camera_needs_its_key_and_wrong_passwords_wait() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("wall.ron");
    std::fs::write(
        &config,
        "(simulated: Some((cameras: 2, width: 320, height: 180)), servers: (api_port: 0))",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let (ok, out) = run(
        &["set-view-password", "Sim 1", "--config", cfg],
        "open sesame\n",
        &state,
    );
    assert!(ok, "{out}");
    let secrets = dir.path().join("wall.secrets.ron");
    assert_eq!(mode(&secrets), 0o600);
    let text = std::fs::read_to_string(&secrets).unwrap();
    assert!(
        text.contains("$argon2id$") && !text.contains("open sesame"),
        "{text}"
    );
    let (ok, out) = run(
        &["set-view-password", "Nobody", "--config", cfg],
        "x\n",
        &state,
    );
    assert!(!ok && out.contains("no camera \"Nobody\""), "{out}");

    let state_env = state.to_str().unwrap().to_string();
    let app = Proc::start(
        &["--headless", "--config", cfg],
        &[("OPTICLINK_STATE_DIR", state_env.as_str())],
    );
    let c = app.wait_state("Sim 1", "live", Duration::from_secs(30));
    assert_eq!(c["locked"], true, "{c}");
    assert_eq!(app.camera("Sim 2")["locked"], false);
    let api = app.api_port();
    let mjpeg_port = c["ports"]["mjpeg"].as_u64().unwrap() as u16;
    let (code, body) = stream_head(api, "/api/cameras/Sim%201/video.mjpeg");
    assert_eq!(code, 401, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("is locked"));
    assert_eq!(
        stream_head(mjpeg_port, "/video.mjpeg").0,
        401,
        "its own port too"
    );
    assert_eq!(stream_head(mjpeg_port, "/video.mjpeg?key=guess").0, 401);
    let (code, _) = http_post(api, "/api/cameras/Sim%201/ptz", r#"{"stop":true}"#);
    assert_eq!(code, 401, "control routes too");
    assert_eq!(
        stream_head(api, "/api/cameras/Sim%202/video.mjpeg").0,
        200,
        "not locked"
    );

    // Wrong passwords: 403, and each next attempt waits longer (1 s, then 2 s).
    let (code, body) = http_post(
        api,
        "/api/cameras/Sim%201/unlock",
        r#"{"password":"guess"}"#,
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("\"retry_after_secs\":1.0"), "{body}");
    let t = Instant::now();
    let (code, body) = http_post(
        api,
        "/api/cameras/Sim%201/unlock",
        r#"{"password":"guess2"}"#,
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the second attempt waited"
    );
    assert!(body.contains("\"retry_after_secs\":2.0"), "{body}");
    let t = Instant::now();
    let (code, body) = http_post(
        api,
        "/api/cameras/Sim%201/unlock",
        r#"{"password":"open sesame"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "the delay applies to the right one too"
    );
    let key = serde_json::from_str::<serde_json::Value>(&body).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, head) = stream_head(api, &format!("/api/cameras/Sim%201/video.mjpeg?key={key}"));
    assert_eq!(code, 200);
    assert!(head.windows(2).any(|w| w == [0xFF, 0xD8]), "a JPEG arrives");
    assert_eq!(
        stream_head(mjpeg_port, &format!("/video.mjpeg?key={key}")).0,
        200
    );
    let log = app.log();
    assert!(
        log.contains("wrong view password") && log.contains("Sim 1"),
        "{log}"
    );
    for secret in ["open sesame", "guess2", &key] {
        assert!(!log.contains(secret), "{secret:?} in the log");
    }
    // The unlock state file is private and holds no key.
    let unlocks = state.join("unlocks.json");
    assert_eq!(mode(&unlocks), 0o600);
    assert!(!std::fs::read_to_string(&unlocks).unwrap().contains(&key));
}

#[test]
fn stored_credentials_let_a_camera_go_live_without_a_password_in_the_config() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(
        &rt,
        opticlink::simcam::SimConfig {
            user: Some("viewer".into()),
            password: Some("p@ss:word".into()),
            ..small(0)
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("box.ron");
    std::fs::write(
        &config,
        format!(
            "(cameras: [(name: \"Door\", url: \"{}\")], servers: (api_port: 0))",
            camera.url(1)
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let state = dir.path().join("state");
    let (ok, out) = run(
        &[
            "set-credentials",
            "Door",
            "--username",
            "viewer",
            "--config",
            cfg,
        ],
        "p@ss:word\n",
        &state,
    );
    assert!(ok, "{out}");
    assert!(!out.contains("p@ss:word"), "{out}");
    let secrets = dir.path().join("box.secrets.ron");
    assert_eq!(mode(&secrets), 0o600);
    let state_env = state.to_str().unwrap().to_string();
    let app = Proc::start(
        &["--headless", "--config", cfg],
        &[("OPTICLINK_STATE_DIR", state_env.as_str())],
    );
    let c = app.wait_state("Door", "live", Duration::from_secs(30));
    assert!(!c.to_string().contains("p@ss"), "{c}");
    assert!(!app.log().contains("p@ss:word"));
}

#[test]
fn a_locked_cameras_events_stay_behind_its_lock() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("wall.ron");
    let rec = dir.path().join("rec");
    std::fs::write(
        &config,
        format!(
            "(simulated: Some((cameras: 2, width: 320, height: 180, onvif: true, motion_every: Some(6))),
              recording: (dir: \"{}\"), servers: (api_port: 0))",
            rec.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let (ok, out) = run(
        &["set-view-password", "Sim 2", "--config", cfg],
        "pw\n",
        &state,
    );
    assert!(ok, "{out}");
    let app = Proc::start(
        &["--headless", "--config", cfg],
        &[("OPTICLINK_STATE_DIR", state.to_str().unwrap())],
    );
    let port = app.api_port();
    // Both cameras have had events (the store beside the recordings has both)…
    common::wait_for(Duration::from_secs(30), "events of both cameras", || {
        let found = ["Sim 1", "Sim 2"].iter().all(|c| {
            std::fs::read_dir(rec.join(c))
                .into_iter()
                .flatten()
                .flatten()
                .any(|day| day.path().join("events.jsonl").exists())
        });
        found.then_some(())
    });
    // …but without its key only the open camera's are listed.
    let (code, body) = common::http_get(port, "/api/events?from=2020-01-01T00:00:00Z");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"camera\":\"Sim 1\""), "{body}");
    assert!(
        !body.contains("Sim 2"),
        "a locked camera's events without its key: {body}"
    );
}

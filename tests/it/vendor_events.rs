//! The Hikvision and Dahua event adapters against fakes that replay the captured streams in
//! `tests/data/events/` (Digest challenge first, then the multipart stream in small pieces,
//! then silence): each stream's motion, line crossing and intrusion reach `/api/events` with
//! their source, and heartbeats start nothing. The simulated camera's own alertStream (Digest)
//! raises motion and lets it end.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{self, Proc, http_get, wait_for};

/// A camera's HTTP server that asks for Digest auth, then streams `file` as `content_type`.
/// It serves until the returned flag is set.
fn fake(file: &str, content_type: &'static str, path: &'static str) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = std::fs::read(common::test_file(&format!("data/events/{file}"))).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line);
            }
            assert!(head[0].starts_with(&format!("GET {path} ")), "{head:?}");
            let auth = head
                .iter()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"));
            let Some(auth) =
                auth.filter(|a| a.contains("Digest") && a.contains("username=\"admin\""))
            else {
                let _ = conn.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"cam\", \
                      qop=\"auth\", nonce=\"4e6f6e6365\"\r\nContent-Length: 0\r\n\r\n",
                );
                continue;
            };
            assert!(auth.contains("response=\""), "{auth}");
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            for piece in data.chunks(97) {
                let _ = conn.write_all(piece);
                std::thread::sleep(Duration::from_millis(5));
            }
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
    });
    (port, done)
}

fn kinds(port: u16, camera: &str) -> Vec<(String, String)> {
    let (code, body) = http_get(port, &format!("/api/events?camera={camera}"));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn hikvision_and_dahua_push_streams_become_events() {
    let _g = common::heavy();
    let (hik, hik_done) = fake(
        "hikvision_alertstream.bin",
        "multipart/mixed; boundary=boundary",
        "/ISAPI/Event/notification/alertStream",
    );
    let (dahua, dahua_done) = fake(
        "dahua_eventmanager.bin",
        "multipart/x-mixed-replace; boundary=myboundary",
        "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=5",
    );
    let camera = |name: &str, events: &str, port: u16| {
        format!(
            "(name: \"{name}\", url: \"rtsp://127.0.0.1:9/none\", username: Some(\"admin\"), \
             password: Some(\"secret\"), events: {events}, isapi_url: Some(\"http://127.0.0.1:{port}\"), \
             motion: (hold_secs: 30.0))"
        )
    };
    let app = Proc::headless(&format!(
        "(cameras: [{}, {}], servers: (api_port: 0))",
        camera("Hik", "Isapi", hik),
        camera("Dahua", "Dahua", dahua)
    ));
    let port = app.api_port();
    let want = |source: &str| {
        let mut v: Vec<(String, String)> = ["intrusion", "line", "motion"]
            .iter()
            .map(|k| (k.to_string(), source.to_string()))
            .collect();
        v.sort();
        v
    };
    for (name, source) in [("Hik", "isapi"), ("Dahua", "dahua")] {
        let got = wait_for(Duration::from_secs(20), "three events", || {
            let mut k = kinds(port, name);
            k.sort();
            (k.len() >= 3).then_some(k)
        });
        assert_eq!(got, want(source), "{name}: {}", app.log());
    }
    assert!(app.camera("Hik")["motion"].as_bool().unwrap());
    hik_done.store(true, Ordering::Relaxed);
    dahua_done.store(true, Ordering::Relaxed);
}

/// The simulated camera's own alertStream (behind Digest): motion it shows reaches the app as
/// an ISAPI event that ends after its hold-off once the box stops; heartbeats start nothing.
#[test]
fn the_simulated_cameras_alert_stream_raises_and_ends_motion() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        opticlink::simcam::SimConfig {
            isapi: true,
            user: Some("admin".into()),
            password: Some("secret".into()),
            ..common::small(0)
        },
    );
    sim.set_motion(1, false);
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Hik\", url: \"{}\", username: Some(\"admin\"), password: Some(\"secret\"), \
          events: Isapi, isapi_url: Some(\"{}\"), motion: (hold_secs: 2.0, min_secs: 0.0))], \
          headless_decode: false, servers: (api_port: 0))",
        sim.url(1),
        sim.isapi_url(1).unwrap()
    ));
    let motion = || app.camera("Hik")["motion"].as_bool().unwrap();
    wait_for(Duration::from_secs(20), "the stream to open", || {
        app.log().contains("following the camera's").then_some(())
    });
    assert!(!motion(), "a heartbeat started an event");
    sim.set_motion(1, true);
    wait_for(Duration::from_secs(5), "motion", || motion().then_some(()));
    assert_eq!(
        kinds(app.api_port(), "Hik"),
        [("motion".into(), "isapi".into())]
    );
    sim.set_motion(1, false);
    wait_for(
        Duration::from_secs(10),
        "the end after the hold-off",
        || (!motion()).then_some(()),
    );
}

//! The headless app end to end against simulated cameras: startup grace, loss and recovery
//! with isolation, authentication without leaking secrets, and the metrics endpoint.

use std::time::{Duration, Instant};

use opticlink::simcam::{SimConfig, SimFaults, SimServer, SimStats};

use crate::common::{self, Proc, http_get, sim, small};

#[test]
fn slow_first_frame_stays_connecting_within_grace() {
    let _g = common::heavy();
    let rt = common::runtime();
    let slow = SimConfig {
        faults: SimFaults {
            first_frame_delay: Duration::from_secs(6),
            ..Default::default()
        },
        ..small(0)
    };
    let server = sim(&rt, slow);
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Slow\", url: \"{}\")], grace_secs: 10, servers: (api_port: 0))",
        server.url(1)
    ));
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let live = common::wait_for(Duration::from_secs(20), "Slow to be live", || {
        let c = app.camera("Slow");
        let state = c["state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        (state == "live").then_some(c)
    });
    assert!(
        t0.elapsed() >= Duration::from_secs(5),
        "the first frame really was late"
    );
    assert_eq!(
        seen,
        ["connecting", "live"],
        "never stalled or reconnecting"
    );
    assert_eq!(live["reconnects"], 0);
    assert_eq!(
        SimStats::get(&server.stats().sessions),
        1,
        "no second session was opened"
    );
    assert_eq!(SimStats::get(&server.stats().connections), 1);
}

#[test]
fn lost_camera_recovers_while_others_keep_streaming() {
    let _g = common::heavy();
    let rt = common::runtime();
    let servers: Vec<SimServer> = (0..3).map(|_| sim(&rt, small(0))).collect();
    let names = ["A", "B", "C"];
    let cams: Vec<String> = names
        .iter()
        .zip(&servers)
        .map(|(n, s)| format!("(name: \"{n}\", url: \"{}\")", s.url(1)))
        .collect();
    let app = Proc::headless(&format!(
        "(cameras: [{}], servers: (api_port: 0))",
        cams.join(", ")
    ));
    for n in names {
        app.wait_state(n, "live", Duration::from_secs(20));
    }
    let frames = |s: &serde_json::Value, n: &str| {
        s["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()["frames"]
            .as_u64()
            .unwrap()
    };
    // Pull A's plug.
    let port = servers[0].addr().port();
    let mut servers = servers.into_iter();
    let a = servers.next().unwrap();
    let others: Vec<SimServer> = servers.collect();
    a.stop();
    drop(a);
    common::wait_for(Duration::from_secs(15), "A to leave live", || {
        (app.camera("A")["state"] != "live").then_some(())
    });
    // While A is down, B and C go on: each receives another 50 frames before A comes back.
    let during: Vec<u64> = ["B", "C"]
        .iter()
        .map(|n| frames(&app.status(), n))
        .collect();
    common::wait_for(Duration::from_secs(20), "B and C to stream on", || {
        let s = app.status();
        let grown = ["B", "C"]
            .iter()
            .zip(&during)
            .all(|(n, before)| frames(&s, n) >= before + 50);
        (grown && s["cameras"][0]["state"] != "live").then_some(())
    });
    // Back on the same port.
    let back = sim(&rt, small(port));
    let a = common::wait_for(Duration::from_secs(30), "A to come back", || {
        let c = app.camera("A");
        (c["state"] == "live").then_some(c)
    });
    assert_eq!(a["reconnects"], 1, "{a}");
    assert!(a["last_error"].is_string(), "the drop is explained: {a}");
    for n in ["B", "C"] {
        let c = app.camera(n);
        assert_eq!(c["reconnects"], 0, "{c}");
        assert_eq!(c["state"], "live", "{c}");
    }
    drop(back);
    drop(others);
}

#[test]
fn auth_failures_and_successes_never_leak_passwords() {
    let _g = common::heavy();
    let rt = common::runtime();
    let cfg = SimConfig {
        user: Some("viewer".into()),
        password: Some("Right-Pass-4821".into()),
        ..small(0)
    };
    let server = sim(&rt, cfg);
    let url = server.url(1);
    let with_creds = url.replace("rtsp://", "rtsp://viewer:Right-Pass-4821@");
    let ron = format!(
        "(cameras: [
            (name: \"Wrong\", url: \"{url}\", username: Some(\"viewer\"), password: Some(\"Wrong-Pass-7319\")),
            (name: \"Right\", url: \"{url}\", username: Some(\"viewer\"), password: Some(\"Right-Pass-4821\")),
            (name: \"InUrl\", url: \"{with_creds}\"),
        ], servers: (api_port: 0))"
    );
    // Everything logged, at every level, from every crate (retina and hyper included).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.ron");
    std::fs::write(&path, &ron).unwrap();
    let path = path.to_str().unwrap().to_string();
    let mut app = Proc::start(&["--headless", "--config", &path], &[("RUST_LOG", "trace")]);
    let wrong = app.wait_state("Wrong", "auth_failed", Duration::from_secs(30));
    app.wait_state("Right", "live", Duration::from_secs(20));
    let in_url = app.wait_state("InUrl", "live", Duration::from_secs(20));
    assert!(
        wrong["last_error"].as_str().unwrap().contains("401"),
        "{wrong}"
    );
    assert_eq!(
        in_url["url"].as_str().unwrap(),
        url.replace("rtsp://", "rtsp://viewer:***@"),
        "shown as user:***"
    );
    let status = http_get(app.api_port(), "/api/status").1;
    let metrics = http_get(app.api_port(), "/metrics").1;
    let page = http_get(app.api_port(), "/").1;
    assert!(
        metrics.contains("opticlink_camera_state{camera=\"Wrong\",state=\"auth_failed\"} 1"),
        "{metrics}"
    );
    assert!(app.stop().success());
    let log = app.log();
    for secret in ["Right-Pass-4821", "Wrong-Pass-7319"] {
        for (what, text) in [
            ("log", &log),
            ("/api/status", &status),
            ("/metrics", &metrics),
            ("/", &page),
        ] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {what}:\n{text}"
            );
        }
    }
    assert!(log.contains("auth_failed"), "the failure is logged:\n{log}");
}

#[test]
fn metrics_and_unknown_routes() {
    let _g = common::heavy();
    let rt = common::runtime();
    let server = sim(&rt, small(0));
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"M\", url: \"{}\")], servers: (api_port: 0))",
        server.url(1)
    ));
    app.wait_state("M", "live", Duration::from_secs(20));
    let m = common::wait_for(Duration::from_secs(10), "fps in metrics", || {
        let (code, body) = http_get(app.api_port(), "/metrics");
        assert_eq!(code, 200);
        let fps: f64 = body
            .lines()
            .find(|l| l.starts_with("opticlink_camera_fps{camera=\"M\"}"))?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()?;
        (fps > 10.0).then_some(body)
    });
    assert!(
        m.contains("# TYPE opticlink_camera_frames_total counter"),
        "{m}"
    );
    let (code, body) = http_get(app.api_port(), "/nope");
    assert_eq!(code, 404, "{body}");
    let status = app.status();
    assert_eq!(status["api_port"].as_u64(), Some(u64::from(app.api_port())));
    let c = &status["cameras"][0];
    assert_eq!(
        (c["width"].as_u64(), c["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert!(
        c["decoded"].as_u64().unwrap() > 0
            && c["frames"].as_u64().unwrap() >= c["decoded"].as_u64().unwrap()
    );
}

#[test]
fn hanging_and_garbage_cameras_do_not_slow_a_good_one() {
    let _g = common::heavy();
    let rt = common::runtime();
    let good = sim(&rt, small(0));
    let garbage = sim(
        &rt,
        SimConfig {
            faults: SimFaults {
                garbage: true,
                ..Default::default()
            },
            ..small(0)
        },
    );
    // A "camera" that accepts connections and never answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        hang.incoming()
            .take(4)
            .filter_map(Result::ok)
            .collect::<Vec<_>>()
    });
    let app = Proc::headless(&format!(
        "(cameras: [
            (name: \"Good\", url: \"{}\"),
            (name: \"Garbage\", url: \"{}\"),
            (name: \"Hang\", url: \"rtsp://127.0.0.1:{hang_port}/stream\"),
        ], grace_secs: 3, servers: (api_port: 0))",
        good.url(1),
        garbage.url(1)
    ));
    app.wait_state("Good", "live", Duration::from_secs(20));
    let hang_cam = app.wait_state("Hang", "reconnecting", Duration::from_secs(20));
    assert!(
        hang_cam["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within 3s"),
        "{hang_cam}"
    );
    common::wait_for(Duration::from_secs(20), "garbage to arrive", || {
        (app.camera("Garbage")["frames"].as_u64()? > 20).then_some(())
    });
    // The good camera receives and decodes every frame its camera sends: wait until the
    // counts reach what had been sent (one session: the camera's count is the session's).
    let sent = SimStats::get(&good.stats().frames_sent);
    assert!(sent >= 25, "the good camera sent {sent} frames");
    common::wait_for(
        Duration::from_secs(20),
        "every sent frame received and decoded",
        || {
            let c = app.camera("Good");
            (c["frames"].as_u64()? >= sent && c["decoded"].as_u64()? >= sent).then_some(())
        },
    );
    let got = app.camera("Good");
    assert_eq!(got["state"], "live");
    assert_eq!(got["reconnects"], 0);
    assert_eq!(SimStats::get(&good.stats().sessions), 1);
    drop(app);
    drop(held);
}

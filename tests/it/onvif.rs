//! ONVIF against the simulated camera over real HTTP and RTSP: a move shifts the decoded
//! picture (measured on decoded frames), Stop stops it, a preset brings the stored view back,
//! brightness moves the mean luma, a device clock an hour off still authenticates and a wrong
//! password is a clear error; a hung endpoint times out without delaying another camera;
//! wall input reaches only the selected camera; `probe` writes an entry that checks and goes
//! live, and the API steers it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::KeyCode;
use opticlink::config::Transport;
use opticlink::media::{SharedFrame, unix_ms};
use opticlink::onvif::{Command, Endpoint, ErrorKind, Velocity, agent};
use opticlink::simcam::{SimConfig, SimFaults, SimServer};
use opticlink::stream::{CameraHandle, WorkerConfig, spawn_camera};
use retina::client::SessionGroup;

use crate::common::{self, Proc, http_get, http_post, wait_for};
use crate::steer::Wall;
use crate::worker::CountingSink;

const W: usize = 320;
const H: usize = 180;

fn sim(rt: &tokio::runtime::Runtime, cameras: u32, auth: bool, faults: SimFaults) -> SimServer {
    let (user, password) = if auth {
        (Some("admin".to_string()), Some("secret".to_string()))
    } else {
        (None, None)
    };
    common::sim(
        rt,
        SimConfig {
            cameras,
            user,
            password,
            onvif_port: Some(0),
            faults,
            ..common::small(0)
        },
    )
}

/// A worker decoding camera `n`'s pictures.
fn watch(rt: &tokio::runtime::Runtime, sim: &SimServer, n: u32, auth: bool) -> CameraHandle {
    let cfg = WorkerConfig {
        name: format!("watch {n}"),
        url: url::Url::parse(&sim.url(n)).unwrap(),
        creds: auth.then(|| ("admin".to_string(), "secret".to_string())),
        transport: Transport::Tcp,
        grace: Duration::from_secs(10),
        stall: Duration::from_secs(5),
        speaker: None,
        bell: None,
    };
    let sink = Arc::new(CountingSink::default());
    spawn_camera(rt.handle(), cfg, Arc::new(SessionGroup::default()), sink).unwrap()
}

/// The first decoded picture captured at or after `at_ms` (the camera burns its capture
/// clock into every picture).
fn picture_after(h: &CameraHandle, at_ms: i64) -> SharedFrame {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "no picture captured after {at_ms}"
        );
        let Ok(f) = h.frames.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if f.capture_ms
            .is_some_and(|c| (c.wrapping_sub(at_ms as u32) as i32) >= 0)
        {
            return f;
        }
    }
}

/// Luma rows below the text and the clock band (they do not move with the view).
fn rows(f: &SharedFrame) -> Vec<&[u8]> {
    let y = &f.planes[0];
    (H / 3..H)
        .map(|r| &y.data[r * y.stride as usize..r * y.stride as usize + W])
        .collect()
}

/// How many pixels the scene moved left from `a` to `b` (the view moved right): the offset
/// with the least mean difference between the overlapping parts.
fn shift(a: &SharedFrame, b: &SharedFrame) -> i32 {
    let (ra, rb) = (rows(a), rows(b));
    let mut best = (f64::MAX, 0);
    for d in -(W as i32 / 2)..=(W as i32 / 2) {
        let mut sum = 0u64;
        let mut n = 0u64;
        for (la, lb) in ra.iter().zip(&rb) {
            for x in 0..W as i32 {
                let xa = x + d;
                if (0..W as i32).contains(&xa) {
                    sum += u64::from(la[xa as usize].abs_diff(lb[x as usize]));
                    n += 1;
                }
            }
        }
        let mean = sum as f64 / n as f64;
        if mean < best.0 {
            best = (mean, d);
        }
    }
    best.1
}

fn mean_luma(f: &SharedFrame) -> f64 {
    let r = rows(f);
    r.iter()
        .flat_map(|l| l.iter())
        .map(|&v| f64::from(v))
        .sum::<f64>()
        / (r.len() * W) as f64
}

#[test]
fn ptz_moves_the_picture_presets_return_and_brightness_shifts_luma() {
    let _g = common::heavy();
    let rt = common::runtime();
    // The camera's clock runs an hour ahead of ours, as a camera without NTP does.
    let faults = SimFaults {
        clock_offset_secs: 3600,
        ..Default::default()
    };
    let sim = sim(&rt, 1, true, faults);
    let h = watch(&rt, &sim, 1, true);
    let url = sim.onvif_url(1).unwrap();
    let creds = Some(("admin".to_string(), "secret".to_string()));
    let ep = Endpoint::new("Gate", &url, creds, Duration::from_secs(5)).unwrap();
    let dev = rt.block_on(ep.connect()).expect("connects");
    let offset = dev.offset.num_seconds();
    assert!((offset - 3600).abs() <= 5, "clock offset {offset}");
    // Without the offset our digest's time is an hour off: the camera refuses it.
    let mut naive = dev.clone();
    naive.offset = chrono::TimeDelta::zero();
    let e = rt.block_on(naive.profiles()).unwrap_err();
    assert!(e.kind.is_refusal(), "{e}");
    let profiles = rt.block_on(dev.profiles()).unwrap();
    assert_eq!(profiles[0].token, "main");
    assert_eq!(profiles[0].video_source.as_deref(), Some("source1"));
    assert!(profiles[0].ptz);
    assert_eq!(
        rt.block_on(dev.stream_uri("main")).unwrap(),
        sim.url(1),
        "the stream URI is the camera's RTSP URL"
    );
    let head = sim.head(1).unwrap();

    // Pan right, measured on decoded pictures.
    let before = picture_after(&h, unix_ms());
    let right = Velocity {
        pan: 1.0,
        ..Velocity::default()
    };
    rt.block_on(dev.continuous_move("main", right, 10)).unwrap();
    wait_for(Duration::from_secs(10), "the head to move", || {
        (head.sample(Instant::now()).0.x >= 0.6).then_some(())
    });
    rt.block_on(dev.stop("main")).unwrap();
    let x = head.sample(Instant::now()).0.x;
    let after = picture_after(&h, unix_ms() + 100);
    let moved = shift(&before, &after);
    let expected = ((x - 0.5) / 0.5 * W as f64).round() as i32;
    assert!(
        moved >= 30 && (moved - expected).abs() <= 4,
        "moved {moved} px, the head says {expected}"
    );
    // Stopped: half a second later the view is the same.
    let later = picture_after(&h, unix_ms() + 500);
    assert!(shift(&after, &later).abs() <= 1, "still moving after Stop");
    assert!(!head.moving(Instant::now()));

    // A stored preset brings the view back.
    let token = rt.block_on(dev.set_preset("main", "1", None)).unwrap();
    let presets = rt.block_on(dev.presets("main")).unwrap();
    assert_eq!(presets.len(), 1);
    assert_eq!(
        (presets[0].token.as_str(), presets[0].name.as_str()),
        (token.as_str(), "1")
    );
    let left = Velocity {
        pan: -1.0,
        ..Velocity::default()
    };
    rt.block_on(dev.continuous_move("main", left, 10)).unwrap();
    wait_for(Duration::from_secs(10), "the head to move back", || {
        (head.sample(Instant::now()).0.x <= x - 0.05).then_some(())
    });
    rt.block_on(dev.stop("main")).unwrap();
    let away = picture_after(&h, unix_ms() + 100);
    assert!(shift(&later, &away).abs() >= 10, "moved away");
    rt.block_on(dev.goto_preset("main", &token)).unwrap();
    let back = picture_after(&h, unix_ms() + 100);
    assert!(shift(&later, &back).abs() <= 1, "the preset's view is back");
    assert!(
        (mean_luma(&later) - mean_luma(&back)).abs() < 3.0,
        "same picture"
    );

    // Brightness: within the camera's range, on the video source token.
    assert_eq!(
        rt.block_on(dev.brightness_range("source1")).unwrap(),
        Some((0.0, 100.0))
    );
    rt.block_on(dev.set_brightness("source1", 20.0)).unwrap();
    let dark = mean_luma(&picture_after(&h, unix_ms() + 100));
    rt.block_on(dev.set_brightness("source1", 80.0)).unwrap();
    let bright = mean_luma(&picture_after(&h, unix_ms() + 100));
    assert!(bright > dark + 50.0, "mean luma {dark:.1} → {bright:.1}");
    assert_eq!(rt.block_on(dev.brightness("source1")).unwrap(), Some(80.0));
    let e = rt.block_on(dev.set_brightness("main", 50.0)).unwrap_err();
    assert!(
        matches!(&e.kind, ErrorKind::Fault(f) if f.reason.contains("video source")),
        "imaging with the profile token: {e}"
    );

    // A wrong password is a clear error naming the camera and the operation.
    let wrong = Some(("admin".to_string(), "not-it".to_string()));
    let bad = Endpoint::new("Gate", &url, wrong, Duration::from_secs(5)).unwrap();
    let e = rt.block_on(bad.connect()).unwrap_err().to_string();
    assert!(
        e.contains("\"Gate\"")
            && e.contains("GetCapabilities")
            && e.contains("refused the credentials"),
        "{e}"
    );
    assert!(
        !e.contains("not-it") && !e.contains("secret"),
        "no password in {e}"
    );
}

#[test]
fn a_hung_endpoint_times_out_and_delays_no_other_camera() {
    let _g = common::heavy();
    let rt = common::runtime();
    let hung = sim(
        &rt,
        1,
        false,
        SimFaults {
            onvif_hang: true,
            ..Default::default()
        },
    );
    let fine = sim(&rt, 1, false, SimFaults::default());
    let (ha, hb) = (watch(&rt, &hung, 1, false), watch(&rt, &fine, 1, false));
    let timeout = Duration::from_millis(1500);
    let endpoint = |name: &str, s: &SimServer| {
        Endpoint::new(name, &s.onvif_url(1).unwrap(), None, timeout).unwrap()
    };
    let (a, _ta) = agent::spawn(rt.handle(), endpoint("Hung", &hung));
    let (b, _tb) = agent::spawn(rt.handle(), endpoint("Fine", &fine));
    picture_after(&ha, unix_ms());
    picture_after(&hb, unix_ms());
    let frames = |h: &CameraHandle| h.figures.frames();
    let (fa, fb) = (frames(&ha), frames(&hb));
    let asked = Instant::now();
    let pending = {
        let a = a.clone();
        rt.spawn(async move {
            a.request(Command::Move(Velocity {
                pan: 0.5,
                ..Velocity::default()
            }))
            .await
        })
    };
    let home = rt.block_on(b.request(Command::Home));
    assert_eq!(
        home,
        Ok(opticlink::onvif::Reply::Done),
        "the other camera answers"
    );
    assert!(
        !pending.is_finished(),
        "while the hung one is still waiting"
    );
    let e = rt.block_on(pending).unwrap().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Timeout(_)), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("\"Hung\"") && text.contains("no answer within 1.5 s"),
        "{text}"
    );
    assert!(asked.elapsed() >= timeout);
    assert!(
        a.status()
            .last_error
            .is_some_and(|e| e.contains("no answer"))
    );
    assert!(b.status().ptz && b.status().last_error.is_none());
    // Both cameras' video went on meanwhile.
    wait_for(Duration::from_secs(5), "video on both cameras", || {
        (frames(&ha) > fa + 10 && frames(&hb) > fb + 10).then_some(())
    });
}

/// Steps the wall until `f` holds (the agents work in real time).
fn step_until(wall: &mut Wall, what: &str, mut f: impl FnMut(&mut Wall) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f(wall) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        wall.frames(1);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn wall_input_reaches_only_the_selected_camera() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, 2, true, SimFaults::default());
    let creds = Some(("admin".to_string(), "secret".to_string()));
    let handles: Vec<_> = (1..=2)
        .map(|n| {
            let ep = Endpoint::new(
                &format!("Cam {n}"),
                &sim.onvif_url(n).unwrap(),
                creds.clone(),
                Duration::from_secs(5),
            )
            .unwrap();
            agent::spawn(rt.handle(), ep).0
        })
        .collect();
    let mut wall = Wall::new(handles.clone());
    step_until(&mut wall, "both cameras' capabilities", |w| {
        w.statuses().iter().all(|s| s.ptz && s.imaging)
    });
    let (a, b) = (sim.head(1).unwrap().clone(), sim.head(2).unwrap().clone());
    let count =
        |h: &opticlink::simcam::ptz::Head| h.commands.load(std::sync::atomic::Ordering::Relaxed);
    // Camera A is selected: pan it, store a preset, brighten it.
    wall.hold(KeyCode::ArrowRight);
    step_until(&mut wall, "A to move", |_| a.moving(Instant::now()));
    wall.release(KeyCode::ArrowRight);
    step_until(&mut wall, "A to stop", |_| !a.moving(Instant::now()));
    wall.hold(KeyCode::ControlLeft);
    wall.tap(KeyCode::Digit1);
    wall.release(KeyCode::ControlLeft);
    wall.frames(25);
    wall.tap(KeyCode::BracketRight);
    step_until(&mut wall, "A's brightness", |_| a.brightness() == 60.0);
    step_until(&mut wall, "A's commands", |_| count(&a) == 4);
    assert_eq!(count(&b), 0, "nothing reached B while A was selected");
    assert_eq!(b.brightness(), 50.0);
    // Select B and steer it: A hears nothing more.
    wall.tap(KeyCode::Tab);
    assert_eq!(wall.selected(), 1);
    wall.hold(KeyCode::KeyA);
    step_until(&mut wall, "B to move", |_| b.moving(Instant::now()));
    wall.release(KeyCode::KeyA);
    step_until(&mut wall, "B to stop", |_| !b.moving(Instant::now()));
    wall.tap(KeyCode::Tab);
    assert_eq!(wall.selected(), 0);
    wall.frames(30);
    assert_eq!(count(&a), 4, "A heard nothing while B was selected");
    assert_eq!(count(&b), 2, "B: one move and its stop");
    assert!(a.sample(Instant::now()).0.x > 0.5 && b.sample(Instant::now()).0.x < 0.5);
    for h in &handles {
        h.shutdown();
    }
}

#[test]
fn probe_writes_an_entry_that_checks_goes_live_and_the_api_steers() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, 1, true, SimFaults::default());
    let url = sim.onvif_url(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut probe = std::process::Command::new(common::BIN)
        .args([
            "probe",
            &url,
            "--username",
            "admin",
            "--with-password",
            "--name",
            "Gate",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    probe.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = probe.wait_with_output().unwrap();
    let entry = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        entry.contains(&format!("url: \"{}\"", sim.url(1))),
        "{entry}"
    );
    assert!(
        entry.contains(&format!("onvif: Some((url: \"{url}\"))")),
        "{entry}"
    );
    assert!(entry.contains("PTZ"), "{entry}");
    // The user adds their own settings to the entry probe printed.
    let config = entry.trim_end().strip_suffix(')').unwrap().to_string()
        + "    servers: (api_port: 0),\n)\n";
    let path = dir.path().join("probed.ron");
    std::fs::write(&path, &config).unwrap();
    let path = path.to_str().unwrap();
    let check = std::process::Command::new(common::BIN)
        .args(["check-config", path])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let app = Proc::start(&["--headless", "--config", path], &[]);
    app.wait_state("Gate", "live", Duration::from_secs(30));
    wait_for(Duration::from_secs(15), "PTZ in the status", || {
        let c = app.camera("Gate");
        (c["ptz"]["available"] == true && c["ptz"]["brightness"] == 50.0).then_some(())
    });
    let port = app.api_port();
    let head = sim.head(1).unwrap();
    let (code, body) = http_post(port, "/api/cameras/Gate/ptz", r#"{"pan":0.8,"tilt":0}"#);
    assert_eq!(code, 200, "{body}");
    assert!(head.moving(Instant::now()));
    wait_for(Duration::from_secs(5), "moving in the status", || {
        (app.camera("Gate")["ptz"]["moving"] == true).then_some(())
    });
    let (code, _) = http_post(port, "/api/cameras/Gate/ptz", r#"{"stop":true}"#);
    assert_eq!(code, 200);
    assert!(!head.moving(Instant::now()));
    let (code, _) = http_post(port, "/api/cameras/Gate/preset", r#"{"set":3}"#);
    assert_eq!(code, 200);
    let (code, body) = http_get(port, "/api/cameras/Gate/presets");
    assert_eq!(code, 200, "{body}");
    let presets: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(presets["presets"][0]["name"], "3", "{presets}");
    let stored = head.sample(Instant::now()).0;
    let (code, _) = http_post(port, "/api/cameras/Gate/preset", r#"{"home":true}"#);
    assert_eq!(code, 200);
    assert_eq!(head.sample(Instant::now()).0.x, 0.5);
    let (code, _) = http_post(port, "/api/cameras/Gate/preset", r#"{"goto":3}"#);
    assert_eq!(code, 200);
    assert_eq!(head.sample(Instant::now()).0, stored);
    let (code, _) = http_post(port, "/api/cameras/Gate/imaging", r#"{"brightness":75}"#);
    assert_eq!(code, 200);
    assert_eq!(head.brightness(), 75.0);
    // Bad input and unknown cameras.
    let (code, body) = http_post(port, "/api/cameras/Gate/ptz", r#"{"pan":3}"#);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("pan 3 must be between -1 and 1"), "{body}");
    let (code, _) = http_post(port, "/api/cameras/Gate/imaging", r#"{"contrast":5}"#);
    assert_eq!(code, 400);
    let (code, _) = http_post(port, "/api/cameras/Nope/ptz", r#"{"stop":true}"#);
    assert_eq!(code, 404);
    let (code, _) = http_post(port, "/api/cameras/Gate/preset", r#"{"goto":9}"#);
    assert_eq!(code, 409, "no preset 9");
    // A camera whose endpoint hangs: 504 with the camera's name, the status says why.
    sim.set_faults(SimFaults {
        onvif_hang: true,
        ..Default::default()
    });
    let (code, body) = http_post(port, "/api/cameras/Gate/ptz", r#"{"pan":0.1}"#);
    assert_eq!(code, 504, "{body}");
    assert!(
        body.contains("Gate") && body.contains("no answer"),
        "{body}"
    );
    assert!(!body.contains("secret"), "{body}");
    let c = app.camera("Gate");
    assert_eq!(c["state"], "live", "video is unaffected: {c}");
    assert!(
        !app.log().contains("secret"),
        "the password is never logged"
    );
}

/// A device that wants WS-Security on every call, reading its clock included (issue 22):
/// `probe` still finds it and PTZ works; a camera whose clock reads years away is used with
/// no offset instead of overflowing the time arithmetic.
#[test]
fn a_device_that_wants_ws_security_everywhere_and_one_with_an_absurd_clock() {
    let _g = common::heavy();
    let rt = common::runtime();
    let strict = sim(
        &rt,
        1,
        true,
        SimFaults {
            onvif_wsse_always: true,
            ..Default::default()
        },
    );
    let url = strict.onvif_url(1).unwrap();
    let mut probe = std::process::Command::new(common::BIN)
        .args(["probe", &url, "--username", "admin", "--with-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    probe.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = probe.wait_with_output().unwrap();
    let entry = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        entry.contains(&strict.url(1)) && entry.contains("PTZ"),
        "{entry}"
    );
    let creds = Some(("admin".to_string(), "secret".to_string()));
    let ep = Endpoint::new("Strict", &url, creds.clone(), Duration::from_secs(5)).unwrap();
    let dev = rt.block_on(ep.connect()).expect("connects");
    assert!(dev.offset.num_seconds().abs() <= 5, "{:?}", dev.offset);
    rt.block_on(dev.profiles()).expect("signed calls work");

    // Ten thousand years ahead: not trusted (and no overflow): we sign with our own clock,
    // which this camera refuses, so the offset it reported was not used.
    let absurd = sim(
        &rt,
        1,
        true,
        SimFaults {
            clock_offset_secs: 10_000 * 366 * 86_400,
            ..Default::default()
        },
    );
    let ep = Endpoint::new(
        "Absurd",
        &absurd.onvif_url(1).unwrap(),
        creds,
        Duration::from_secs(5),
    )
    .unwrap();
    match rt.block_on(ep.connect()) {
        Err(e) => assert!(e.kind.is_refusal(), "{e}"),
        Ok(dev) => panic!("an offset of {:?} was trusted", dev.offset),
    }
}

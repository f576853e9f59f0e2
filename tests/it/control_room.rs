//! The control room end to end, in a real window under Xvfb against simulated cameras that
//! record: a layout that shows one camera of nine stops the other eight decoding while they
//! keep receiving and recording; snapshots of a hidden and a shown camera are JPEGs of the
//! camera's size (read by ffprobe); the full layout brings decoding back. Headless, a
//! snapshot of a camera that is not decoding waits for its next keyframe, and a camera with no
//! picture answers 503 with Retry-After.

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, Proc};

/// `name`'s counter `key` in a status.
fn count(status: &Value, name: &str, key: &str) -> u64 {
    let cam = status["cameras"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {status}"));
    match key {
        "bytes" => cam["recording"]["bytes"].as_u64(),
        k => cam[k].as_u64(),
    }
    .unwrap_or(0)
}

/// GETs `…/snapshot.jpg` of `camera`; checks it is a JPEG of `size` and returns its bytes.
fn snapshot(port: u16, camera: &str, size: (u32, u32), dir: &std::path::Path) -> Vec<u8> {
    let path = format!("/api/cameras/{}/snapshot.jpg", camera.replace(' ', "%20"));
    let (code, head, body) = common::http_get_raw(port, &path);
    assert_eq!(code, 200, "{head}{}", String::from_utf8_lossy(&body));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/jpeg"),
        "{head}"
    );
    let file = dir.join(format!("{camera}.jpg"));
    std::fs::write(&file, &body).unwrap();
    let probe = common::ffprobe(&[
        "-show_entries",
        "stream=codec_name,width,height",
        file.to_str().unwrap(),
    ]);
    let s = &probe["streams"][0];
    assert_eq!(s["codec_name"], "mjpeg", "{probe}");
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(u64::from(size.0)), Some(u64::from(size.1))),
        "{probe}"
    );
    body
}

#[test]
fn only_the_cameras_a_layout_shows_decode_and_the_rest_keep_recording() {
    let _g = common::heavy();
    let x = crate::screenshot::xvfb();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        opticlink::simcam::SimConfig {
            cameras: 9,
            ..common::small(0)
        },
    );
    let cams: Vec<String> = (1..=9)
        .map(|i| {
            // No picture motion: a hidden camera decodes for nothing.
            format!(
                "(name: \"C{i}\", url: \"{}\", record: true, events: Off)",
                sim.url(i)
            )
        })
        .collect();
    let ron = format!(
        "(cameras: [{}],\n layouts: [(name: \"All\"), (name: \"One\", grid: Grid(1, 1), cameras: [\"C5\"])],\n \
         windows: [(name: \"Main\", layout: Some(\"All\"))],\n servers: (api_port: 0))",
        cams.join(",\n ")
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("room.ron");
    std::fs::write(&cfg, ron).unwrap();
    let app = Proc::start(
        &["--config", cfg.to_str().unwrap()],
        &[("DISPLAY", x.1.as_str())],
    );
    let port = app.api_port();
    let names: Vec<String> = (1..=9).map(|i| format!("C{i}")).collect();
    common::wait_for(
        Duration::from_secs(90),
        "every camera live and decoding",
        || {
            let s = app.status();
            names
                .iter()
                .all(|n| count(&s, n, "decoded") > 0 && count(&s, n, "bytes") > 0)
                .then_some(())
        },
    );
    // The window shows one camera.
    let (code, body) = common::http_post(port, "/api/windows/Main", r#"{"layout": "One"}"#);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""layout":"One""#), "{body}");
    // Settle: a second of frames for what was queued to drain.
    let at_switch = app.status();
    let advanced = |from: &Value, n: u64| {
        let s = app.status();
        names
            .iter()
            .all(|c| count(&s, c, "frames") >= count(from, c, "frames") + n)
            .then_some(s)
    };
    let before = common::wait_for(Duration::from_secs(20), "a second of frames", || {
        advanced(&at_switch, 25)
    });
    let after = common::wait_for(
        Duration::from_secs(20),
        "two more seconds of frames",
        || advanced(&before, 50),
    );
    for n in &names {
        let decoded = count(&after, n, "decoded") - count(&before, n, "decoded");
        if n == "C5" {
            assert!(decoded >= 40, "C5 is shown: {decoded} decoded in 2 s");
        } else {
            assert_eq!(decoded, 0, "{n} is not shown but decoded {decoded}");
        }
        assert!(
            count(&after, n, "bytes") > count(&before, n, "bytes"),
            "{n} keeps recording"
        );
    }
    // Snapshots of a hidden camera (it decodes just for it) and of the shown one.
    snapshot(port, "C1", (320, 180), dir.path());
    snapshot(port, "C5", (320, 180), dir.path());
    // The full layout: every camera decodes again.
    let (code, body) = common::http_post(port, "/api/windows/Main", r#"{"layout": "All"}"#);
    assert_eq!(code, 200, "{body}");
    let back = app.status();
    common::wait_for(Duration::from_secs(20), "decoding to resume", || {
        let s = app.status();
        names
            .iter()
            .all(|n| count(&s, n, "decoded") >= count(&back, n, "decoded") + 10)
            .then_some(())
    });
    let log = app.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_snapshot_waits_for_a_keyframe_and_a_camera_without_pictures_answers_503() {
    let _g = common::heavy();
    let rt = common::runtime();
    // Not decoding (a recording box): the snapshot's picture comes from the next keyframe.
    let sim = common::sim(
        &rt,
        opticlink::simcam::SimConfig {
            cameras: 1,
            ..common::small(0)
        },
    );
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Yard cam\", url: \"{}\", events: Off), (name: \"Dead\", url: \"rtsp://127.0.0.1:9/none\")],\n \
         headless_decode: false, servers: (api_port: 0))",
        sim.url(1)
    ));
    app.wait_state("Yard cam", "live", Duration::from_secs(30));
    let port = app.api_port();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        count(&app.status(), "Yard cam", "decoded"),
        0,
        "not decoding"
    );
    let jpeg = snapshot(port, "Yard cam", (320, 180), dir.path());
    assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]));
    // Nobody watches: decoding stops again.
    let s1 = app.status();
    let later = common::wait_for(Duration::from_secs(20), "frames to go on", || {
        let s = app.status();
        (count(&s, "Yard cam", "frames") >= count(&s1, "Yard cam", "frames") + 50).then_some(s)
    });
    let settled = count(&s1, "Yard cam", "decoded");
    assert!(
        count(&later, "Yard cam", "decoded") <= settled + 32,
        "decoding stopped once the snapshot was taken"
    );
    // No picture within 5 s: 503 with Retry-After, the camera named.
    let (code, head, body) = common::http_get_raw(port, "/api/cameras/Dead/snapshot.jpg");
    assert_eq!(code, 503, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "{head}"
    );
    let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("no picture from camera \"Dead\"")),
        "{error}"
    );
    let (code, _, _) = common::http_get_raw(port, "/api/cameras/Nobody/snapshot.jpg");
    assert_eq!(code, 404);
}

/// A 64×48 grey picture with padded rows, as FFmpeg lays them out.
fn picture() -> opticlink::media::SharedFrame {
    use opticlink::media::{Plane, VideoFrame};
    let plane = |w: u32, h: u32, v: u8| Plane {
        data: vec![v; ((w + 16) * h) as usize],
        stride: w + 16,
        width: w,
        height: h,
    };
    std::sync::Arc::new(VideoFrame {
        width: 64,
        height: 48,
        full_range: false,
        planes: [plane(64, 48, 120), plane(32, 24, 128), plane(32, 24, 128)],
        seq: 1,
        arrival: std::time::Instant::now(),
        capture_ms: None,
    })
}

#[test]
fn s_saves_the_selected_cameras_picture_and_ctrl_s_when_s_steers() {
    use bevy::prelude::*;
    use opticlink::camera::{IpCamera, LatestFrame, Ptz, ViewLocked};
    let dir = tempfile::tempdir().unwrap();
    let handles = ["Gate", "Door"]
        .map(|n| opticlink::onvif::detached(n).0)
        .to_vec();
    let mut wall = crate::steer::Wall::new(handles);
    let mut config = opticlink::config::Config::parse("()", "t.ron").unwrap();
    config.snapshot_dir = dir.path().join("shots");
    wall.app
        .insert_resource(opticlink::camera::WallConfig(config))
        .add_plugins(opticlink::wall::snapshot::plugin);
    let world = wall.app.world_mut();
    let cams: Vec<(Entity, String)> = world
        .query::<(Entity, &IpCamera)>()
        .iter(world)
        .map(|(e, c)| (e, c.name.clone()))
        .collect();
    for (e, _) in &cams {
        world.entity_mut(*e).insert(LatestFrame(Some(picture())));
    }
    let files = |camera: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path().join("shots").join(camera))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    // Gate is selected and cannot steer: S saves its picture.
    wall.tap(KeyCode::KeyS);
    let shot = common::wait_for(Duration::from_secs(10), "Gate's snapshot", || {
        files("Gate").pop()
    });
    let probe = common::ffprobe(&[
        "-show_entries",
        "stream=codec_name,width,height",
        shot.to_str().unwrap(),
    ]);
    assert_eq!(probe["streams"][0]["width"], 64, "{probe}");
    assert_eq!(probe["streams"][0]["height"], 48, "{probe}");
    assert!(files("Door").is_empty(), "only the selected camera");
    let snapshots = wall
        .app
        .world()
        .resource::<opticlink::wall::snapshot::Snapshots>()
        .clone();
    let now = wall.app.world().resource::<Time<Real>>().elapsed();
    assert_eq!(snapshots.notice("Gate", now), Some(Ok(shot.clone())));
    // Door steers (PTZ): S tilts it down and takes nothing; Ctrl+S takes its picture.
    wall.tap(KeyCode::Tab);
    let door = cams.iter().find(|(_, n)| n == "Door").unwrap().0;
    wall.app
        .world_mut()
        .get_mut::<Ptz>(door)
        .unwrap()
        .status
        .ptz = true;
    wall.tap(KeyCode::KeyS);
    wall.frames(5);
    assert!(files("Door").is_empty(), "S steers a PTZ camera");
    wall.hold(KeyCode::ControlLeft);
    wall.tap(KeyCode::KeyS);
    wall.release(KeyCode::ControlLeft);
    common::wait_for(Duration::from_secs(10), "Door's snapshot", || {
        files("Door").pop()
    });
    // A locked camera gives no picture, and says so.
    wall.app
        .world_mut()
        .entity_mut(door)
        .insert(ViewLocked(true));
    wall.hold(KeyCode::ControlLeft);
    wall.tap(KeyCode::KeyS);
    wall.release(KeyCode::ControlLeft);
    let now = wall.app.world().resource::<Time<Real>>().elapsed();
    let notice = snapshots.notice("Door", now);
    assert!(
        matches!(&notice, Some(Err(e)) if e.contains("locked")),
        "{notice:?}"
    );
    assert_eq!(files("Door").len(), 1);
}

#[test]
fn put_moves_one_camera_to_another_stream_and_nothing_else_restarts() {
    use opticlink::simcam::{SimConfig, SimStats};
    let _g = common::heavy();
    let rt = common::runtime();
    let first = common::sim(
        &rt,
        SimConfig {
            cameras: 2,
            ..common::small(0)
        },
    );
    let second = common::sim(
        &rt,
        SimConfig {
            cameras: 1,
            names: vec!["Other".into()],
            ..common::small(0)
        },
    );
    let rec = tempfile::tempdir().unwrap();
    let camera = |name: &str, url: &str| {
        format!("{{\"name\": \"{name}\", \"url\": \"{url}\", \"record\": true}}")
    };
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"A\", url: \"{}\", record: true), (name: \"B\", url: \"{}\", record: true)],\n \
         recording: (dir: \"{}\", segment_secs: {}), servers: (api_port: 0))",
        first.url(1),
        first.url(2),
        rec.path().display(),
        crate::record::NO_ROTATION,
    ));
    let port = app.api_port();
    let recording = |name: &str| crate::record::segments(&rec.path().join(name));
    common::wait_for(Duration::from_secs(30), "A and B recording", || {
        let s = app.status();
        (count(&s, "A", "bytes") > 0 && count(&s, "B", "bytes") > 0).then_some(())
    });
    let before = app.status();
    let ports_of = |s: &Value, n: &str| {
        s["cameras"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == n))
            .map(|c| c["ports"].clone())
            .unwrap()
    };
    assert_eq!(SimStats::get(&first.stats().sessions), 2);

    let (code, body) = common::http_put(port, "/api/cameras/A", &camera("A", &second.url(1)));
    assert_eq!(code, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["ports"],
        ports_of(&before, "A"),
        "its servers keep their ports"
    );
    // A goes live on the other server's stream; the first server saw its TEARDOWN.
    common::wait_for(Duration::from_secs(30), "A on the new stream", || {
        let s = app.status();
        (SimStats::get(&second.stats().plays) >= 1
            && count(&s, "A", "frames") > count(&before, "A", "frames") + 25
            && recording("A").len() == 2)
            .then_some(())
    });
    assert_eq!(
        SimStats::get(&first.stats().teardowns),
        1,
        "A's old session closed"
    );
    let after = app.status();
    let cam = |s: &Value, n: &str| {
        s["cameras"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == n))
            .cloned()
            .unwrap()
    };
    assert_eq!(cam(&after, "A")["state"], "live");
    assert!(
        cam(&after, "A")["url"]
            .as_str()
            .unwrap()
            .starts_with(&second.url(1))
    );
    assert_eq!(ports_of(&after, "A"), ports_of(&before, "A"));
    // B never noticed: same session, no reconnect, one segment, frames going on.
    assert_eq!(
        SimStats::get(&first.stats().sessions),
        2,
        "no new session for B"
    );
    assert_eq!(cam(&after, "B")["reconnects"], 0);
    assert_eq!(cam(&after, "B")["state"], "live");
    assert!(count(&after, "B", "frames") > count(&before, "B", "frames"));
    assert_eq!(recording("B").len(), 1);
    // Refusals name what is wrong.
    let (code, body) = common::http_put(port, "/api/cameras/A", &camera("Z", &second.url(1)));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("cannot be renamed"), "{body}");
    let (code, _) = common::http_put(port, "/api/cameras/Nope", &camera("Nope", &second.url(1)));
    assert_eq!(code, 404);
    let (code, body) = common::http_put(port, "/api/cameras/A", &camera("A", "http//x"));
    assert_eq!(code, 400, "{body}");
    // A's segments, the one closed at the switch and the new one (closed at exit), both play.
    let mut app = app;
    assert!(app.stop().success());
    for file in recording("A") {
        let probe = common::ffprobe(&["-show_entries", "format=duration", file.to_str().unwrap()]);
        let secs: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs > 0.0, "{}: {probe}", file.display());
    }
}

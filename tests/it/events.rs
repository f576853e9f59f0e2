//! Events end to end: the headless app subscribes to simulated cameras' ONVIF event services
//! (PullPoint over real HTTP); motion the camera raises reaches `/api/status`, `/api/events`
//! and the server-sent event stream; `1`/`0` values and a camera that never says stop; the
//! subscription renewed before it ends and made again after a fault; a hanging event
//! service delays neither PTZ nor another camera; unsubscribed on exit. Picture motion fires
//! for a moving box, not for noise or a brightness jump, and not under a mask. A real window
//! frames the moving camera's tile in the event colour. `record: Events` keeps only the
//! footage around events (ffprobe) and `export --event` cuts one. An independent ONVIF client
//! (npm `onvif`) hears the simulated camera's events. A camera without an event service looks
//! at its pictures, and an edit over the API turns that off and on.

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opticlink::simcam::{SimConfig, SimFaults, SimServer, SimStats};

use crate::common::{self, Proc, http_get, http_post, wait_for};

fn sim(rt: &tokio::runtime::Runtime, cameras: u32, faults: SimFaults) -> SimServer {
    common::sim(
        rt,
        SimConfig {
            cameras,
            onvif_port: Some(0),
            faults,
            ..common::small(0)
        },
    )
}

/// A config entry for camera `n` of `sim` named `name`, events held `hold` seconds.
fn entry(sim: &SimServer, n: u32, name: &str, hold: f64) -> String {
    entry_with(sim, n, name, &format!("hold_secs: {hold}, min_secs: 0.0"))
}

fn entry_with(sim: &SimServer, n: u32, name: &str, motion: &str) -> String {
    format!(
        "(name: \"{name}\", url: \"{}\", onvif: Some((url: \"{}\")), motion: ({motion}))",
        sim.url(n),
        sim.onvif_url(n).unwrap()
    )
}

fn headless(entries: &[String]) -> Proc {
    Proc::headless(&format!(
        "(cameras: [{}], headless_decode: false, servers: (api_port: 0))",
        entries.join(", ")
    ))
}

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    SimStats::get(c)
}

/// Waits until the app has pulled camera server `sim`'s state once and waits on a second
/// pull (`subs` subscriptions): from then on a change is reported at once.
fn subscribed(sim: &SimServer, subs: u64) {
    wait_for(Duration::from_secs(30), "event subscriptions", || {
        let s = sim.stats();
        (count(&s.event_subscriptions) >= subs && count(&s.event_pulls) >= 2 * subs).then_some(())
    });
}

fn motion(app: &Proc, name: &str) -> bool {
    app.camera(name)["motion"].as_bool().unwrap()
}

fn events(port: u16, query: &str) -> Vec<serde_json::Value> {
    let (code, body) = http_get(port, &format!("/api/events{query}"));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["events"].as_array().unwrap().clone()
}

#[test]
fn onvif_motion_reaches_status_events_and_the_stream_and_ends_after_its_hold_off() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, 2, SimFaults::default());
    sim.set_motion(1, false);
    sim.set_motion(2, false);
    let mut app = headless(&[entry(&sim, 1, "Gate", 1.0), entry(&sim, 2, "Yard", 1.0)]);
    let port = app.api_port();
    subscribed(&sim, 2);
    assert!(!motion(&app, "Gate") && !motion(&app, "Yard"));
    // The live stream, opened before the motion.
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sse.write_all(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sse = BufReader::new(sse);

    // Camera 1 reports CellMotionDetector/Motion, camera 2 VideoSource/MotionAlarm.
    for (n, name) in [(1, "Gate"), (2, "Yard")] {
        let raised = Instant::now();
        sim.set_motion(n, true);
        wait_for(Duration::from_secs(5), "motion in the status", || {
            motion(&app, name).then_some(())
        });
        let took = raised.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{name}: motion shown after {took:?}"
        );
    }
    let open = events(port, "?camera=Gate");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["source"], "onvif");
    assert_eq!(open[0]["kind"], "motion");
    assert!(open[0]["end"].is_null());
    // The feed also carries the node's notices (`event: state` …): the start is the data of
    // an `event: start`.
    let mut line = String::new();
    let mut name = String::new();
    let started = loop {
        line.clear();
        sse.read_line(&mut line).unwrap();
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.trim().to_owned();
        } else if let Some(json) = line.strip_prefix("data: ")
            && name == "start"
        {
            break serde_json::from_str::<serde_json::Value>(json).unwrap();
        }
    };
    assert_eq!(started["camera"], "Gate");
    assert_eq!(started["id"], open[0]["id"]);

    // The camera says stop: the event ends a hold-off (1 s) later.
    sim.set_motion(1, false);
    wait_for(Duration::from_secs(5), "the event to end", || {
        (!motion(&app, "Gate")).then_some(())
    });
    let ended = events(port, "?camera=Gate");
    assert!(ended[0]["end"].is_string(), "{ended:?}");
    assert!(motion(&app, "Yard"), "the other camera's event goes on");
    // Times filter: nothing of Gate's before it started.
    let start = ended[0]["start"].as_str().unwrap();
    let before = chrono::DateTime::parse_from_rfc3339(start)
        .unwrap()
        .timestamp()
        - 60;
    assert!(events(port, &format!("?camera=Gate&to={before}")).is_empty());
    let (code, body) = http_get(port, "/api/events?from=yesterday");
    assert_eq!(code, 400);
    assert!(body.contains("from=\\\"yesterday\\\""), "{body}");

    // On exit the app unsubscribes.
    app.stop();
    assert!(count(&sim.stats().event_unsubscribes) >= 2);
}

#[test]
fn numeric_values_and_a_camera_that_never_says_stop() {
    let _g = common::heavy();
    let rt = common::runtime();
    let faults = SimFaults {
        events_numeric: true,
        events_no_stop: true,
        ..SimFaults::default()
    };
    let sim = sim(&rt, 1, faults);
    sim.set_motion(1, false);
    let app = headless(&[entry_with(
        &sim,
        1,
        "Gate",
        "hold_secs: 1.0, min_secs: 0.0, max_secs: 2.0",
    )]);
    subscribed(&sim, 1);
    sim.set_motion(1, true);
    wait_for(Duration::from_secs(5), "motion from `1`", || {
        motion(&app, "Gate").then_some(())
    });
    // No stop comes; the event ends at its limit all the same.
    sim.set_motion(1, false);
    wait_for(Duration::from_secs(6), "the limit to end it", || {
        (!motion(&app, "Gate")).then_some(())
    });
    let port = app.api_port();
    let list = events(port, "");
    assert_eq!(list.len(), 1);
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(list[0][k].as_str().unwrap()).unwrap();
    let length = (t("end") - t("start")).as_seconds_f64();
    assert!((1.9..4.5).contains(&length), "lasted {length} s");
}

#[test]
fn renewed_before_it_ends_and_made_again_after_a_fault() {
    let _g = common::heavy();
    let rt = common::runtime();
    let faults = SimFaults {
        events_lifetime_secs: Some(3),
        ..SimFaults::default()
    };
    let sim = sim(&rt, 1, faults);
    sim.set_motion(1, false);
    let app = headless(&[entry(&sim, 1, "Gate", 0.5)]);
    subscribed(&sim, 1);
    wait_for(Duration::from_secs(15), "two renewals", || {
        (count(&sim.stats().event_renewals) >= 2).then_some(())
    });
    assert_eq!(
        count(&sim.stats().event_subscriptions),
        1,
        "renewed in time: never subscribed again"
    );
    // The camera forgets every subscription (a reboot): the next pull faults and the app
    // subscribes again, after a wait.
    sim.drop_subscriptions();
    wait_for(Duration::from_secs(15), "a new subscription", || {
        (count(&sim.stats().event_subscriptions) >= 2 && sim.open_subscriptions() == 1)
            .then_some(())
    });
    subscribed(&sim, 2);
    sim.set_motion(1, true);
    wait_for(
        Duration::from_secs(5),
        "motion over the new subscription",
        || motion(&app, "Gate").then_some(()),
    );
    assert!(
        app.log().contains("subscribing again in"),
        "the fault is logged:\n{}",
        app.log()
    );
}

#[test]
fn a_hanging_event_service_delays_neither_ptz_nor_another_camera() {
    let _g = common::heavy();
    let rt = common::runtime();
    let hung = sim(
        &rt,
        1,
        SimFaults {
            events_hang: true,
            ..SimFaults::default()
        },
    );
    let fine = sim(&rt, 1, SimFaults::default());
    fine.set_motion(1, false);
    let app = headless(&[entry(&hung, 1, "Hung", 1.0), entry(&fine, 1, "Fine", 1.0)]);
    let port = app.api_port();
    subscribed(&fine, 1);
    fine.set_motion(1, true);
    wait_for(Duration::from_secs(3), "the other camera's motion", || {
        motion(&app, "Fine").then_some(())
    });
    // PTZ on the hung camera's own device goes through at once.
    let head = hung.head(1).unwrap();
    let before = head.commands.load(Ordering::Relaxed);
    let asked = Instant::now();
    let (code, body) = http_post(port, "/api/cameras/Hung/ptz", r#"{"pan":0.5,"tilt":0}"#);
    assert_eq!(code, 200, "{body}");
    wait_for(
        Duration::from_secs(3),
        "the move to reach the camera",
        || (head.commands.load(Ordering::Relaxed) > before).then_some(()),
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let (code, _) = http_post(port, "/api/cameras/Hung/ptz", r#"{"stop":true}"#);
    assert_eq!(code, 200);
}

/// Pixels of the event colour (the default magenta) in the left and right halves of `png`.
fn event_pixels(png: &std::path::Path) -> (usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{info:?}");
    let w = info.width as usize;
    let (mut left, mut right) = (0, 0);
    for (i, p) in buf.chunks_exact(3).enumerate() {
        if p[0] > 220 && p[1] < 90 && p[2] > 160 {
            if i % w < w / 2 {
                left += 1;
            } else {
                right += 1;
            }
        }
    }
    (left, right)
}

#[test]
fn the_wall_frames_the_tile_with_motion_in_the_event_colour() {
    let _g = common::heavy();
    let x = crate::screenshot::xvfb();
    let rt = common::runtime();
    let sim = sim(&rt, 2, SimFaults::default());
    sim.set_motion(1, true);
    sim.set_motion(2, false);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wall.ron");
    std::fs::write(
        &config,
        format!(
            "(cameras: [{}, {}], servers: (api_port: 0))",
            entry(&sim, 1, "Moving", 60.0),
            entry(&sim, 2, "Still", 60.0)
        ),
    )
    .unwrap();
    let mut app = Proc::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--screenshot",
            "wall.png",
            "--after",
            "12",
        ],
        &[("DISPLAY", x.1.as_str())],
    );
    let status = wait_for(
        Duration::from_secs(120),
        "the screenshot run to end",
        || app.child.try_wait().unwrap(),
    );
    assert!(status.success(), "{}", app.log());
    let (left, right) = event_pixels(&app.dir.path().join("wall.png"));
    // A 5 px frame around a tile of about 800×450, and the badge.
    assert!(
        left > 5000,
        "the moving camera's tile is framed: {left} pixels"
    );
    assert!(
        right < 200,
        "the still camera's tile is not: {right} pixels"
    );
    drop(x);
}

#[test]
fn picture_motion_fires_for_a_moving_box_not_for_noise_or_a_brightness_jump_and_masks_silence_it() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        SimConfig {
            cameras: 3,
            onvif_port: Some(0),
            noise: 6,
            ..common::small(0)
        },
    );
    for n in 1..=3 {
        sim.set_motion(n, false);
    }
    let local = |n: u32, name: &str, extra: &str| {
        format!(
            "(name: \"{name}\", url: \"{}\", events: Local, motion: (hold_secs: 1.0, min_secs: 0.0{extra}))",
            sim.url(n)
        )
    };
    // Headless and not decoding for anyone: the detector alone holds the decoding.
    let app = headless(&[
        local(1, "Moving", ""),
        local(
            2,
            "Masked",
            ", masks: [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]",
        ),
        local(3, "Still", ""),
    ]);
    wait_for(Duration::from_secs(30), "three detectors to learn", || {
        (app.log()
            .matches("looking for motion in the picture")
            .count()
            >= 3)
            .then_some(())
    });
    let raised = Instant::now();
    sim.set_motion(1, true);
    sim.set_motion(2, true);
    wait_for(Duration::from_secs(5), "picture motion", || {
        motion(&app, "Moving").then_some(())
    });
    let took = raised.elapsed();
    assert!(took < Duration::from_secs(1), "motion shown after {took:?}");
    let list = events(app.api_port(), "?camera=Moving");
    assert_eq!(list[0]["source"], "local", "{list:?}");
    // The still, noisy camera's brightness jumps (over ONVIF imaging, as an IR switch would).
    let head = sim.head(3).unwrap();
    head.set_brightness(90.0);
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(4) {
        assert!(!motion(&app, "Still"), "a brightness jump or noise fired");
        assert!(!motion(&app, "Masked"), "motion under a mask fired");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The box stops: the event ends after its hold-off.
    sim.set_motion(1, false);
    wait_for(Duration::from_secs(5), "the event to end", || {
        (!motion(&app, "Moving")).then_some(())
    });
    assert!(events(app.api_port(), "?camera=Still").is_empty());
    assert!(events(app.api_port(), "?camera=Masked").is_empty());
}

/// `events: Auto` on a camera whose ONVIF device has no event service: the camera looks at
/// its pictures instead. An edit over the API turns that off (`events: Off`) and back on with
/// new settings.
#[test]
fn a_camera_without_an_event_service_looks_at_its_pictures_and_edits_follow() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(
        &rt,
        1,
        SimFaults {
            events_none: true,
            ..SimFaults::default()
        },
    );
    sim.set_motion(1, false);
    let app = headless(&[entry(&sim, 1, "Plain", 1.0)]);
    wait_for(
        Duration::from_secs(30),
        "the fallback and the detector",
        || {
            let log = app.log();
            (log.contains("motion is looked for in the picture instead")
                && log.contains("looking for motion in the picture"))
            .then_some(())
        },
    );
    assert_eq!(count(&sim.stats().event_subscriptions), 0);
    sim.set_motion(1, true);
    wait_for(Duration::from_secs(5), "picture motion", || {
        motion(&app, "Plain").then_some(())
    });
    assert_eq!(
        events(app.api_port(), "?camera=Plain")[0]["source"],
        "local"
    );
    sim.set_motion(1, false);
    wait_for(Duration::from_secs(5), "the event to end", || {
        (!motion(&app, "Plain")).then_some(())
    });

    let put = |events: &str| {
        let body = format!(
            "{{\"name\": \"Plain\", \"url\": \"{}\", \"onvif\": {{\"url\": \"{}\"}}, \"events\": \"{events}\", \"motion\": {{\"hold_secs\": 1.0, \"min_secs\": 0.0}}}}",
            sim.url(1),
            sim.onvif_url(1).unwrap()
        );
        let (code, answer) = common::http_put(app.api_port(), "/api/cameras/Plain", &body);
        assert_eq!(code, 200, "{answer}");
    };
    put("Off");
    sim.set_motion(1, true);
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        assert!(!motion(&app, "Plain"), "motion with events: Off");
        std::thread::sleep(Duration::from_millis(100));
    }
    sim.set_motion(1, false);
    let learned = app
        .log()
        .matches("looking for motion in the picture")
        .count();
    put("Local");
    wait_for(
        Duration::from_secs(30),
        "the detector to learn again",
        || {
            (app.log()
                .matches("looking for motion in the picture")
                .count()
                > learned)
                .then_some(())
        },
    );
    sim.set_motion(1, true);
    wait_for(
        Duration::from_secs(5),
        "picture motion after the edit",
        || motion(&app, "Plain").then_some(()),
    );
    assert_eq!(count(&sim.stats().event_subscriptions), 0);
}

/// Segments of `camera` under `dir` that ffprobe reads: (start, end) in Unix ms, from their
/// names and ffprobe's duration.
fn segments(dir: &std::path::Path, camera: &str) -> Vec<(i64, i64, std::path::PathBuf)> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir.join(camera))
        .into_iter()
        .flatten()
        .flatten()
    {
        let day_name = day.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(day.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".mp4") {
                continue;
            }
            let Some(start) =
                opticlink::record::policy::start_from_name(&format!("{day_name}/{name}"))
            else {
                continue;
            };
            // Retention may delete a segment between the listing and the probe.
            let Ok(probe) = std::process::Command::new("ffprobe")
                .args(["-v", "error", "-of", "json", "-show_format"])
                .arg(f.path())
                .output()
            else {
                continue;
            };
            if !probe.status.success() {
                // Deleted meanwhile, or the open segment before its first fragment.
                continue;
            }
            let probe: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
            let secs: f64 = probe["format"]["duration"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0.0);
            out.push((start, start + (secs * 1000.0) as i64, f.path()));
        }
    }
    out.sort();
    out
}

#[test]
fn record_events_keeps_only_footage_around_events_and_export_takes_an_event() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, 1, SimFaults::default());
    sim.set_motion(1, false);
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap().to_owned();
    let camera = format!(
        "(name: \"Gate\", url: \"{}\", onvif: Some((url: \"{}\")), record: Events, \
         motion: (hold_secs: 1.0, min_secs: 0.0))",
        sim.url(1),
        sim.onvif_url(1).unwrap()
    );
    let ron = format!(
        "(cameras: [{camera}], servers: (api_port: 0), \
         recording: (dir: \"{dir}\", segment_secs: 2, pre_roll_secs: 1, post_roll_secs: 1))"
    );
    let config = store.path().join("wall.ron");
    std::fs::write(&config, &ron).unwrap();
    let app = Proc::headless(&ron);
    subscribed(&sim, 1);
    // Quiet segments first, then a few seconds of motion.
    wait_for(Duration::from_secs(30), "quiet segments", || {
        (app.camera("Gate")["recording"]["segments"].as_u64()? >= 4).then_some(())
    });
    sim.set_motion(1, true);
    wait_for(Duration::from_secs(5), "the event", || {
        motion(&app, "Gate").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3)); // three seconds of motion to record
    sim.set_motion(1, false);
    wait_for(Duration::from_secs(10), "the event to end", || {
        (!motion(&app, "Gate")).then_some(())
    });
    let port = app.api_port();
    let event = events(port, "?camera=Gate").remove(0);
    let t = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(event[k].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let (start, end) = (t("start") - 1000, t("end") + 1000);
    // Quiet segments after the event close, and retention has taken every quiet one.
    let settled = wait_for(Duration::from_secs(40), "quiet footage to go", || {
        let segs = segments(store.path(), "Gate");
        let after = segs.iter().filter(|(s, ..)| *s > end).count();
        let quiet_before = segs.iter().any(|(_, e, _)| *e < start - 2000);
        (after >= 3 && !quiet_before).then_some(segs)
    });
    // Kept: exactly the segments that overlap the event with its rolls (and the open one).
    let overlapping: Vec<_> = settled
        .iter()
        .filter(|(s, e, _)| *s <= end && *e >= start)
        .collect();
    assert!(!overlapping.is_empty(), "{settled:?}");
    let late = settled.iter().filter(|(s, _, _)| *s > end + 4000).count();
    assert!(
        late <= 2,
        "quiet footage after the event stays: {settled:?}"
    );

    // The event as a clip, with its rolls.
    let clip = store.path().join("event.mp4");
    let id = event["id"].as_u64().unwrap().to_string();
    let (ok, out) = common::run_cli(
        &[
            "--config",
            config.to_str().unwrap(),
            "export",
            "Gate",
            "--event",
            &id,
            "--output",
            clip.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert!(ok, "{out}");
    let probe = common::ffprobe(&["-show_format", clip.to_str().unwrap()]);
    let secs: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let want = (end - start) as f64 / 1000.0;
    assert!(
        (secs - want).abs() < 2.5,
        "clip {secs} s for an event of {want} s with rolls"
    );
    let (ok, out) = common::run_cli(
        &[
            "--config",
            config.to_str().unwrap(),
            "export",
            "Gate",
            "--event",
            "42",
            "-o",
            "x.mp4",
        ],
        "",
        &[],
    );
    assert!(!ok && out.contains("no event 42"), "{out}");
}

#[test]
fn an_independent_onvif_client_hears_the_simulated_cameras_events() {
    let _g = common::heavy();
    let peer = common::test_file("peers/onvif-events");
    assert!(
        peer.join("node_modules/onvif").is_dir(),
        "the npm peer is not installed: run `npm ci` in {} (.ci/run does)",
        peer.display()
    );
    let rt = common::runtime();
    let sim = sim(&rt, 1, SimFaults::default());
    sim.set_motion(1, false);
    let onvif = sim.onvif_addr().unwrap();
    let mut node = std::process::Command::new("node")
        .arg(peer.join("events.js"))
        .args([
            "127.0.0.1",
            &onvif.port().to_string(),
            "/onvif/cam1/device_service",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("node (Debian package nodejs)");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let keep = lines.clone();
    let out = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(l);
        }
    });
    let _node = common::Owned(node);
    let seen = |want: &str| {
        let lines = lines.clone();
        let want = want.to_string();
        wait_for(Duration::from_secs(20), &want.clone(), move || {
            lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(&want))
                .cloned()
        })
    };
    seen("ready");
    let first = seen("\"Initialized\"");
    assert!(first.contains("\"IsMotion\":false"), "{first}");
    sim.set_motion(1, true);
    let on = seen("\"IsMotion\":true");
    assert!(
        on.contains("tns1:RuleEngine/CellMotionDetector/Motion") && on.contains("Changed"),
        "{on}"
    );
    assert!(SimStats::get(&sim.stats().event_subscriptions) >= 1);
}

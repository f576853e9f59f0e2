//! Playback on the wall, in a headless App with real workers and recorders: two simulated
//! cameras (25 fps, their capture clock burned into every picture) record 2 s segments
//! together; then Shift+Space puts both tiles into playback in sync and the playhead is
//! moved by the timeline's seeks, `.`/`,` frame steps, →, speeds (×4 forward, ×2 backward by
//! keyframes) in stepped virtual time, and the burned-in clocks of the pictures shown are
//! read back: the two cameras agree within one frame interval and match the playhead. An
//! instant before the footage shows "no recording"; I and E export the clip between the mark
//! and the playhead for both; recording goes on without a gap during playback; Esc returns
//! both to live pictures; an alarm's play button puts its camera alone into playback at the
//! event less the pre-roll. Under Xvfb, `--playback` draws recorded pictures on the real window.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use opticlink::camera::replay::ReplayShown;
use opticlink::camera::{AwaitLive, LatestFrame, Playhead, Replay, ReplayAction, ReplayRequest};
use opticlink::playback::Index;

use crate::common;

/// One frame interval at 25 fps (ms).
const FRAME: i64 = 40;
/// How far a camera's recorded time may lie from its burned-in capture clock: the delivery
/// of the session's first picture on loopback (measured: a few ms).
const DELIVERY: i64 = 100;

/// How late a simulated camera's capture may run of its regular schedule (thread wake-ups).
const JITTER: i64 = 20;

fn step(app: &mut App, by: Duration) {
    app.insert_resource(TimeUpdateStrategy::ManualDuration(by));
    app.update();
}

/// Presses `keys` together for one frame (no time passes), then lets them go; the frame after
/// carries out what they asked.
fn press(app: &mut App, keys: &[KeyCode]) {
    let mut input = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
    for k in keys {
        input.press(*k);
    }
    step(app, Duration::ZERO);
    let mut input = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
    for k in keys {
        input.release(*k);
    }
    input.clear();
    step(app, Duration::ZERO);
}

fn request(app: &mut App, camera: Entity, action: ReplayAction) {
    app.world_mut()
        .resource_mut::<Messages<ReplayRequest>>()
        .write(ReplayRequest { camera, action });
    step(app, Duration::ZERO);
}

/// What a camera's tile shows once its player has carried out the playhead's latest want:
/// (recorded time, next picture's time, burned-in capture clock).
fn settled(app: &mut App, cameras: &[Entity]) -> Vec<(i64, Option<i64>, i64)> {
    let start = Instant::now();
    loop {
        step(app, Duration::ZERO);
        let world = app.world();
        let shown: Option<Vec<_>> = cameras
            .iter()
            .map(|&e| {
                let r = world.get::<Replay>(e)?;
                if r.done() != r.sent() {
                    return None;
                }
                match r.shown {
                    ReplayShown::Picture {
                        at_ms,
                        next_ms,
                        capture_ms: Some(c),
                    } => Some((at_ms, next_ms, i64::from(c))),
                    _ => None,
                }
            })
            .collect();
        if let Some(s) = shown {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "playback settles: {:?}",
            cameras
                .iter()
                .map(|&e| world.get::<Replay>(e).map(|r| r.shown.clone()))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn head_at(app: &App, camera: Entity) -> i64 {
    let r = app.world().get::<Replay>(camera).unwrap();
    let head = app.world().get::<Playhead>(r.head).unwrap();
    // Stepped time: the head's instant is its value at the app's current real time.
    head.at(app.world().resource::<Time<Real>>().elapsed())
}

/// The capture clock of an instant (Unix ms modulo 2³², as burned in).
fn clock(ms: i64) -> i64 {
    i64::from(ms as u32)
}

/// Both cameras show the playhead's instant: each the last picture at or before it, their
/// burned-in clocks within one frame interval of each other (beyond the difference of the two
/// cameras' delivery delays, measured from the same pictures) and of the playhead.
fn check_sync(shown: &[(i64, Option<i64>, i64)], at: i64, what: &str) {
    for (i, &(rec, next, capture)) in shown.iter().enumerate() {
        assert!(
            rec <= at && next.is_none_or(|n| n > at),
            "{what}: camera {i} shows {rec} (next {next:?}) for {at}"
        );
        let lag = clock(rec) - capture;
        // Capture may run a little late of the camera's regular RTP clock.
        assert!(
            (-JITTER..=DELIVERY).contains(&lag),
            "{what}: camera {i}'s recorded time {rec} is {lag} ms from its capture clock"
        );
        assert!(
            (clock(at) - capture - lag).abs() <= FRAME,
            "{what}: camera {i} shows capture {capture} for {at}"
        );
    }
    let (a, b) = (shown[0], shown[1]);
    let delivery = ((clock(a.0) - a.2) - (clock(b.0) - b.2)).abs();
    let apart = (a.2 - b.2).abs();
    eprintln!("{what}: clocks {apart} ms apart (delivery differs by {delivery} ms)");
    assert!(
        apart <= FRAME + delivery,
        "{what}: the cameras show {} and {}: {apart} ms apart",
        a.2,
        b.2
    );
}

/// Keyframe times of a camera's recordings, by ffprobe.
fn keyframes(folder: &std::path::Path) -> Vec<i64> {
    let mut out = Vec::new();
    for seg in Index::load(folder).segments {
        let path = folder.join(&seg.file);
        let probe = common::ffprobe(&[
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,flags",
            path.to_str().unwrap(),
        ]);
        for p in probe["packets"].as_array().unwrap() {
            if p["flags"].as_str().unwrap_or("").contains('K') {
                let t: f64 = p["pts_time"].as_str().unwrap().parse().unwrap();
                out.push(seg.start_ms + (t * 1000.0).round() as i64);
            }
        }
    }
    out
}

/// The clip the wall saved of camera `name` (within 30 s).
fn saved_clip(clips: &opticlink::camera::clips::Clips, name: &str) -> std::path::PathBuf {
    use opticlink::camera::clips::ClipState;
    common::wait_for(Duration::from_secs(30), "the clip", || {
        match clips.notice(name) {
            Some(ClipState::Saved(p)) => Some(p),
            Some(ClipState::Failed(e)) => panic!("clip of {name}: {e}"),
            _ => None,
        }
    })
}

/// Checks a clip marked 1.5 s long by ffprobe: from the keyframe at or before the mark (1 s
/// GOP) to the picture at 1.5 s on. Returns what ffprobe says of its format.
fn clip_from_mark(path: &std::path::Path, name: &str) -> serde_json::Value {
    let probe = common::ffprobe(&["-show_format", path.to_str().unwrap()]);
    let secs: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.5..=2.6).contains(&secs), "clip of {name}: {secs} s");
    probe
}

/// Two simulated 320×180@25 cameras, `A` and `B`, recording 2 s segments into a temporary
/// folder (snapshots and clips under its `shots`), and the config that says so.
fn two_cameras(
    rt: &tokio::runtime::Runtime,
) -> (opticlink::simcam::SimServer, tempfile::TempDir, String) {
    let sim = common::sim(
        rt,
        opticlink::simcam::SimConfig {
            cameras: 2,
            ..common::small(0)
        },
    );
    let rec = tempfile::tempdir().unwrap();
    let ron = format!(
        "(cameras: [(name: \"A\", url: \"{}\", record: true), (name: \"B\", url: \"{}\", record: true)],
          recording: (dir: \"{}\", segment_secs: 2), snapshot_dir: \"{}\", servers: (api_port: 0))",
        sim.url(1),
        sim.url(2),
        rec.path().display(),
        rec.path().join("shots").display()
    );
    (sim, rec, ron)
}

#[test]
fn two_cameras_recorded_together_play_back_in_sync_with_steps_and_speeds() {
    let _g = common::heavy();
    let rt = common::runtime();
    let (_sim, rec, ron) = two_cameras(&rt);
    let mut app = crate::substream::wall(&ron);
    app.add_plugins(opticlink::wall::snapshot::plugin);
    let (a, b) = (
        crate::substream::camera(&mut app, "A"),
        crate::substream::camera(&mut app, "B"),
    );
    let folders = [rec.path().join("A"), rec.path().join("B")];
    // Both record until each has five segments (three whole after the first).
    let start = Instant::now();
    let common_from = loop {
        step(&mut app, Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(20));
        let idx: Vec<Index> = folders.iter().map(|f| Index::load(f)).collect();
        if idx.iter().all(|i| i.segments.len() >= 5) {
            break idx.iter().map(|i| i.segments[0].end_ms).max().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "recordings");
    };
    let recorded_until = |f: &std::path::Path| Index::load(f).segments.last().unwrap().end_ms;
    let footage_before = recorded_until(&folders[0]);

    // Shift+Space on the selected tile (A): both into playback, on one playhead.
    press(&mut app, &[KeyCode::ShiftLeft, KeyCode::Space]);
    let heads: Vec<Entity> = [a, b]
        .iter()
        .map(|&e| app.world().get::<Replay>(e).expect("in playback").head)
        .collect();
    assert_eq!(heads[0], heads[1], "one playhead for both");
    // A click on the timeline: a seek, paused there (Space).
    let t = common_from + 1_234;
    request(&mut app, a, ReplayAction::Seek(t));
    press(&mut app, &[KeyCode::Space]);
    assert!(app.world().get::<Playhead>(heads[0]).unwrap().paused);
    assert_eq!(head_at(&app, a), t);
    let shown = settled(&mut app, &[a, b]);
    check_sync(&shown, t, "seek");

    // `.`: the next picture of the selected camera; B follows to the same instant.
    press(&mut app, &[KeyCode::Period]);
    let at = head_at(&app, a);
    assert_eq!(
        Some(at),
        shown[0].1,
        "a frame step goes to A's next picture"
    );
    let next = settled(&mut app, &[a, b]);
    check_sync(&next, at, "frame step");
    assert!((next[0].2 - shown[0].2 - FRAME).abs() <= 15, "one frame on");
    // `,`: back to the picture before.
    press(&mut app, &[KeyCode::Comma]);
    let back = settled(&mut app, &[a, b]);
    assert_eq!(back[0].0, shown[0].0, "a step back returns to the picture");
    check_sync(&back, head_at(&app, a), "frame step back");
    // ×4 (↑ twice from ×1, playing), 1 s of stepped time: 4 s of footage.
    press(&mut app, &[KeyCode::ArrowUp]);
    press(&mut app, &[KeyCode::ArrowUp]);
    let head = app.world().get::<Playhead>(heads[0]).unwrap();
    assert_eq!((head.speed_label(), head.paused), ("×4".to_owned(), false));
    let from = head_at(&app, a);
    for _ in 0..10 {
        step(&mut app, Duration::from_millis(100));
        let shown = settled(&mut app, &[a, b]);
        check_sync(&shown, head_at(&app, a), "×4");
    }
    assert_eq!(head_at(&app, a), from + 4_000);

    // Backwards at ×2 (↓ six times: ×2, ×1, ×½, ×¼, ◀×1, ◀×2): keyframes only.
    for _ in 0..6 {
        press(&mut app, &[KeyCode::ArrowDown]);
    }
    let head = app.world().get::<Playhead>(heads[0]).unwrap();
    assert_eq!(head.speed_label(), "◀ ×2");
    let keys = [keyframes(&folders[0]), keyframes(&folders[1])];
    let from = head_at(&app, a);
    for _ in 0..10 {
        step(&mut app, Duration::from_millis(100));
        let at = head_at(&app, a);
        let shown = settled(&mut app, &[a, b]);
        for (i, s) in shown.iter().enumerate() {
            // The last keyframe at or before the playhead.
            let want = keys[i].iter().rev().find(|k| **k <= at + 1).copied();
            assert!(
                want.is_some_and(|k| (k - s.0).abs() <= 1),
                "camera {i} in reverse at {at}: shows {} for keyframe {want:?}",
                s.0
            );
        }
    }
    assert_eq!(head_at(&app, a), from - 2_000);
    // Paused again: the exact picture.
    press(&mut app, &[KeyCode::Space]);
    let paused = settled(&mut app, &[a, b]);
    check_sync(&paused, head_at(&app, a), "paused after reverse");
    // S on the paused tile, frames after its picture came: that picture is saved.
    for _ in 0..3 {
        step(&mut app, Duration::from_millis(100));
    }
    press(&mut app, &[KeyCode::KeyS]);
    let shots = rec.path().join("shots").join("A");
    let shot = common::wait_for(
        Duration::from_secs(10),
        "the paused tile's snapshot",
        || {
            let snapshots = app
                .world()
                .resource::<opticlink::wall::snapshot::Snapshots>();
            let now = app.world().resource::<Time<Real>>().elapsed();
            if let Some(Err(e)) = snapshots.notice("A", now) {
                panic!("S on a paused tile: {e}");
            }
            std::fs::read_dir(&shots)
                .ok()?
                .next()?
                .ok()
                .map(|e| e.path())
        },
    );
    let probe = common::ffprobe(&[
        "-show_entries",
        "stream=width,height",
        shot.to_str().unwrap(),
    ]);
    assert_eq!(probe["streams"][0]["width"], 320, "{probe}");

    // ←: 10 s back, before any footage: "no recording", no picture.
    let before = head_at(&app, a);
    press(&mut app, &[KeyCode::ArrowLeft]);
    assert_eq!(head_at(&app, a), before - 10_000);
    assert!(before - 10_000 < Index::load(&folders[0]).segments[0].start_ms);
    let start = Instant::now();
    while ![a, b].iter().all(|&e| {
        matches!(
            app.world().get::<Replay>(e).unwrap().shown,
            ReplayShown::Nothing { .. }
        )
    }) {
        assert!(start.elapsed() < Duration::from_secs(20), "no recording");
        step(&mut app, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(app.world().get::<Replay>(a).unwrap().blank());
    // →: 10 s on, the same pictures again (across segment boundaries).
    press(&mut app, &[KeyCode::ArrowRight]);
    assert_eq!(head_at(&app, a), before);
    let again = settled(&mut app, &[a, b]);
    assert_eq!(again, paused, "back to the same pictures");

    // I marks the instant, a click 1.5 s on, E: a clip of each camera, mark to playhead.
    press(&mut app, &[KeyCode::KeyI]);
    request(&mut app, a, ReplayAction::Seek(before + 1_500));
    press(&mut app, &[KeyCode::KeyE]);
    let clips = app
        .world()
        .resource::<opticlink::camera::clips::Clips>()
        .clone();
    for name in ["A", "B"] {
        let path = saved_clip(&clips, name);
        assert!(
            path.starts_with(rec.path().join("shots").join(name)),
            "{path:?}"
        );
        let probe = clip_from_mark(&path, name);
        let tag = probe["format"]["tags"]["creation_time"].as_str().unwrap();
        let start_ms = chrono::DateTime::parse_from_rfc3339(tag)
            .unwrap()
            .timestamp_millis();
        assert!(
            (before - 1_000..=before).contains(&start_ms),
            "clip of {name} starts at {tag}"
        );
    }

    // Recording goes on during playback: a segment boundary later, still one span.
    let start = Instant::now();
    while recorded_until(&folders[0]) < footage_before + 3_000 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "recording goes on"
        );
        step(&mut app, Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(app.world().get::<Replay>(a).is_some(), "still in playback");
    let spans = Index::load(&folders[0]).spans(i64::MIN, i64::MAX);
    assert_eq!(spans.len(), 1, "no gap in the recording: {spans:?}");

    // Esc: both live again; the first picture after is a live one (captured just now).
    press(&mut app, &[KeyCode::Escape]);
    step(&mut app, Duration::ZERO);
    for e in [a, b] {
        assert!(app.world().get::<Replay>(e).is_none());
        assert!(app.world().get::<AwaitLive>(e).is_some());
    }
    let start = Instant::now();
    let mut live = [false, false];
    while live != [true, true] {
        step(&mut app, Duration::from_millis(100));
        for (i, e) in [a, b].into_iter().enumerate() {
            if let Some(f) = &app.world().get::<LatestFrame>(e).unwrap().0
                && !live[i]
            {
                let age = f
                    .capture_ms
                    .map(|c| clock(opticlink::media::unix_ms()) - i64::from(c));
                assert!(
                    age.is_some_and(|a| a < 2_000),
                    "camera {i}'s first picture back is live: {age:?} ms old"
                );
                live[i] = true;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "live pictures");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(app.world().get::<AwaitLive>(a).is_none());

    // Play on an alarm of A (what the alarm list's button sends): A alone into playback,
    // playing from the event's start less the pre-roll, showing the picture of that instant.
    let start = common_from + 2_500;
    let alarm = opticlink::camera::motion::Alarm {
        id: 1,
        camera: a,
        name: "A".into(),
        source: opticlink::events::Source::Local,
        kind: opticlink::events::Kind::Motion,
        start: chrono::DateTime::from_timestamp_millis(start).unwrap(),
        end: None,
        acked: false,
    };
    for r in opticlink::wall::alarms::play(&alarm, 1_000) {
        app.world_mut()
            .resource_mut::<Messages<ReplayRequest>>()
            .write(r);
    }
    step(&mut app, Duration::ZERO);
    assert!(app.world().get::<Replay>(b).is_none(), "B stays live");
    let head = app.world().get::<Replay>(a).expect("A in playback").head;
    assert!(
        !app.world().get::<Playhead>(head).unwrap().paused,
        "it plays"
    );
    // No time passes in these steps: the head stays at the pre-roll.
    assert_eq!(head_at(&app, a), start - 1_000);
    let shown = settled(&mut app, &[a])[0];
    assert!(shown.0 <= start - 1_000 && start - 1_000 - shown.0 <= FRAME);
    assert!((clock(start - 1_000) - shown.2).abs() <= FRAME + DELIVERY);
}

/// The real window under Xvfb: `--playback TIME` opens the wall in playback and the recorded
/// pictures reach the screen through the same GPU path as live ones (Sim 1 blue on the left,
/// Sim 2 orange on the right), each tile logged as showing a picture of that time.
#[test]
fn the_wall_opens_in_playback_and_draws_recorded_pictures() {
    let _g = common::heavy();
    let rt = common::runtime();
    let (_sim, rec, ron) = two_cameras(&rt);
    let mut recorder = common::Proc::headless(&ron);
    let folders = [rec.path().join("A"), rec.path().join("B")];
    let from = common::wait_for(Duration::from_secs(60), "two segments each", || {
        let idx: Vec<Index> = folders.iter().map(|f| Index::load(f)).collect();
        idx.iter()
            .all(|i| i.segments.len() >= 3)
            .then(|| idx.iter().map(|i| i.segments[0].start_ms).max().unwrap())
    });
    assert!(recorder.stop_with("INT").success());
    let cfg = rec.path().join("wall.ron");
    std::fs::write(&cfg, &ron).unwrap();
    let at = opticlink::playback::index::rfc3339(from + 1_500);
    let x = crate::screenshot::xvfb();
    let (app, log) = crate::screenshot::shoot(
        &["--config", cfg.to_str().unwrap(), "--playback", &at],
        &[("DISPLAY", x.1.as_str())],
    );
    for cam in ["A", "B"] {
        assert!(
            log.lines().any(|l| l.contains(&format!("camera={cam}"))
                && l.contains("playback: picture of")),
            "{cam} in playback\n{log}"
        );
    }
    let (left, right) = crate::screenshot::halves(&app.dir.path().join("wall.png"));
    let [r, g, b] = left;
    assert!(
        b > r + 20.0 && b > g,
        "the left tile shows Sim 1 (blue): {left:?}"
    );
    let [r, g, b] = right;
    assert!(
        r > g + 20.0 && g > b,
        "the right tile shows Sim 2 (orange): {right:?}"
    );
    // Playing, the window draws the recorded pictures as they come (its players are asked
    // for the next picture only in a frame: playing keeps frames coming), not at the tick.
    let playing = common::Proc::start(
        &["--config", cfg.to_str().unwrap(), "--playback", &at],
        &[("DISPLAY", x.1.as_str())],
    );
    // At the tick a wall draws ≈ 1 frame a second; playing draws for every picture (a
    // software renderer on a loaded 2-core machine manages 6–10 here). Three times the tick
    // tells the two apart without depending on the machine's speed.
    let fps = crate::quiet_wall::frames_per_second(&playing, Duration::from_secs(4));
    assert!(fps >= 3.0, "{fps:.1} frames/s while playing");
}

/// A wall over two nodes plays their recordings (issue 25): each node records one of two
/// simulated cameras (2 s segments, behind the deployment's token), the wall's cameras
/// `N1/A` and `N2/B` go into playback on one playhead, and every seek shows, on both, the
/// picture whose burned-in clock is the playhead's instant, read from the nodes over HTTP
/// (listing and range requests). A clip marked on the wall is exported from both nodes.
#[test]
fn a_wall_plays_two_nodes_recordings_in_sync_by_their_burned_in_clocks() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        opticlink::simcam::SimConfig {
            cameras: 2,
            ..common::small(0)
        },
    );
    let work = tempfile::tempdir().unwrap();
    let token = "node-playback-token-8c1f4e2a9b7d";
    let token_file = work.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let ports = [common::free_port(), common::free_port()];
    let nodes: Vec<common::Proc> = [("A", 1), ("B", 2)]
        .iter()
        .zip(ports)
        .map(|(&(name, cam), port)| {
            common::Proc::headless(&format!(
                "(cameras: [(name: \"{name}\", url: \"{}\", record: true)],\n \
                 headless_decode: false, recording: (dir: \"{}\", segment_secs: 2),\n \
                 servers: (api_port: {port}, rtsp_port: 0, token: Some(\"{token}\")))",
                sim.url(cam),
                work.path().join(format!("rec-{name}")).display()
            ))
        })
        .collect();
    let folders = [work.path().join("rec-A/A"), work.path().join("rec-B/B")];
    let from = common::wait_for(Duration::from_secs(60), "four segments each", || {
        let idx: Vec<Index> = folders.iter().map(|f| Index::load(f)).collect();
        idx.iter()
            .all(|i| i.segments.len() >= 4)
            .then(|| idx.iter().map(|i| i.segments[0].end_ms).max().unwrap())
    });
    let shots = work.path().join("shots");
    let mut app = crate::substream::wall(&format!(
        "(nodes: [(name: \"N1\", url: \"http://127.0.0.1:{}\", token_file: Some(\"{tf}\")),\n \
                  (name: \"N2\", url: \"http://127.0.0.1:{}\", token_file: Some(\"{tf}\"))],\n \
          snapshot_dir: \"{}\", servers: (api_port: 0))",
        ports[0],
        ports[1],
        shots.display(),
        tf = token_file.display(),
    ));
    // The followers, as `opticlink` starts them: the nodes' cameras join through the API's
    // commands.
    let (tx, inbox) = crossbeam_channel::bounded(64);
    app.insert_resource(opticlink::camera::ApiInbox(inbox));
    let config = app
        .world()
        .resource::<opticlink::camera::WallConfig>()
        .0
        .clone();
    opticlink::node::client::spawn(
        app.world()
            .resource::<opticlink::runtime::Runtime>()
            .handle(),
        &config.nodes,
        opticlink::serve::api::CommandSender::new(tx, Default::default()),
        (Default::default(), None),
    );
    let find = |app: &mut App, name: &str| {
        let world = app.world_mut();
        world
            .query::<(Entity, &opticlink::camera::IpCamera)>()
            .iter(world)
            .find(|(_, c)| c.name == name)
            .map(|(e, _)| e)
    };
    let start = Instant::now();
    let (a, b) = loop {
        step(&mut app, Duration::from_millis(100));
        if let (Some(a), Some(b)) = (find(&mut app, "N1/A"), find(&mut app, "N2/B")) {
            break (a, b);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the nodes' cameras"
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    // Both into playback on one playhead, paused, then seeks within and across segments.
    request(
        &mut app,
        a,
        ReplayAction::Join {
            cameras: vec![a, b],
            at: Some(from),
        },
    );
    request(&mut app, a, ReplayAction::SetPaused(true));
    for (i, t) in [from + 321, from + 2_987, from + 1_500]
        .into_iter()
        .enumerate()
    {
        request(&mut app, a, ReplayAction::Seek(t));
        assert_eq!(head_at(&app, a), t);
        let shown = settled(&mut app, &[a, b]);
        check_sync(&shown, t, &format!("node seek {i}"));
    }

    // A clip from the mark to 1.5 s on, of each camera, from its node's recordings.
    request(&mut app, a, ReplayAction::Mark);
    request(&mut app, a, ReplayAction::Seek(from + 3_000));
    request(&mut app, a, ReplayAction::Export);
    let clips = app
        .world()
        .resource::<opticlink::camera::clips::Clips>()
        .clone();
    for name in ["N1/A", "N2/B"] {
        clip_from_mark(&saved_clip(&clips, name), name);
    }
    drop(app);
    drop(nodes);
}

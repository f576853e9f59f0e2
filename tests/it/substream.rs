//! Sub and main streams by tile pixels, with real workers against simulated cameras that
//! have a 1280×720 main and a 320×180 sub stream and allow two sessions each (like Tapo): the
//! camera plugins and the wall's view logic in a headless App with a 1280×720 window entity,
//! stepped by hand so every picture a tile gets is seen. In a 4×4 grid every camera decodes
//! only its sub stream and holds only that session; a layout that shows one camera full
//! window switches it to the main stream within a GOP, its tile showing sub pictures until
//! the first main picture and only main pictures after, never a dark one; back to the grid,
//! the sub stream again. The recording camera's recording never restarts, and no camera is
//! ever refused a session. A hidden camera that looks for motion decodes for it alone and
//! shows clean live pictures again once back in view.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use opticlink::camera::state::StreamState;
use opticlink::camera::{
    CameraStream, Display, IpCamera, LatestFrame, Recording, StreamKind, StreamStatus, Streams,
    WorkerLink,
};
use opticlink::simcam::{SimConfig, SimStats};

use crate::common;

/// The camera plugins and the view logic over a 1280×720 window, cameras from `ron`.
pub(crate) fn wall(ron: &str) -> App {
    let mut app = App::new();
    let (_api, inbox) = crossbeam_channel::bounded(8);
    app.add_plugins(MinimalPlugins)
        .init_resource::<ButtonInput<KeyCode>>()
        .init_resource::<ButtonInput<MouseButton>>()
        .insert_resource(opticlink::runtime::Runtime::new().unwrap())
        .insert_resource(opticlink::camera::WallConfig(
            opticlink::config::Config::parse(ron, "t.ron").unwrap(),
        ))
        .insert_resource(opticlink::camera::PicturesWanted(true))
        .insert_resource(opticlink::camera::Board(Default::default()))
        .insert_resource(opticlink::camera::ApiInbox(inbox))
        .add_plugins(opticlink::schedule_plugin)
        .add_plugins((
            opticlink::camera::spawn_plugin,
            opticlink::camera::state_plugin,
            opticlink::wall::view_plugin,
        ));
    let window = crate::common::spawn_window(&mut app);
    app.world_mut()
        .get_mut::<Window>(window)
        .unwrap()
        .resolution
        .set(1280.0, 720.0);
    app.update();
    // What the wall's renderer gives each camera: its tile and (16:9) textures.
    let world = app.world_mut();
    let cameras: Vec<Entity> = world
        .query_filtered::<Entity, With<IpCamera>>()
        .iter(world)
        .collect();
    for e in cameras {
        world.entity_mut(e).insert((
            opticlink::wall::TileRect::default(),
            opticlink::wall::video::VideoTextures {
                planes: Default::default(),
                material: Default::default(),
                size: (1280, 720),
            },
        ));
    }
    app
}

pub(crate) fn camera(app: &mut App, name: &str) -> Entity {
    let world = app.world_mut();
    world
        .query::<(Entity, &IpCamera)>()
        .iter(world)
        .find(|(_, c)| c.name == name)
        .map(|(e, _)| e)
        .unwrap()
}

/// Camera `e`'s stream entity of `kind`.
pub(crate) fn stream(app: &App, e: Entity, kind: StreamKind) -> Entity {
    let world = app.world();
    let streams = world.get::<Streams>(e).expect("the camera has streams");
    streams
        .iter()
        .find(|s| world.get::<CameraStream>(*s).unwrap().kind == kind)
        .unwrap_or_else(|| panic!("no {} stream", kind.as_str()))
}

/// Camera `e`'s stream of `kind`: its link and status.
fn parts(app: &App, e: Entity, kind: StreamKind) -> (&WorkerLink, &StreamStatus) {
    let s = stream(app, e, kind);
    let world = app.world();
    (world.get(s).unwrap(), world.get(s).unwrap())
}

/// (main decoded, sub decoded) of a camera.
fn counts(app: &App, e: Entity) -> (u64, u64) {
    let decoded = |kind| parts(app, e, kind).0.figures.decoded();
    (decoded(StreamKind::Main), decoded(StreamKind::Sub))
}

/// Steps the app in real time until `f` holds.
fn until(app: &mut App, limit: Duration, what: &str, mut f: impl FnMut(&mut App) -> bool) {
    let start = Instant::now();
    while !f(app) {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        app.update();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asks window "Main" to show layout `name` (as the API does).
fn show_layout(app: &mut App, name: &str) {
    app.world_mut()
        .resource_mut::<Messages<opticlink::wall::windows::WindowRequest>>()
        .write(opticlink::wall::windows::WindowRequest {
            window: "Main".into(),
            change: opticlink::serve::api::WindowChange {
                layout: Some(name.into()),
                tour: None,
            },
            reply: tokio::sync::oneshot::channel().0,
        });
}

/// The mean luma of a picture (the simulated scenes are bright; a black frame is ~16).
fn luma(f: &opticlink::media::VideoFrame) -> f64 {
    let y = &f.planes[0];
    let mut sum = 0u64;
    for row in 0..y.height as usize {
        let start = row * y.stride as usize;
        sum += y.data[start..start + y.width as usize]
            .iter()
            .map(|&v| u64::from(v))
            .sum::<u64>();
    }
    sum as f64 / f64::from(y.width * y.height)
}

#[test]
fn tiles_show_the_sub_stream_small_and_the_main_stream_big_without_a_black_frame() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        SimConfig {
            cameras: 16,
            width: 1280,
            height: 720,
            sub_size: Some((320, 180)),
            max_sessions: Some(2),
            ..common::small(0)
        },
    );
    let rec = tempfile::tempdir().unwrap();
    let cams: Vec<String> = (1..=16)
        .map(|i| {
            // No picture motion: what a hidden camera decodes is the wall's doing alone.
            format!(
                "(name: \"C{i}\", url: \"{}\", sub_url: Some(\"{}\"), record: {}, events: Off)",
                sim.url(i),
                sim.sub_url(i),
                i == 1
            )
        })
        .collect();
    let ron = format!(
        "(cameras: [{}],\n layouts: [(name: \"Grid\"), (name: \"C1\", grid: Grid(1, 1), cameras: [\"C1\"]),\n \
         (name: \"C2\", grid: Grid(1, 1), cameras: [\"C2\"])],\n \
         recording: (dir: \"{}\", segment_secs: {}))",
        cams.join(",\n "),
        rec.path().display(),
        crate::record::NO_ROTATION
    );
    let mut app = wall(&ron);
    let all: Vec<Entity> = (1..=16)
        .map(|i| camera(&mut app, &format!("C{i}")))
        .collect();
    // 4×4 in 1280×720: every tile is smaller than 320×180, so only sub streams decode.
    until(
        &mut app,
        Duration::from_secs(90),
        "16 sub streams decoding",
        |app| all.iter().all(|&e| counts(app, e).1 > 10),
    );
    let steps = |app: &mut App, n: usize| {
        for _ in 0..n {
            app.update();
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // What a decoder had queued when its stream stopped being wanted is done by now.
    steps(&mut app, 100);
    let grid = all.iter().map(|&e| counts(&app, e)).collect::<Vec<_>>();
    {
        let d = app.world().get::<Display>(all[0]).unwrap();
        let l = parts(&app, all[0], StreamKind::Main).0;
        eprintln!("C1 {d:?} main stream asked {:?}", l.asked());
    }
    steps(&mut app, 50);
    for (i, &e) in all.iter().enumerate() {
        let (main, sub) = counts(&app, e);
        assert_eq!(
            main,
            grid[i].0,
            "C{} decoded its main stream in the grid",
            i + 1
        );
        assert!(sub > grid[i].1, "C{} sub stream goes on", i + 1);
        let d = app.world().get::<Display>(e).unwrap();
        assert_eq!((d.visible, d.current), (true, StreamKind::Sub));
    }
    // Only C1 (recording) holds a main session besides the sixteen sub sessions.
    assert_eq!(SimStats::get(&sim.stats().sessions), 17);
    assert_eq!(SimStats::get(&sim.stats().sub_sessions), 16);
    // Each camera's two streams are entities of their own, each with its own status: the
    // sub stream live at its size; the main stream live only on C1, which records, and
    // standing by on the others.
    for (i, &e) in all.iter().enumerate() {
        assert_eq!(app.world().get::<Streams>(e).unwrap().len(), 2);
        let (_, sub) = parts(&app, e, StreamKind::Sub);
        assert_eq!(
            (sub.machine.state, sub.width, sub.height),
            (StreamState::Live, 320, 180)
        );
        let (_, main) = parts(&app, e, StreamKind::Main);
        let expected = if i == 0 {
            StreamState::Live
        } else {
            StreamState::Standby
        };
        assert_eq!(main.machine.state, expected, "C{} main stream", i + 1);
    }

    // C2 alone, full window: its main stream, in one GOP (1 s) plus the session's set-up.
    let c2 = all[1];
    show_layout(&mut app, "C2");
    let asked = Instant::now();
    let mut pictures: Vec<(u32, f64)> = Vec::new();
    until(
        &mut app,
        Duration::from_secs(10),
        "C2's main stream on its tile",
        |app| {
            if let Some(f) = &app.world().get::<LatestFrame>(c2).unwrap().0 {
                pictures.push((f.width, luma(f)));
            }
            pictures.iter().filter(|(w, _)| *w == 1280).count() >= 10
        },
    );
    let first_main = pictures.iter().position(|(w, _)| *w == 1280).unwrap();
    assert!(
        pictures[..first_main].iter().all(|(w, _)| *w == 320),
        "sub pictures until the first main one: {pictures:?}"
    );
    assert!(
        pictures[first_main..].iter().all(|(w, _)| *w == 1280),
        "only main pictures after it: {pictures:?}"
    );
    assert!(
        pictures.iter().all(|(_, y)| *y > 40.0),
        "no dark picture: {pictures:?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        app.world().get::<Display>(c2).unwrap().current,
        StreamKind::Main
    );
    // Its sub session went; the hidden cameras stopped decoding.
    steps(&mut app, 100);
    let hidden = counts(&app, all[5]);
    steps(&mut app, 50);
    assert_eq!(
        counts(&app, all[5]),
        hidden,
        "a hidden camera decodes nothing"
    );

    // C1 (recording) full window and back: the recording never restarts.
    for layout in ["C1", "Grid"] {
        show_layout(&mut app, layout);
        let want = if layout == "C1" {
            StreamKind::Main
        } else {
            StreamKind::Sub
        };
        until(&mut app, Duration::from_secs(20), "C1 to switch", |app| {
            app.world().get::<Display>(all[0]).unwrap().current == want
        });
    }
    until(
        &mut app,
        Duration::from_secs(20),
        "C2 back on its sub stream",
        |app| app.world().get::<Display>(c2).unwrap().current == StreamKind::Sub,
    );
    let rec_status = app.world().get::<Recording>(all[0]).unwrap();
    assert!(
        rec_status.active && rec_status.segments == 1,
        "{rec_status:?}"
    );
    assert_eq!(
        SimStats::get(&sim.stats().refused_sessions),
        0,
        "no camera was asked for a third session"
    );
}

/// A camera that looks for motion in its pictures keeps decoding while hidden (lightly: for
/// the detector alone) and, shown again, its tile gets live pictures within two GOPs, none
/// dark; a camera without motion analysis decodes nothing while hidden.
#[test]
fn a_hidden_camera_decodes_for_its_motion_and_shows_clean_pictures_again() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        SimConfig {
            cameras: 3,
            ..common::small(0)
        },
    );
    let ron = format!(
        "(cameras: [(name: \"M\", url: \"{}\", events: Local), (name: \"O\", url: \"{}\", events: Off),\n \
         (name: \"S\", url: \"{}\", events: Off)],\n \
         layouts: [(name: \"All\"), (name: \"S\", grid: Grid(1, 1), cameras: [\"S\"])])",
        sim.url(1),
        sim.url(2),
        sim.url(3)
    );
    let mut app = wall(&ron);
    let (m, o) = (camera(&mut app, "M"), camera(&mut app, "O"));
    let frame = |app: &App, e: Entity| app.world().get::<LatestFrame>(e).unwrap().0.clone();
    until(&mut app, Duration::from_secs(30), "M and O shown", |app| {
        frame(app, m).is_some() && frame(app, o).is_some()
    });
    show_layout(&mut app, "S");
    let main_of = |app: &App, e: Entity| parts(app, e, StreamKind::Main).0.asked();
    let decoded = |app: &App, e: Entity| parts(app, e, StreamKind::Main).0.figures.decoded();
    until(&mut app, Duration::from_secs(5), "M hidden", |app| {
        !main_of(app, m).decode
    });
    assert!(main_of(&app, m).motion, "M still analysed");
    // Settle, then count what each decodes while hidden.
    for _ in 0..50 {
        app.update();
        std::thread::sleep(Duration::from_millis(10));
    }
    let (m0, o0) = (decoded(&app, m), decoded(&app, o));
    let shown = frame(&app, m).map(|f| f.seq);
    until(
        &mut app,
        Duration::from_secs(10),
        "M decoding hidden",
        |app| decoded(app, m) >= m0 + 50,
    );
    assert_eq!(decoded(&app, o), o0, "O decoded while hidden");
    assert_eq!(
        frame(&app, m).map(|f| f.seq),
        shown,
        "a hidden tile gets no picture"
    );
    // Back into view: live pictures within two GOPs (2 s), none dark.
    show_layout(&mut app, "All");
    let asked = Instant::now();
    let mut pictures: Vec<(u64, f64, Option<u32>)> = Vec::new();
    until(
        &mut app,
        Duration::from_secs(10),
        "M's pictures again",
        |app| {
            if let Some(f) = frame(app, m).filter(|f| Some(f.seq) != shown)
                && pictures.last().is_none_or(|(s, ..)| *s != f.seq)
            {
                pictures.push((f.seq, luma(&f), f.capture_ms));
            }
            pictures.len() >= 10
        },
    );
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    for (_, y, capture) in &pictures {
        assert!(*y > 40.0, "a dark picture: {pictures:?}");
        let age = capture.map(|c| (opticlink::media::unix_ms() as u32).wrapping_sub(c));
        assert!(
            age.is_some_and(|a| a < 2_000),
            "a stale picture: {pictures:?}"
        );
    }
}

//! Named layouts and tours on a headless wall (stepped virtual time, no renderer): a layout
//! with a big cell puts its cameras where it says and hides the rest, F-keys and
//! PageUp/PageDown switch layouts, a tour cycles layouts or cameras and pauses with `P`, the
//! layout shown is kept in the state file and restored at the next start, and the API's window
//! requests switch it — none of which sends a worker anything.

use std::time::Duration;

use bevy::prelude::*;
use opticlink::serve::api::{ApiCommand, Refusal, WindowChange};
use opticlink::stream::CameraCommand;
use opticlink::wall::view::ViewStateFile;

use crate::common;
use crate::wall_view::Rig;

/// Cameras C0…C3 (for the config's checks; the rig spawns its own stand-ins) and `rest`.
pub(crate) fn config(rest: &str) -> String {
    let cams: Vec<String> = (0..4)
        .map(|i| format!("(name: \"C{i}\", url: \"rtsp://127.0.0.1:9/c{i}\")"))
        .collect();
    format!("(cameras: [{}], {rest})", cams.join(", "))
}

const LAYOUTS: &str = r#"layouts: [
    (name: "All"),
    (name: "Big", grid: OnePlus5, cameras: ["C3", "", "C0"]),
    (name: "Pair", grid: Grid(2, 1), cameras: ["C1", "C2"]),
]"#;

fn layout_name(rig: &Rig) -> String {
    let view = rig.view();
    let layouts = rig.app.world().resource::<opticlink::wall::view::Layouts>();
    layouts.0[view.layout].name.clone()
}

fn no_worker_heard_anything(rig: &mut Rig) {
    for rx in &mut rig.commands {
        let got: Result<CameraCommand, _> = rx.try_recv();
        assert!(got.is_err(), "a view change sent a worker {got:?}");
    }
}

#[test]
fn layouts_place_their_cameras_switch_by_key_and_are_kept_for_the_next_start() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("views.json");
    let ron = config(&format!(
        "{LAYOUTS}, windows: [(name: \"Wall\", layout: Some(\"Big\"))]"
    ));
    let with_state = |app: &mut App| {
        app.insert_resource(ViewStateFile(file.clone()));
    };
    let mut rig = Rig::with(4, &ron, with_state);
    rig.app.update();
    assert_eq!(layout_name(&rig), "Big");
    assert_eq!(rig.view().window, "Wall");
    // One big + 5 on 1600×900: C3 in the big cell, the second cell empty, C0 in the third.
    let (big, c0) = (rig.rect(3), rig.rect(0));
    assert!(
        big.visible && big.cell.x < 10.0 && big.cell.w > 1000.0,
        "{big:?}"
    );
    assert!(
        c0.visible && c0.cell.x > 1000.0 && c0.cell.y > 290.0,
        "{c0:?}"
    );
    assert!(!rig.rect(1).visible && !rig.rect(2).visible);
    assert_eq!(rig.view().selected, 0, "C0 is shown: the selection stays");
    // Tab goes through the cameras shown, in cell order (C3, then C0).
    rig.press(KeyCode::Tab);
    assert_eq!(rig.view().selected, 3);
    rig.press(KeyCode::Tab);
    assert_eq!(rig.view().selected, 0);
    // F3: the pair, side by side.
    rig.press(KeyCode::F3);
    assert_eq!(layout_name(&rig), "Pair");
    let (l, r) = (rig.rect(1), rig.rect(2));
    assert!(l.visible && r.visible && l.cell.x < 10.0 && r.cell.x > 790.0);
    assert!(!rig.rect(0).visible && !rig.rect(3).visible);
    assert_eq!(
        rig.view().selected,
        1,
        "the selection moves to a camera shown"
    );
    // F9 names no layout: nothing changes. PageDown wraps to the first, PageUp comes back.
    rig.press(KeyCode::F9);
    assert_eq!(layout_name(&rig), "Pair");
    rig.press(KeyCode::PageDown);
    assert_eq!(layout_name(&rig), "All");
    assert!((0..4).all(|i| rig.rect(i).visible));
    rig.press(KeyCode::PageUp);
    assert_eq!(layout_name(&rig), "Pair");
    no_worker_heard_anything(&mut rig);
    // Kept for the next start, which shows it again.
    common::wait_for(Duration::from_secs(5), "the state file", || {
        let text = std::fs::read_to_string(&file).ok()?;
        text.contains(r#""Wall":"Pair""#).then_some(())
    });
    drop(rig);
    let rig = Rig::with(4, &ron, with_state);
    assert_eq!(layout_name(&rig), "Pair");
    // A state file naming a layout the config no longer has is ignored.
    std::fs::write(&file, r#"{"Wall":"Gone"}"#).unwrap();
    let rig = Rig::with(4, &ron, with_state);
    assert_eq!(layout_name(&rig), "Big");
}

#[test]
fn a_tour_cycles_layouts_or_cameras_and_pauses() {
    let ron = config(&format!(
        "{LAYOUTS}, windows: [(name: \"Wall\", tour: Some((secs: 10, layouts: [\"Big\", \"Pair\"])))]"
    ));
    let mut rig = Rig::with(4, &ron, |_| {});
    assert_eq!(layout_name(&rig), "Big");
    // 100 ms a frame: the step changes after 10 s of virtual time, not before.
    for _ in 0..95 {
        rig.app.update();
    }
    assert_eq!(layout_name(&rig), "Big");
    for _ in 0..10 {
        rig.app.update();
    }
    assert_eq!(layout_name(&rig), "Pair");
    // P pauses: 30 s later it is still there; P again resumes.
    rig.press(KeyCode::KeyP);
    assert!(rig.view().tour.unwrap().paused);
    for _ in 0..300 {
        rig.app.update();
    }
    assert_eq!(layout_name(&rig), "Pair");
    rig.press(KeyCode::KeyP);
    for _ in 0..105 {
        rig.app.update();
    }
    assert_eq!(layout_name(&rig), "Big");
    // A layout picked by hand pauses the tour.
    rig.press(KeyCode::F1);
    assert_eq!(layout_name(&rig), "All");
    assert!(rig.view().tour.unwrap().paused);
    no_worker_heard_anything(&mut rig);

    // A tour of cameras shows each full window in turn; Esc ends it.
    let ron = config(&format!(
        "{LAYOUTS}, windows: [(name: \"Wall\", tour: Some((secs: 5, cameras: [\"C2\", \"C0\"])))]"
    ));
    let mut rig = Rig::with(4, &ron, |_| {});
    rig.app.update();
    assert_eq!(rig.view().maximised, Some(2));
    assert!(rig.rect(2).visible && rig.rect(2).cell.w == 1600.0);
    assert!(!rig.rect(0).visible);
    for _ in 0..55 {
        rig.app.update();
    }
    assert_eq!(rig.view().maximised, Some(0));
    rig.press(KeyCode::Escape);
    assert_eq!(rig.view().maximised, None);
    assert!(rig.view().tour.unwrap().paused);
    for _ in 0..60 {
        rig.app.update();
    }
    assert_eq!(rig.view().maximised, None, "paused");
}

/// `POST /api/windows/{window}` as the API hands it to the ECS.
fn ask(rig: &mut Rig, window: &str, change: WindowChange) -> Result<serde_json::Value, Refusal> {
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    rig.api
        .send(ApiCommand::SetWindow {
            window: window.into(),
            change,
            reply,
        })
        .unwrap();
    rig.app.update();
    answer
        .try_recv()
        .expect("answered in the same frame")
        .map(|w| serde_json::to_value(w).unwrap())
}

#[test]
fn the_api_switches_a_windows_layout_and_its_tour() {
    let ron = config(&format!(
        "{LAYOUTS}, windows: [(name: \"Wall\", tour: Some((secs: 10, layouts: [\"Big\", \"All\"])))]"
    ));
    let board = opticlink::serve::StatusBoard::default();
    let published = board.clone();
    let mut rig = Rig::with(4, &ron, move |app| {
        app.insert_resource(opticlink::camera::Board(published));
    });
    rig.app.update();
    {
        let snapshot = board.read().unwrap();
        assert_eq!(snapshot.windows.len(), 1);
        assert_eq!(snapshot.windows[0].layout, "Big");
        assert_eq!(snapshot.windows[0].width, 1600);
        let names: Vec<&str> = snapshot.layouts.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["All", "Big", "Pair"]);
        let big = &snapshot.layouts[1];
        assert_eq!(big.grid, "3x3");
        assert_eq!(big.cells.len(), 6);
        assert_eq!(big.cells[0].as_deref(), Some("C3"));
        assert_eq!(big.cells[1], None);
    }
    let w = ask(
        &mut rig,
        "Wall",
        WindowChange {
            layout: Some("Pair".into()),
            tour: None,
        },
    )
    .unwrap();
    assert_eq!(w["layout"], "Pair");
    assert_eq!(
        w["tour"]["paused"], true,
        "a layout by hand pauses the tour"
    );
    assert_eq!(w["tour"]["steps"], serde_json::json!(["Big", "All"]));
    assert!(!rig.rect(0).visible && rig.rect(1).visible);
    let w = ask(
        &mut rig,
        "Wall",
        WindowChange {
            layout: None,
            tour: Some(true),
        },
    )
    .unwrap();
    assert_eq!(w["tour"]["paused"], false);
    assert!(matches!(
        ask(
            &mut rig,
            "Nope",
            WindowChange {
                layout: None,
                tour: Some(true)
            }
        ),
        Err(Refusal::NotFound(_))
    ));
    no_worker_heard_anything(&mut rig);
}

fn spawn_monitor(rig: &mut Rig, name: &str, x: i32, primary: bool) -> Entity {
    use bevy::window::{Monitor, PrimaryMonitor};
    let monitor = Monitor {
        name: Some(name.into()),
        physical_height: 1080,
        physical_width: 1920,
        physical_position: IVec2::new(x, 0),
        refresh_rate_millihertz: None,
        scale_factor: 1.0,
        video_modes: Vec::new(),
    };
    let mut e = rig.app.world_mut().spawn(monitor);
    if primary {
        e.insert(PrimaryMonitor);
    }
    e.id()
}

fn mode(rig: &Rig) -> bevy::window::WindowMode {
    rig.app.world().get::<Window>(rig.window).unwrap().mode
}

#[test]
fn the_window_goes_to_its_monitor_by_name_and_moves_when_it_is_unplugged() {
    use bevy::window::{MonitorSelection, WindowMode};
    let ron =
        config("windows: [(name: \"Right\", monitor: NameOrIndex(\"DP-2\", 5), mode: Borderless)]");
    let mut rig = Rig::with(2, &ron, |_| {});
    // winit reports the monitors after its first loop.
    let main = spawn_monitor(&mut rig, "HDMI-A-1", 0, true);
    let right = spawn_monitor(&mut rig, "DP-2", 1920, false);
    rig.app.update();
    assert_eq!(
        mode(&rig),
        WindowMode::BorderlessFullscreen(MonitorSelection::Entity(right))
    );
    // Unplugged: the window moves to the primary monitor instead of being lost.
    rig.app.world_mut().despawn(right);
    rig.app.update();
    assert_eq!(
        mode(&rig),
        WindowMode::BorderlessFullscreen(MonitorSelection::Entity(main))
    );
    // A monitor that never existed: the primary one.
    let ron = config("windows: [(name: \"W\", monitor: Name(\"DP-7\"), mode: Fullscreen)]");
    let mut rig = Rig::with(1, &ron, |_| {});
    spawn_monitor(&mut rig, "DP-1", 0, false);
    let primary = spawn_monitor(&mut rig, "DP-3", -1920, true);
    rig.app.update();
    assert!(
        matches!(mode(&rig), WindowMode::Fullscreen(MonitorSelection::Entity(e), _) if e == primary),
        "{:?}",
        mode(&rig)
    );
}

/// The view of the window named `name`.
fn view_of(rig: &mut Rig, name: &str) -> (Entity, opticlink::wall::WallView) {
    let world = rig.app.world_mut();
    world
        .query::<(Entity, &opticlink::wall::WallView)>()
        .iter(world)
        .find(|(_, v)| v.window == name)
        .map(|(e, v)| (e, v.clone()))
        .unwrap()
}

fn focus(rig: &mut Rig, window: Entity, focused: bool) {
    rig.app
        .world_mut()
        .get_mut::<Window>(window)
        .unwrap()
        .focused = focused;
}

#[test]
fn each_window_has_its_layout_keys_act_in_the_focused_one_and_a_camera_shown_anywhere_decodes() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("views.json");
    let ron = config(&format!(
        "{LAYOUTS}, windows: [(name: \"Left\", layout: Some(\"Big\")), \
         (name: \"Right\", layout: Some(\"Pair\"), size: (800, 450))]"
    ));
    let with_state = |app: &mut App| {
        app.insert_resource(ViewStateFile(file.clone()));
    };
    let mut rig = Rig::with(4, &ron, with_state);
    rig.app.update();
    let (left, lv) = view_of(&mut rig, "Left");
    let (right, rv) = view_of(&mut rig, "Right");
    assert_eq!(left, rig.window, "the first window is the primary one");
    assert_ne!(left, right, "the second window was opened");
    let layouts = rig
        .app
        .world()
        .resource::<opticlink::wall::view::Layouts>()
        .0
        .clone();
    assert_eq!(
        (
            layouts[lv.layout].name.as_str(),
            layouts[rv.layout].name.as_str()
        ),
        ("Big", "Pair")
    );
    let size = rig
        .app
        .world()
        .get::<Window>(right)
        .unwrap()
        .resolution
        .size();
    assert_eq!(size, Vec2::new(800.0, 450.0));
    // Big shows C3 and C0, Pair C1 and C2: every camera is on screen somewhere. A camera's
    // own tile is its largest: C1 in the Right window (400 px wide).
    assert!((0..4).all(|i| rig.rect(i).visible));
    assert!(rig.rect(1).cell.w < 400.0 && rig.rect(1).cell.w > 380.0);
    // Keys act in the focused window only.
    focus(&mut rig, left, false);
    focus(&mut rig, right, true);
    rig.press(KeyCode::F1);
    assert_eq!(layouts[view_of(&mut rig, "Right").1.layout].name, "All");
    assert_eq!(layouts[view_of(&mut rig, "Left").1.layout].name, "Big");
    // The API names the window; the status lists both.
    let w = ask(
        &mut rig,
        "Left",
        WindowChange {
            layout: Some("Pair".into()),
            tour: None,
        },
    )
    .unwrap();
    assert_eq!(w["layout"], "Pair");
    assert_eq!(layouts[view_of(&mut rig, "Right").1.layout].name, "All");
    // Now Left shows C1 and C2, Right all four.
    rig.app.update();
    assert!((0..4).all(|i| rig.rect(i).visible));
    // Right shows only the pair too: C0 and C3 are nowhere, so they are not visible.
    rig.press(KeyCode::F3);
    assert!(!rig.rect(0).visible && !rig.rect(3).visible);
    assert!(rig.rect(1).visible && rig.rect(2).visible);
    // Both windows' layouts are kept.
    common::wait_for(Duration::from_secs(5), "the state file", || {
        let text = std::fs::read_to_string(&file).ok()?;
        (text.contains(r#""Left":"Pair""#) && text.contains(r#""Right":"Pair""#)).then_some(())
    });
    no_worker_heard_anything(&mut rig);
}

//! The wall's view logic with stepped frames and a window entity but no renderer: selection,
//! maximise/restore, fullscreen and resizes re-lay the tiles and never touch a worker; a
//! camera removed through the API's command path gives the grid back.

use std::sync::Arc;

use bevy::prelude::*;
use bevy::window::WindowMode;
use opticlink::camera::state::StreamMachine;
use opticlink::camera::{
    ApiInbox, IpCamera, RecorderLink, StreamKind, StreamStatus, WallConfig, WorkerLink,
};
use opticlink::record::RecorderHandle;
use opticlink::serve::api::ApiCommand;
use opticlink::stream::{CameraCommand, FrameSlot};
use opticlink::wall::{TileRect, WallView};
use std::sync::atomic::AtomicBool;

/// A headless wall of cameras `C0`, `C1` … with stand-in workers (their command queues are
/// kept to prove nothing was sent), the API's command path, a 1600×900 window, and virtual
/// time stepped 100 ms per frame.
pub(crate) struct Rig {
    pub app: App,
    pub commands: Vec<tokio::sync::mpsc::Receiver<CameraCommand>>,
    pub cameras: Vec<Entity>,
    pub window: Entity,
    /// The API's side of the ECS command channel.
    pub api: crossbeam_channel::Sender<ApiCommand>,
}

impl Rig {
    fn new(n: usize) -> Self {
        Self::with(n, "()", |_| {})
    }

    /// `n` cameras and the config `ron`; `setup` adds resources before the first frame.
    pub fn with(n: usize, ron: &str, setup: impl FnOnce(&mut App)) -> Self {
        let mut app = App::new();
        let (api, inbox) = crossbeam_channel::bounded(8);
        app.add_plugins(MinimalPlugins)
            .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
                std::time::Duration::from_millis(100),
            ))
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<ButtonInput<MouseButton>>()
            // What the API's requests need: the runtime and config a camera spawner uses.
            .insert_resource(opticlink::runtime::Runtime::new().unwrap())
            .insert_resource(WallConfig(
                opticlink::config::Config::parse(ron, "t.ron").unwrap(),
            ))
            .init_resource::<opticlink::camera::Hub>()
            .init_resource::<opticlink::camera::Retention>()
            .insert_resource(ApiInbox(inbox))
            .add_plugins(opticlink::schedule_plugin)
            .add_plugins((
                opticlink::camera::state_plugin,
                opticlink::camera::control_plugin,
                opticlink::wall::view_plugin,
            ));
        setup(&mut app);
        let window = crate::common::spawn_window(&mut app);
        let mut commands = Vec::new();
        let mut cameras = Vec::new();
        for index in 0..n {
            let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(4);
            let (_ev_tx, events) = crossbeam_channel::bounded(4);
            let (_slot, frames) = FrameSlot::new();
            let e = app
                .world_mut()
                .spawn((
                    crate::common::tile_camera(&format!("C{index}"), index),
                    RecorderLink::new(RecorderHandle {
                        active: Arc::new(AtomicBool::new(true)),
                        ..Default::default()
                    }),
                ))
                .id();
            let link = WorkerLink::detached(cmd_tx, events, frames);
            crate::common::test_stream(app.world_mut(), e, StreamKind::Main, link);
            commands.push(cmd_rx);
            cameras.push(e);
        }
        app.update();
        Self {
            app,
            commands,
            cameras,
            window,
            api,
        }
    }

    pub fn press(&mut self, key: KeyCode) {
        self.chord(&[key]);
    }

    /// Presses `keys` together for one frame, then lets them go.
    pub fn chord(&mut self, keys: &[KeyCode]) {
        let mut input = self.app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
        for k in keys {
            input.press(*k);
        }
        self.app.update();
        let mut input = self.app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
        for k in keys {
            input.release(*k);
        }
        input.clear();
    }

    /// `PUT /api/cameras/{name}` with `json` as the API hands it to the ECS; its answer.
    pub fn replace(
        &mut self,
        json: &str,
    ) -> Result<opticlink::serve::Ports, opticlink::serve::api::Refusal> {
        let camera: opticlink::config::CameraConfig = serde_json::from_str(json).unwrap();
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        self.api
            .send(ApiCommand::ReplaceCamera {
                camera: Box::new(camera),
                reply,
            })
            .unwrap();
        self.app.update();
        answer.try_recv().expect("answered")
    }

    pub fn view(&self) -> WallView {
        self.app
            .world()
            .get::<WallView>(self.window)
            .unwrap()
            .clone()
    }

    pub fn rect(&self, i: usize) -> TileRect {
        self.app
            .world()
            .get::<TileRect>(self.cameras[i])
            .unwrap()
            .clone()
    }
}

#[test]
fn maximise_restore_fullscreen_and_resize_never_touch_workers() {
    let mut rig = Rig::new(4);
    // 2×2 grid, letterboxed 16:9 pictures.
    let r0 = rig.rect(0);
    assert!(
        r0.visible && r0.cell.w < 800.0 && r0.cell.h < 450.0,
        "{r0:?}"
    );
    assert!(
        (r0.picture.w / r0.picture.h - 16.0 / 9.0).abs() < 0.01,
        "{r0:?}"
    );
    assert!(rig.rect(3).cell.x > 790.0 && rig.rect(3).cell.y > 440.0);

    rig.press(KeyCode::Enter);
    assert_eq!(rig.view().maximised, Some(0));
    assert_eq!(rig.rect(0).cell.w, 1600.0);
    assert!(!rig.rect(1).visible);

    rig.press(KeyCode::ArrowRight);
    assert_eq!((rig.view().selected, rig.view().maximised), (1, Some(1)));
    assert!(rig.rect(1).visible && !rig.rect(0).visible);

    rig.press(KeyCode::Escape);
    assert_eq!(rig.view().maximised, None);
    assert!((0..4).all(|i| rig.rect(i).visible));

    rig.press(KeyCode::KeyO);
    assert!(!rig.view().overlays);

    rig.chord(&[KeyCode::AltLeft, KeyCode::Enter]);
    let mode = rig.app.world().get::<Window>(rig.window).unwrap().mode;
    assert!(
        matches!(mode, WindowMode::BorderlessFullscreen(_)),
        "{mode:?}"
    );
    assert_eq!(rig.view().maximised, None, "Alt+Enter is not Enter");
    rig.chord(&[KeyCode::AltRight, KeyCode::Enter]);
    assert_eq!(
        rig.app.world().get::<Window>(rig.window).unwrap().mode,
        WindowMode::Windowed
    );

    // A resize re-lays the grid.
    rig.app
        .world_mut()
        .get_mut::<Window>(rig.window)
        .unwrap()
        .resolution
        .set(800.0, 800.0);
    rig.app.update();
    let r = rig.rect(1);
    assert!(r.cell.w < 400.0 && r.cell.x > 390.0, "{r:?}");
    assert!(
        r.picture.h < r.cell.h,
        "16:9 in a square cell is letterboxed: {r:?}"
    );

    // Not one command reached any worker, and every camera is still in its state.
    for rx in &mut rig.commands {
        assert!(
            rx.try_recv().is_err(),
            "a view change sent a command to a worker"
        );
    }
    let world = rig.app.world_mut();
    let states: Vec<_> = world
        .query::<&StreamStatus>()
        .iter(world)
        .map(|s| s.machine.clone())
        .collect();
    assert_eq!(states, vec![StreamMachine::connecting(); rig.cameras.len()]);
}

#[test]
fn removing_the_maximised_camera_gives_the_grid_back() {
    let mut rig = Rig::new(3);
    rig.press(KeyCode::Enter);
    assert_eq!(rig.view().maximised, Some(0));
    assert!(!rig.rect(1).visible);
    // `DELETE /api/cameras/C0` as the API hands it to the ECS.
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    rig.api
        .send(ApiCommand::RemoveCamera {
            camera: "C0".into(),
            reply,
        })
        .unwrap();
    rig.app.update();
    assert_eq!(answer.try_recv(), Ok(Ok(())));
    assert_eq!(
        rig.commands[0].try_recv(),
        Ok(CameraCommand::Shutdown),
        "its worker was told to stop"
    );
    let gone = rig.cameras.remove(0);
    assert!(rig.app.world().get_entity(gone).is_err(), "despawned");
    let indices: Vec<usize> = rig
        .cameras
        .iter()
        .map(|e| rig.app.world().get::<IpCamera>(*e).unwrap().index)
        .collect();
    assert_eq!(indices, [0, 1], "the others moved up");
    rig.app.update();
    assert_eq!(rig.view().maximised, None, "no other camera took its place");
    let (a, b) = (rig.rect(0), rig.rect(1));
    assert!(a.visible && b.visible, "{a:?} {b:?}");
    // Two cameras share the window side by side.
    assert!(
        a.cell.w > 700.0 && a.cell.w < 800.0 && b.cell.x > 790.0,
        "{a:?} {b:?}"
    );
}

/// A camera with a sub stream whose worker cannot take new settings now (its queue is full):
/// `PUT` is refused with 503 and changes nothing, the main stream included.
#[test]
fn an_edit_the_sub_stream_cannot_take_changes_nothing() {
    use opticlink::serve::api::Refusal;
    let mut rig = Rig::new(1);
    let (sub_tx, mut sub_rx) = tokio::sync::mpsc::channel(1);
    sub_tx.try_send(CameraCommand::Shutdown).unwrap();
    let (_ev, events) = crossbeam_channel::bounded(1);
    let (_slot, frames) = FrameSlot::new();
    let link = WorkerLink::detached(sub_tx, events, frames);
    crate::common::test_stream(rig.app.world_mut(), rig.cameras[0], StreamKind::Sub, link);
    let refused = rig.replace(
        r#"{"name": "C0", "url": "rtsp://127.0.0.1:9/new", "sub_url": "rtsp://127.0.0.1:9/new-sub"}"#,
    );
    assert!(matches!(refused, Err(Refusal::Busy(_))), "{refused:?}");
    assert!(
        rig.commands[0].try_recv().is_err(),
        "the main stream kept its settings"
    );
    let url = &rig.app.world().get::<IpCamera>(rig.cameras[0]).unwrap().url;
    assert!(!url.contains("new"), "{url}");
    assert_eq!(
        sub_rx.try_recv(),
        Ok(CameraCommand::Shutdown),
        "only what was queued before"
    );
    assert!(sub_rx.try_recv().is_err());
}

/// A camera whose worker task has ended takes an edit by starting afresh, not by answering
/// "busy" for ever.
#[test]
fn an_edit_of_a_camera_whose_worker_ended_starts_it_afresh() {
    let mut rig = Rig::new(1);
    drop(rig.commands.remove(0));
    let answered = rig.replace(r#"{"name": "C0", "url": "rtsp://127.0.0.1:9/new"}"#);
    assert!(answered.is_ok(), "{answered:?}");
    rig.app.update();
    let world = rig.app.world_mut();
    let owners: Vec<Entity> = world
        .query_filtered::<&opticlink::camera::StreamOf, With<WorkerLink>>()
        .iter(world)
        .map(|s| s.0)
        .collect();
    let urls: Vec<String> = owners
        .iter()
        .map(|e| world.get::<IpCamera>(*e).unwrap().url.clone())
        .collect();
    assert_eq!(
        urls,
        ["rtsp://127.0.0.1:9/new"],
        "a new worker for the new settings"
    );
}

/// A camera shown through its sub stream whose sub stream worker ended, edited to a sub URL
/// no worker can use: the main stream keeps working and its tile shows the main stream (not
/// a sub stream that is not there).
#[test]
fn a_sub_stream_that_cannot_start_again_leaves_the_tile_on_the_main_stream() {
    use opticlink::camera::Display;
    let mut rig = Rig::new(1);
    let (sub_tx, sub_rx) = tokio::sync::mpsc::channel(1);
    drop(sub_rx);
    let (_ev, events) = crossbeam_channel::bounded(1);
    let (_slot, frames) = FrameSlot::new();
    let link = WorkerLink::detached(sub_tx, events, frames);
    let camera = rig.cameras[0];
    crate::common::test_stream(rig.app.world_mut(), camera, StreamKind::Sub, link);
    rig.app
        .world_mut()
        .entity_mut(camera)
        .insert(Display::on(StreamKind::Sub));
    let answered =
        rig.replace(r#"{"name": "C0", "url": "rtsp://127.0.0.1:9/new", "sub_url": "not a URL"}"#);
    assert!(answered.is_ok(), "{answered:?}");
    assert!(
        matches!(
            rig.commands[0].try_recv(),
            Ok(CameraCommand::Reconfigure(_))
        ),
        "the main stream took the new settings"
    );
    rig.app.update();
    let world = rig.app.world();
    let display = world.get::<Display>(camera).unwrap();
    assert_eq!(
        (display.want, display.current),
        (StreamKind::Main, StreamKind::Main)
    );
    let streams = world.get::<opticlink::camera::Streams>(camera).unwrap();
    assert_eq!(streams.len(), 1, "the dead sub stream is gone");
}

//! The wall's view logic with stepped frames and a window entity but no renderer: selection,
//! maximise/restore, fullscreen and resizes re-lay the tiles and never touch a worker.

use std::sync::Arc;

use bevy::prelude::*;
use bevy::window::{PrimaryWindow, WindowMode, WindowResolution};
use opticlink::camera::state::StreamMachine;
use opticlink::camera::{Camera, RecorderLink, StreamStatus, WorkerLink};
use opticlink::record::RecorderHandle;
use opticlink::stream::{CameraCommand, FrameSlot};
use opticlink::wall::video::VideoTextures;
use opticlink::wall::{TileRect, WallView};
use std::sync::atomic::AtomicBool;

struct Rig {
    app: App,
    commands: Vec<tokio::sync::mpsc::Receiver<CameraCommand>>,
    cameras: Vec<Entity>,
    window: Entity,
}

impl Rig {
    fn new(n: usize) -> Self {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<ButtonInput<MouseButton>>()
            .add_plugins(opticlink::schedule_plugin)
            .add_plugins((
                opticlink::camera::state_plugin,
                opticlink::wall::view_plugin,
            ));
        let window = app
            .world_mut()
            .spawn((
                Window {
                    resolution: WindowResolution::new(1600, 900),
                    ..default()
                },
                PrimaryWindow,
            ))
            .id();
        let mut commands = Vec::new();
        let mut cameras = Vec::new();
        for index in 0..n {
            let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(4);
            let (_ev_tx, events) = crossbeam_channel::bounded(4);
            let (_slot, frames) = FrameSlot::new();
            let e = app
                .world_mut()
                .spawn((
                    Camera {
                        name: format!("C{index}"),
                        index,
                        url: "rtsp://t/".into(),
                    },
                    StreamStatus {
                        machine: StreamMachine::connecting(),
                        width: 1920,
                        height: 1080,
                        ..Default::default()
                    },
                    WorkerLink {
                        commands: cmd_tx,
                        events,
                        frames,
                        stats: Arc::default(),
                    },
                    VideoTextures {
                        planes: default(),
                        material: default(),
                        size: (1920, 1080),
                    },
                    TileRect::default(),
                    RecorderLink(RecorderHandle {
                        active: Arc::new(AtomicBool::new(true)),
                        status: Arc::default(),
                    }),
                ))
                .id();
            commands.push(cmd_rx);
            cameras.push(e);
        }
        app.update();
        Self {
            app,
            commands,
            cameras,
            window,
        }
    }

    fn press(&mut self, key: KeyCode) {
        self.app
            .world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .press(key);
        self.app.update();
        let mut keys = self.app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
        keys.release(key);
        keys.clear();
    }

    fn view(&self) -> WallView {
        self.app.world().resource::<WallView>().clone()
    }

    fn rect(&self, i: usize) -> TileRect {
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

    rig.press(KeyCode::F11);
    let mode = rig.app.world().get::<Window>(rig.window).unwrap().mode;
    assert!(
        matches!(mode, WindowMode::BorderlessFullscreen(_)),
        "{mode:?}"
    );
    rig.press(KeyCode::F11);
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
    for e in &rig.cameras {
        assert_eq!(
            rig.app.world().get::<StreamStatus>(*e).unwrap().machine,
            StreamMachine::connecting()
        );
    }
}

#[test]
fn removing_the_maximised_camera_gives_the_grid_back() {
    let mut rig = Rig::new(3);
    rig.press(KeyCode::Enter);
    assert_eq!(rig.view().maximised, Some(0));
    assert!(!rig.rect(1).visible);
    // What `DELETE /api/cameras/{name}` does: despawn, and the others move up.
    let gone = rig.cameras.remove(0);
    rig.app.world_mut().despawn(gone);
    for (i, e) in rig.cameras.iter().enumerate() {
        rig.app.world_mut().get_mut::<Camera>(*e).unwrap().index = i;
    }
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

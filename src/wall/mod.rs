//! The present side of the wall (window mode only): one tile per camera in a grid that follows
//! the window, letterboxed pictures drawn by the GPU, overlays, selection/maximise/fullscreen
//! input, and the `--screenshot` capture. Nothing here touches a camera's worker: layout and
//! view changes never reconnect, pause or restart a stream.

pub mod display;
mod input;
pub mod keys;
pub mod layout;
pub mod monitors;
mod overlay;
pub mod snapshot;
pub mod sound;
pub mod talk;
pub mod video;
pub mod view;

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

use crate::WallSystems;
use crate::camera::state::StreamState;
use crate::camera::sub::{Display, SubStream, camera_status};
use crate::camera::{IpCamera, SetRecording, StreamStatus, ViewLocked};
use layout::Rect;
use video::{VideoTextures, YuvMaterial};

/// Window-mode options from the command line.
#[derive(Debug, Clone, Default)]
pub struct WindowOptions {
    /// Write a PNG of the window after this long, then exit.
    pub screenshot: Option<(PathBuf, Duration)>,
    /// Take the screenshot as soon as every enabled camera is live with a picture on screen
    /// (the duration above is then the longest wait).
    pub screenshot_when_live: bool,
}

/// What the wall's window shows: its layout, selection, maximised tile, overlays on/off and
/// its tour.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct WallView {
    /// The window's name (`windows:`; `Main` without).
    pub window: String,
    /// The layout shown: an index into [`view::Layouts`].
    pub layout: usize,
    /// The selected camera (its index).
    pub selected: usize,
    pub maximised: Option<usize>,
    pub overlays: bool,
    pub tour: Option<view::Tour>,
    /// The camera a tour shows full window now.
    pub tour_camera: Option<String>,
}

impl Default for WallView {
    fn default() -> Self {
        Self {
            window: "Main".into(),
            layout: 0,
            selected: 0,
            maximised: None,
            overlays: true,
            tour: None,
            tour_camera: None,
        }
    }
}

/// Where a camera's tile is this frame (screen coordinates, logical pixels).
#[derive(Component, Debug, Clone, Default)]
pub struct TileRect {
    pub cell: Rect,
    pub picture: Rect,
    pub visible: bool,
}

/// The mesh entity drawing a camera's picture; despawned with its camera.
#[derive(Component, Debug)]
#[relationship(relationship_target = Tile)]
pub struct TileOf(pub Entity);

/// A camera's tile mesh (the other side of [`TileOf`]).
#[derive(Component, Debug)]
#[relationship_target(relationship = TileOf, linked_spawn)]
pub struct Tile(Entity);

/// Gap between tiles, logical pixels.
pub(crate) const GAP: f32 = 4.0;

#[derive(Resource)]
struct ScreenshotPlan {
    path: PathBuf,
    after: Duration,
    when_live: bool,
    /// Frames every camera has been live with a picture (the shot waits a few, so the
    /// pictures are uploaded and drawn).
    ready_frames: u32,
    taken: bool,
}

/// Selection, maximise, fullscreen, overlays toggle and grid layout: needs a `Window` entity
/// and the input resources, no renderer (tests run it with `MinimalPlugins`).
pub fn view_plugin(app: &mut App) {
    app.init_resource::<WallView>()
        .init_resource::<keys::Bindings>()
        .init_resource::<view::Layouts>()
        .init_resource::<view::Shown>()
        .add_message::<SetRecording>()
        .add_message::<crate::camera::Steer>()
        .add_message::<view::WindowRequest>()
        .add_message::<bevy::input::mouse::MouseWheel>()
        .add_systems(Startup, view::init_view)
        .add_systems(Update, monitors::place_window.in_set(WallSystems::Present))
        .add_systems(
            Update,
            (
                forget_removed,
                view::window_requests,
                input::select,
                input::steer,
                view::advance_tour,
                view::layout_tiles,
                view::choose_streams,
                view::save_layout,
                view::publish_windows,
            )
                .chain()
                .in_set(WallSystems::Present),
        );
}

/// A camera removed at run time: the grid comes back (the others moved up, so an index would
/// now name another camera) and the selection stays on the grid.
fn forget_removed(
    mut removed: RemovedComponents<IpCamera>,
    mut view: ResMut<WallView>,
    cameras: Query<&IpCamera>,
) {
    if removed.read().count() == 0 {
        return;
    }
    view.maximised = None;
    view.selected = view.selected.min(cameras.iter().count().saturating_sub(1));
}

/// The whole wall: view logic, GPU pictures, overlays, screenshot.
pub fn plugin(options: WindowOptions) -> impl Fn(&mut App) {
    move |app: &mut App| {
        app.add_plugins(EguiPlugin::default())
            .add_plugins((
                video::plugin,
                view_plugin,
                sound::plugin,
                talk::plugin,
                snapshot::plugin,
            ))
            .add_systems(Startup, spawn_view)
            .add_systems(
                Update,
                spawn_tiles
                    .in_set(WallSystems::Present)
                    .before(input::select),
            )
            .add_systems(
                Update,
                (video::resize_textures, dim_tiles)
                    .chain()
                    .in_set(WallSystems::Present)
                    .after(view::layout_tiles),
            )
            .add_systems(EguiPrimaryContextPass, overlay::overlays_ui);
        if let Some((path, after)) = options.screenshot.clone() {
            app.insert_resource(ScreenshotPlan {
                path,
                after,
                when_live: options.screenshot_when_live,
                ready_frames: 0,
                taken: false,
            })
            .add_systems(Update, take_screenshot.after(WallSystems::Present));
        }
    }
}

fn spawn_view(mut commands: Commands) {
    commands.spawn((Camera2d, Msaa::Off));
}

fn spawn_tiles(
    mut commands: Commands,
    cameras: Query<Entity, Added<IpCamera>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<YuvMaterial>>,
) {
    for entity in &cameras {
        let tex = video::new_textures(&mut images, &mut materials);
        commands.spawn((
            Mesh2d(meshes.add(Rectangle::default())),
            MeshMaterial2d(tex.material.clone()),
            Transform::default(),
            Visibility::Hidden,
            TileOf(entity),
        ));
        commands.entity(entity).insert((tex, TileRect::default()));
    }
}

/// Tiles of cameras that are not live show their last picture dimmed.
fn dim_tiles(
    cameras: Query<(&StreamStatus, Option<&SubStream>, &Display, &VideoTextures)>,
    mut materials: ResMut<Assets<YuvMaterial>>,
) {
    for (main, sub, display, tex) in &cameras {
        let status = camera_status(main, sub, Some(display));
        let value = if status.machine.state == StreamState::Live {
            1.0
        } else {
            0.35
        };
        video::set_brightness(&mut materials, &tex.material, value);
    }
}

/// What the screenshot checks and logs of each camera.
type ShotView = (
    crate::camera::CameraView,
    Option<&'static VideoTextures>,
    &'static ViewLocked,
    Option<&'static TileRect>,
);

fn take_screenshot(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut plan: ResMut<ScreenshotPlan>,
    cameras: Query<ShotView, With<crate::camera::WorkerLink>>,
) {
    if plan.taken {
        return;
    }
    // Live, with a picture uploaded when its tile is shown (its latency measured means it
    // reached the GPU). The cameras exist from the first frame; their tiles a frame later.
    let all_live = !cameras.is_empty()
        && cameras.iter().all(|(view, tex, locked, rect)| {
            // A locked tile shows its lock, never a picture; a camera the layout leaves
            // out shows nothing.
            let drawn = rect.is_some_and(|r| r.visible) && !locked.0;
            view.shown().0.machine.state == StreamState::Live
                && (!drawn
                    || (tex.is_some_and(|t| t.size != (0, 0)) && view.latency.0.added.is_some()))
        });
    plan.ready_frames = if all_live { plan.ready_frames + 1 } else { 0 };
    let ready = plan.when_live && plan.ready_frames >= 5;
    if !ready && time.elapsed() < plan.after {
        return;
    }
    if plan.when_live && !ready {
        warn!(
            "screenshot: not every camera is live after {:?}; taking it anyway",
            plan.after
        );
    }
    plan.taken = true;
    // What the picture shows, for whoever reads the log with it (a bug report, a test).
    let mut shown: Vec<_> = cameras.iter().collect();
    shown.sort_by_key(|(view, ..)| view.camera.index);
    for (view, tex, locked, rect) in shown {
        let (cam, status) = (view.camera, view.shown().0);
        let (w, h) = tex.map_or((0, 0), |t| t.size);
        let latency = if locked.0 {
            "locked: no picture shown".into()
        } else if !rect.is_some_and(|r| r.visible) {
            "not in the layout shown".into()
        } else {
            overlay::latency_line(view.latency).unwrap_or_else(|| "no latency yet".into())
        };
        let stream = if view.sub.is_some() {
            format!(" ({} stream)", view.display.current.as_str())
        } else {
            String::new()
        };
        info!(
            camera = %cam.name,
            "screenshot: {} {w}x{h}{stream}, {latency}",
            status.machine.state.as_str()
        );
    }
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(plan.path.clone()))
        .observe(
            |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                exit.write(AppExit::Success);
            },
        );
}

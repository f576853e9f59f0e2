//! The present side of the wall (window mode only): one window per entry of `windows:`, each
//! with its own layout, 2D camera (its render layer), tile per camera it shows, letterboxed
//! pictures drawn by the GPU and overlays; input acts in the focused window; the
//! `--screenshot` capture writes one PNG per window. Nothing here touches a camera's worker:
//! layout and view changes never reconnect, pause or restart a stream.

pub mod alarms;
pub mod display;
pub mod focus;
pub mod follow;
mod input;
pub mod keys;
pub mod layout;
mod lock_form;
pub mod monitors;
mod overlay;
pub use overlay::EventColour;
pub mod pace;
mod playback;
pub mod snapshot;
pub mod sound;
mod steer;
mod streams;
pub mod talk;
mod timeline;
pub mod video;
pub mod view;
pub mod windows;

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

use crate::WallSystems;
use crate::camera::state::StreamState;
use crate::camera::{Display, IpCamera, SetRecording, Streams, StreamsOf, ViewLocked};
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

/// What a wall window shows: its layout, selection, maximised tile, overlays on/off and its
/// tour (a component of each wall window, with its [`view::Shown`]).
#[derive(Component, Debug, Clone, PartialEq)]
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
    /// What the layout's follow-activity cell shows, and since when.
    pub following: Option<follow::Following>,
    /// The alarm list is open.
    pub alarms: bool,
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
            following: None,
            alarms: false,
        }
    }
}

/// The window the operator works in: the focused wall window, else the primary one, else
/// any. Input, sound, talk and snapshots act on its view.
pub fn operator_window(windows: impl Iterator<Item = (Entity, bool, bool)>) -> Option<Entity> {
    let (mut focused, mut primary, mut any) = (None, None, None);
    for (entity, is_focused, is_primary) in windows {
        // New windows start out focused until the system says otherwise: the primary wins.
        if is_focused && (is_primary || focused.is_none()) {
            focused = Some(entity);
        }
        if is_primary {
            primary = Some(entity);
        }
        any.get_or_insert(entity);
    }
    focused.or(primary).or(any)
}

/// The wall windows for [`operator_window`].
pub type ViewWindows<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static Window,
        &'static WallView,
        Has<bevy::window::PrimaryWindow>,
    ),
>;

/// The view of the window the operator works in.
pub fn operator_view<'a>(windows: &'a ViewWindows) -> Option<&'a WallView> {
    let at = operator_window(windows.iter().map(|(e, w, _, p)| (e, w.focused, p)))?;
    windows.get(at).ok().map(|(_, _, v, _)| v)
}

/// The 2D camera drawing one wall window (render layer = the window's index).
#[derive(Component, Debug, Clone, Copy)]
pub struct WallCamera(pub Entity);

/// The window a tile mesh is drawn in.
#[derive(Component, Debug, Clone, Copy)]
pub struct TileIn(pub Entity);

/// The egui pass of window `n` (the first window uses bevy_egui's primary pass).
#[derive(bevy::ecs::schedule::ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct WindowPass(pub usize);

/// Which window's overlays the egui pass now running draws.
#[derive(Resource, Debug, Default)]
pub struct OverlayPass(pub usize);

/// Where a camera's tile is this frame (screen coordinates, logical pixels).
#[derive(Component, Debug, Clone, Default)]
pub struct TileRect {
    pub cell: Rect,
    pub picture: Rect,
    pub visible: bool,
}

/// The mesh entity drawing a camera's picture; despawned with its camera.
#[derive(Component, Debug)]
#[relationship(relationship_target = Tiles)]
pub struct TileOf(pub Entity);

/// A camera's tile meshes, one per window (the other side of [`TileOf`]).
#[derive(Component, Debug)]
#[relationship_target(relationship = TileOf, linked_spawn)]
pub struct Tiles(Vec<Entity>);

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
    /// Windows whose picture is still being written.
    pending: usize,
}

/// Selection, maximise, fullscreen, overlays toggle and grid layout: needs a `Window` entity
/// and the input resources, no renderer (tests run it with `MinimalPlugins`).
pub fn view_plugin(app: &mut App) {
    app.init_resource::<keys::Bindings>()
        .init_resource::<view::Layouts>()
        .add_message::<SetRecording>()
        .add_message::<crate::camera::Steer>()
        .add_message::<crate::camera::ReplayRequest>()
        .add_message::<windows::WindowRequest>()
        .add_message::<bevy::input::mouse::MouseWheel>()
        .add_systems(Startup, view::init_view)
        .add_systems(Update, monitors::place_windows.in_set(WallSystems::Present))
        .add_systems(
            Update,
            (
                forget_removed,
                windows::window_requests,
                input::select,
                playback::keys,
                steer::steer,
                view::advance_tour,
                follow::follow_activity,
                view::layout_tiles,
                view::place_tiles,
                streams::choose_streams,
                view::save_layout,
                windows::publish_windows,
            )
                .chain()
                .in_set(WallSystems::Present),
        );
}

/// A camera removed at run time: the grid comes back (the others moved up, so an index would
/// now name another camera) and the selection stays on the grid.
fn forget_removed(
    mut removed: RemovedComponents<IpCamera>,
    mut views: Query<&mut WallView>,
    cameras: Query<&IpCamera>,
) {
    if removed.read().count() == 0 {
        return;
    }
    let n = cameras.iter().count();
    for mut view in &mut views {
        view.maximised = None;
        view.selected = view.selected.min(n.saturating_sub(1));
    }
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
                pace::plugin,
                focus::plugin,
            ))
            .init_resource::<OverlayPass>()
            .init_resource::<overlay::EventColour>()
            .add_systems(
                Update,
                (spawn_window_cameras, spawn_tiles)
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
            .add_systems(
                EguiPrimaryContextPass,
                (
                    overlay_pass(0),
                    overlay::overlays_ui,
                    timeline::timeline_ui,
                    alarms::alarms_ui,
                )
                    .chain(),
            );
        // Each further window draws its overlays in an egui pass of its own.
        app.world_mut()
            .resource_mut::<bevy_egui::EguiGlobalSettings>()
            .auto_create_primary_context = false;
        let windows = app
            .world()
            .get_resource::<crate::camera::WallConfig>()
            .map_or(1, |c| c.0.windows.len().max(1));
        for n in 1..windows {
            app.add_systems(
                WindowPass(n),
                (
                    overlay_pass(n),
                    overlay::overlays_ui,
                    timeline::timeline_ui,
                    alarms::alarms_ui,
                )
                    .chain(),
            );
        }
        if let Some((path, after)) = options.screenshot.clone() {
            app.insert_resource(ScreenshotPlan {
                path,
                after,
                when_live: options.screenshot_when_live,
                ready_frames: 0,
                taken: false,
                pending: 0,
            })
            .add_systems(Update, take_screenshot.after(WallSystems::Present));
        }
    }
}

/// Marks which window the egui pass about to run draws.
fn overlay_pass(n: usize) -> impl FnMut(ResMut<OverlayPass>) {
    move |mut pass: ResMut<OverlayPass>| pass.0 = n
}

/// A 2D camera for each new wall window, drawing only that window's render layer; the first
/// carries the primary egui context, the others an egui pass of their own.
fn spawn_window_cameras(
    mut commands: Commands,
    windows: Query<(Entity, &view::WindowIndex), Added<WallView>>,
) {
    use bevy::camera::RenderTarget;
    use bevy::camera::visibility::RenderLayers;
    use bevy::window::WindowRef;
    for (window, index) in &windows {
        let mut camera = commands.spawn((
            Camera2d,
            Msaa::Off,
            RenderTarget::Window(WindowRef::Entity(window)),
            RenderLayers::layer(index.0),
            WallCamera(window),
        ));
        if index.0 == 0 {
            camera.insert(bevy_egui::PrimaryEguiContext);
        } else {
            camera.insert(bevy_egui::EguiSchedule::new(WindowPass(index.0)));
        }
    }
}

/// Each camera's textures (once) and a tile mesh for it in every window, on the window's
/// render layer; a window opened later gets tiles for the cameras there are.
#[allow(clippy::too_many_arguments)]
fn spawn_tiles(
    mut commands: Commands,
    new_cameras: Query<Entity, Added<IpCamera>>,
    cameras: Query<(Entity, &VideoTextures)>,
    new_windows: Query<Entity, Added<WallView>>,
    windows: Query<(Entity, &view::WindowIndex), With<WallView>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<YuvMaterial>>,
    mut quad: Local<Option<Handle<Mesh>>>,
) {
    let quad = quad
        .get_or_insert_with(|| meshes.add(Rectangle::default()))
        .clone();
    let tile = |commands: &mut Commands, camera, material: &Handle<YuvMaterial>, window| {
        let Ok((_, index)) = windows.get(window) else {
            return;
        };
        commands.spawn((
            Mesh2d(quad.clone()),
            MeshMaterial2d(material.clone()),
            Transform::default(),
            Visibility::Hidden,
            bevy::camera::visibility::RenderLayers::layer(index.0),
            TileOf(camera),
            TileIn(window),
        ));
    };
    for camera in &new_cameras {
        let tex = video::new_textures(&mut images, &mut materials);
        for (window, _) in &windows {
            tile(&mut commands, camera, &tex.material, window);
        }
        commands.entity(camera).insert((tex, TileRect::default()));
    }
    // Cameras that had their textures before the window opened.
    for window in &new_windows {
        for (camera, tex) in &cameras {
            tile(&mut commands, camera, &tex.material, window);
        }
    }
}

/// Tiles of cameras that are not live show their last picture dimmed (playback is never dim).
#[allow(clippy::type_complexity)]
fn dim_tiles(
    cameras: Query<(
        Option<&Streams>,
        &Display,
        &VideoTextures,
        Has<crate::camera::Replay>,
    )>,
    streams: StreamsOf,
    mut materials: ResMut<Assets<YuvMaterial>>,
) {
    for (of, display, tex, replay) in &cameras {
        let status = streams.describing(of, display).status;
        let value = if replay || status.machine.state == StreamState::Live {
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
    Option<&'static crate::camera::Replay>,
);

fn take_screenshot(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut plan: ResMut<ScreenshotPlan>,
    cameras: Query<ShotView, With<Streams>>,
    streams: StreamsOf,
    windows: Query<(Entity, (&WallView, &view::WindowIndex))>,
) {
    if plan.taken {
        return;
    }
    // Live, with a picture uploaded when its tile is shown (its latency measured means it
    // reached the GPU). The cameras exist from the first frame; their tiles a frame later.
    // Cameras without a running worker (disabled, or failed to start) never go live.
    let running = |view: &crate::camera::CameraViewItem| {
        streams
            .of(view.streams, crate::camera::StreamKind::Main)
            .is_some_and(|m| m.running)
    };
    let all_live = cameras.iter().any(|(view, ..)| running(&view))
        && cameras.iter().filter(|(view, ..)| running(view)).all(
            |(view, tex, locked, rect, replay)| {
                // A locked tile shows its lock, never a picture; a camera the layout leaves
                // out shows nothing; one in playback, a recorded picture.
                let drawn = rect.is_some_and(|r| r.visible) && !locked.0;
                if let Some(r) = replay {
                    return !drawn || (!r.blank() && tex.is_some_and(|t| t.size != (0, 0)));
                }
                let shown = view.shown(&streams);
                shown.status.machine.state == StreamState::Live
                    && (!drawn
                        || (tex.is_some_and(|t| t.size != (0, 0))
                            && shown.latency.0.added.is_some()))
            },
        );
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
    for (view, tex, locked, rect, replay) in shown {
        let shown = view.shown(&streams);
        let (cam, status) = (view.camera, shown.status);
        let (w, h) = tex.map_or((0, 0), |t| t.size);
        let latency = if locked.0 {
            "locked: no picture shown".into()
        } else if let Some(r) = replay {
            match &r.shown {
                crate::camera::replay::ReplayShown::Picture { at_ms, .. } => {
                    format!(
                        "playback: picture of {}",
                        crate::record::policy::creation_time(*at_ms)
                    )
                }
                other => format!("playback: {other:?}"),
            }
        } else if !rect.is_some_and(|r| r.visible) {
            "not in the layout shown".into()
        } else {
            overlay::latency_line(shown.latency).unwrap_or_else(|| "no latency yet".into())
        };
        let stream = if streams
            .of(view.streams, crate::camera::StreamKind::Sub)
            .is_some()
        {
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
    // One picture per window: the first to PATH, the others to PATH-NAME (wall-Right.png).
    for (entity, window) in &windows {
        let path = if window.1.0 == 0 {
            plan.path.clone()
        } else {
            let stem = plan
                .path
                .file_stem()
                .map_or("wall".into(), |s| s.to_string_lossy().into_owned());
            let ext = plan
                .path
                .extension()
                .map_or("png".into(), |s| s.to_string_lossy().into_owned());
            plan.path
                .with_file_name(format!("{stem}-{}.{ext}", file_safe(&window.0.window)))
        };
        info!(
            "screenshot of window {:?}: {}",
            window.0.window,
            path.display()
        );
        plan.pending += 1;
        commands
            .spawn(Screenshot::window(entity))
            .observe(save_to_disk(path))
            .observe(
                |_: On<ScreenshotCaptured>,
                 mut plan: ResMut<ScreenshotPlan>,
                 mut exit: MessageWriter<AppExit>| {
                    plan.pending = plan.pending.saturating_sub(1);
                    if plan.pending == 0 {
                        exit.write(AppExit::Success);
                    }
                },
            );
    }
}

/// A window name as part of a file name.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

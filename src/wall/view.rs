//! What each window shows: its layout (chosen by key, by the API or by its tour, restored
//! from the state file at start), the layout solved for the cameras there are and laid over
//! the window (its [`Shown`] tiles; each camera's own [`TileRect`] is its largest tile in any
//! window), the tile meshes placed to match, and the tour's clock. Switching layouts changes
//! only what is drawn and decoded (`streams`); the API's side is in `windows`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::layout::{self, Rect, Solved};
use super::video::VideoTextures;
use super::{GAP, TileIn, TileOf, TileRect, WallView};
use crate::camera::{IpCamera, ViewLocked};
use crate::config::{GridSpec, LayoutConfig};

/// The layouts windows choose from (the config's, or the built-in `All`).
#[derive(Resource, Debug, Clone)]
pub struct Layouts(pub Vec<LayoutConfig>);

impl Default for Layouts {
    fn default() -> Self {
        Self(crate::config::builtin_layouts())
    }
}

/// The layout a window shows this frame, solved for the cameras there are: each cell's
/// rectangle and, per camera it shows, its tile (a component of each wall window).
#[derive(Component, Debug, Clone, Default)]
pub struct Shown {
    pub solved: Option<Solved>,
    pub rects: Vec<Rect>,
    /// Camera entity → its tile in this window (cameras the window leaves out are absent).
    pub tiles: Vec<(Entity, TileRect)>,
}

impl Shown {
    /// Camera indices in cell order (empty cells skipped).
    pub fn order(&self) -> Vec<usize> {
        self.solved
            .iter()
            .flat_map(|s| s.cells.iter().filter_map(|(_, c)| *c))
            .collect()
    }

    /// Camera `camera`'s tile in this window, if the window shows it.
    pub fn tile(&self, camera: Entity) -> Option<&TileRect> {
        self.tiles
            .iter()
            .find(|(e, _)| *e == camera)
            .map(|(_, t)| t)
    }
}

/// Which of `windows:` a wall window is (0: the first, the primary window); also its render
/// layer, so each window's camera draws only its own tiles.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowIndex(pub usize);

/// One step of a tour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TourStep {
    /// Show this layout (an index into [`Layouts`]).
    Layout(usize),
    /// Show this camera full window.
    Camera(String),
}

/// A window's tour: each step for `every`, in turn, unless paused.
#[derive(Debug, Clone, PartialEq)]
pub struct Tour {
    pub steps: Vec<TourStep>,
    pub every: Duration,
    pub at: usize,
    pub paused: bool,
    /// When (virtual time) the current step began.
    pub since: Duration,
}

impl Tour {
    pub(super) fn names(&self, layouts: &[LayoutConfig]) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| match s {
                TourStep::Layout(i) => layouts.get(*i).map(|l| l.name.clone()).unwrap_or_default(),
                TourStep::Camera(c) => c.clone(),
            })
            .collect()
    }
}

/// Where the wall keeps the layout each window showed last (`views.json` in the state
/// directory); without it nothing is kept (tests).
#[derive(Resource, Debug, Clone)]
pub struct ViewStateFile(pub PathBuf);

/// Layout name per window name.
fn read_state(path: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The newest write asked for, per state file: writes run one at a time and a write that a
/// newer one has overtaken is skipped, so the file never ends on an older layout.
static WRITES: std::sync::Mutex<BTreeMap<PathBuf, u64>> = std::sync::Mutex::new(BTreeMap::new());
/// Held by the thread writing (never by the frame, which only takes `WRITES` for a moment).
static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes `state` beside `path` and renames it over, on a thread of its own: a slow disk never
/// holds up a frame. The last state asked for is the one the file keeps.
fn write_state(path: PathBuf, state: BTreeMap<String, String>) {
    let seq = {
        let mut writes = WRITES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = writes.get(&path).map_or(1, |s| s + 1);
        writes.insert(path.clone(), seq);
        seq
    };
    let spawned = std::thread::Builder::new()
        .name("view-state".into())
        .spawn(move || {
            // One write at a time; each then finds whether it is still the newest.
            let _writing = WRITING
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let newest = WRITES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&path)
                == Some(&seq);
            if !newest {
                return;
            }
            let tmp = path.with_extension("json.tmp");
            let result = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(&state).unwrap_or_default()))
                .and_then(|()| std::fs::rename(&tmp, &path));
            if let Err(e) = result {
                warn!("cannot keep the window layouts in {}: {e}", path.display());
            }
        });
    if let Err(e) = spawned {
        warn!("cannot keep the window layouts: {e}");
    }
}

/// At start: the layouts, and each window of `windows:` (the first is the primary window;
/// the others are opened here) with its name, the layout it starts with (the one it showed
/// last, else its configured one, else the first) and its tour.
pub(super) fn init_view(
    mut commands: Commands,
    config: Option<Res<crate::camera::WallConfig>>,
    state_file: Option<Res<ViewStateFile>>,
    mut layouts: ResMut<Layouts>,
    primary: Query<Entity, With<PrimaryWindow>>,
    time: Res<Time>,
) {
    let configured = config
        .as_ref()
        .map(|c| c.0.windows.clone())
        .unwrap_or_default();
    if let Some(config) = &config {
        layouts.0 = config.0.layouts();
    }
    let saved = state_file
        .as_ref()
        .map(|f| read_state(&f.0))
        .unwrap_or_default();
    let windows: Vec<Option<&crate::config::WindowConfig>> = if configured.is_empty() {
        vec![None]
    } else {
        configured.iter().map(Some).collect()
    };
    for (i, want) in windows.into_iter().enumerate() {
        let view = initial_view(want, &layouts.0, &saved, time.elapsed());
        let entity = match (i, primary.single()) {
            (0, Ok(e)) => e,
            (0, Err(_)) => continue,
            (_, _) => commands.spawn(super::monitors::os_window(want)).id(),
        };
        commands
            .entity(entity)
            .insert((view, Shown::default(), WindowIndex(i)));
    }
}

/// A window's view at start.
fn initial_view(
    want: Option<&crate::config::WindowConfig>,
    layouts: &[LayoutConfig],
    saved: &BTreeMap<String, String>,
    now: Duration,
) -> WallView {
    let mut view = WallView::default();
    if let Some(w) = want {
        view.window = w.name.clone();
        view.alarms = w.alarms;
    }
    let index_of = |name: &str| layouts.iter().position(|l| l.name == name);
    view.layout = saved
        .get(&view.window)
        .and_then(|l| index_of(l))
        .or_else(|| want.and_then(|w| w.layout.as_deref()).and_then(index_of))
        .unwrap_or(0);
    view.tour = want.and_then(|w| w.tour.as_ref()).map(|t| {
        let mut steps: Vec<TourStep> = t
            .layouts
            .iter()
            .filter_map(|l| index_of(l).map(TourStep::Layout))
            .collect();
        steps.extend(t.cameras.iter().cloned().map(TourStep::Camera));
        Tour {
            steps,
            every: Duration::from_secs(t.secs.max(1)),
            at: 0,
            paused: false,
            since: now,
        }
    });
    if let Some(tour) = &view.tour {
        let first = tour.steps.first().cloned();
        show_step(&mut view, first);
    }
    view
}

/// Shows a tour step: a layout, or a camera full window (by name; its index is found when
/// laid out).
fn show_step(view: &mut WallView, step: Option<TourStep>) {
    match step {
        Some(TourStep::Layout(i)) => {
            view.layout = i;
            view.maximised = None;
            view.tour_camera = None;
        }
        Some(TourStep::Camera(name)) => view.tour_camera = Some(name),
        None => {}
    }
}

/// Moves each window's tour on when its step has been shown long enough (a view is only
/// written then: steering watches it for selection changes).
pub(super) fn advance_tour(time: Res<Time>, mut views: Query<&mut WallView>) {
    let now = time.elapsed();
    for mut view in &mut views {
        let due = view
            .tour
            .as_ref()
            .is_some_and(|t| !t.paused && !t.steps.is_empty() && now >= t.since + t.every);
        if !due {
            continue;
        }
        let Some(tour) = view.tour.as_mut() else {
            continue;
        };
        tour.at = (tour.at + 1) % tour.steps.len();
        tour.since = now;
        let step = tour.steps.get(tour.at).cloned();
        show_step(&mut view, step);
    }
}

/// Shows layout `index` on the window (by hand: a tour pauses).
pub(super) fn switch_layout(view: &mut WallView, index: usize, now: Duration) {
    view.layout = index;
    view.maximised = None;
    view.tour_camera = None;
    if let Some(t) = &mut view.tour {
        t.paused = true;
        t.since = now;
    }
}

/// Pauses or resumes the tour.
pub(super) fn set_tour(view: &mut WallView, running: bool, now: Duration) {
    if let Some(t) = &mut view.tour {
        t.paused = !running;
        t.since = now;
    }
}

/// Lays every window out: its layout solved for the cameras (in their order), each camera's
/// cell and letterboxed picture, the maximised camera over the whole window; the selection
/// moves to a shown camera when the layout leaves it out. Each camera's own [`TileRect`] is
/// its largest tile in any window (what decoding and the choice of stream go by).
#[allow(clippy::type_complexity)]
pub(super) fn layout_tiles(
    layouts: Res<Layouts>,
    mut windows: Query<(&Window, &mut WallView, &mut Shown)>,
    mut cameras: Query<(Entity, &IpCamera, &VideoTextures, &mut TileRect)>,
) {
    let mut order: Vec<(usize, String, Entity, (u32, u32))> = cameras
        .iter()
        .map(|(e, c, tex, _)| (c.index, c.name.clone(), e, tex.size))
        .collect();
    order.sort_unstable_by_key(|(i, ..)| *i);
    let names: Vec<&str> = order.iter().map(|(_, n, ..)| n.as_str()).collect();
    let fallback = LayoutConfig {
        name: String::new(),
        grid: GridSpec::Auto,
        cameras: Vec::new(),
        follow: Default::default(),
    };
    let mut largest: Vec<Option<TileRect>> = vec![None; order.len()];
    for (window, mut view, mut shown) in &mut windows {
        let (ww, wh) = (window.width(), window.height());
        let spec = layouts.0.get(view.layout).unwrap_or(&fallback);
        let follow = view.following.as_ref().and_then(|f| f.camera.as_deref());
        let solved = layout::solve_following(spec, &names, follow);
        let rects = solved.rects(ww, wh, GAP);
        // A tour's camera step shows that camera full window.
        if let Some(name) = &view.tour_camera {
            let m = order.iter().find(|(_, n, ..)| n == name).map(|(i, ..)| *i);
            if view.maximised != m {
                view.maximised = m;
            }
        }
        let shown_indices: Vec<usize> = solved.cells.iter().filter_map(|(_, c)| *c).collect();
        let selected_shown = view.maximised.is_some() || shown_indices.contains(&view.selected);
        if !selected_shown && let Some(&first) = shown_indices.first() {
            view.selected = first;
        }
        let full = Rect {
            x: 0.0,
            y: 0.0,
            w: ww,
            h: wh,
        };
        let mut tiles = Vec::new();
        for (slot, &(index, _, entity, size)) in order.iter().enumerate() {
            let cell = match view.maximised {
                Some(m) if m == index => Some(full),
                Some(_) => None,
                None => solved.cell_of(index).map(|i| rects[i]),
            };
            let Some(cell) = cell else { continue };
            let tile = TileRect {
                cell,
                picture: layout::fit(cell, size.0, size.1),
                visible: true,
            };
            let area = |t: &TileRect| t.picture.w * t.picture.h;
            if largest[slot].as_ref().is_none_or(|l| area(&tile) > area(l)) {
                largest[slot] = Some(tile.clone());
            }
            tiles.push((entity, tile));
        }
        shown.tiles = tiles;
        shown.rects = rects;
        shown.solved = Some(solved);
    }
    for (slot, &(_, _, entity, _)) in order.iter().enumerate() {
        if let Ok((.., mut rect)) = cameras.get_mut(entity) {
            *rect = largest[slot].take().unwrap_or_default();
        }
    }
}

/// Each tile mesh where its window's layout puts its camera (hidden where it shows none, and
/// for locked cameras and cameras without a picture yet).
pub(super) fn place_tiles(
    windows: Query<(&Window, &Shown)>,
    cameras: Query<(
        &VideoTextures,
        &ViewLocked,
        Option<&crate::camera::Replay>,
        Has<crate::camera::AwaitLive>,
    )>,
    mut tiles: Query<(&TileOf, &TileIn, &mut Transform, &mut Visibility)>,
) {
    for (of, inside, mut transform, mut visibility) in &mut tiles {
        let placed = windows.get(inside.0).ok().and_then(|(window, shown)| {
            let rect = shown.tile(of.0)?;
            let (tex, locked, replay, await_live) = cameras.get(of.0).ok()?;
            // No stale picture: none while playback has nothing at its instant, and none
            // from playback once back to live, until a live one comes.
            let blank = replay.is_some_and(|r| r.blank()) || await_live;
            (tex.size != (0, 0) && !locked.0 && !blank).then_some((window, rect))
        });
        let Some((window, rect)) = placed else {
            visibility.set_if_neq(Visibility::Hidden);
            continue;
        };
        visibility.set_if_neq(Visibility::Visible);
        let (ww, wh) = (window.width(), window.height());
        let (cx, cy) = rect.picture.center();
        transform.translation = Vec3::new(cx - ww / 2.0, wh / 2.0 - cy, 0.0);
        transform.scale = Vec3::new(rect.picture.w, rect.picture.h, 1.0);
    }
}

/// Keeps the layout each window shows in the state file when it changes.
pub(super) fn save_layout(
    views: Query<&WallView>,
    layouts: Res<Layouts>,
    file: Option<Res<ViewStateFile>>,
    mut last: Local<BTreeMap<String, String>>,
) {
    let Some(file) = file else { return };
    let mut changed = false;
    for view in &views {
        let Some(name) = layouts.0.get(view.layout).map(|l| l.name.clone()) else {
            continue;
        };
        match last.insert(view.window.clone(), name.clone()) {
            // What a window started with is what the file says (or the config).
            None => {}
            Some(before) => changed |= before != name,
        }
    }
    if changed {
        let mut state = read_state(&file.0);
        state.extend(last.iter().map(|(w, l)| (w.clone(), l.clone())));
        write_state(file.0.clone(), state);
    }
}

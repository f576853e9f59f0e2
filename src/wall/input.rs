//! Wall input in the operator's window: selection over the cells the layout shows (click,
//! double-click to maximise, Tab/Shift+Tab, digits, arrows to the neighbouring cell, gamepad
//! shoulders) and view keys (F1…F12 and PageUp/PageDown pick the layout, P pauses the tour,
//! Alt+Enter fullscreen, O, Enter, Esc, R, L to lock every camera again; none while typing
//! into a field). Steering the selected camera is `steer`'s.

use std::time::Duration;

use bevy::prelude::*;
use bevy::window::{MonitorSelection, PrimaryWindow, WindowMode};

use super::WallView;
use super::keys::Bindings;
use super::layout::{self, Direction};
use super::view::{self, Layouts, Shown};
use crate::camera::{IpCamera, Ptz, SetRecording, ViewLocked};

/// Two clicks on the same tile within this are a double-click.
const DOUBLE_CLICK: Duration = Duration::from_millis(400);

pub(super) const DIGITS: [(KeyCode, KeyCode); 9] = [
    (KeyCode::Digit1, KeyCode::Numpad1),
    (KeyCode::Digit2, KeyCode::Numpad2),
    (KeyCode::Digit3, KeyCode::Numpad3),
    (KeyCode::Digit4, KeyCode::Numpad4),
    (KeyCode::Digit5, KeyCode::Numpad5),
    (KeyCode::Digit6, KeyCode::Numpad6),
    (KeyCode::Digit7, KeyCode::Numpad7),
    (KeyCode::Digit8, KeyCode::Numpad8),
    (KeyCode::Digit9, KeyCode::Numpad9),
];

const LAYOUT_KEYS: [KeyCode; 12] = [
    KeyCode::F1,
    KeyCode::F2,
    KeyCode::F3,
    KeyCode::F4,
    KeyCode::F5,
    KeyCode::F6,
    KeyCode::F7,
    KeyCode::F8,
    KeyCode::F9,
    KeyCode::F10,
    KeyCode::F11,
    KeyCode::F12,
];

pub(super) fn digit_pressed(keys: &ButtonInput<KeyCode>) -> Option<usize> {
    DIGITS
        .iter()
        .position(|(a, b)| keys.just_pressed(*a) || keys.just_pressed(*b))
}

/// What input needs of each camera.
pub(super) type TileView = (
    Entity,
    &'static IpCamera,
    Option<&'static Ptz>,
    Option<&'static ViewLocked>,
    Has<crate::camera::Replay>,
);

/// One camera as input sees it (an item of [`TileView`]).
pub(super) type Tile<'a> = (
    Entity,
    &'a IpCamera,
    Option<&'a Ptz>,
    Option<&'a ViewLocked>,
    bool,
);

/// What the keys may do to the selected camera: steer it and set its brightness; nothing
/// while it plays recordings (the keys then move playback).
pub(super) fn selected_capabilities(selected: Option<&Tile>) -> (bool, bool) {
    match selected {
        Some(&(_, _, ptz, locked, false)) => capabilities(ptz, locked),
        _ => (false, false),
    }
}

/// The wall windows, for input: it acts in the operator's window ([`super::operator_window`]).
pub(super) type InputWindows<'w, 's, V> = Query<
    'w,
    's,
    (
        Entity,
        &'static mut Window,
        V,
        &'static Shown,
        Has<PrimaryWindow>,
    ),
>;

/// Whether the selected camera can be steered (has PTZ) and have its brightness set; a
/// locked camera cannot until it is unlocked.
pub(super) fn capabilities(ptz: Option<&Ptz>, locked: Option<&ViewLocked>) -> (bool, bool) {
    if locked.is_some_and(|l| l.0) {
        return (false, false);
    }
    ptz.map_or((false, false), |p| (p.status.ptz, p.status.imaging))
}

#[derive(Default)]
pub(super) struct Clicks {
    last: Option<(usize, Duration)>,
}

/// Selection and view keys.
#[allow(clippy::too_many_arguments)]
pub(super) fn select(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<super::focus::EguiTyping>>,
    locks: Option<Res<crate::camera::ViewLocks>>,
    mouse: Res<ButtonInput<MouseButton>>,
    (real, time): (Res<Time<Real>>, Res<Time>),
    bindings: Res<Bindings>,
    mut windows: InputWindows<&mut WallView>,
    layouts: Res<Layouts>,
    cameras: Query<TileView>,
    gamepads: Query<&Gamepad>,
    mut clicks: Local<Clicks>,
    mut set_recording: MessageWriter<SetRecording>,
) {
    if cameras.is_empty() {
        return;
    }
    let Some(at) = super::operator_window(windows.iter().map(|(e, w, _, _, p)| (e, w.focused, p)))
    else {
        return;
    };
    let Ok((_, mut window, mut view, shown, _)) = windows.get_mut(at) else {
        return;
    };
    // Typing into a field (a view password) is not a command.
    let none = ButtonInput::<KeyCode>::default();
    let keys: &ButtonInput<KeyCode> = if super::focus::EguiTyping::now(egui) {
        &none
    } else {
        &keys
    };
    if keys.just_pressed(KeyCode::KeyL)
        && let Some(locks) = &locks
    {
        locks.0.lock_all();
    }
    let selected = cameras.iter().find(|(_, c, ..)| c.index == view.selected);
    let replaying = selected.is_some_and(|s| s.4);
    view_keys(
        keys,
        &mut window,
        &mut view,
        layouts.0.len(),
        replaying,
        time.elapsed(),
    );
    if keys.just_pressed(KeyCode::KeyR)
        && let Some((entity, ..)) = selected
    {
        set_recording.write(SetRecording {
            camera: entity,
            active: None,
        });
    }
    let (steerable, _) = selected_capabilities(selected.as_ref());
    let pad_step = gamepads
        .iter()
        .map(|g| {
            isize::from(g.just_pressed(bindings.pad_next))
                - isize::from(g.just_pressed(bindings.pad_previous))
        })
        .sum::<isize>();
    let keyed = key_target(keys, &view, shown, pad_step, (steerable, replaying));
    let clicked = window
        .cursor_position()
        .filter(|_| mouse.just_pressed(MouseButton::Left));
    let clicked = clicked.and_then(|pos| {
        let (_, cam, ..) = cameras.iter().find(|(e, ..)| {
            shown
                .tile(*e)
                .is_some_and(|r| r.visible && r.cell.contains(pos.x, pos.y))
        })?;
        Some(clicks.click(cam.index, real.elapsed(), &mut view))
    });
    if let Some(t) = clicked.or(keyed)
        && t != view.selected
    {
        view.selected = t;
        if view.maximised.is_some() {
            view.maximised = Some(t);
        }
    }
}

/// The view keys: Alt+Enter fullscreen, O overlays, N the alarm list, F1…F12 and PageUp/PageDown the layout (a
/// tour pauses), P the tour, Esc back to the grid (in playback, to live first: `playback`),
/// Enter maximises the selected camera.
fn view_keys(
    keys: &ButtonInput<KeyCode>,
    window: &mut Mut<Window>,
    view: &mut Mut<WallView>,
    layouts: usize,
    replaying: bool,
    now: Duration,
) {
    let alt = keys.any_pressed([KeyCode::AltLeft, KeyCode::AltRight]);
    if alt && keys.just_pressed(KeyCode::Enter) {
        window.mode = match window.mode {
            WindowMode::Windowed => WindowMode::BorderlessFullscreen(MonitorSelection::Current),
            _ => WindowMode::Windowed,
        };
    }
    if keys.just_pressed(KeyCode::KeyO) {
        view.overlays = !view.overlays;
    }
    if keys.just_pressed(KeyCode::KeyN) {
        view.alarms = !view.alarms;
    }
    let pick = LAYOUT_KEYS
        .iter()
        .position(|k| keys.just_pressed(*k))
        .filter(|&i| i < layouts)
        .or_else(|| {
            let step = isize::from(keys.just_pressed(KeyCode::PageDown))
                - isize::from(keys.just_pressed(KeyCode::PageUp));
            (step != 0 && layouts > 0)
                .then(|| (view.layout as isize + step).rem_euclid(layouts as isize) as usize)
        });
    if let Some(i) = pick {
        view::switch_layout(view, i, now);
    }
    if keys.just_pressed(KeyCode::KeyP) && view.tour.is_some() {
        let running = view.tour.as_ref().is_some_and(|t| t.paused);
        view::set_tour(view, running, now);
        info!("tour {}", if running { "resumed" } else { "paused" });
    }
    if keys.just_pressed(KeyCode::Escape) && !replaying {
        view.maximised = None;
        if view.tour_camera.take().is_some() {
            view::set_tour(view, false, now);
        }
    }
    if keys.just_pressed(KeyCode::Enter) && !alt {
        view.maximised = Some(view.selected);
    }
}

/// The camera the keys (and the gamepad's shoulders, `pad_step`) select: Tab/Shift+Tab step
/// through the cells in order; arrows move to the neighbouring cell (to the previous/next
/// camera when maximised or at the grid's edge) unless they steer the selected camera or
/// move its playback; digits pick the camera of that cell, except with a PTZ camera
/// selected, where they recall presets (Alt+digit still picks a cell).
fn key_target(
    keys: &ButtonInput<KeyCode>,
    view: &WallView,
    shown: &Shown,
    pad_step: isize,
    (steerable, replaying): (bool, bool),
) -> Option<usize> {
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    let alt = keys.any_pressed([KeyCode::AltLeft, KeyCode::AltRight]);
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let order = shown.order();
    let step_in_order = |step: isize| -> Option<usize> {
        if order.is_empty() || step == 0 {
            return None;
        }
        let next = match order.iter().position(|&c| c == view.selected) {
            Some(i) => (i as isize + step).rem_euclid(order.len() as isize) as usize,
            None => 0,
        };
        order.get(next).copied()
    };
    let tab: isize = match (keys.just_pressed(KeyCode::Tab), shift) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => -1,
    };
    let mut target = step_in_order(tab + pad_step);
    let arrow = [
        (KeyCode::ArrowLeft, Direction::Left),
        (KeyCode::ArrowRight, Direction::Right),
        (KeyCode::ArrowUp, Direction::Up),
        (KeyCode::ArrowDown, Direction::Down),
    ]
    .into_iter()
    .find(|(k, _)| keys.just_pressed(*k))
    .map(|(_, d)| d)
    .filter(|_| !steerable && !replaying);
    if let Some(direction) = arrow {
        let back = matches!(direction, Direction::Left | Direction::Up);
        let solved = shown.solved.as_ref();
        let beside = solved
            .filter(|_| view.maximised.is_none())
            .and_then(|s| s.cell_of(view.selected))
            .and_then(|from| layout::neighbour(&shown.rects, from, direction))
            .and_then(|cell| solved?.cells.get(cell)?.1);
        target = beside
            .or_else(|| step_in_order(if back { -1 } else { 1 }))
            .or(target);
    }
    let digit = digit_pressed(keys).filter(|_| (alt || !steerable) && !ctrl);
    if let Some(cam) = digit.and_then(|d| shown.solved.as_ref()?.cells.get(d)?.1) {
        target = Some(cam);
    }
    target
}

impl Clicks {
    /// A click on the tile of camera `index` at `now`: it selects that camera, and a second
    /// one within [`DOUBLE_CLICK`] maximises it (or gives the grid back).
    fn click(&mut self, index: usize, now: Duration, view: &mut Mut<WallView>) -> usize {
        if self
            .last
            .is_some_and(|(i, t)| i == index && now - t <= DOUBLE_CLICK)
        {
            view.maximised = if view.maximised.is_some() {
                None
            } else {
                Some(index)
            };
            self.last = None;
        } else {
            self.last = Some((index, now));
        }
        index
    }
}

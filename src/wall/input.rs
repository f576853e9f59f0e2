//! Wall input: selection over the cells the layout shows (click, double-click to maximise,
//! Tab/Shift+Tab, digits, arrows to the neighbouring cell, gamepad shoulders), view keys
//! (F1…F12 and PageUp/PageDown pick the layout, P pauses the tour, Alt+Enter fullscreen, O,
//! Enter, Esc, R, L to lock every camera again; none while typing into a field), and steering
//! the selected camera — and only
//! it — from the keyboard, the mouse (drag on the maximised tile, wheel) and the gamepad
//! (left stick with a dead zone, triggers or right stick to zoom). Steering goes out as
//! [`Steer`] messages naming the selected camera's entity; a Stop goes to a camera whenever
//! its input comes to rest, the selection moves away from it, or the window loses focus (a
//! gamepad that disconnects brings its input to rest).

use std::time::Duration;

use bevy::input::mouse::{MouseScrollUnit, MouseWheel};
use bevy::prelude::*;
use bevy::window::{MonitorSelection, PrimaryWindow, WindowMode};

use super::WallView;
use super::keys::Bindings;
use super::layout::{self, Direction};
use super::view::{self, Layouts, Shown};
use crate::camera::{IpCamera, Ptz, SetRecording, Steer, ViewLocked};
use crate::onvif::{Command, Velocity};

/// Two clicks on the same tile within this are a double-click.
const DOUBLE_CLICK: Duration = Duration::from_millis(400);
/// One wheel notch zooms for this long.
const WHEEL_ZOOM: Duration = Duration::from_millis(300);

const DIGITS: [(KeyCode, KeyCode); 9] = [
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

fn digit_pressed(keys: &ButtonInput<KeyCode>) -> Option<usize> {
    DIGITS
        .iter()
        .position(|(a, b)| keys.just_pressed(*a) || keys.just_pressed(*b))
}

/// A stick's deflection with the dead zone taken out and the rest rescaled to `0..=1`.
pub fn dead_zone(v: Vec2, zone: f32) -> Vec2 {
    let len = v.length();
    if !len.is_finite() || len <= zone {
        return Vec2::ZERO;
    }
    v / len * ((len - zone) / (1.0 - zone)).min(1.0)
}

/// One trigger or axis with the dead zone taken out.
fn dead_zone_1(v: f32, zone: f32) -> f32 {
    dead_zone(Vec2::new(v, 0.0), zone).x
}

/// What input needs of each camera.
type TileView = (
    Entity,
    &'static IpCamera,
    Option<&'static Ptz>,
    Option<&'static ViewLocked>,
);

/// The wall windows, for input: it acts in the operator's window ([`super::operator_window`]).
type InputWindows<'w, 's, V> = Query<
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
    /// Where a drag on the maximised tile started.
    drag_from: Option<Vec2>,
}

/// Selection and view keys.
#[allow(clippy::too_many_arguments)]
pub(super) fn select(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
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
    let n = cameras.iter().count();
    if n == 0 {
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
    let keys: &ButtonInput<KeyCode> = if egui.is_some_and(|e| e.wants_any_keyboard_input()) {
        &none
    } else {
        &keys
    };
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    let alt = keys.any_pressed([KeyCode::AltLeft, KeyCode::AltRight]);
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    if keys.just_pressed(KeyCode::KeyL)
        && let Some(locks) = &locks
    {
        locks.0.lock_all();
    }
    if alt && keys.just_pressed(KeyCode::Enter) {
        window.mode = match window.mode {
            WindowMode::Windowed => WindowMode::BorderlessFullscreen(MonitorSelection::Current),
            _ => WindowMode::Windowed,
        };
    }
    if keys.just_pressed(KeyCode::KeyO) {
        view.overlays = !view.overlays;
    }
    // Layouts: F1…F12 pick one, PageUp/PageDown step through them; a tour pauses.
    let count = layouts.0.len();
    let pick = LAYOUT_KEYS
        .iter()
        .position(|k| keys.just_pressed(*k))
        .filter(|&i| i < count)
        .or_else(|| {
            let step = isize::from(keys.just_pressed(KeyCode::PageDown))
                - isize::from(keys.just_pressed(KeyCode::PageUp));
            (step != 0 && count > 0)
                .then(|| (view.layout as isize + step).rem_euclid(count as isize) as usize)
        });
    if let Some(i) = pick {
        view::switch_layout(&mut view, i, time.elapsed());
    }
    if keys.just_pressed(KeyCode::KeyP) && view.tour.is_some() {
        let running = view.tour.as_ref().is_some_and(|t| t.paused);
        view::set_tour(&mut view, running, time.elapsed());
        info!("tour {}", if running { "resumed" } else { "paused" });
    }
    if keys.just_pressed(KeyCode::Escape) {
        view.maximised = None;
        if view.tour_camera.take().is_some() {
            view::set_tour(&mut view, false, time.elapsed());
        }
    }
    if keys.just_pressed(KeyCode::Enter) && !alt {
        view.maximised = Some(view.selected);
    }
    let selected = cameras.iter().find(|(_, c, ..)| c.index == view.selected);
    let (steerable, _) = capabilities(selected.and_then(|s| s.2), selected.and_then(|s| s.3));
    if keys.just_pressed(KeyCode::KeyR)
        && let Some((entity, ..)) = selected
    {
        set_recording.write(SetRecording {
            camera: entity,
            active: None,
        });
    }
    let order = shown.order();
    let step_in_order = |step: isize| -> Option<usize> {
        if order.is_empty() || step == 0 {
            return None;
        }
        let at = order.iter().position(|&c| c == view.selected);
        let next = match at {
            Some(i) => (i as isize + step).rem_euclid(order.len() as isize) as usize,
            None => 0,
        };
        order.get(next).copied()
    };
    let mut target: Option<usize> = None;
    let tab: isize = if keys.just_pressed(KeyCode::Tab) {
        if shift { -1 } else { 1 }
    } else {
        0
    };
    let pad_step = gamepads
        .iter()
        .map(|g| {
            isize::from(g.just_pressed(bindings.pad_next))
                - isize::from(g.just_pressed(bindings.pad_previous))
        })
        .sum::<isize>();
    if let Some(t) = step_in_order(tab + pad_step) {
        target = Some(t);
    }
    // Arrows move to the neighbouring cell (to the previous/next camera when maximised),
    // unless they steer the selected camera.
    let arrow = [
        (KeyCode::ArrowLeft, Direction::Left),
        (KeyCode::ArrowRight, Direction::Right),
        (KeyCode::ArrowUp, Direction::Up),
        (KeyCode::ArrowDown, Direction::Down),
    ]
    .into_iter()
    .find(|(k, _)| keys.just_pressed(*k))
    .map(|(_, d)| d)
    .filter(|_| !steerable);
    if let Some(direction) = arrow {
        let back = matches!(direction, Direction::Left | Direction::Up);
        let solved = shown.solved.as_ref();
        let beside = solved
            .filter(|_| view.maximised.is_none())
            .and_then(|s| s.cell_of(view.selected))
            .and_then(|from| layout::neighbour(&shown.rects, from, direction))
            .and_then(|cell| solved?.cells.get(cell)?.1);
        // Maximised, or at the edge of the grid: the previous or next camera.
        target = beside
            .or_else(|| step_in_order(if back { -1 } else { 1 }))
            .or(target);
    }
    // Digits pick the camera of that cell; with a PTZ camera selected they recall presets
    // (Alt+digit still picks a tile).
    if let Some(d) = digit_pressed(keys)
        && (alt || !steerable)
        && !ctrl
        && let Some(cam) = shown
            .solved
            .as_ref()
            .and_then(|s| s.cells.get(d))
            .and_then(|(_, c)| *c)
    {
        target = Some(cam);
    }
    if mouse.just_pressed(MouseButton::Left)
        && let Some(pos) = window.cursor_position()
        && let Some((_, cam, ..)) = cameras.iter().find(|(e, ..)| {
            shown
                .tile(*e)
                .is_some_and(|r| r.visible && r.cell.contains(pos.x, pos.y))
        })
    {
        let now = real.elapsed();
        target = Some(cam.index);
        if clicks
            .last
            .is_some_and(|(i, t)| i == cam.index && now - t <= DOUBLE_CLICK)
        {
            view.maximised = if view.maximised.is_some() {
                None
            } else {
                Some(cam.index)
            };
            clicks.last = None;
        } else {
            clicks.last = Some((cam.index, now));
        }
    }
    if let Some(t) = target
        && t != view.selected
    {
        view.selected = t;
        if view.maximised.is_some() {
            view.maximised = Some(t);
        }
    }
}

/// What the steering input was last frame.
#[derive(Default)]
pub(super) struct SteerState {
    /// The camera steered and the velocity last asked of it.
    current: Option<(Entity, Velocity)>,
    /// Wheel zoom direction and until when.
    wheel: Option<(f32, Duration)>,
    /// The brightness last asked of a camera (presses faster than its answers add up).
    brightness: Option<(Entity, f32)>,
    /// Keys that moved the selection: they steer nothing until released.
    consumed: Vec<KeyCode>,
}

/// Steering the selected camera.
#[allow(clippy::too_many_arguments)]
pub(super) fn steer(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
    mouse: Res<ButtonInput<MouseButton>>,
    mut wheel: MessageReader<MouseWheel>,
    time: Res<Time<Real>>,
    bindings: Res<Bindings>,
    windows: InputWindows<Ref<WallView>>,
    cameras: Query<TileView>,
    gamepads: Query<&Gamepad>,
    mut clicks: Local<Clicks>,
    mut state: Local<SteerState>,
    mut out: MessageWriter<Steer>,
) {
    let now = time.elapsed();
    let none = ButtonInput::<KeyCode>::default();
    let keys: &ButtonInput<KeyCode> = if egui.is_some_and(|e| e.wants_any_keyboard_input()) {
        &none
    } else {
        &keys
    };
    let Some(at) = super::operator_window(windows.iter().map(|(e, w, _, _, p)| (e, w.focused, p)))
    else {
        return;
    };
    let Ok((_, window, view, shown, _)) = windows.get(at) else {
        return;
    };
    let focused = window.focused;
    let selected = cameras.iter().find(|(_, c, ..)| c.index == view.selected);
    let (steerable, imaging) = capabilities(selected.and_then(|s| s.2), selected.and_then(|s| s.3));
    let target = selected.map(|s| s.0).filter(|_| steerable || imaging);
    let b = &*bindings;
    // An arrow that just moved the selection onto a PTZ camera does not also pan it; a key
    // pressed with Ctrl (Ctrl+S snapshot, Ctrl+digit store preset) never steers.
    let ctrl_down = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    if view.is_changed() || ctrl_down {
        state.consumed.extend(keys.get_just_pressed().copied());
    }
    state.consumed.retain(|k| keys.pressed(*k));
    let mut v = Vec3::ZERO; // pan, tilt, zoom
    if focused && steerable {
        let held = |list: &[KeyCode]| {
            list.iter()
                .any(|k| keys.pressed(*k) && !state.consumed.contains(k))
        };
        let axis = |plus: &[KeyCode], minus: &[KeyCode]| {
            f32::from(u8::from(held(plus))) - f32::from(u8::from(held(minus)))
        };
        v += Vec3::new(
            axis(&b.pan_right, &b.pan_left),
            axis(&b.tilt_up, &b.tilt_down),
            axis(&b.zoom_in, &b.zoom_out),
        ) * b.key_speed;
        for pad in &gamepads {
            let stick = dead_zone(pad.left_stick(), b.dead_zone);
            let trig = |button| pad.get(button).unwrap_or(0.0);
            let zoom = dead_zone_1(
                trig(GamepadButton::RightTrigger2) - trig(GamepadButton::LeftTrigger2),
                b.dead_zone,
            ) + dead_zone_1(pad.right_stick().y, b.dead_zone);
            v += Vec3::new(stick.x, stick.y, zoom);
        }
        // Drag on the maximised tile pans and tilts towards where the pointer went.
        let cursor = window.cursor_position();
        let on_max = |p: Vec2| {
            selected.is_some_and(|(e, c, ..)| {
                view.maximised == Some(c.index)
                    && shown.tile(e).is_some_and(|r| r.cell.contains(p.x, p.y))
            })
        };
        if mouse.just_pressed(MouseButton::Left) {
            clicks.drag_from = cursor.filter(|p| on_max(*p));
        }
        if !mouse.pressed(MouseButton::Left) {
            clicks.drag_from = None;
        }
        if let (Some(from), Some(at)) = (clicks.drag_from, cursor) {
            let d = (at - from) / b.drag_full_speed;
            v += Vec3::new(d.x, -d.y, 0.0);
        }
        for w in wheel.read() {
            let notches = match w.unit {
                MouseScrollUnit::Line => w.y,
                MouseScrollUnit::Pixel => w.y / 40.0,
            };
            if notches != 0.0 && cursor.is_some_and(on_max) {
                state.wheel = Some((notches.signum(), now + WHEEL_ZOOM));
            }
        }
        if let Some((dir, until)) = state.wheel {
            if now < until {
                v.z += dir * b.key_speed;
            } else {
                state.wheel = None;
            }
        }
    } else {
        wheel.clear();
        clicks.drag_from = None;
        state.wheel = None;
    }
    let round = |x: f32| (x.clamp(-1.0, 1.0) * 100.0).round() / 100.0;
    let velocity = Velocity {
        pan: round(v.x),
        tilt: round(v.y),
        zoom: round(v.z),
    };
    // A camera no longer steered gets its Stop.
    if let Some((old, last)) = state.current
        && Some(old) != target
    {
        if !last.is_zero() {
            out.write(Steer {
                camera: old,
                command: Command::Stop,
            });
        }
        state.current = None;
    }
    let Some(camera) = target else { return };
    let last = state.current.map_or(Velocity::default(), |(_, v)| v);
    if velocity != last {
        out.write(Steer {
            camera,
            command: if velocity.is_zero() {
                Command::Stop
            } else {
                Command::Move(velocity)
            },
        });
    }
    state.current = Some((camera, velocity));
    // A digit that just selected this camera is not also a preset for it.
    if !focused || view.is_changed() {
        return;
    }
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let alt = keys.any_pressed([KeyCode::AltLeft, KeyCode::AltRight]);
    let mut send = |command| {
        out.write(Steer { camera, command });
    };
    if steerable {
        if let Some(d) = digit_pressed(keys).filter(|_| !alt) {
            let n = d as u32 + 1;
            send(if ctrl {
                Command::SetPreset(n)
            } else {
                Command::GotoPreset(n)
            });
        }
        if keys.any_just_pressed(b.home.iter().copied()) {
            send(Command::Home);
        }
        if gamepads.iter().any(|g| g.just_pressed(b.pad_preset)) {
            send(Command::GotoPreset(1));
        }
    }
    if imaging {
        let delta = if keys.any_just_pressed(b.brightness_up.iter().copied()) {
            b.brightness_step
        } else if keys.any_just_pressed(b.brightness_down.iter().copied()) {
            -b.brightness_step
        } else {
            0.0
        };
        if delta != 0.0 {
            let known = selected
                .and_then(|s| s.2)
                .and_then(|p| p.status.brightness)
                .unwrap_or(50.0);
            let base = match state.brightness {
                Some((e, value)) if e == camera => value,
                _ => known,
            };
            let value = (base + delta).clamp(0.0, 100.0);
            state.brightness = Some((camera, value));
            send(Command::Brightness(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_zone_rescales_the_rest() {
        assert_eq!(dead_zone(Vec2::new(0.1, 0.05), 0.15), Vec2::ZERO);
        let half = dead_zone(Vec2::new(0.575, 0.0), 0.15);
        assert!((half.x - 0.5).abs() < 1e-5, "{half}");
        assert_eq!(dead_zone(Vec2::new(0.0, -1.0), 0.15), Vec2::new(0.0, -1.0));
        assert_eq!(dead_zone(Vec2::new(f32::NAN, 0.0), 0.15), Vec2::ZERO);
        assert_eq!(dead_zone_1(-0.1, 0.15), 0.0);
    }
}

//! Steering the selected camera — and only it — from the keyboard, the mouse (drag on the
//! maximised tile, wheel) and the gamepad (left stick with a dead zone, triggers or right stick
//! to zoom), presets and brightness, in the operator's window. Steering goes out as [`Steer`]
//! messages naming the selected camera's entity; a Stop goes to a camera whenever its input
//! comes to rest, the selection moves away from it, or the window loses focus (a gamepad that
//! disconnects brings its input to rest).

use std::time::Duration;

use bevy::input::mouse::{MouseScrollUnit, MouseWheel};
use bevy::prelude::*;

use super::WallView;
use super::input::{InputWindows, TileView, digit_pressed, selected_capabilities};
use super::keys::Bindings;
use crate::camera::Steer;
use crate::onvif::{Command, Velocity};

/// One wheel notch zooms for this long.
const WHEEL_ZOOM: Duration = Duration::from_millis(300);

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

/// What the steering input was last frame.
#[derive(Default)]
pub(super) struct SteerState {
    /// Where a drag on the maximised tile started.
    drag_from: Option<Vec2>,
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
    egui: Option<Res<super::focus::EguiTyping>>,
    mouse: Res<ButtonInput<MouseButton>>,
    mut wheel: MessageReader<MouseWheel>,
    time: Res<Time<Real>>,
    bindings: Res<Bindings>,
    windows: InputWindows<Ref<WallView>>,
    cameras: Query<TileView>,
    gamepads: Query<&Gamepad>,
    mut state: Local<SteerState>,
    mut out: MessageWriter<Steer>,
) {
    let now = time.elapsed();
    let none = ButtonInput::<KeyCode>::default();
    let keys: &ButtonInput<KeyCode> = if super::focus::EguiTyping::now(egui) {
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
    let (steerable, imaging) = selected_capabilities(selected.as_ref());
    let target = selected.map(|s| s.0).filter(|_| steerable || imaging);
    let b = &*bindings;
    // An arrow that just moved the selection onto a PTZ camera does not also pan it (an arrow
    // pressed in the frame Tab moved it, as a quick hand or a sleeping window's one frame for
    // both gives, does); a key pressed with Ctrl (Ctrl+S snapshot, Ctrl+digit store preset)
    // never steers.
    let ctrl_down = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let moved_by_arrow = view.is_changed() && !keys.just_pressed(KeyCode::Tab);
    if moved_by_arrow || ctrl_down {
        state.consumed.extend(keys.get_just_pressed().copied());
    }
    state.consumed.retain(|k| keys.pressed(*k));
    let mut v = Vec3::ZERO; // pan, tilt, zoom
    if focused && steerable {
        v += state.keys_and_pads(keys, &gamepads, b);
        // The maximised tile, under the pointer: a drag there pans and tilts, the wheel zooms.
        let on_max = |p: Vec2| {
            selected.is_some_and(|(e, c, ..)| {
                view.maximised == Some(c.index)
                    && shown.tile(e).is_some_and(|r| r.cell.contains(p.x, p.y))
            })
        };
        let cursor = window.cursor_position();
        v += state.pointer(&mouse, wheel.read(), cursor, on_max, now, b);
    } else {
        wheel.clear();
        state.drag_from = None;
        state.wheel = None;
    }
    let round = |x: f32| (x.clamp(-1.0, 1.0) * 100.0).round() / 100.0;
    let velocity = Velocity {
        pan: round(v.x),
        tilt: round(v.y),
        zoom: round(v.z),
    };
    state.send_velocity(target, velocity, &mut out);
    // A digit that just selected this camera is not also a preset for it.
    let Some(camera) = target.filter(|_| focused && !view.is_changed()) else {
        return;
    };
    let mut send = |command| {
        out.write(Steer { camera, command });
    };
    if steerable {
        presets(keys, &gamepads, b, &mut send);
    }
    if imaging {
        let known = selected.and_then(|s| s.2).and_then(|p| p.status.brightness);
        if let Some(value) = state.brightness(keys, b, camera, known) {
            send(Command::Brightness(value));
        }
    }
}

impl SteerState {
    /// Pan, tilt and zoom from the held keys (not those [`SteerState::consumed`]) and every
    /// gamepad's sticks and triggers.
    fn keys_and_pads(
        &self,
        keys: &ButtonInput<KeyCode>,
        gamepads: &Query<&Gamepad>,
        b: &Bindings,
    ) -> Vec3 {
        let held = |list: &[KeyCode]| {
            list.iter()
                .any(|k| keys.pressed(*k) && !self.consumed.contains(k))
        };
        let axis = |plus: &[KeyCode], minus: &[KeyCode]| {
            f32::from(u8::from(held(plus))) - f32::from(u8::from(held(minus)))
        };
        let mut v = Vec3::new(
            axis(&b.pan_right, &b.pan_left),
            axis(&b.tilt_up, &b.tilt_down),
            axis(&b.zoom_in, &b.zoom_out),
        ) * b.key_speed;
        for pad in gamepads {
            let stick = dead_zone(pad.left_stick(), b.dead_zone);
            let trig = |button| pad.get(button).unwrap_or(0.0);
            let zoom = dead_zone_1(
                trig(GamepadButton::RightTrigger2) - trig(GamepadButton::LeftTrigger2),
                b.dead_zone,
            ) + dead_zone_1(pad.right_stick().y, b.dead_zone);
            v += Vec3::new(stick.x, stick.y, zoom);
        }
        v
    }

    /// Pan and tilt towards where a drag that began on the maximised tile (`on_max`) went,
    /// and zoom for [`WHEEL_ZOOM`] after a wheel notch over it.
    fn pointer<'a>(
        &mut self,
        mouse: &ButtonInput<MouseButton>,
        wheel: impl Iterator<Item = &'a MouseWheel>,
        cursor: Option<Vec2>,
        on_max: impl Fn(Vec2) -> bool,
        now: Duration,
        b: &Bindings,
    ) -> Vec3 {
        let mut v = Vec3::ZERO;
        if mouse.just_pressed(MouseButton::Left) {
            self.drag_from = cursor.filter(|p| on_max(*p));
        }
        if !mouse.pressed(MouseButton::Left) {
            self.drag_from = None;
        }
        if let (Some(from), Some(at)) = (self.drag_from, cursor) {
            let d = (at - from) / b.drag_full_speed;
            v += Vec3::new(d.x, -d.y, 0.0);
        }
        for w in wheel {
            let notches = match w.unit {
                MouseScrollUnit::Line => w.y,
                MouseScrollUnit::Pixel => w.y / 40.0,
            };
            if notches != 0.0 && cursor.is_some_and(&on_max) {
                self.wheel = Some((notches.signum(), now + WHEEL_ZOOM));
            }
        }
        if let Some((dir, until)) = self.wheel {
            if now < until {
                v.z += dir * b.key_speed;
            } else {
                self.wheel = None;
            }
        }
        v
    }

    /// Sends `velocity` to `target` when it changed; a camera no longer steered gets its Stop.
    fn send_velocity(
        &mut self,
        target: Option<Entity>,
        velocity: Velocity,
        out: &mut MessageWriter<Steer>,
    ) {
        if let Some((old, last)) = self.current
            && Some(old) != target
        {
            if !last.is_zero() {
                out.write(Steer {
                    camera: old,
                    command: Command::Stop,
                });
            }
            self.current = None;
        }
        let Some(camera) = target else { return };
        let last = self.current.map_or(Velocity::default(), |(_, v)| v);
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
        self.current = Some((camera, velocity));
    }

    /// The brightness the brightness keys ask of `camera` now: a step from the one last asked
    /// (presses faster than its answers add up), else from what it reported (`known`).
    fn brightness(
        &mut self,
        keys: &ButtonInput<KeyCode>,
        b: &Bindings,
        camera: Entity,
        known: Option<f32>,
    ) -> Option<f32> {
        let delta = if keys.any_just_pressed(b.brightness_up.iter().copied()) {
            b.brightness_step
        } else if keys.any_just_pressed(b.brightness_down.iter().copied()) {
            -b.brightness_step
        } else {
            return None;
        };
        let base = match self.brightness {
            Some((e, value)) if e == camera => value,
            _ => known.unwrap_or(50.0),
        };
        let value = (base + delta).clamp(0.0, 100.0);
        self.brightness = Some((camera, value));
        Some(value)
    }
}

/// Presets: a digit recalls one (Ctrl+digit stores it; Alt+digit picks a cell instead), the
/// home key and the gamepad's preset button go home and to preset 1.
fn presets(
    keys: &ButtonInput<KeyCode>,
    gamepads: &Query<&Gamepad>,
    b: &Bindings,
    send: &mut impl FnMut(Command),
) {
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let alt = keys.any_pressed([KeyCode::AltLeft, KeyCode::AltRight]);
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

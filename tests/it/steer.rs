//! Steering in a headless App with stepped time, Bevy's input resources and gamepad
//! messages, and cameras whose control agents are stand-ins that record what they are sent:
//! proportional speeds, the dead zone, the rate limit, a Stop on release, on selection change,
//! on focus loss and on gamepad disconnect, and nothing ever to a camera not selected.

use std::time::Duration;

use bevy::input::gamepad::{
    GamepadConnection, GamepadConnectionEvent, RawGamepadAxisChangedEvent, RawGamepadEvent,
    gamepad_connection_system, gamepad_event_processing_system,
};
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use opticlink::camera::{IpCamera, Ptz};
use opticlink::onvif::{Command, ControlHandle, ControlStatus, Velocity};
use opticlink::onvif::{Detached, detached};
use opticlink::wall::WallView;

const STEP: Duration = Duration::from_millis(10);

/// A headless wall with cameras steered through `handles`; the camera at index `i` has
/// `handles[i]`.
pub struct Wall {
    pub app: App,
    window: Entity,
}

/// A [`Wall`] whose control agents are stand-ins (see [`Rig::sent`]).
struct Rig {
    wall: Wall,
    agents: Vec<Detached>,
}

impl std::ops::Deref for Rig {
    type Target = Wall;
    fn deref(&self) -> &Wall {
        &self.wall
    }
}

impl std::ops::DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut Wall {
        &mut self.wall
    }
}

fn v(pan: f32, tilt: f32, zoom: f32) -> Command {
    Command::Move(Velocity { pan, tilt, zoom })
}

impl Wall {
    pub fn new(handles: Vec<ControlHandle>) -> Self {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(TimeUpdateStrategy::ManualDuration(STEP))
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<ButtonInput<MouseButton>>()
            // The gamepad half of Bevy's InputPlugin (the keyboard half would clear the
            // presses the test makes directly).
            .add_message::<GamepadConnectionEvent>()
            .add_message::<RawGamepadEvent>()
            .add_message::<bevy::input::gamepad::GamepadEvent>()
            .add_message::<bevy::input::gamepad::GamepadAxisChangedEvent>()
            .add_message::<bevy::input::gamepad::GamepadButtonChangedEvent>()
            .add_message::<bevy::input::gamepad::GamepadButtonStateChangedEvent>()
            .add_systems(
                PreUpdate,
                (gamepad_connection_system, gamepad_event_processing_system).chain(),
            )
            .add_plugins(opticlink::schedule_plugin)
            .add_plugins((
                opticlink::camera::state_plugin,
                opticlink::wall::view_plugin,
            ));
        let window = crate::common::spawn_window(&mut app);
        for (index, handle) in handles.into_iter().enumerate() {
            let tile = crate::common::tile_camera(handle.camera(), index);
            app.world_mut().spawn((tile, Ptz::new(handle)));
        }
        let mut wall = Self { app, window };
        wall.frames(2);
        wall
    }

    pub fn frames(&mut self, n: u32) {
        for _ in 0..n {
            self.app.update();
            let mut keys = self.app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
            keys.clear();
        }
    }

    pub fn hold(&mut self, key: KeyCode) {
        self.app
            .world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .press(key);
    }

    pub fn release(&mut self, key: KeyCode) {
        self.app
            .world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .release(key);
    }

    pub fn tap(&mut self, key: KeyCode) {
        self.hold(key);
        self.frames(1);
        self.release(key);
        self.frames(1);
    }

    pub fn window(&self) -> Entity {
        self.window
    }

    pub fn selected(&self) -> usize {
        self.view().selected
    }

    /// The window's view.
    pub fn view(&self) -> WallView {
        self.app
            .world()
            .get::<WallView>(self.window)
            .unwrap()
            .clone()
    }

    pub fn view_mut(&mut self) -> Mut<'_, WallView> {
        self.app
            .world_mut()
            .get_mut::<WallView>(self.window)
            .unwrap()
    }

    fn set_focus(&mut self, focused: bool) {
        self.app
            .world_mut()
            .get_mut::<Window>(self.window)
            .unwrap()
            .focused = focused;
    }

    /// Every camera's control status as the ECS mirrors it, by grid index.
    pub fn statuses(&mut self) -> Vec<ControlStatus> {
        let mut q = self.app.world_mut().query::<(&IpCamera, &Ptz)>();
        let mut all: Vec<_> = q
            .iter(self.app.world())
            .map(|(c, p)| (c.index, p.status.clone()))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, s)| s).collect()
    }
}

impl Rig {
    /// `n` cameras; those in `ptz` can move, all have brightness.
    fn new(n: usize, ptz: &[usize]) -> Self {
        let mut handles = Vec::new();
        let mut agents = Vec::new();
        for index in 0..n {
            let (handle, agent) = detached(&format!("C{index}"));
            agent.set_status(ControlStatus {
                connected: true,
                ptz: ptz.contains(&index),
                imaging: true,
                brightness: Some(50.0),
                ..Default::default()
            });
            handles.push(handle);
            agents.push(agent);
        }
        Self {
            wall: Wall::new(handles),
            agents,
        }
    }

    /// What camera `i` was sent since the last look.
    fn sent(&self, i: usize) -> Vec<Command> {
        self.agents[i].take()
    }
}

#[test]
fn keys_steer_the_selected_camera_only_on_change_and_stop_on_release() {
    let mut rig = Rig::new(2, &[0, 1]);
    rig.hold(KeyCode::ArrowRight);
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![v(0.5, 0.0, 0.0)], "key_speed 0.5");
    rig.frames(30);
    assert!(rig.sent(0).is_empty(), "held: nothing more is sent");
    assert_eq!(
        rig.selected(),
        0,
        "arrows steer a PTZ camera, not the selection"
    );
    // A second key within 200 ms of the first command waits its turn.
    rig.hold(KeyCode::KeyW);
    rig.hold(KeyCode::Equal);
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![v(0.5, 0.5, 0.5)]);
    rig.release(KeyCode::KeyW);
    rig.release(KeyCode::Equal);
    rig.frames(1);
    assert!(rig.sent(0).is_empty(), "within 200 ms of the last command");
    rig.frames(20);
    assert_eq!(rig.sent(0), vec![v(0.5, 0.0, 0.0)]);
    rig.release(KeyCode::ArrowRight);
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![Command::Stop], "a Stop never waits");
    assert!(rig.sent(1).is_empty(), "the other camera heard nothing");
}

#[test]
fn at_most_five_commands_a_second_however_fast_the_input_changes() {
    let mut rig = Rig::new(1, &[0]);
    let mut sent = Vec::new();
    for frame in 0..100 {
        // A different held key every frame: the wanted velocity changes 100 times in 1 s.
        let key = if frame % 2 == 0 {
            KeyCode::ArrowLeft
        } else {
            KeyCode::ArrowUp
        };
        rig.hold(key);
        rig.frames(1);
        rig.release(key);
        sent.extend(rig.sent(0));
    }
    let moves = sent
        .iter()
        .filter(|c| matches!(c, Command::Move(_)))
        .count();
    assert!(
        (4..=6).contains(&moves),
        "{moves} moves in one second: {sent:?}"
    );
    rig.frames(30);
    let last = rig.sent(0);
    assert_eq!(last, vec![Command::Stop], "at rest at the end: {last:?}");
}

#[test]
fn selection_change_and_focus_loss_stop_the_camera() {
    let mut rig = Rig::new(3, &[0, 1]);
    rig.hold(KeyCode::KeyA);
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![v(-0.5, 0.0, 0.0)]);
    // Tab moves the selection while the key is still held: camera 0 stops, camera 1 moves.
    rig.tap(KeyCode::Tab);
    assert_eq!(rig.selected(), 1);
    assert_eq!(rig.sent(0), vec![Command::Stop]);
    assert_eq!(rig.sent(1), vec![v(-0.5, 0.0, 0.0)]);
    rig.set_focus(false);
    rig.frames(1);
    assert_eq!(rig.sent(1), vec![Command::Stop], "focus lost");
    rig.frames(30);
    assert!(rig.sent(1).is_empty());
    rig.set_focus(true);
    rig.frames(1);
    assert_eq!(
        rig.sent(1),
        vec![v(-0.5, 0.0, 0.0)],
        "focus back, key still held"
    );
    rig.release(KeyCode::KeyA);
    rig.frames(25);
    assert_eq!(rig.sent(1), vec![Command::Stop]);
    // Camera 2 has no PTZ: arrows move the selection, digits select, nothing is sent.
    rig.tap(KeyCode::Tab);
    assert_eq!(rig.selected(), 2);
    rig.tap(KeyCode::ArrowLeft);
    assert_eq!(rig.selected(), 1);
    rig.tap(KeyCode::Tab);
    rig.tap(KeyCode::Digit1);
    assert_eq!(
        rig.selected(),
        0,
        "a digit that selects is not also a preset"
    );
    for i in 0..3 {
        assert!(rig.sent(i).is_empty(), "camera {i}");
    }
    assert!(rig.agents.iter().all(|a| !a.shut_down()));
}

#[test]
fn presets_home_and_brightness_go_to_the_selected_camera() {
    let mut rig = Rig::new(2, &[0, 1]);
    rig.tap(KeyCode::Digit2);
    assert_eq!(rig.sent(0), vec![Command::GotoPreset(2)]);
    assert_eq!(
        rig.selected(),
        0,
        "with a PTZ camera selected a digit is a preset"
    );
    rig.hold(KeyCode::ControlLeft);
    rig.tap(KeyCode::Digit4);
    rig.release(KeyCode::ControlLeft);
    rig.frames(25);
    assert_eq!(rig.sent(0), vec![Command::SetPreset(4)]);
    rig.hold(KeyCode::AltLeft);
    rig.tap(KeyCode::Digit2);
    rig.release(KeyCode::AltLeft);
    assert_eq!(rig.selected(), 1, "Alt+digit selects");
    rig.frames(25);
    assert!(rig.sent(1).is_empty(), "selecting is not a preset");
    rig.tap(KeyCode::Home);
    rig.frames(25);
    assert_eq!(rig.sent(1), vec![Command::Home]);
    // Brightness presses add up from the camera's value (50) even before it answers; of
    // quick presses the first goes at once and the newest of the rest 200 ms later.
    rig.tap(KeyCode::BracketRight);
    assert_eq!(rig.sent(1), vec![Command::Brightness(60.0)]);
    rig.tap(KeyCode::BracketRight);
    rig.tap(KeyCode::BracketRight);
    assert!(rig.sent(1).is_empty(), "within 200 ms");
    rig.frames(25);
    assert_eq!(rig.sent(1), vec![Command::Brightness(80.0)]);
    rig.tap(KeyCode::BracketLeft);
    rig.frames(25);
    assert_eq!(rig.sent(1), vec![Command::Brightness(70.0)]);
    assert!(rig.sent(0).is_empty());
}

#[test]
fn gamepad_is_proportional_with_a_dead_zone_and_stops_on_disconnect() {
    let mut rig = Rig::new(2, &[0, 1]);
    let pad = rig.app.world_mut().spawn_empty().id();
    rig.app
        .world_mut()
        .write_message(GamepadConnectionEvent::new(
            pad,
            GamepadConnection::Connected {
                name: "test pad".into(),
                vendor_id: None,
                product_id: None,
            },
        ));
    rig.frames(1);
    let axis =
        |rig: &mut Rig, axis: GamepadAxis, value: f32| {
            rig.app.world_mut().write_message(RawGamepadEvent::Axis(
                RawGamepadAxisChangedEvent::new(pad, axis, value),
            ));
        };
    axis(&mut rig, GamepadAxis::LeftStickX, 0.1);
    rig.frames(25);
    assert!(rig.sent(0).is_empty(), "inside the dead zone (0.15)");
    axis(&mut rig, GamepadAxis::LeftStickX, 1.0);
    rig.frames(1);
    assert_eq!(
        rig.sent(0),
        vec![v(1.0, 0.0, 0.0)],
        "full deflection, full speed"
    );
    axis(&mut rig, GamepadAxis::LeftStickX, 0.575);
    rig.frames(25);
    assert_eq!(
        rig.sent(0),
        vec![v(0.5, 0.0, 0.0)],
        "half way past the dead zone"
    );
    // The right stick zooms.
    axis(&mut rig, GamepadAxis::RightStickY, -1.0);
    rig.frames(25);
    assert_eq!(rig.sent(0), vec![v(0.5, 0.0, -1.0)]);
    rig.app
        .world_mut()
        .write_message(GamepadConnectionEvent::new(
            pad,
            GamepadConnection::Disconnected,
        ));
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![Command::Stop], "unplugged mid-move");
    assert!(rig.sent(1).is_empty());
}

#[test]
fn mouse_drag_on_the_maximised_tile_pans_and_the_wheel_zooms() {
    use bevy::input::mouse::{MouseScrollUnit, MouseWheel};
    let mut rig = Rig::new(2, &[0, 1]);
    rig.tap(KeyCode::Enter); // maximise camera 0
    let set_cursor = |rig: &mut Rig, x: f32, y: f32| {
        let window = rig.wall.window;
        rig.app
            .world_mut()
            .get_mut::<Window>(window)
            .unwrap()
            .set_cursor_position(Some(Vec2::new(x, y)));
    };
    set_cursor(&mut rig, 800.0, 450.0);
    rig.app
        .world_mut()
        .resource_mut::<ButtonInput<MouseButton>>()
        .press(MouseButton::Left);
    rig.frames(1);
    rig.app
        .world_mut()
        .resource_mut::<ButtonInput<MouseButton>>()
        .clear();
    assert!(rig.sent(0).is_empty(), "a press alone does not move");
    // 100 px right and 200 px up of where the drag started: half speed right, full up.
    set_cursor(&mut rig, 900.0, 250.0);
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![v(0.5, 1.0, 0.0)]);
    rig.app
        .world_mut()
        .resource_mut::<ButtonInput<MouseButton>>()
        .release(MouseButton::Left);
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![Command::Stop]);
    rig.frames(25);
    let window = rig.wall.window;
    rig.app.world_mut().write_message(MouseWheel {
        unit: MouseScrollUnit::Line,
        x: 0.0,
        y: 1.0,
        window,
        phase: bevy::input::touch::TouchPhase::Moved,
    });
    rig.frames(1);
    assert_eq!(rig.sent(0), vec![v(0.0, 0.0, 0.5)], "a notch zooms in");
    rig.frames(40);
    assert_eq!(rig.sent(0), vec![Command::Stop], "and stops after it");
    assert!(rig.sent(1).is_empty());
}

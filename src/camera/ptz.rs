//! PTZ and brightness in the ECS: the [`Ptz`] component (a camera's ONVIF control agent and
//! the status it last reported), [`Steer`] messages from the wall's input (each names one
//! camera entity, so a command can only reach that camera), and the per-camera [`Throttle`]
//! that sends only changes, at most 5 a second, and never holds back a Stop. On exit every
//! camera still moving by our command is stopped.

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

use crate::WallSystems;
use crate::onvif::{Command, ControlHandle, ControlStatus, Velocity};

/// Least time between two commands to one camera.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// How long the overlay shows a brightness that just changed.
const BRIGHTNESS_SHOWN: Duration = Duration::from_secs(3);

/// A camera with an ONVIF endpoint.
#[derive(Component)]
pub struct Ptz {
    pub handle: ControlHandle,
    pub status: ControlStatus,
    pub throttle: Throttle,
    /// Until when the overlay shows the brightness (it changed).
    pub brightness_shown_until: Option<Duration>,
}

impl Ptz {
    pub fn new(handle: ControlHandle) -> Self {
        Self {
            status: handle.status(),
            handle,
            throttle: Throttle::default(),
            brightness_shown_until: None,
        }
    }

    /// Whether the overlay shows the brightness at `now`.
    pub fn brightness_shown(&self, now: Duration) -> bool {
        self.brightness_shown_until.is_some_and(|t| now < t)
    }
}

/// A control command for one camera, from the wall's input.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct Steer {
    pub camera: Entity,
    pub command: Command,
}

/// What one camera is sent and when: motion and brightness keep only their newest value,
/// presets and home queue; a new command waits until [`MIN_INTERVAL`] after the last one,
/// except a Stop, which goes at once.
#[derive(Debug, Default)]
pub struct Throttle {
    sent_at: Option<Duration>,
    /// The velocity of the last move sent (zero: not moving by our command).
    moving: Velocity,
    motion: Option<Velocity>,
    brightness: Option<f32>,
    queue: VecDeque<Command>,
}

impl Throttle {
    pub fn offer(&mut self, command: Command) {
        match command {
            Command::Move(v) => self.motion = Some(v.clamped()),
            Command::Stop => self.motion = Some(Velocity::default()),
            Command::Brightness(b) => self.brightness = Some(b),
            other => {
                if self.queue.len() < 8 {
                    self.queue.push_back(other);
                }
            }
        }
    }

    /// Whether the camera moves by our last command.
    pub fn moving(&self) -> bool {
        !self.moving.is_zero()
    }

    /// The next command to send at `now`, if one is due.
    pub fn due(&mut self, now: Duration) -> Option<Command> {
        if self.motion.is_some_and(|v| v.is_zero()) {
            self.motion = None;
            if self.moving() {
                self.moving = Velocity::default();
                self.sent_at = Some(now);
                return Some(Command::Stop);
            }
        }
        if self
            .sent_at
            .is_some_and(|t| now.saturating_sub(t) < MIN_INTERVAL)
        {
            return None;
        }
        if let Some(c) = self.queue.pop_front() {
            if matches!(c, Command::GotoPreset(_) | Command::Home) {
                // The camera stops moving to go there.
                self.moving = Velocity::default();
            }
            self.sent_at = Some(now);
            return Some(c);
        }
        if let Some(v) = self.motion.take()
            && v != self.moving
        {
            self.moving = v;
            self.sent_at = Some(now);
            return Some(Command::Move(v));
        }
        if let Some(b) = self.brightness.take() {
            self.sent_at = Some(now);
            return Some(Command::Brightness(b));
        }
        None
    }
}

/// Carries [`Steer`] messages to the cameras named, through their throttles; mirrors each
/// agent's status. Needs only `Time<Real>`.
pub fn plugin(app: &mut App) {
    app.add_message::<Steer>()
        .add_systems(Update, ingest_status.in_set(WallSystems::Update))
        // After the wall's input (in `Present`): a key pressed goes out the same frame.
        .add_systems(Update, send_commands.after(WallSystems::Present))
        .add_systems(Last, stop_on_exit);
}

fn ingest_status(time: Res<Time<Real>>, mut cameras: Query<&mut Ptz>) {
    let now = time.elapsed();
    for mut ptz in &mut cameras {
        if let Some(status) = ptz.handle.changed_status() {
            // A change, not the first reading.
            if status.brightness != ptz.status.brightness
                && status.brightness.is_some()
                && ptz.status.brightness.is_some()
            {
                ptz.brightness_shown_until = Some(now + BRIGHTNESS_SHOWN);
            }
            ptz.status = status;
        }
    }
}

fn send_commands(
    time: Res<Time<Real>>,
    mut steer: MessageReader<Steer>,
    mut cameras: Query<&mut Ptz>,
) {
    for s in steer.read() {
        if let Ok(mut ptz) = cameras.get_mut(s.camera) {
            ptz.throttle.offer(s.command.clone());
        }
    }
    let now = time.elapsed();
    for mut ptz in &mut cameras {
        let ptz = &mut *ptz;
        while let Some(command) = ptz.throttle.due(now) {
            ptz.handle.send(command);
        }
    }
}

pub(super) fn stop_on_exit(mut exits: MessageReader<AppExit>, mut cameras: Query<&mut Ptz>) {
    if exits.read().next().is_none() {
        return;
    }
    for mut ptz in &mut cameras {
        if ptz.throttle.moving() {
            ptz.throttle.offer(Command::Stop);
            if let Some(stop) = ptz.throttle.due(Duration::MAX) {
                ptz.handle.send(stop);
            }
        }
        ptz.handle.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn pan(p: f32) -> Command {
        Command::Move(Velocity {
            pan: p,
            ..Velocity::default()
        })
    }

    #[test]
    fn sends_changes_at_most_five_a_second_and_stops_at_once() {
        let mut t = Throttle::default();
        t.offer(pan(0.5));
        assert_eq!(t.due(ms(0)), Some(pan(0.5)));
        t.offer(pan(0.5));
        assert_eq!(t.due(ms(300)), None, "unchanged: nothing sent");
        t.offer(pan(0.6));
        assert_eq!(t.due(ms(350)), Some(pan(0.6)));
        t.offer(pan(0.7));
        t.offer(pan(0.8));
        assert_eq!(t.due(ms(400)), None, "within 200 ms of the last");
        assert_eq!(t.due(ms(550)), Some(pan(0.8)), "the newest, once");
        t.offer(pan(0.9));
        t.offer(Command::Stop);
        assert_eq!(t.due(ms(560)), Some(Command::Stop), "a Stop never waits");
        t.offer(Command::Stop);
        assert_eq!(t.due(ms(2000)), None, "already stopped");
        assert!(!t.moving());
    }

    #[test]
    fn presets_queue_and_brightness_keeps_the_newest() {
        let mut t = Throttle::default();
        t.offer(Command::GotoPreset(1));
        t.offer(Command::Home);
        t.offer(Command::Brightness(40.0));
        t.offer(Command::Brightness(60.0));
        let sent: Vec<_> = (0..10).filter_map(|i| t.due(ms(i * 250))).collect();
        assert_eq!(
            sent,
            vec![
                Command::GotoPreset(1),
                Command::Home,
                Command::Brightness(60.0)
            ]
        );
        // Going to a preset stops a move: no Stop is owed afterwards.
        t.offer(pan(1.0));
        assert_eq!(t.due(ms(5000)), Some(pan(1.0)));
        t.offer(Command::GotoPreset(2));
        assert_eq!(t.due(ms(5300)), Some(Command::GotoPreset(2)));
        t.offer(Command::Stop);
        assert_eq!(t.due(ms(5600)), None);
    }
}

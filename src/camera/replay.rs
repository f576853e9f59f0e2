//! Playback in the ECS: a camera in playback carries [`Replay`] (its playback thread and what it
//! shows) and follows a [`Playhead`] entity; cameras on one playhead play the same instant
//! ("sync all"). Requests ([`ReplayRequest`]: from keys, the timeline, tests) start, join,
//! move and end playback; each frame every playhead's instant goes to its cameras' players and
//! their pictures replace the live ones in [`LatestFrame`]. A camera back from playback shows
//! nothing until its first live picture ([`AwaitLive`]), never the last recorded one. Time is
//! `Time<Real>` (stepped by tests), so playback speeds are exact in virtual time.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;

use super::{IpCamera, LatestFrame, ViewLocked, WallConfig};
use crate::WallSystems;
use crate::playback::Index;
use crate::playback::player::{Motion, Player, Shown, Want};

/// Playback speeds, slowest reverse to fastest forward; reverse shows keyframes only.
pub const SPEEDS: [f32; 12] = [
    -16.0, -8.0, -4.0, -2.0, -1.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0,
];
/// ×1 in [`SPEEDS`].
const NORMAL: usize = 7;
/// Playback starts this long before now (the "what just happened" look).
pub const START_BEFORE_MS: i64 = 30_000;
/// A frame step with no next picture known moves this far (a 25 fps camera's frame).
const FRAME_MS: i64 = 40;

/// The wall clock (ms since the Unix epoch).
fn now_ms() -> i64 {
    crate::media::unix_ms()
}

/// Where playback is and how it moves; cameras following it carry [`Replay`] naming it.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Playhead {
    /// The instant at `anchor` (real time of the app).
    anchor_ms: i64,
    anchor: Duration,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    pub paused: bool,
    /// Changes whenever the instant or the motion does.
    seq: u64,
    last: Option<(i64, Motion)>,
}

impl Playhead {
    pub fn new(at_ms: i64, now: Duration) -> Self {
        Self {
            anchor_ms: at_ms,
            anchor: now,
            speed: NORMAL,
            paused: false,
            seq: 0,
            last: None,
        }
    }

    /// The instant at real time `now`, never later than the wall clock.
    pub fn at(&self, now: Duration) -> i64 {
        let moved = if self.paused {
            0.0
        } else {
            now.saturating_sub(self.anchor).as_secs_f64() * 1000.0 * f64::from(SPEEDS[self.speed])
        };
        (self.anchor_ms + moved.round() as i64).min(now_ms())
    }

    pub fn motion(&self) -> Motion {
        if !self.paused && SPEEDS[self.speed] < 0.0 {
            Motion::Reverse
        } else {
            Motion::Forward
        }
    }

    /// Moves the playhead to `at_ms` from `now` on.
    pub fn set(&mut self, at_ms: i64, now: Duration) {
        self.anchor_ms = at_ms.min(now_ms());
        self.anchor = now;
    }

    /// The speed as a label ("×¼", "×2", "◀ ×4").
    pub fn speed_label(&self) -> String {
        let s = SPEEDS[self.speed];
        let v = match s.abs() {
            0.25 => "¼".to_owned(),
            0.5 => "½".to_owned(),
            x => format!("{x:.0}"),
        };
        if s < 0.0 {
            format!("◀ ×{v}")
        } else {
            format!("×{v}")
        }
    }
}

/// What a camera's player shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayShown {
    /// Nothing yet (the player is finding the instant).
    Waiting,
    /// A picture recorded at `at_ms`; the capture clock burned into it, if any.
    Picture {
        at_ms: i64,
        next_ms: Option<i64>,
        capture_ms: Option<u32>,
    },
    /// Nothing recorded at `at_ms`.
    Nothing { at_ms: i64, reason: String },
}

/// A camera in playback.
#[derive(Component)]
pub struct Replay {
    /// The [`Playhead`] entity it follows.
    pub head: Entity,
    player: Player,
    pub shown: ReplayShown,
    /// The want last sent.
    sent: u64,
    /// The last want the player had carried out when `shown` was last taken from it.
    done: u64,
}

impl Replay {
    /// The seq of the playhead's last want the player had carried out when `shown` was
    /// taken: when it equals [`Self::sent`], `shown` is what the playhead asks for.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// The seq of the want last sent to the player.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The camera's recordings as its player last read them (for the timeline).
    pub fn index(&self) -> (u64, Arc<Index>) {
        self.player.index()
    }

    /// Whether the tile should show no picture (nothing recorded there, or none found yet).
    pub fn blank(&self) -> bool {
        !matches!(self.shown, ReplayShown::Picture { .. })
    }
}

/// Start the wall in playback at this instant, every camera in sync (`--playback`); taken
/// once the cameras are there.
#[derive(Resource, Debug, Clone, Copy)]
pub struct StartPlayback(pub i64);

/// A camera back from playback, until its first live picture.
#[derive(Component, Debug, Default)]
pub struct AwaitLive;

/// What to do with playback.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayAction {
    /// Into playback (START_BEFORE_MS before now), or play/pause when already in it.
    StartOrPause,
    /// These cameras play in sync with the camera (which goes into playback if it is not).
    Join(Vec<Entity>),
    /// The camera and every camera in sync with it back to live.
    Live,
    /// To this instant.
    Seek(i64),
    /// This far (ms, negative back).
    Skip(i64),
    /// One picture forward (1) or back (-1); pauses.
    Frame(i32),
    /// Faster (1) or slower (-1) along [`SPEEDS`].
    Speed(i32),
    SetPaused(bool),
}

/// A request about `camera`'s playback (and the cameras in sync with it).
#[derive(Message, Debug, Clone)]
pub struct ReplayRequest {
    pub camera: Entity,
    pub action: ReplayAction,
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<ReplayRequest>().add_systems(
        Update,
        (start_playback, requests, drive, forget_heads)
            .chain()
            .in_set(WallSystems::Ingest)
            .after(super::ingest::take_frames),
    );
}

/// Starts `camera`'s player on `head`.
fn start(
    commands: &mut Commands,
    config: Option<&WallConfig>,
    entity: Entity,
    cam: &IpCamera,
    head: Entity,
) {
    let dir = config.map_or_else(
        || std::path::PathBuf::from("recordings"),
        |c| c.recording.dir.clone(),
    );
    let folder = crate::playback::camera_folder(&dir, &cam.name);
    match Player::start(&cam.name, folder) {
        Ok(player) => {
            info!(camera = %cam.name, "playback");
            commands
                .entity(entity)
                .remove::<AwaitLive>()
                .insert(Replay {
                    head,
                    player,
                    shown: ReplayShown::Waiting,
                    sent: 0,
                    done: 0,
                });
        }
        Err(e) => error!(camera = %cam.name, "cannot start playback: {e}"),
    }
}

/// `--playback`: every camera into playback, in sync with the first.
fn start_playback(
    start: Option<Res<StartPlayback>>,
    cameras: Query<(Entity, &IpCamera)>,
    mut out: MessageWriter<ReplayRequest>,
    mut sent: Local<bool>,
) {
    if start.is_none() || *sent {
        return;
    }
    let Some((first, _)) = cameras.iter().min_by_key(|(_, c)| c.index) else {
        return;
    };
    *sent = true;
    out.write(ReplayRequest {
        camera: first,
        action: ReplayAction::Join(cameras.iter().map(|(e, _)| e).collect()),
    });
}

#[allow(clippy::too_many_arguments)]
fn requests(
    mut commands: Commands,
    mut reader: MessageReader<ReplayRequest>,
    time: Res<Time<Real>>,
    (config, start_at): (Option<Res<WallConfig>>, Option<Res<StartPlayback>>),
    cameras: Query<(Entity, &IpCamera, Option<&Replay>, Option<&ViewLocked>)>,
    mut heads: Query<&mut Playhead>,
) {
    let now = time.elapsed();
    // Heads made this frame (commands are applied after the system).
    let mut made: Vec<(Entity, Entity)> = Vec::new();
    for req in reader.read() {
        let Ok((entity, cam, replay, locked)) = cameras.get(req.camera) else {
            continue;
        };
        let is_locked = |l: Option<&ViewLocked>| l.is_some_and(|l| l.0);
        let mut head_of = |commands: &mut Commands| -> Entity {
            if let Some(r) = replay {
                return r.head;
            }
            if let Some((_, h)) = made.iter().find(|(c, _)| *c == entity) {
                return *h;
            }
            let at = match &start_at {
                Some(s) => {
                    commands.remove_resource::<StartPlayback>();
                    s.0
                }
                None => now_ms() - START_BEFORE_MS,
            };
            let h = commands.spawn(Playhead::new(at, now)).id();
            start(commands, config.as_deref(), entity, cam, h);
            made.push((entity, h));
            h
        };
        match &req.action {
            ReplayAction::StartOrPause => match replay.and_then(|r| heads.get_mut(r.head).ok()) {
                Some(mut head) => {
                    let at = head.at(now);
                    head.paused = !head.paused;
                    head.set(at, now);
                }
                None if !is_locked(locked) => {
                    head_of(&mut commands);
                }
                None => {}
            },
            ReplayAction::Join(others) => {
                if is_locked(locked) {
                    continue;
                }
                let head = head_of(&mut commands);
                for &other in others {
                    let Ok((e, c, r, l)) = cameras.get(other) else {
                        continue;
                    };
                    if e == entity || r.is_some_and(|r| r.head == head) || is_locked(l) {
                        continue;
                    }
                    start(&mut commands, config.as_deref(), e, c, head);
                }
            }
            ReplayAction::Live => {
                let Some(head) = replay.map(|r| r.head) else {
                    continue;
                };
                for (e, c, r, _) in &cameras {
                    if r.is_some_and(|r| r.head == head) {
                        info!(camera = %c.name, "live");
                        commands.entity(e).remove::<Replay>().insert(AwaitLive);
                    }
                }
            }
            action => {
                let Some(r) = replay else { continue };
                let Ok(mut head) = heads.get_mut(r.head) else {
                    continue;
                };
                move_head(&mut head, action, &r.shown, now);
            }
        }
    }
}

/// Carries out a move of the playhead.
fn move_head(head: &mut Playhead, action: &ReplayAction, shown: &ReplayShown, now: Duration) {
    let at = head.at(now);
    let picture = match shown {
        ReplayShown::Picture { at_ms, next_ms, .. } => Some((*at_ms, *next_ms)),
        _ => None,
    };
    match action {
        ReplayAction::Seek(t) => head.set(*t, now),
        ReplayAction::Skip(d) => head.set(at + d, now),
        ReplayAction::Frame(step) => {
            head.paused = true;
            let to = match (step.signum(), picture) {
                (1, Some((_, Some(next)))) => next,
                (1, _) => at + FRAME_MS,
                (_, Some((shown_at, _))) => shown_at - 1,
                _ => at - FRAME_MS,
            };
            head.set(to, now);
        }
        ReplayAction::Speed(step) => {
            let i = (head.speed as i64 + i64::from(*step)).clamp(0, SPEEDS.len() as i64 - 1);
            head.set(at, now);
            head.speed = i as usize;
            head.paused = false;
        }
        ReplayAction::SetPaused(p) => {
            head.set(at, now);
            head.paused = *p;
        }
        _ => {}
    }
}

/// Each playhead's instant to its cameras' players; their pictures into `LatestFrame`.
#[allow(clippy::type_complexity)]
fn drive(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut heads: Query<&mut Playhead>,
    mut cameras: Query<(&mut Replay, &mut LatestFrame)>,
    waiting: Query<(Entity, &LatestFrame), (With<AwaitLive>, Without<Replay>)>,
) {
    let now = time.elapsed();
    for mut head in &mut heads {
        let current = (head.at(now), head.motion());
        if head.last != Some(current) {
            head.last = Some(current);
            head.seq += 1;
        }
    }
    for (mut replay, mut latest) in &mut cameras {
        let Ok(head) = heads.get(replay.head) else {
            continue;
        };
        let Some((at_ms, motion)) = head.last else {
            continue;
        };
        if replay.sent != head.seq {
            replay.sent = head.seq;
            replay.player.want(Want {
                at_ms,
                motion,
                seq: head.seq,
            });
        }
        latest.0 = None;
        // Read before taking: the player publishes a picture before it counts the want done.
        replay.done = replay.player.done();
        match replay.player.take_shown() {
            Some(Shown::Picture {
                frame,
                at_ms,
                next_ms,
            }) => {
                replay.shown = ReplayShown::Picture {
                    at_ms,
                    next_ms,
                    capture_ms: frame.capture_ms,
                };
                latest.0 = Some(frame);
            }
            Some(Shown::Nothing { at_ms, reason }) => {
                replay.shown = ReplayShown::Nothing { at_ms, reason };
            }
            None => {}
        }
    }
    for (entity, latest) in &waiting {
        if latest.0.is_some() {
            commands.entity(entity).remove::<AwaitLive>();
        }
    }
}

/// A playhead no camera follows any more goes.
fn forget_heads(
    mut commands: Commands,
    heads: Query<Entity, With<Playhead>>,
    cameras: Query<&Replay>,
) {
    for head in &heads {
        if !cameras.iter().any(|r| r.head == head) {
            commands.entity(head).despawn();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_playhead_moves_with_real_time_at_its_speed_and_stops_at_now() {
        let mut h = Playhead::new(T, secs(10.0));
        assert_eq!(h.at(secs(11.0)), T + 1000);
        move_head(
            &mut h,
            &ReplayAction::Speed(2),
            &ReplayShown::Waiting,
            secs(11.0),
        );
        assert_eq!((h.speed_label(), h.at(secs(12.0))), ("×4".into(), T + 5000));
        // Down through ×¼ into reverse, by keyframes.
        for _ in 0..5 {
            move_head(
                &mut h,
                &ReplayAction::Speed(-1),
                &ReplayShown::Waiting,
                secs(12.0),
            );
        }
        assert_eq!(h.speed_label(), "◀ ×1");
        assert_eq!(h.motion(), Motion::Reverse);
        assert_eq!(h.at(secs(14.0)), T + 3000);
        move_head(
            &mut h,
            &ReplayAction::SetPaused(true),
            &ReplayShown::Waiting,
            secs(14.0),
        );
        assert_eq!((h.at(secs(99.0)), h.motion()), (T + 3000, Motion::Forward));
        // Never later than the wall clock.
        let mut late = Playhead::new(now_ms() - 1000, secs(0.0));
        late.speed = SPEEDS.len() - 1;
        assert!(late.at(secs(10.0)) <= now_ms());
    }

    #[test]
    fn frame_steps_go_to_the_pictures_shown_and_pause() {
        let mut h = Playhead::new(T, secs(0.0));
        let shown = ReplayShown::Picture {
            at_ms: T - 12,
            next_ms: Some(T + 28),
            capture_ms: None,
        };
        move_head(&mut h, &ReplayAction::Frame(1), &shown, secs(0.0));
        assert_eq!((h.at(secs(5.0)), h.paused), (T + 28, true));
        move_head(&mut h, &ReplayAction::Frame(-1), &shown, secs(5.0));
        assert_eq!(h.at(secs(5.0)), T - 13);
        // Nothing shown: a frame interval.
        move_head(
            &mut h,
            &ReplayAction::Frame(1),
            &ReplayShown::Waiting,
            secs(5.0),
        );
        assert_eq!(h.at(secs(5.0)), T - 13 + FRAME_MS);
        move_head(
            &mut h,
            &ReplayAction::Skip(-10_000),
            &ReplayShown::Waiting,
            secs(5.0),
        );
        assert_eq!(h.at(secs(5.0)), T - 13 + FRAME_MS - 10_000);
        move_head(
            &mut h,
            &ReplayAction::Seek(T),
            &ReplayShown::Waiting,
            secs(5.0),
        );
        assert_eq!(h.at(secs(6.0)), T);
    }
}

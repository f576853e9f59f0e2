//! Playback in the ECS: a camera in playback carries [`Replay`] (its playback thread and what it
//! shows) and follows a [`Playhead`] entity; cameras on one playhead play the same instant
//! ("sync all"). Requests ([`ReplayRequest`]: from keys, the timeline, tests) start, join,
//! move and end playback; each frame every playhead's instant goes to its cameras' players and
//! their pictures replace the live ones in [`LatestFrame`]. A camera back from playback shows
//! nothing until its first live picture ([`AwaitLive`]), never the last recorded one. Time is
//! `Time<Real>` (stepped by tests), so playback speeds are exact in virtual time.

use std::sync::Arc;

use bevy::prelude::*;

pub use super::playhead::{Playhead, SPEEDS, START_BEFORE_MS};
use super::playhead::{move_head, now_ms};
use super::{IpCamera, LatestFrame, ViewLocked, WallConfig};
use crate::WallSystems;
use crate::playback::Index;
use crate::playback::player::{Player, Shown};

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
    /// These cameras play in sync with the camera (which goes into playback if it is not:
    /// at `at`, else START_BEFORE_MS ago).
    Join {
        cameras: Vec<Entity>,
        at: Option<i64>,
    },
    /// The camera and every camera in sync with it back to live.
    Live,
    /// To this instant.
    Seek(i64),
    /// This far (ms, negative back).
    Skip(i64),
    /// To the next (1) or previous (-1) event's start, less the pre-roll.
    Event(i32),
    /// One picture forward (1) or back (-1); pauses.
    Frame(i32),
    /// Faster (1) or slower (-1) along [`SPEEDS`].
    Speed(i32),
    SetPaused(bool),
    /// Marks the playhead's instant: a clip's other end.
    Mark,
    /// A clip of every camera in sync (`camera::clips`).
    Export,
}

/// A request about `camera`'s playback (and the cameras in sync with it).
#[derive(Message, Debug, Clone)]
pub struct ReplayRequest {
    pub camera: Entity,
    pub action: ReplayAction,
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<ReplayRequest>()
        .init_resource::<super::clips::Clips>()
        .add_systems(
            Update,
            (start_playback, requests, drive, forget_heads)
                .chain()
                .in_set(WallSystems::Ingest)
                .after(super::ingest::take_frames),
        );
}

/// Where `cam`'s recordings are (its [`super::Footage`], else its folder in the recording
/// directory).
fn footage_of(
    config: Option<&WallConfig>,
    footage: Option<&super::Footage>,
    cam: &IpCamera,
) -> crate::playback::Source {
    footage.map_or_else(
        || {
            let dir = config.map_or_else(
                || std::path::PathBuf::from("recordings"),
                |c| c.recording.dir.clone(),
            );
            crate::playback::Source::Folder(crate::playback::camera_folder(&dir, &cam.name))
        },
        |f| f.0.clone(),
    )
}

/// Starts `camera`'s player (its recordings at `source`) on `head`.
fn start(
    commands: &mut Commands,
    bell: Option<&super::WallBell>,
    (entity, cam, source): (Entity, &IpCamera, crate::playback::Source),
    head: Entity,
) {
    match Player::start(&cam.name, source, bell.map(|b| b.0.clone())) {
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

/// `--playback`: every camera into playback at its instant, in sync with the first.
fn start_playback(
    mut commands: Commands,
    start: Option<Res<StartPlayback>>,
    cameras: Query<(Entity, &IpCamera)>,
    mut out: MessageWriter<ReplayRequest>,
) {
    let Some(start) = start else { return };
    let Some((first, _)) = cameras.iter().min_by_key(|(_, c)| c.index) else {
        return;
    };
    commands.remove_resource::<StartPlayback>();
    out.write(ReplayRequest {
        camera: first,
        action: ReplayAction::Join {
            cameras: cameras.iter().map(|(e, _)| e).collect(),
            at: Some(start.0),
        },
    });
}

#[allow(clippy::too_many_arguments)]
fn requests(
    mut commands: Commands,
    mut reader: MessageReader<ReplayRequest>,
    time: Res<Time<Real>>,
    (config, bell): (Option<Res<WallConfig>>, Option<Res<super::WallBell>>),
    cameras: Query<(Entity, &IpCamera, Option<&Replay>, Option<&ViewLocked>)>,
    mut heads: Query<&mut Playhead>,
    (clips, feed, footage): (
        Res<super::clips::Clips>,
        Option<Res<super::motion::AlarmFeed>>,
        Query<&super::Footage>,
    ),
) {
    let source_of =
        |e: Entity, cam: &IpCamera| footage_of(config.as_deref(), footage.get(e).ok(), cam);
    let now = time.elapsed();
    // Heads made this frame (commands are applied after the system).
    let mut made: Vec<(Entity, Entity)> = Vec::new();
    for req in reader.read() {
        let Ok((entity, cam, replay, locked)) = cameras.get(req.camera) else {
            continue;
        };
        let is_locked = |l: Option<&ViewLocked>| l.is_some_and(|l| l.0);
        // The camera's playhead; a new one at `at` (else START_BEFORE_MS ago) if it has none.
        let mut head_of = |commands: &mut Commands, at: Option<i64>| -> Entity {
            if let Some(r) = replay {
                return r.head;
            }
            if let Some((_, h)) = made.iter().find(|(c, _)| *c == entity) {
                return *h;
            }
            let at = at.unwrap_or_else(|| now_ms() - START_BEFORE_MS);
            let h = commands.spawn(Playhead::new(at, now)).id();
            start(
                commands,
                bell.as_deref(),
                (entity, cam, source_of(entity, cam)),
                h,
            );
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
                    head_of(&mut commands, None);
                }
                None => {}
            },
            ReplayAction::Join {
                cameras: others,
                at,
            } => {
                if is_locked(locked) {
                    continue;
                }
                let head = head_of(&mut commands, *at);
                for &other in others {
                    let Ok((e, c, r, l)) = cameras.get(other) else {
                        continue;
                    };
                    if e == entity || r.is_some_and(|r| r.head == head) || is_locked(l) {
                        continue;
                    }
                    start(
                        &mut commands,
                        bell.as_deref(),
                        (e, c, source_of(e, c)),
                        head,
                    );
                }
            }
            ReplayAction::Live => {
                let Some(head) = replay.map(|r| r.head) else {
                    continue;
                };
                for (e, c, r, _) in &cameras {
                    if r.is_some_and(|r| r.head == head) {
                        info!(camera = %c.name, "live");
                        // The recorded picture is not the live one: nothing until it comes.
                        commands
                            .entity(e)
                            .remove::<Replay>()
                            .insert((AwaitLive, LatestFrame::default()));
                    }
                }
            }
            ReplayAction::Export => {
                let Some(r) = replay else { continue };
                let Ok(head) = heads.get(r.head) else {
                    continue;
                };
                let span = super::clips::span(head.mark, head.at(now));
                let sources = cameras
                    .iter()
                    .filter(|c| c.2.is_some_and(|x| x.head == r.head))
                    .map(|c| (c.1.name.clone(), source_of(c.0, c.1)))
                    .collect();
                let out = config
                    .as_deref()
                    .map_or_else(|| "snapshots".into(), |c| c.snapshot_dir.clone());
                clips.export(out, sources, span);
            }
            action => {
                let Some(r) = replay else { continue };
                let Ok(mut head) = heads.get_mut(r.head) else {
                    continue;
                };
                let action = match action {
                    ReplayAction::Event(step) => {
                        let events = super::motion::camera_events(
                            config.as_deref().map(|c| c.recording.dir.as_path()),
                            feed.as_deref(),
                            &cam.name,
                            head.at(now),
                        );
                        let pre = config
                            .as_deref()
                            .map_or(5_000, |c| c.recording.pre_roll_secs as i64 * 1000);
                        match super::motion::next_event(&events, head.at(now), *step, pre) {
                            Some(t) => ReplayAction::Seek(t),
                            None => continue,
                        }
                    }
                    other => other.clone(),
                };
                move_head(&mut head, &action, &r.shown, now);
            }
        }
    }
}

/// Each playhead's instant to its cameras' players; their pictures into `LatestFrame`.
#[allow(clippy::type_complexity)]
fn drive(
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut heads: Query<&mut Playhead>,
    mut cameras: Query<(Entity, &mut Replay, &mut LatestFrame, Option<&ViewLocked>)>,
    waiting: Query<(Entity, Ref<LatestFrame>), (With<AwaitLive>, Without<Replay>)>,
) {
    let now = time.elapsed();
    for mut head in &mut heads {
        head.tick(now);
    }
    for (entity, mut replay, mut latest, locked) in &mut cameras {
        // Locked again (L): its footage is as private as its live picture.
        if locked.is_some_and(|l| l.0) {
            commands.entity(entity).remove::<Replay>().insert(AwaitLive);
            latest.0 = None;
            continue;
        }
        let Ok(head) = heads.get(replay.head) else {
            continue;
        };
        let Some(want) = head.want() else { continue };
        if replay.sent != want.seq {
            replay.sent = want.seq;
            replay.player.want(want);
        }
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
    // Back to live once a live picture arrives (the recorded one stays until then).
    for (entity, latest) in &waiting {
        if latest.is_changed() && latest.0.is_some() {
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

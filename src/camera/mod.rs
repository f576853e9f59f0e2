//! Cameras as ECS entities: the components every camera entity carries and the plugins that
//! keep them current. A camera's streams are entities of their own (`streams`). The jobs live
//! one file each: `spawn` (entities with their workers, recorders and servers; shutdown),
//! `ingest` (each stream's worker events, pictures, grace ticks, rates and latency), `recording` (turning recording on and off, mirroring the recorder), `ptz` (ONVIF
//! control: steering one camera, throttled, with a guaranteed stop), `replay` (recorded
//! footage in place of live, cameras in sync on one playhead), `motion` (events from every
//! source, debounced, logged and shown), `control`
//! (requests from the API), `status` (the plain-value snapshot the API serves), and `state`
//! (the pure stream state machine).

pub mod clips;
mod control;
mod edit;
mod ingest;
pub mod motion;
mod playhead;
pub mod ptz;
mod recording;
pub mod replay;
mod spawn;
pub mod state;
mod status;
pub mod streams;

use std::sync::Arc;
use std::time::Duration;

use bevy::ecs::query::QueryData;
use bevy::prelude::*;

use crate::WallSystems;
use crate::config::Config;
use crate::media::SharedFrame;
use crate::media::VideoCodec;
use crate::stream::{self, CameraCommand, CameraEvent, Demand, Figures};
use state::{Grace, StreamMachine};

pub use control::{ApiInbox, control_plugin};
pub use ingest::Rates;
pub use ptz::{Ptz, Steer};
pub use recording::{RecorderLink, Recording, SetRecording};
pub use replay::{AwaitLive, Playhead, Replay, ReplayAction, ReplayRequest};
pub use spawn::{
    CameraServers, CameraSpawner, Hub, Restreams, Retention, camera_list, onvif_endpoint,
    shutdown_on_exit, worker_config,
};
pub use status::{ApiServer, Board, RestreamServer, publish_status};
pub use streams::{CameraStream, Display, Shown, StreamKind, StreamOf, Streams, StreamsOf};

/// A camera on the wall (named so, not `Camera`, to stay clear of Bevy's render camera). Its
/// position in the grid is `index`. Its streams are entities of their own ([`Streams`]).
#[derive(Component, Debug, Clone)]
#[require(PortBinding, Recording, AudioStatus, LatestFrame, ViewLocked, Display)]
pub struct IpCamera {
    pub name: String,
    pub index: usize,
    /// RTSP URL with credentials removed.
    pub url: String,
}

/// A stream's state, reconnect count, last error, and what the stream is.
#[derive(Component, Debug, Clone)]
pub struct StreamStatus {
    pub machine: StreamMachine,
    pub codec: Option<VideoCodec>,
    pub width: u32,
    pub height: u32,
}

impl Default for StreamStatus {
    fn default() -> Self {
        Self {
            machine: StreamMachine::offline(),
            codec: None,
            width: 0,
            height: 0,
        }
    }
}

/// What the camera's audio port serves (mirrored from its server when that changes).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct AudioStatus {
    /// "AAC 16000 Hz, 1 ch, passed through as ADTS", or why the camera's audio cannot be
    /// served; `None` without audio.
    pub text: Option<String>,
    /// The codec of the audio served (`None` while none is).
    pub codec: Option<crate::media::AudioCodec>,
}

/// Startup grace of the camera (see [`state::Grace`]).
#[derive(Component, Debug, Clone, Default, Deref, DerefMut)]
pub struct GraceTimer(pub Grace);

/// Ports the camera's local stream servers are bound to (`None` until they are).
#[derive(Component, Debug, Clone, Default)]
pub struct PortBinding {
    pub mjpeg: Option<u16>,
    pub audio: Option<u16>,
}

/// A stream's latency over the last seconds (see [`stream::latency`]), refreshed a few times
/// a second.
#[derive(Component, Debug, Clone, Default)]
pub struct Latency(pub stream::latency::LatencySummary);

/// The picture the camera's tile shows: the newest decoded (or, in playback, played) picture,
/// kept until the next one replaces it, so a frame drawn for input or the overlay tick, or a
/// paused playback, still has it (`S` saves it). Written only when a picture arrives: its
/// change ticks say when. `None` before the first, and once a lock clears it.
#[derive(Component, Debug, Clone, Default)]
pub struct LatestFrame(pub Option<SharedFrame>);

/// The ECS end of a stream's worker (on the stream entity). Dropping it (the stream or its
/// camera is despawned) tells the worker to end.
#[derive(Component)]
pub struct WorkerLink {
    pub commands: tokio::sync::mpsc::Sender<CameraCommand>,
    pub events: crossbeam_channel::Receiver<CameraEvent>,
    pub frames: stream::FrameReceiver,
    /// What the ECS asks of the worker; only the ECS writes it.
    pub demand: tokio::sync::watch::Sender<Demand>,
    /// What the worker publishes about its stream.
    pub figures: Arc<Figures>,
    /// The settings of the worker's motion analysis, when it has one.
    pub motion: Option<stream::MotionSettings>,
}

impl WorkerLink {
    pub fn new(
        commands: tokio::sync::mpsc::Sender<CameraCommand>,
        events: crossbeam_channel::Receiver<CameraEvent>,
        frames: stream::FrameReceiver,
        demand: tokio::sync::watch::Sender<Demand>,
        figures: Arc<Figures>,
    ) -> Self {
        Self {
            commands,
            events,
            frames,
            demand,
            figures,
            motion: None,
        }
    }

    /// The link with `motion`, the settings of the worker's motion analysis.
    pub fn with_motion(mut self, motion: Option<stream::MotionSettings>) -> Self {
        self.motion = motion;
        self
    }

    /// Turns the worker's motion analysis on or off (where it has one). Turned back on, it
    /// learns the picture afresh: what it learned before may be stale.
    pub fn analyse(&self, on: bool) {
        let Some(settings) = &self.motion else { return };
        if on && !self.asked().motion {
            settings.send_modify(|_| {});
        }
        self.ask(Demand {
            motion: on,
            ..self.asked()
        });
    }

    /// New settings for the worker's motion analysis; it learns the picture anew (an edit
    /// may have pointed the camera elsewhere).
    pub fn set_motion(&self, settings: &crate::events::picture::Settings) {
        if let Some(m) = &self.motion {
            m.send_modify(|s| settings.clone_into(s));
        }
    }

    /// A link to no worker (tests that play the worker's part): asks everything, counts nothing.
    pub fn detached(
        commands: tokio::sync::mpsc::Sender<CameraCommand>,
        events: crossbeam_channel::Receiver<CameraEvent>,
        frames: stream::FrameReceiver,
    ) -> Self {
        let (demand, _) = tokio::sync::watch::channel(Demand::ALL);
        Self::new(commands, events, frames, demand, Arc::default())
    }

    /// Asks the worker for `demand` (it is woken only when that changes).
    pub fn ask(&self, demand: Demand) {
        self.demand.send_if_modified(|d| {
            let changed = *d != demand;
            *d = demand;
            changed
        });
    }

    /// What the worker is asked for now.
    pub fn asked(&self) -> Demand {
        *self.demand.borrow()
    }

    /// Tells the worker to end (its session is torn down, its recorder closes its segment).
    pub fn stop(&self) {
        let _ = self.commands.try_send(CameraCommand::Shutdown);
    }
}

impl Drop for WorkerLink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The camera has a view password and this machine has not unlocked it: the wall draws no
/// picture of it (mirrored from [`ViewLocks`] when they change).
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewLocked(pub bool);

/// Mirrors the locks when they change, a camera is added or edited, and once a second (an
/// unlock that expires changes nothing else).
fn sync_view_locks(
    locks: Option<Res<ViewLocks>>,
    time: Res<Time<Real>>,
    mut cameras: Query<(Ref<IpCamera>, &mut ViewLocked)>,
    mut seen: Local<Option<(u64, Duration)>>,
) {
    let Some(locks) = locks else { return };
    let (changes, now) = (locks.0.changes(), time.elapsed());
    let stale =
        seen.is_none_or(|(c, at)| c != changes || now.saturating_sub(at) >= Duration::from_secs(1));
    if stale {
        *seen = Some((changes, now));
    }
    for (cam, mut locked) in &mut cameras {
        if stale || cam.is_changed() {
            locked.set_if_neq(ViewLocked(!locks.0.wall_may_show(&cam.name)));
        }
    }
}

/// View locks and unlocks, shared with the servers.
#[derive(Resource, Clone)]
pub struct ViewLocks(pub Arc<crate::locks::Locks>);

impl Default for ViewLocks {
    /// Nothing locked, nothing remembered (tests that assemble parts).
    fn default() -> Self {
        Self(Arc::new(crate::locks::Locks::new(
            None,
            Duration::from_secs(3600),
        )))
    }
}

/// The loaded configuration.
#[derive(Resource, Debug, Clone, Deref)]
pub struct WallConfig(pub Config);

/// The wall's speaker (window mode): the audible camera's audio thread decodes for it.
#[derive(Resource, Clone)]
pub struct Sound(pub Arc<crate::sound::Speaker>);

/// The nodes this wall lists, whether each answers (`nodes:`; written by their tasks).
#[derive(Resource, Clone, Default)]
pub struct Nodes(pub Arc<crate::node::client::NodeBoard>);

/// A camera of a node (`nodes:`): its recording and control go through the node.
#[derive(Component, Clone, Debug)]
pub struct ViaNode(pub crate::node::control::NodeRoute);

/// Where a camera's recordings are played and exported from: its folder here, or its node.
#[derive(Component, Clone, Debug)]
pub struct Footage(pub crate::playback::Source);

/// A camera of a node that does not answer: why. Shown as `node unreachable`, not as a
/// failure of the camera.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct NodeDown(pub String);

/// A camera of a node that is not live at its node: its state and error there. Shown while
/// the wall has no picture, instead of the wall's own error (a restream with nothing to give).
#[derive(Component, Clone, Debug, PartialEq)]
pub struct AtNode(pub String);

/// Marks the cameras of nodes that do not answer, and those not live at their node, when
/// what the nodes say changes.
fn mark_node_cameras(
    nodes: Option<Res<Nodes>>,
    mut seen: Local<Option<u64>>,
    cameras: Query<(Entity, &IpCamera, Option<&NodeDown>, Option<&AtNode>)>,
    mut commands: Commands,
) {
    let Some(nodes) = nodes else {
        return;
    };
    let changes = nodes.0.changes();
    // Cameras are added after their node answered: look again while the count moves too.
    let key = changes
        .wrapping_mul(65_537)
        .wrapping_add(cameras.iter().len() as u64);
    if *seen == Some(key) {
        return;
    }
    *seen = Some(key);
    for (entity, camera, marked, at_node) in &cameras {
        let mut e = commands.entity(entity);
        mark(&mut e, nodes.0.at_node(&camera.name).map(AtNode), at_node);
        mark(&mut e, nodes.0.down(&camera.name).map(NodeDown), marked);
    }
}

/// Puts marker `want` on a camera when it differs from what it has (`has`), or takes the
/// marker off when none is wanted.
fn mark<C: Component + PartialEq>(
    e: &mut bevy::ecs::system::EntityCommands,
    want: Option<C>,
    has: Option<&C>,
) {
    match want {
        Some(w) if has != Some(&w) => {
            e.insert(w);
        }
        None if has.is_some() => {
            e.remove::<C>();
        }
        _ => {}
    }
}

/// A camera that may be talked to (`talk:` not `Off`): its settings, credentials included
/// (never shown).
#[derive(Component, Clone)]
pub struct Talkable(pub Arc<crate::config::CameraConfig>);

/// Keeps the speaker's output device open.
#[derive(Resource)]
pub struct SpeakerOutput(pub crate::sound::device::Output);

/// What wakes the wall's window: rung by every worker's pictures and events and by the API's
/// commands. The wall's pacer listens (`wall::pace`); headless, nobody does.
#[derive(Resource, Clone, Default)]
pub struct WallBell(pub crate::stream::Bell);

/// Whether decoded pictures are displayed (window mode). Headless leaves them in FFmpeg.
#[derive(Resource, Debug, Clone, Copy)]
pub struct PicturesWanted(pub bool);

/// A state transition of one of a camera's streams, for whoever wants to react.
#[derive(Message, Debug, Clone)]
pub struct StateChanged {
    pub camera: Entity,
    pub stream: StreamKind,
    pub transition: state::Transition,
}

/// Everything shown about a camera (API, overlays), read together; its streams' figures are
/// read through [`StreamsOf`].
#[derive(QueryData)]
pub struct CameraView {
    pub camera: &'static IpCamera,
    pub streams: Option<&'static Streams>,
    pub audio: &'static AudioStatus,
    pub ports: &'static PortBinding,
    pub recording: &'static Recording,
    pub ptz: Option<&'static Ptz>,
    /// Whether the camera may be talked to (`talk:` not `Off`).
    pub talkable: Has<Talkable>,
    pub display: &'static Display,
    pub motion: Option<&'static motion::Motion>,
    /// Its node does not answer (a camera of a node).
    pub node_down: Option<&'static NodeDown>,
    /// It is not live at its node (a camera of a node).
    pub at_node: Option<&'static AtNode>,
}

impl CameraViewItem<'_, '_> {
    /// The stream that describes the camera ([`StreamsOf::describing`]).
    pub fn shown<'a>(&self, streams: &'a StreamsOf) -> Shown<'a> {
        streams.describing(self.streams, self.display)
    }
}

/// Systems that turn worker output into component state. Needs nothing but `Time<Real>` (which
/// `TimeUpdateStrategy` steps in tests, and which no pause or clamp distorts): tests
/// spawn cameras with hand-made [`WorkerLink`]s and step the clock.
pub fn state_plugin(app: &mut App) {
    app.add_message::<StateChanged>()
        .add_plugins((
            recording::plugin,
            ingest::plugin,
            ptz::plugin,
            replay::plugin,
            motion::plugin,
        ))
        .add_systems(
            Update,
            (sync_view_locks, mark_node_cameras).in_set(WallSystems::Ingest),
        );
}

/// Spawns the configured cameras and their workers, carries out API requests, publishes the
/// status, stops workers on exit. Needs the [`crate::runtime::Runtime`] resource.
pub fn spawn_plugin(app: &mut App) {
    app.add_plugins((spawn::plugin, control_plugin))
        .add_systems(
            Update,
            publish_status
                .in_set(WallSystems::Update)
                .after(ingest::sample_rates)
                .after(spawn::sync_ports),
        );
}

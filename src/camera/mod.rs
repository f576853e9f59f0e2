//! Cameras as ECS entities: their components, spawning them with their workers (and the
//! in-process simulated cameras), turning worker events and clock ticks into stream states,
//! sampling rates, publishing the status snapshot, and shutting workers down on exit.

pub mod state;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bevy::ecs::query::QueryData;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use crate::config::{CameraConfig, Config};
use crate::record::retention::{self, SharedRetention};
use crate::record::{RecordSettings, RecorderHandle};
use crate::runtime::Runtime;
use crate::serve::api::{ApiCommand, Refusal};
use crate::serve::mjpeg::{self, MjpegSettings};
use crate::serve::{
    CameraFeeds, CameraStatus, FeedHub, Ports, RecordingStatus, Server, StatusBoard, audio,
};
use crate::stream::audio::{AudioFeed, AudioState};
use crate::stream::{self, CameraCommand, CameraEvent, SharedFrame, StreamStats, VideoCodec};
use crate::{WallSystems, secret};
use state::{Grace, StreamMachine};

/// A camera on the wall. Its position in the grid is `index`.
#[derive(Component, Debug, Clone)]
#[require(StreamStatus, GraceTimer, PortBinding, Recording, Rates, LatestFrame)]
pub struct Camera {
    pub name: String,
    pub index: usize,
    /// RTSP URL with credentials removed.
    pub url: String,
}

/// Stream state, reconnect count, last error, and what the stream is.
#[derive(Component, Debug, Clone)]
pub struct StreamStatus {
    pub machine: StreamMachine,
    pub codec: Option<VideoCodec>,
    pub width: u32,
    pub height: u32,
    /// The audio the audio port serves ("AAC 16000 Hz, 1 ch, passed through as ADTS"), or
    /// why the camera's audio cannot be served; `None` without audio.
    pub audio: Option<String>,
}

impl Default for StreamStatus {
    fn default() -> Self {
        Self {
            machine: StreamMachine::offline(),
            codec: None,
            width: 0,
            height: 0,
            audio: None,
        }
    }
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

/// The camera's recording, mirrored from its recorder each frame.
#[derive(Component, Debug, Clone, Default)]
pub struct Recording {
    pub active: bool,
    pub segments: u64,
    pub bytes: u64,
    /// The open segment's path.
    pub current: Option<String>,
    /// Wall clock (Unix ms) the open segment started.
    pub current_since_ms: Option<i64>,
    /// Why recording is failing right now.
    pub error: Option<String>,
    /// The audio being recorded, or why the camera's audio is not.
    pub audio: Option<String>,
}

/// The ECS end of the camera's recorder.
#[derive(Component, Clone)]
pub struct RecorderLink(pub RecorderHandle);

/// Turns recording of one camera on or off (`None`: toggle). From the API, keys, overlays.
#[derive(Message, Debug, Clone)]
pub struct SetRecording {
    pub camera: Entity,
    pub active: Option<bool>,
}

/// Received frame and bit rates over a sliding window.
#[derive(Component, Debug, Clone, Default)]
pub struct Rates {
    pub fps: f64,
    pub bitrate_bps: f64,
    pub frames: u64,
    pub decoded: u64,
    samples: VecDeque<(Duration, u64, u64)>,
}

/// The newest decoded picture, taken from the frame slot this frame (if any).
#[derive(Component, Debug, Clone, Default)]
pub struct LatestFrame(pub Option<SharedFrame>);

/// The ECS end of the camera's worker.
#[derive(Component)]
pub struct WorkerLink {
    pub commands: tokio::sync::mpsc::Sender<CameraCommand>,
    pub events: crossbeam_channel::Receiver<CameraEvent>,
    pub frames: stream::FrameReceiver,
    pub stats: Arc<StreamStats>,
}

/// The loaded configuration.
#[derive(Resource, Debug, Clone, Deref)]
pub struct WallConfig(pub Config);

/// Whether decoded pictures are displayed (window mode). Headless leaves them in FFmpeg.
#[derive(Resource, Debug, Clone, Copy)]
pub struct PicturesWanted(pub bool);

/// Control requests from the API, drained each frame.
#[derive(Resource)]
pub struct ApiInbox(pub crossbeam_channel::Receiver<ApiCommand>);

/// Every camera's feeds, shared with the API port.
#[derive(Resource, Clone, Default)]
pub struct Hub(pub FeedHub);

/// The status API's server (it stops when this is dropped).
#[derive(Resource, Debug)]
pub struct ApiServer(pub Server);

/// What the retention thread works from (policy and recorders), kept current by the ECS.
#[derive(Resource, Clone, Default)]
pub struct Retention(pub SharedRetention);

/// Snapshot for the API.
#[derive(Resource, Clone, Deref)]
pub struct Board(pub StatusBoard);

/// A state transition, for whoever wants to react (overlays, recorder, tests).
#[derive(Message, Debug, Clone)]
pub struct StateChanged {
    pub camera: Entity,
    pub transition: state::Transition,
}

/// The window over which fps and bitrate are averaged.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// Systems that turn worker output into component state. Needs nothing but `Time<Real>` (which
/// `TimeUpdateStrategy` steps in tests, and which no pause or clamp distorts): tests
/// spawn cameras with hand-made [`WorkerLink`]s and step the clock.
pub fn state_plugin(app: &mut App) {
    app.add_message::<StateChanged>()
        .add_message::<SetRecording>()
        .add_systems(
            Update,
            (apply_set_recording, sync_recording)
                .chain()
                .in_set(WallSystems::Ingest),
        )
        .add_systems(
            Update,
            (ingest_events, take_frames).in_set(WallSystems::Ingest),
        )
        .add_systems(
            Update,
            (tick_grace, sample_rates).in_set(WallSystems::Update),
        );
}

/// Spawns the configured cameras and their workers, serves the status API, stops workers on
/// exit. Needs the [`Runtime`] resource.
pub fn spawn_plugin(app: &mut App) {
    app.init_resource::<Hub>()
        .init_resource::<Retention>()
        .add_systems(Startup, spawn_cameras)
        .add_systems(
            Update,
            api_commands
                .in_set(WallSystems::Ingest)
                .before(apply_set_recording),
        )
        .add_systems(
            Update,
            (sync_ports, publish_status)
                .chain()
                .in_set(WallSystems::Update)
                .after(sample_rates),
        )
        .add_systems(Last, shutdown_on_exit);
}

/// The camera list of a config: simulated ones (given their server's address) first.
pub fn camera_list(config: &Config, sim_addr: Option<std::net::SocketAddr>) -> Vec<CameraConfig> {
    let mut list = Vec::new();
    if let (Some(sim), Some(addr)) = (&config.simulated, sim_addr) {
        for i in 1..=sim.cameras {
            list.push(CameraConfig {
                name: format!("Sim {i}"),
                url: format!("rtsp://{addr}/cam{i}"),
                sub_url: None,
                username: None,
                password: None,
                transport: Default::default(),
                record: false,
                enabled: true,
                onvif: None,
                mjpeg_port: None,
                audio_port: None,
                max_bytes: None,
            });
        }
    }
    list.extend(config.cameras.iter().cloned());
    list
}

/// Worker settings for one camera; credentials from the fields win over ones in the URL.
pub fn worker_config(cam: &CameraConfig, config: &Config) -> Result<stream::WorkerConfig, String> {
    let url = url::Url::parse(&cam.url).map_err(|e| format!("bad URL: {e}"))?;
    let (bare, in_url) = secret::split_credentials(&url);
    let creds = match (&cam.username, &cam.password) {
        (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
        (None, Some(p)) => Some((
            in_url.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
            p.clone(),
        )),
        (None, None) => in_url,
    };
    Ok(stream::WorkerConfig {
        name: cam.name.clone(),
        url: bare,
        creds,
        transport: cam.transport,
        grace: Duration::from_secs(config.grace_secs),
        stall: Duration::from_secs(config.stall_secs),
        record: RecordSettings {
            dir: config.recording.dir.clone(),
            format: config.recording.format,
            segment_secs: config.recording.segment_secs,
            active: cam.record,
        },
    })
}

/// Everything needed to start a camera, at start-up or when the API adds one.
#[derive(SystemParam)]
pub struct CameraSpawner<'w, 's> {
    commands: Commands<'w, 's>,
    config: Res<'w, WallConfig>,
    runtime: Res<'w, Runtime>,
    hub: Res<'w, Hub>,
    retention: Res<'w, Retention>,
    wanted: Option<Res<'w, PicturesWanted>>,
    time: Res<'w, Time<Real>>,
}

impl CameraSpawner<'_, '_> {
    /// Spawns camera `cam` at grid position `index` with its worker, recorder and servers.
    /// Returns the entity and the ports its servers are bound to.
    pub fn spawn(&mut self, cam: &CameraConfig, index: usize) -> (Entity, PortBinding) {
        let camera = Camera {
            name: cam.name.clone(),
            index,
            url: secret::redact_url(&cam.url),
        };
        let mut entity = self.commands.spawn(camera);
        let id = entity.id();
        if !cam.enabled {
            info!(camera = %cam.name, "disabled: offline");
            return (id, PortBinding::default());
        }
        let config = &self.config.0;
        let handle = worker_config(cam, config).and_then(|wc| {
            stream::spawn_camera(self.runtime.handle(), wc, self.runtime.group())
                .map_err(|e| e.to_string())
        });
        let h = match handle {
            Ok(h) => h,
            Err(e) => {
                error!(camera = %cam.name, "cannot start: {e}");
                return (id, PortBinding::default());
            }
        };
        let wanted = self.wanted.as_ref().is_none_or(|w| w.0);
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        h.stats.pictures_wanted.store(wanted, relaxed);
        h.stats
            .decode_wanted
            .store(wanted || config.headless_decode, relaxed);
        self.runtime.track(h.task, h.record_thread);
        if let Ok(mut r) = self.retention.0.lock() {
            r.recorders.insert(cam.name.clone(), h.recorder.clone());
            if let Some(cap) = cam.max_bytes {
                r.policy.camera_max_bytes.insert(cam.name.clone(), cap);
            }
        }
        let servers = &config.servers;
        let preferred = |port: Option<u16>, base: u16| {
            let port =
                port.unwrap_or_else(|| u16::try_from(usize::from(base) + index).unwrap_or(0));
            std::net::SocketAddr::new(servers.bind, port)
        };
        let access = crate::serve::Access::new(servers.token.as_deref());
        let settings = MjpegSettings {
            fps: servers.mjpeg_fps,
            quality: servers.mjpeg_quality,
            access: access.clone(),
        };
        let mjpeg = mjpeg::start(
            self.runtime.handle(),
            preferred(cam.mjpeg_port, servers.mjpeg_base_port),
            &cam.name,
            h.mjpeg_frames,
            h.stats.clone(),
            settings,
        );
        let mjpeg = match mjpeg {
            Ok((server, feed)) => {
                if let Ok(mut hub) = self.hub.0.write() {
                    let audio = h.audio.clone();
                    hub.insert(cam.name.clone(), CameraFeeds { mjpeg: feed, audio });
                }
                Some(server)
            }
            Err(e) => {
                error!(camera = %cam.name, "MJPEG server cannot start: {e}");
                None
            }
        };
        let audio = audio::start(
            self.runtime.handle(),
            preferred(cam.audio_port, servers.audio_base_port),
            &cam.name,
            h.audio.clone(),
            access,
        )
        .inspect_err(|e| error!(camera = %cam.name, "audio server cannot start: {e}"))
        .ok();
        let servers = CameraServers {
            mjpeg,
            audio,
            audio_feed: Some(h.audio),
        };
        let ports = servers.ports();
        let grace = Duration::from_secs(config.grace_secs);
        entity.insert((
            ports.clone(),
            servers,
            RecorderLink(h.recorder),
            StreamStatus {
                machine: StreamMachine::connecting(),
                ..default()
            },
            GraceTimer(Grace::starting(self.time.elapsed(), grace)),
            WorkerLink {
                commands: h.commands,
                events: h.events,
                frames: h.frames,
                stats: h.stats,
            },
        ));
        (id, ports)
    }

    /// Stops camera `name`'s worker (its recorder finishes the open segment) and servers,
    /// and despawns it.
    pub fn remove(&mut self, entity: Entity, name: &str, link: Option<&WorkerLink>) {
        if let Some(link) = link {
            let _ = link.commands.try_send(CameraCommand::Shutdown);
        }
        if let Ok(mut hub) = self.hub.0.write() {
            hub.remove(name);
        }
        if let Ok(mut r) = self.retention.0.lock() {
            r.recorders.remove(name);
            r.policy.camera_max_bytes.remove(name);
        }
        self.commands.entity(entity).despawn();
        info!(camera = %name, "removed");
    }
}

fn spawn_cameras(mut spawner: CameraSpawner) {
    let cameras = camera_list(&spawner.config, spawner.runtime.sim_addr());
    if let Ok(mut r) = spawner.retention.0.lock() {
        r.policy.retain_days = spawner.config.recording.retain_days;
        r.policy.max_bytes = spawner.config.recording.max_bytes;
    }
    for (index, cam) in cameras.iter().enumerate() {
        spawner.spawn(cam, index);
    }
    let dir = spawner.config.recording.dir.clone();
    if let Err(e) = retention::spawn_retention(dir, spawner.retention.0.clone()) {
        error!("retention cannot start: {e}");
    }
}

/// A camera's local stream servers; dropping it (the camera is removed) stops them.
#[derive(Component, Default)]
pub struct CameraServers {
    pub mjpeg: Option<Server>,
    pub audio: Option<Server>,
    /// What the audio server serves.
    pub audio_feed: Option<Arc<AudioFeed>>,
}

impl CameraServers {
    fn ports(&self) -> PortBinding {
        PortBinding {
            mjpeg: self.mjpeg.as_ref().map(Server::port),
            audio: self.audio.as_ref().map(Server::port),
        }
    }
}

/// Follows servers that were bound again after failing, and what the audio port serves.
fn sync_ports(mut cameras: Query<(&CameraServers, &mut PortBinding, &mut StreamStatus)>) {
    for (servers, mut ports, mut status) in &mut cameras {
        let now = servers.ports();
        if (now.mjpeg, now.audio) != (ports.mjpeg, ports.audio) {
            *ports = now;
        }
        let audio = servers.audio_feed.as_ref().and_then(|f| match f.state() {
            AudioState::Serving(what) => Some(what),
            AudioState::Failed(why) => Some(format!("cannot be served: {why}")),
            AudioState::Disconnected | AudioState::NoAudio(_) => None,
        });
        if status.audio != audio {
            status.audio = audio;
        }
    }
}

fn log_transition(name: &str, t: &state::Transition, error: Option<&str>) {
    let (from, to) = (t.from.as_str(), t.to.as_str());
    match (t.to, error) {
        (state::StreamState::Live, _) | (_, None) => info!(camera = %name, "{from} → {to}"),
        (_, Some(e)) => warn!(camera = %name, "{from} → {to}: {e}"),
    }
}

fn ingest_events(
    time: Res<Time<Real>>,
    mut cameras: Query<(
        Entity,
        &Camera,
        &WorkerLink,
        &mut StreamStatus,
        &mut GraceTimer,
    )>,
    mut changed: MessageWriter<StateChanged>,
) {
    let now = time.elapsed();
    for (entity, camera, link, mut status, mut grace) in &mut cameras {
        for event in link.events.try_iter() {
            if let CameraEvent::Live {
                codec,
                width,
                height,
            } = &event
            {
                status.codec = Some(*codec);
                status.width = *width;
                status.height = *height;
            }
            if let Some(t) = status.machine.on_event(&mut grace.0, now, &event) {
                log_transition(&camera.name, &t, status.machine.last_error.as_deref());
                changed.write(StateChanged {
                    camera: entity,
                    transition: t,
                });
            }
        }
    }
}

fn api_commands(
    inbox: Res<ApiInbox>,
    mut cameras: Query<(Entity, &mut Camera, Option<&WorkerLink>)>,
    mut set: MessageWriter<SetRecording>,
    mut spawner: CameraSpawner,
) {
    // Commands are deferred: cameras added or removed earlier in this pass are not in the
    // query yet.
    let mut added: Vec<String> = Vec::new();
    let mut removed: Vec<Entity> = Vec::new();
    for command in inbox.0.try_iter() {
        match command {
            ApiCommand::SetRecording { camera, active } => {
                if let Some((entity, ..)) = cameras.iter().find(|(_, c, _)| c.name == camera) {
                    set.write(SetRecording {
                        camera: entity,
                        active: Some(active),
                    });
                }
            }
            ApiCommand::AddCamera { camera, reply } => {
                let present = |n: &str| {
                    added.iter().any(|a| a == n)
                        || cameras
                            .iter()
                            .any(|(e, c, _)| c.name == n && !removed.contains(&e))
                };
                if present(&camera.name) {
                    let _ = reply.send(Err(Refusal::Conflict(format!(
                        "a camera named {:?} exists already",
                        camera.name
                    ))));
                    continue;
                }
                let index = cameras
                    .iter()
                    .filter(|(e, ..)| !removed.contains(e))
                    .count()
                    + added.len();
                info!(camera = %camera.name, "added over the API");
                let (_, ports) = spawner.spawn(&camera, index);
                added.push(camera.name.clone());
                let _ = reply.send(Ok(Ports {
                    mjpeg: ports.mjpeg,
                    audio: ports.audio,
                }));
            }
            ApiCommand::RemoveCamera { camera, reply } => {
                let found = cameras
                    .iter()
                    .find(|(e, c, _)| c.name == camera && !removed.contains(e));
                match found {
                    Some((entity, _, link)) => {
                        spawner.remove(entity, &camera, link);
                        removed.push(entity);
                        let _ = reply.send(Ok(()));
                    }
                    None => {
                        let _ = reply.send(Err(Refusal::NotFound(format!("no camera {camera:?}"))));
                    }
                }
            }
        }
    }
    if !removed.is_empty() {
        // Close the gaps: grid positions stay 0..n in the order cameras had.
        let mut left: Vec<_> = cameras
            .iter_mut()
            .filter(|(e, ..)| !removed.contains(e))
            .map(|(_, c, _)| c)
            .collect();
        left.sort_by_key(|c| c.index);
        for (i, mut c) in left.into_iter().enumerate() {
            if c.index != i {
                c.index = i;
            }
        }
        // Cameras added in this same pass come after them.
    }
}

fn apply_set_recording(
    mut requests: MessageReader<SetRecording>,
    links: Query<(&Camera, &RecorderLink)>,
) {
    for r in requests.read() {
        let Ok((camera, link)) = links.get(r.camera) else {
            continue;
        };
        let on = r.active.unwrap_or(!link.0.is_active());
        if on != link.0.is_active() {
            info!(camera = %camera.name, "recording {}", if on { "on" } else { "off" });
        }
        link.0.set_active(on);
    }
}

fn sync_recording(mut cameras: Query<(&RecorderLink, &mut Recording)>) {
    for (link, mut rec) in &mut cameras {
        let s = link.0.status();
        let next = Recording {
            active: link.0.is_active(),
            segments: s.segments,
            bytes: s.bytes,
            current: s.current.map(|p| p.display().to_string()),
            current_since_ms: s.current_since_ms,
            error: s.error,
            audio: s.audio,
        };
        if rec.bytes != next.bytes
            || rec.active != next.active
            || rec.current != next.current
            || rec.error != next.error
            || rec.audio != next.audio
        {
            *rec = next;
        }
    }
}

fn take_frames(mut cameras: Query<(&WorkerLink, &mut LatestFrame, &mut StreamStatus)>) {
    for (link, mut latest, mut status) in &mut cameras {
        latest.0 = link.frames.try_iter().last();
        if let Some(f) = &latest.0
            && (f.width, f.height) != (status.width, status.height)
        {
            status.width = f.width;
            status.height = f.height;
        }
    }
}

fn tick_grace(
    time: Res<Time<Real>>,
    mut cameras: Query<(Entity, &Camera, &mut StreamStatus, &mut GraceTimer)>,
    mut changed: MessageWriter<StateChanged>,
) {
    let now = time.elapsed();
    for (entity, camera, mut status, mut grace) in &mut cameras {
        if grace.until.is_none() {
            continue;
        }
        if let Some(t) = status.machine.on_tick(&mut grace.0, now) {
            log_transition(&camera.name, &t, status.machine.last_error.as_deref());
            changed.write(StateChanged {
                camera: entity,
                transition: t,
            });
        }
    }
}

fn sample_rates(time: Res<Time<Real>>, mut cameras: Query<(&WorkerLink, &mut Rates)>) {
    let now = time.elapsed();
    for (link, mut rates) in &mut cameras {
        let frames = StreamStats::get(&link.stats.frames);
        let bytes = StreamStats::get(&link.stats.bytes);
        rates.frames = frames;
        rates.decoded = StreamStats::get(&link.stats.decoded);
        if rates
            .samples
            .back()
            .is_some_and(|(t, _, _)| now.saturating_sub(*t) < Duration::from_millis(250))
        {
            continue;
        }
        rates.samples.push_back((now, frames, bytes));
        while rates.samples.len() > 2
            && rates
                .samples
                .front()
                .is_some_and(|(t, _, _)| now - *t > RATE_WINDOW)
        {
            rates.samples.pop_front();
        }
        if let (Some(&(t0, f0, b0)), Some(&(t1, f1, b1))) =
            (rates.samples.front(), rates.samples.back())
        {
            let dt = (t1 - t0).as_secs_f64();
            if dt > 0.0 {
                rates.fps = (f1 - f0) as f64 / dt;
                rates.bitrate_bps = (b1 - b0) as f64 * 8.0 / dt;
            }
        }
    }
}

/// Everything shown about a camera (API, overlays), read together.
#[derive(QueryData)]
pub struct CameraView {
    pub camera: &'static Camera,
    pub status: &'static StreamStatus,
    pub grace: &'static GraceTimer,
    pub rates: &'static Rates,
    pub ports: &'static PortBinding,
    pub recording: &'static Recording,
}

/// Builds the API snapshot from the components.
pub fn publish_status(time: Res<Time<Real>>, board: Res<Board>, cameras: Query<CameraView>) {
    let now = time.elapsed();
    let mut list: Vec<_> = cameras.iter().collect();
    list.sort_by_key(|v| v.camera.index);
    let cameras = list
        .into_iter()
        .map(
            |CameraViewItem {
                 camera: cam,
                 status,
                 grace,
                 rates,
                 ports,
                 recording: rec,
             }| CameraStatus {
                name: cam.name.clone(),
                url: cam.url.clone(),
                state: status.machine.state.as_str().to_owned(),
                codec: status.codec.map(|c| c.as_str().to_owned()),
                audio: status.audio.clone(),
                width: status.width,
                height: status.height,
                fps: (rates.fps * 10.0).round() / 10.0,
                bitrate_bps: rates.bitrate_bps.round(),
                frames: rates.frames,
                decoded: rates.decoded,
                reconnects: status.machine.reconnects,
                last_error: status.machine.last_error.clone(),
                grace_secs_left: status
                    .machine
                    .grace_left(&grace.0, now)
                    .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
                ports: Ports {
                    mjpeg: ports.mjpeg,
                    audio: ports.audio,
                },
                recording: RecordingStatus {
                    active: rec.active,
                    segments: rec.segments,
                    bytes: rec.bytes,
                    current: rec.current.clone(),
                    error: rec.error.clone(),
                    audio: rec.audio.clone(),
                },
            },
        )
        .collect();
    if let Ok(mut snapshot) = board.write() {
        snapshot.cameras = cameras;
    }
}

fn shutdown_on_exit(
    mut exits: MessageReader<AppExit>,
    links: Query<&WorkerLink>,
    runtime: Res<Runtime>,
) {
    if exits.read().next().is_none() {
        return;
    }
    for link in &links {
        let _ = link.commands.try_send(CameraCommand::Shutdown);
    }
    runtime.wait_for_workers(Duration::from_secs(3));
}

//! Camera entities with everything a camera has: its worker (session, decode and audio
//! threads), its recorder (fed by the worker through a `media::MediaSink`), its MJPEG and
//! audio servers, its retention budget. One `CameraSpawner` serves start-up and the API
//! (cameras added and removed at run time); on exit every worker is told to stop and waited for.

use std::sync::Arc;
use std::time::Duration;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use super::recording::RecorderLink;
use super::{
    AudioStatus, IpCamera, PicturesWanted, PortBinding, StreamKind, WallConfig, WorkerLink,
};
use crate::config::{CameraConfig, Config};
use crate::record::names::folder_name;
use crate::record::retention::{self, SharedRetention};
use crate::record::{RecordSettings, spawn_recorder};
use crate::runtime::Runtime;
use crate::serve::mjpeg::{self, MjpegSettings};
use crate::serve::{CameraFeeds, FeedHub, Server, audio};
use crate::stream::audio::AudioState;
use crate::stream::{self, Demand};
use crate::{WallSystems, secret};

/// Every camera's feeds, shared with the API port.
#[derive(Resource, Clone, Default)]
pub struct Hub(pub FeedHub);

/// Every camera's restreamed streams, shared with the RTSP restream server.
#[derive(Resource, Clone, Default)]
pub struct Restreams(pub crate::restream::Catalog);

/// What the retention thread works from (policy and recorders), kept current by the ECS.
#[derive(Resource, Clone, Default)]
pub struct Retention(pub SharedRetention);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Hub>()
        .init_resource::<Retention>()
        .add_systems(Startup, spawn_cameras)
        .add_systems(Update, sync_ports.in_set(WallSystems::Update))
        // The control agents are told to stop first, so the wait covers them too.
        .add_systems(
            Last,
            shutdown_on_exit
                .after(super::ptz::stop_on_exit)
                .after(super::motion::stop_on_exit),
        );
}

/// The camera list of a config: simulated ones (given their server's RTSP and ONVIF
/// addresses) first.
pub fn camera_list(
    config: &Config,
    sim_addr: Option<(std::net::SocketAddr, Option<std::net::SocketAddr>)>,
) -> Vec<CameraConfig> {
    let mut list = Vec::new();
    if let (Some(sim), Some((addr, onvif))) = (&config.simulated, sim_addr) {
        for i in 1..=sim.cameras {
            list.push(CameraConfig {
                name: crate::config::sim_name(i),
                url: format!("rtsp://{addr}/cam{i}"),
                sub_url: sim.sub.map(|_| format!("rtsp://{addr}/cam{i}/sub")),
                username: None,
                password: None,
                transport: Default::default(),
                record: Default::default(),
                enabled: true,
                onvif: onvif.map(|at| crate::config::OnvifConfig {
                    url: format!("http://{at}/onvif/cam{i}/device_service"),
                    username: None,
                    password: None,
                    timeout_secs: 5.0,
                }),
                mjpeg_port: None,
                audio_port: None,
                max_bytes: None,
                password_env: None,
                talk: Default::default(),
                isapi_url: None,
                events: if sim.picture_motion.contains(&i) {
                    crate::config::EventsMode::Local
                } else {
                    crate::config::EventsMode::Auto
                },
                // The simulated cameras always say when motion stops: a short hold-off.
                motion: crate::config::MotionConfig {
                    hold_secs: 2.0,
                    ..Default::default()
                },
                view_lock: sim
                    .view_locks
                    .iter()
                    .find(|(n, _)| *n == crate::config::sim_name(i))
                    .map(|(_, h)| h.clone()),
                via_node: None,
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
        speaker: None,
        bell: None,
    })
}

/// Camera `cam`'s ONVIF endpoint, if it has one: the `onvif` credentials if given, else the
/// RTSP ones.
pub fn onvif_endpoint(
    cam: &CameraConfig,
    config: &Config,
) -> Option<Result<crate::onvif::Endpoint, String>> {
    let onvif = cam.onvif.as_ref()?;
    let creds = match (&onvif.username, &onvif.password) {
        (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
        (None, _) => worker_config(cam, config).ok().and_then(|w| w.creds),
    };
    let timeout = Duration::from_secs_f64(onvif.timeout_secs.clamp(0.1, 60.0));
    Some(
        crate::onvif::Endpoint::new(&cam.name, &onvif.url, creds, timeout)
            .map_err(|e| e.to_string()),
    )
}

/// What talk to camera `cam` needs (its settings, credentials included), unless `talk: Off`.
pub(super) fn talk_settings(cam: &CameraConfig) -> Option<Arc<CameraConfig>> {
    (cam.talk != crate::config::TalkMode::Off).then(|| Arc::new(cam.clone()))
}

/// Where and how camera `cam` records.
fn record_settings(cam: &CameraConfig, config: &Config) -> RecordSettings {
    RecordSettings {
        dir: config.recording.dir.clone(),
        format: config.recording.format,
        segment_secs: config.recording.segment_secs,
        active: cam.record.on(),
    }
}

/// Everything needed to start a camera, at start-up or when the API adds one.
#[derive(SystemParam)]
pub struct CameraSpawner<'w, 's> {
    pub(super) commands: Commands<'w, 's>,
    pub(super) config: Res<'w, WallConfig>,
    pub(super) runtime: Res<'w, Runtime>,
    pub(super) hub: Res<'w, Hub>,
    pub(super) restreams: Option<Res<'w, Restreams>>,
    pub(super) retention: Res<'w, Retention>,
    pub(super) wanted: Option<Res<'w, PicturesWanted>>,
    locks: Option<Res<'w, super::ViewLocks>>,
    pub(super) sound: Option<Res<'w, super::Sound>>,
    pub(super) bell: Option<Res<'w, super::WallBell>>,
    pub(super) time: Res<'w, Time<Real>>,
    edges: Option<Res<'w, super::motion::Edges>>,
}

impl CameraSpawner<'_, '_> {
    /// Spawns camera `cam` at grid position `index` with its streams (each with its worker),
    /// recorder and servers. Returns the entity and the ports its servers are bound to.
    pub fn spawn(&mut self, cam: &CameraConfig, index: usize) -> (Entity, PortBinding) {
        let camera = IpCamera {
            name: cam.name.clone(),
            index,
            url: secret::redact_url(&cam.url),
        };
        self.set_lock(cam);
        let tracker =
            super::motion::MotionTracker(crate::events::debounce::Tracker::new(cam.motion.rules()));
        let mut entity = self
            .commands
            .spawn((camera, super::motion::Motion::default(), tracker));
        let id = entity.id();
        if let Some(talk) = talk_settings(cam) {
            entity.insert(super::Talkable(talk));
        }
        if !cam.enabled {
            info!(camera = %cam.name, "disabled: offline");
            self.spawn_stream(id, StreamKind::Main, None);
            return (id, PortBinding::default());
        }
        let (h, recorder, record_thread, motion) = match self.start_main(cam) {
            Ok(started) => started,
            Err(e) => {
                error!(camera = %cam.name, "cannot start: {e}");
                self.spawn_stream(id, StreamKind::Main, None);
                return (id, PortBinding::default());
            }
        };
        let control = self.start_control(cam);
        if let Some(follower) = self.start_events(cam) {
            self.commands.entity(id).insert(follower);
        }
        if let Some(handle) = &control {
            self.commands
                .entity(id)
                .insert(super::Ptz::new(handle.clone()));
        }
        if let Ok(mut r) = self.retention.0.lock() {
            r.recorders.insert(cam.name.clone(), recorder.clone());
            if cam.record == crate::config::Record::Events {
                r.policy.events_only.insert(folder_name(&cam.name));
            }
            if let Some(cap) = cam.max_bytes {
                r.policy
                    .camera_max_bytes
                    .insert(folder_name(&cam.name), cap);
            }
        }
        // The recorder's sink lives in the worker: the thread ends after the worker does.
        self.runtime.track(h.task, record_thread);
        let feeds = |mjpeg| CameraFeeds {
            mjpeg,
            audio: h.audio.clone(),
            control,
            talk: talk_settings(cam),
            outages: recorder.outages.clone(),
            node: cam.via_node.as_ref().map(|r| r.recordings()),
        };
        let media = (h.mjpeg_frames, h.viewers.clone(), h.audio.clone());
        let servers = self.start_servers(cam, index, media, feeds);
        let ports = servers.ports();
        let link = WorkerLink::new(h.commands, h.events, h.frames, h.demand, h.figures)
            .with_motion(motion);
        let main = self.spawn_stream(id, StreamKind::Main, Some(link));
        if local_motion(cam) && cam.sub_url.is_none() {
            self.commands.entity(main).insert(super::motion::Analysed);
        }
        self.start_sub(id, cam, self.wanted.as_ref().is_none_or(|w| w.0));
        // A node's camera records at the node: the wall shows (and switches) that recording.
        let (link, footage) = match &cam.via_node {
            Some(route) => {
                self.commands
                    .entity(id)
                    .insert(super::ViaNode(route.clone()));
                (
                    RecorderLink::new(route.recording.clone()),
                    crate::playback::Source::Node(route.recordings()),
                )
            }
            None => (
                RecorderLink::new(recorder),
                crate::playback::Source::Folder(crate::playback::camera_folder(
                    &self.config.0.recording.dir,
                    &cam.name,
                )),
            ),
        };
        self.commands.entity(id).insert(super::Footage(footage));
        self.commands
            .entity(id)
            .insert((ports.clone(), servers, link));
        (id, ports)
    }

    /// Camera `cam`'s recorder and main stream worker (fed to the recorder). In a window a
    /// camera with a sub stream starts on that: its main session is needed only to record,
    /// until its tile is big enough to want the main stream.
    fn start_main(
        &self,
        cam: &CameraConfig,
    ) -> Result<
        (
            stream::CameraHandle,
            crate::record::RecorderHandle,
            std::thread::JoinHandle<()>,
            Option<stream::MotionSettings>,
        ),
        String,
    > {
        let config = &self.config.0;
        let wanted = self.wanted.as_ref().is_none_or(|w| w.0);
        let analysed = local_motion(cam) && cam.sub_url.is_none();
        let demand = Demand {
            session: !(wanted && cam.sub_url.is_some()) || cam.record.on(),
            decode: wanted || config.headless_decode,
            pictures: wanted,
            motion: analysed,
        };
        let mut wc = worker_config(cam, config)?;
        wc.speaker = self.sound.as_ref().map(|s| s.0.clone());
        wc.bell = self.bell.as_ref().map(|b| b.0.clone());
        let (sink, recorder, record_thread) =
            spawn_recorder(&cam.name, record_settings(cam, config))
                .map_err(|e| format!("recorder: {e}"))?;
        let (probe, motion) = self.motion_probe(cam);
        let feed = crate::restream::Feed::new();
        let h = stream::spawn_camera_with(
            self.runtime.handle(),
            wc,
            self.runtime.group(),
            Arc::new(crate::media::Tee(vec![Arc::new(sink), feed.clone()])),
            demand,
            probe,
        )
        .map_err(|e| e.to_string())?;
        if let Some(r) = &self.restreams {
            r.0.insert(&cam.name, feed);
        }
        Ok((h, recorder, record_thread, motion))
    }

    /// Camera `cam`'s MJPEG and audio servers, on their configured ports or the base ports
    /// plus its grid position `index` (falling back when taken); its feeds go to the API's
    /// hub once the MJPEG server runs.
    fn start_servers(
        &self,
        cam: &CameraConfig,
        index: usize,
        (frames, viewers, sound): (
            stream::FrameReceiver,
            Arc<stream::Viewers>,
            Arc<stream::audio::AudioFeed>,
        ),
        feeds: impl FnOnce(mjpeg::MjpegFeed) -> CameraFeeds,
    ) -> CameraServers {
        let servers = &self.config.0.servers;
        let preferred = |port: Option<u16>, base: u16| {
            let port =
                port.unwrap_or_else(|| u16::try_from(usize::from(base) + index).unwrap_or(0));
            std::net::SocketAddr::new(servers.bind, port)
        };
        let access = crate::serve::Access::new(servers);
        let access = match &self.locks {
            Some(l) => access.for_camera(l.0.clone(), &cam.name),
            None => access,
        };
        let settings = MjpegSettings {
            fps: servers.mjpeg_fps,
            quality: servers.mjpeg_quality,
            access: access.clone(),
        };
        let at = preferred(cam.mjpeg_port, servers.mjpeg_base_port);
        let mjpeg = match mjpeg::start(
            self.runtime.handle(),
            at,
            &cam.name,
            frames,
            viewers,
            settings,
        ) {
            Ok((server, feed)) => {
                if let Ok(mut hub) = self.hub.0.write() {
                    hub.insert(cam.name.clone(), feeds(feed));
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
            sound.clone(),
            access,
        )
        .inspect_err(|e| error!(camera = %cam.name, "audio server cannot start: {e}"))
        .ok();
        CameraServers {
            mjpeg,
            audio,
            audio_state: Some(sound.watch()),
        }
    }

    /// Keeps camera `cam`'s view lock where the wall and the servers look. A camera without
    /// one keeps what is there (see [`Self::with_stored_lock`]).
    pub(super) fn set_lock(&self, cam: &CameraConfig) {
        let (Some(locks), Some(hash)) = (&self.locks, &cam.view_lock) else {
            return;
        };
        if !crate::locks::hash::is_hash(hash) {
            error!(camera = %cam.name, "the stored view password is not an argon2id hash: the camera stays locked; set it again with set-view-password");
        }
        let ip = crate::locks::camera_ip(&cam.url);
        locks
            .0
            .set_camera(&cam.name, crate::locks::CameraLock::new(ip, hash.clone()));
    }

    /// `cam` (from the API, which cannot say `view_lock`) with the view lock kept for its
    /// name, or for its address: an edit, or a removal and a new camera, never takes a lock
    /// off.
    pub fn with_stored_lock(&self, mut cam: CameraConfig) -> CameraConfig {
        // A node's camera is locked (or not) at its node: nothing here applies to it.
        if cam.via_node.is_some() {
            cam.view_lock = None;
            return cam;
        }
        if let Some(locks) = &self.locks {
            cam.view_lock = locks.0.stored_hash(&cam.name, &cam.url);
        }
        cam
    }

    /// Starts camera `cam`'s ONVIF control agent, if it has an endpoint.
    pub(super) fn start_control(&self, cam: &CameraConfig) -> Option<crate::onvif::ControlHandle> {
        if let Some(route) = &cam.via_node {
            let runtime = self.runtime.handle();
            return Some(crate::node::control::spawn(
                runtime,
                &cam.name,
                route.clone(),
            ));
        }
        match onvif_endpoint(cam, &self.config.0)? {
            Err(e) => {
                error!(camera = %cam.name, "no PTZ or brightness control: {e}");
                None
            }
            Ok(endpoint) => {
                let (handle, task) = crate::onvif::agent::spawn(self.runtime.handle(), endpoint);
                self.runtime.track_agent(task);
                Some(handle)
            }
        }
    }

    /// A motion analysis for one of camera `cam`'s streams, and its settings. Every stream
    /// has one, idle until its demand says `motion` (the stream marked [`Analysed`]), so an
    /// edit or a camera without events can turn it on. None without an event inbox.
    ///
    /// [`Analysed`]: super::motion::Analysed
    pub(super) fn motion_probe(
        &self,
        cam: &CameraConfig,
    ) -> (Option<stream::MotionProbe>, Option<stream::MotionSettings>) {
        match &self.edges {
            Some(edges) => {
                let (probe, settings) =
                    stream::MotionProbe::new(&cam.name, cam.motion.detector(), edges.0.clone());
                (Some(probe), Some(settings))
            }
            None => (None, None),
        }
    }

    /// Starts following camera `cam`'s events, where its `events:` says to and it can.
    pub(super) fn start_events(&self, cam: &CameraConfig) -> Option<super::motion::EventFollower> {
        use crate::config::EventsMode;
        let edges = self.edges.as_ref()?;
        match cam.events {
            EventsMode::Off | EventsMode::Local => None,
            EventsMode::Auto | EventsMode::Onvif => match onvif_endpoint(cam, &self.config.0)? {
                Err(e) => {
                    error!(camera = %cam.name, "no ONVIF events: {e}");
                    None
                }
                Ok(endpoint) => {
                    let (sub, task) = crate::events::pullpoint::spawn(
                        self.runtime.handle(),
                        endpoint,
                        edges.0.clone(),
                        cam.events == EventsMode::Auto,
                    );
                    // Waited for on exit, as the control agents are: it unsubscribes.
                    self.runtime.track_agent(task);
                    Some(super::motion::EventFollower(sub))
                }
            },
            EventsMode::Isapi | EventsMode::Dahua => {
                let vendor = if cam.events == EventsMode::Isapi {
                    crate::events::vendor::Vendor::Hikvision
                } else {
                    crate::events::vendor::Vendor::Dahua
                };
                let target = match crate::talk::isapi::base_url(cam) {
                    // Dahua has no isapi_url: the camera's own host.
                    Ok(base) => crate::events::vendor::Target {
                        camera: cam.name.clone(),
                        vendor,
                        base,
                        creds: cam.username.clone().zip(cam.password.clone()),
                    },
                    Err(e) => {
                        error!(camera = %cam.name, "no camera events: {e}");
                        return None;
                    }
                };
                let (follower, _task) =
                    crate::events::vendor::spawn(self.runtime.handle(), target, edges.0.clone());
                Some(super::motion::EventFollower(follower))
            }
        }
    }

    /// Despawns camera `name` with its streams, which stops their workers (the recorder
    /// finishes the open segment), and stops its servers and control agent.
    pub fn remove(&mut self, entity: Entity, name: &str, ptz: Option<&super::Ptz>) {
        if let Some(ptz) = ptz {
            ptz.handle.shutdown();
        }
        if let Ok(mut hub) = self.hub.0.write() {
            hub.remove(name);
        }
        if let Some(r) = &self.restreams {
            r.0.remove(name);
        }
        if let Ok(mut r) = self.retention.0.lock() {
            r.recorders.remove(name);
            r.policy.camera_max_bytes.remove(&folder_name(name));
            r.policy.events_only.remove(&folder_name(name));
        }
        self.commands.entity(entity).despawn();
        info!(camera = %name, "removed");
    }
}

/// Whether camera `cam` looks for motion in its own pictures: by choice, or for want of an
/// event service.
pub(super) fn local_motion(cam: &CameraConfig) -> bool {
    use crate::config::EventsMode;
    match cam.events {
        EventsMode::Local => true,
        EventsMode::Auto => cam.onvif.is_none(),
        EventsMode::Onvif | EventsMode::Isapi | EventsMode::Dahua | EventsMode::Off => false,
    }
}

fn spawn_cameras(mut spawner: CameraSpawner) {
    let cameras = camera_list(&spawner.config, spawner.runtime.sim_addrs());
    if let Ok(mut r) = spawner.retention.0.lock() {
        let recording = &spawner.config.recording;
        r.policy.retain_days = recording.retain_days;
        r.policy.max_bytes = recording.max_bytes;
        r.policy.events_retain_days = recording.events_retain_days;
        r.policy.pre_roll_secs = recording.pre_roll_secs;
        r.policy.post_roll_secs = recording.post_roll_secs;
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
    /// What the audio server serves, watched for changes.
    pub audio_state: Option<tokio::sync::watch::Receiver<AudioState>>,
}

impl CameraServers {
    fn ports(&self) -> PortBinding {
        PortBinding {
            mjpeg: self.mjpeg.as_ref().map(Server::port),
            audio: self.audio.as_ref().map(Server::port),
        }
    }
}

/// Follows servers that were bound again after failing, and what the audio port serves
/// (copied only when its watch says it changed).
pub(super) fn sync_ports(
    mut cameras: Query<(&mut CameraServers, &mut PortBinding, &mut AudioStatus)>,
) {
    for (mut servers, mut ports, mut audio) in &mut cameras {
        let now = servers.ports();
        if (now.mjpeg, now.audio) != (ports.mjpeg, ports.audio) {
            *ports = now;
        }
        let Some(watch) = servers.audio_state.as_mut() else {
            continue;
        };
        if !watch.has_changed().unwrap_or(false) {
            continue;
        }
        let now = match &*watch.borrow_and_update() {
            AudioState::Serving { codec, how } => AudioStatus {
                text: Some(how.clone()),
                codec: Some(*codec),
            },
            AudioState::Failed(why) => AudioStatus {
                text: Some(format!("cannot be served: {why}")),
                codec: None,
            },
            AudioState::Disconnected | AudioState::NoAudio(_) => AudioStatus::default(),
        };
        audio.set_if_neq(now);
    }
}

/// On exit: workers told to shut down, then waited for (their TEARDOWNs, the recorders'
/// last segments, the control agents and talk sessions).
pub fn shutdown_on_exit(
    mut exits: MessageReader<AppExit>,
    links: Query<&WorkerLink>,
    runtime: Res<Runtime>,
    events: Option<Res<super::motion::Events>>,
) {
    if exits.read().next().is_none() {
        return;
    }
    if let Some(events) = events {
        events.notice(crate::events::log::Notice::Stopping);
    }
    for link in &links {
        link.stop();
    }
    runtime.wait_for_workers(Duration::from_secs(3));
}

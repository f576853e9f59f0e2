//! Starting a camera's worker: what it needs to know ([`WorkerConfig`]), its decode and audio
//! threads, the channels of the per-camera boundary, and the ECS's end of it all
//! ([`CameraHandle`]).

use std::sync::Arc;
use std::time::Duration;

use retina::client::SessionGroup;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::audio::{AudioFeed, spawn_audio};
use super::decode::{DecodeOutputs, spawn_decoder};
use super::worker::Worker;
use super::{CameraCommand, CameraEvent, Demand, Figures, FrameReceiver, FrameSlot, Viewers};
use crate::config::Transport;
use crate::media::MediaSink;

/// What a worker needs to know about its camera.
#[derive(Clone)]
pub struct WorkerConfig {
    pub name: String,
    /// The RTSP URL without credentials.
    pub url: url::Url,
    pub creds: Option<(String, String)>,
    pub transport: Transport,
    /// Time from opening a session to its first frame before it counts as failed.
    pub grace: Duration,
    /// Longest gap between frames of a live session.
    pub stall: Duration,
    /// The wall's speaker, which plays this camera while it is the audible one.
    pub speaker: Option<Arc<crate::sound::Speaker>>,
    /// Rung on each picture for the wall and each event (the wall's window sleeps until
    /// something changes).
    pub bell: Option<super::Bell>,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("creds", &self.creds.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// The ECS's end of one camera: commands and demands in, events, pictures and figures out.
pub struct CameraHandle {
    pub commands: mpsc::Sender<CameraCommand>,
    pub demand: tokio::sync::watch::Sender<Demand>,
    pub events: crossbeam_channel::Receiver<CameraEvent>,
    pub frames: FrameReceiver,
    pub figures: Arc<Figures>,
    /// The MJPEG server's count of its clients (which keep the session and decoding going).
    pub viewers: Arc<Viewers>,
    pub task: tokio::task::JoinHandle<()>,
    /// Pictures for the JPEG encoder, while MJPEG clients watch.
    pub mjpeg_frames: FrameReceiver,
    /// The camera's audio as ADTS AAC, while listeners listen.
    pub audio: Arc<AudioFeed>,
}

/// Motion analysis of a stream's pictures (in its decode thread), and where the edges go.
pub struct MotionProbe {
    pub camera: Arc<str>,
    pub detector: crate::events::picture::Detector,
    /// New settings (a camera edited over the API) start a new detector.
    pub settings: tokio::sync::watch::Receiver<crate::events::picture::Settings>,
    pub edges: crate::events::EdgeSender,
}

/// Where a stream's [`MotionProbe`] takes new settings from.
pub type MotionSettings = tokio::sync::watch::Sender<crate::events::picture::Settings>;

impl MotionProbe {
    /// A probe of camera `camera`'s pictures, and the sender that changes its settings.
    pub fn new(
        camera: &str,
        settings: crate::events::picture::Settings,
        edges: crate::events::EdgeSender,
    ) -> (Self, MotionSettings) {
        let detector = crate::events::picture::Detector::new(settings.clone());
        let (tx, rx) = tokio::sync::watch::channel(settings);
        let probe = Self {
            camera: camera.into(),
            detector,
            settings: rx,
            edges,
        };
        (probe, tx)
    }

    /// Takes settings sent since the last picture (sent again: learn the picture afresh).
    pub(super) fn refresh(&mut self) {
        if self.settings.has_changed().unwrap_or(false) {
            let settings = self.settings.borrow_and_update().clone();
            self.detector = crate::events::picture::Detector::new(settings);
        }
    }
}

/// Capacity of the event channel. Events are state changes (a few per minute at worst); a
/// full channel means the ECS is not draining, and the worker logs rather than blocks.
const EVENT_QUEUE: usize = 256;

/// Starts the decode and audio threads and the session task of one camera on `runtime`;
/// the session's media also goes to `sink` (the recorder).
pub fn spawn_camera(
    runtime: &tokio::runtime::Handle,
    config: WorkerConfig,
    group: Arc<SessionGroup>,
    sink: Arc<dyn MediaSink>,
) -> std::io::Result<CameraHandle> {
    spawn_camera_with(runtime, config, group, sink, Demand::ALL, None)
}

/// [`spawn_camera`] with its first [`Demand`] set before the worker starts, so it never acts
/// on another, and, with `motion`, the pictures analysed for motion while the demand says.
pub fn spawn_camera_with(
    runtime: &tokio::runtime::Handle,
    config: WorkerConfig,
    group: Arc<SessionGroup>,
    sink: Arc<dyn MediaSink>,
    demand: Demand,
    motion: Option<MotionProbe>,
) -> std::io::Result<CameraHandle> {
    let (demand, demanded) = tokio::sync::watch::channel(demand);
    let figures = Arc::<Figures>::default();
    let viewers = Arc::<Viewers>::default();
    let (slot, frames) = FrameSlot::with_bell(config.bell.clone());
    let (mjpeg, mjpeg_frames) = FrameSlot::new();
    let outputs = DecodeOutputs { slot, mjpeg };
    let packets = spawn_decoder(
        &config.name,
        super::decode::DecodeLinks {
            figures: figures.clone(),
            demand: demanded.clone(),
            viewers: viewers.clone(),
            motion,
        },
        outputs,
    )?;
    let (audio_tap, audio) = spawn_audio(&config.name, config.speaker.clone())?;
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(EVENT_QUEUE);
    let span = tracing::info_span!("camera", name = %config.name);
    let worker = Worker {
        config,
        group,
        events: ev_tx,
        packets,
        sink,
        audio: audio_tap,
        demand: demanded,
        figures: figures.clone(),
        viewers: viewers.clone(),
    };
    let task = runtime.spawn(worker.run(cmd_rx).instrument(span));
    Ok(CameraHandle {
        commands: cmd_tx,
        demand,
        events: ev_rx,
        frames,
        figures,
        viewers,
        task,
        mjpeg_frames,
        audio,
    })
}

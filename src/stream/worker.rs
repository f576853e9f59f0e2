//! One camera's session worker: a tokio task that runs retina (DESCRIBE → SETUP → PLAY →
//! frames) with a startup grace, a frame-gap watchdog and the reconnect backoff, feeds the
//! decode thread, the audio thread and a [`MediaSink`] (the recorder), and reports state
//! changes. Sessions live and die inside this task so retina's TEARDOWN runs on the runtime.
//! Loops run → run_once → backoff until `Shutdown`; stands by without a session while nobody
//! needs one; takes new settings on `Reconfigure`. Failures are logged here, once, where
//! they are handled (the ECS shows them but does not log them again). Starting one is
//! `spawn`'s.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use futures::StreamExt;
use retina::client::{
    Credentials, PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions, TeardownPolicy,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::audio::AudioTap;
use super::backoff::Backoff;
use super::spawn::WorkerConfig;
use super::{CameraCommand, CameraEvent, Demand, Figures, Viewers};
use crate::config::Transport;
use crate::media::{
    AudioCodec, AudioTrack, AudioUnit, MediaSink, SessionInfo, VideoCodec, VideoUnit, nal, rescale,
    unix_ms,
};
use crate::secret;

/// How often a worker on standby looks whether its session is wanted again.
const STANDBY_POLL: Duration = Duration::from_millis(50);

pub(super) struct Worker {
    pub(super) config: WorkerConfig,
    pub(super) group: Arc<SessionGroup>,
    pub(super) events: Sender<CameraEvent>,
    pub(super) packets: Sender<VideoUnit>,
    pub(super) sink: Arc<dyn MediaSink>,
    pub(super) audio: AudioTap,
    pub(super) demand: tokio::sync::watch::Receiver<Demand>,
    pub(super) figures: Arc<Figures>,
    pub(super) viewers: Arc<Viewers>,
}

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// New settings: go on with them at once.
    Reconfigured(Box<WorkerConfig>),
    /// Nobody needs the session: wait until someone does.
    Standby,
    Failed {
        auth: bool,
        error: String,
        live_for: Option<Duration>,
    },
}

impl Worker {
    fn emit(&self, event: CameraEvent) {
        match self.events.try_send(event) {
            Ok(()) => {
                if let Some(bell) = &self.config.bell {
                    bell.ring();
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(e)) => tracing::warn!("event queue full, dropped {e:?}"),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<CameraCommand>) {
        let mut backoff = Backoff::default();
        let mut attempt = 0u32;
        loop {
            if !self.wanted() {
                self.emit(CameraEvent::Standby);
                tracing::debug!("standby: nobody needs the session");
                match self.stand_by(&mut commands).await {
                    Some(Ended::Reconfigured(config)) => self.reconfigure(*config),
                    Some(_) => break,
                    None => {}
                }
                backoff = Backoff::default();
            }
            attempt += 1;
            self.emit(CameraEvent::Connecting { attempt });
            let ended = self.run_once(u64::from(attempt), &mut commands).await;
            self.sink.session_ended(u64::from(attempt));
            self.audio.ended();
            let (delay, event) = match ended {
                Ended::Shutdown => break,
                Ended::Reconfigured(config) => {
                    self.reconfigure(*config);
                    backoff = Backoff::default();
                    continue;
                }
                Ended::Standby => continue,
                Ended::Failed {
                    auth: true,
                    error,
                    live_for,
                } => {
                    backoff.session_ended(live_for);
                    let retry_in = backoff.next_auth_delay(rand::random());
                    tracing::warn!("credentials rejected: {error}; retrying in {retry_in:.1?}");
                    (retry_in, CameraEvent::AuthFailed { retry_in, error })
                }
                Ended::Failed {
                    auth: false,
                    error,
                    live_for,
                } => {
                    backoff.session_ended(live_for);
                    let delay = backoff.next_delay(rand::random());
                    tracing::warn!("session ended: {error}; reconnecting in {delay:.1?}");
                    (delay, CameraEvent::Reconnecting { delay, error })
                }
            };
            let auth = matches!(event, CameraEvent::AuthFailed { .. });
            self.emit(event);
            // Rejected credentials wait the whole delay (cameras lock accounts); an outage
            // ends as soon as the camera answers again.
            let url = self.config.url.clone();
            let wait = async move {
                if auth {
                    tokio::time::sleep(delay).await;
                } else if super::probe::wait(&url, delay).await == super::probe::Woken::CameraBack {
                    tracing::info!("the camera answers again: reconnecting now");
                }
            };
            tokio::select! {
                _ = wait => {}
                command = commands.recv() => match command {
                    Some(CameraCommand::Reconfigure(config)) => {
                        self.reconfigure(*config);
                        backoff = Backoff::default();
                    }
                    Some(CameraCommand::Shutdown) | None => break,
                },
            }
        }
        self.emit(CameraEvent::Stopped);
        tracing::info!("worker stopped");
    }

    /// Whether anyone needs a session: the ECS (display, recording), MJPEG clients, listeners.
    fn wanted(&self) -> bool {
        self.demand.borrow().session || self.viewers.watched() || self.audio.wanted()
    }

    /// Waits without a session until one is wanted (`None`) or a command ends the wait.
    async fn stand_by(&self, commands: &mut mpsc::Receiver<CameraCommand>) -> Option<Ended> {
        // A new demand wakes it at once; viewers and listeners are looked at on the tick.
        let mut tick = tokio::time::interval(STANDBY_POLL);
        let mut demand = self.demand.clone();
        let mut demanded = true;
        loop {
            tokio::select! {
                _ = tick.tick() => if self.wanted() { return None },
                changed = demand.changed(), if demanded => match changed {
                    Ok(()) => if self.wanted() { return None },
                    // The ECS let go of the demand: only the tick is left.
                    Err(_) => demanded = false,
                },
                command = commands.recv() => return Some(Self::ended_by(command)),
            }
        }
    }

    /// Takes new settings (the speaker stays: it is the wall's, not the camera's).
    fn reconfigure(&mut self, mut config: WorkerConfig) {
        // The speaker and the bell are the wall's, fixed for the worker's life.
        config.speaker = self.config.speaker.take();
        config.bell = self.config.bell.take();
        tracing::info!(
            "settings changed: connecting to {}",
            secret::redact_url(config.url.as_str())
        );
        self.config = config;
    }

    /// What a command means for the session in progress.
    fn ended_by(command: Option<CameraCommand>) -> Ended {
        match command {
            Some(CameraCommand::Reconfigure(config)) => Ended::Reconfigured(config),
            Some(CameraCommand::Shutdown) | None => Ended::Shutdown,
        }
    }

    fn failure(
        &self,
        auth: bool,
        error: impl std::fmt::Display,
        live_for: Option<Duration>,
    ) -> Ended {
        let secrets: Vec<&str> = self
            .config
            .creds
            .iter()
            .flat_map(|(u, p)| [p.as_str(), u.as_str()])
            .collect();
        // One line: retina's messages span several (connection and message context).
        let error = error
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let error = secret::scrub(&error, &secrets);
        Ended::Failed {
            auth,
            error,
            live_for,
        }
    }

    fn retina_failure(&self, e: &retina::Error, live_for: Option<Duration>) -> Ended {
        let auth = matches!(e.status_code(), Some(401 | 403));
        self.failure(auth, e, live_for)
    }

    async fn run_once(&self, id: u64, commands: &mut mpsc::Receiver<CameraCommand>) -> Ended {
        let deadline = Instant::now() + self.config.grace;
        let opened = tokio::select! {
            r = tokio::time::timeout_at(deadline, self.open()) => r,
            command = commands.recv() => return Self::ended_by(command),
        };
        let (mut demuxed, stream_i, codec, audio) = match opened {
            Err(_) => {
                return self.failure(
                    false,
                    format!(
                        "no answer within {}s (DESCRIBE/SETUP/PLAY)",
                        self.config.grace.as_secs()
                    ),
                    None,
                );
            }
            Ok(Err(ended)) => return ended,
            Ok(Ok(open)) => open,
        };
        let mut live_since: Option<Instant> = None;
        // The watchdog counts from the last *video* frame: a camera whose picture froze
        // while its sound goes on is stalled.
        let mut last_video = Instant::now();
        let mut waiting_for_key = false;
        let mut session = Arc::new(SessionInfo { id, audio: None });
        let mut size = (0, 0);
        let mut parameter_sets: Option<Vec<u8>> = None;
        // (RTP ticks, Unix ms) of the session's first frame: every frame's wall clock follows
        // from its timestamp, so segments join exactly.
        let mut session_start = (0i64, 0i64);
        let mut audio_start: Option<(i64, i64)> = None;
        loop {
            // Before the first frame the grace deadline applies; afterwards the stall watchdog.
            let until = match live_since {
                None => deadline,
                Some(_) => last_video + self.config.stall,
            };
            let live_for = live_since.map(|t| t.elapsed());
            let item = tokio::select! {
                item = tokio::time::timeout_at(until, demuxed.next()) => item,
                command = commands.recv() => return Self::ended_by(command),
            };
            if !self.wanted() {
                return Ended::Standby;
            }
            let frame = match item {
                Err(_) if live_since.is_none() => {
                    return self.failure(
                        false,
                        format!(
                            "no video within {}s of connecting",
                            self.config.grace.as_secs()
                        ),
                        None,
                    );
                }
                Err(_) => {
                    self.emit(CameraEvent::Stalled {
                        after: self.config.stall,
                    });
                    return self.failure(
                        false,
                        format!("stalled: no frame for {}s", self.config.stall.as_secs()),
                        live_for,
                    );
                }
                Ok(None) => return self.failure(false, "camera closed the session", live_for),
                Ok(Some(Err(e))) => return self.retina_failure(&e, live_for),
                Ok(Some(Ok(CodecItem::VideoFrame(f)))) if f.stream_id() == stream_i => f,
                Ok(Some(Ok(CodecItem::AudioFrame(a)))) if live_since.is_some() => {
                    let ts = a.timestamp();
                    let clock = i64::from(ts.clock_rate().get());
                    let start = *audio_start.get_or_insert((ts.elapsed(), unix_ms()));
                    // Checked: a camera's timestamps may jump anywhere.
                    let since = ts.elapsed().saturating_sub(start.0);
                    let unit = AudioUnit {
                        data: a.data().into(),
                        pts: since,
                        wall_ms: start.1.saturating_add(rescale(since, 1000, clock)),
                        duration: i64::from(a.frame_length().get()),
                    };
                    self.audio.frame(&unit.data);
                    self.sink.audio(&session, &unit);
                    continue;
                }
                Ok(Some(Ok(_))) => continue,
            };
            let arrival = std::time::Instant::now();
            last_video = Instant::now();
            if (live_since.is_none() || frame.has_new_parameters())
                && let Some(ParametersRef::Video(v)) = demuxed.streams()[stream_i].parameters()
            {
                size = v.pixel_dimensions();
                parameter_sets = nal::annex_b_from_config(codec, v.extra_data());
            }
            let ts = frame.timestamp();
            let clock = i64::from(ts.clock_rate().get());
            if live_since.is_none() {
                live_since = Some(Instant::now());
                session_start = (ts.elapsed(), unix_ms());
                let (width, height) = size;
                tracing::info!("live: {} {width}x{height}", codec.as_str());
                let track = audio.and_then(|(i, codec)| match demuxed.streams()[i].parameters() {
                    Some(ParametersRef::Audio(p)) => Some(AudioTrack {
                        codec,
                        sample_rate: p.clock_rate(),
                        channels: p.channels().get(),
                        extradata: p.extra_data().to_vec(),
                    }),
                    _ => None,
                });
                self.audio.session(track.clone());
                session = Arc::new(SessionInfo { id, audio: track });
                self.emit(CameraEvent::Live {
                    codec,
                    width,
                    height,
                });
            }
            Figures::bump(&self.figures.frames, 1);
            Figures::bump(&self.figures.bytes, frame.data().len() as u64);
            let marked = frame.is_random_access_point();
            let since_start = ts.elapsed().saturating_sub(session_start.0);
            let mut data = frame.into_data();
            // retina marks only IDR pictures; H.265 cameras with open GOPs send CRA keyframes,
            // without the parameter sets retina keeps out of band. Decoder and recorder both
            // need them in band before every keyframe.
            let keyframe = marked || nal::is_random_access(codec, &data);
            if keyframe
                && nal::parameter_sets(codec, &data).is_empty()
                && let Some(sets) = &parameter_sets
            {
                data.splice(0..0, sets.iter().copied());
            }
            let unit = VideoUnit {
                codec,
                width: size.0,
                height: size.1,
                data: data.into(),
                pts: rescale(since_start, 90_000, clock),
                wall_ms: session_start
                    .1
                    .saturating_add(rescale(since_start, 1000, clock)),
                keyframe,
                arrival,
            };
            self.sink.video(&session, &unit);
            let decode = self.demand.borrow().decode;
            if !decode && !self.viewers.watched() {
                waiting_for_key = true;
                continue;
            }
            if waiting_for_key && !keyframe {
                Figures::bump(&self.figures.dropped, 1);
                continue;
            }
            match self.packets.try_send(unit) {
                Ok(()) => waiting_for_key = false,
                Err(TrySendError::Full(_)) => {
                    // The decoder fell behind: skip to the next keyframe instead of waiting.
                    Figures::bump(&self.figures.dropped, 1);
                    waiting_for_key = true;
                }
                Err(TrySendError::Disconnected(_)) => {
                    return self.failure(false, "decode thread ended", live_for);
                }
            }
        }
    }

    /// DESCRIBE, SETUP of the first H.264/H.265 video stream, PLAY.
    #[allow(clippy::type_complexity)]
    async fn open(
        &self,
    ) -> Result<
        (
            retina::client::Demuxed,
            usize,
            VideoCodec,
            Option<(usize, AudioCodec)>,
        ),
        Ended,
    > {
        let creds = self
            .config
            .creds
            .as_ref()
            .map(|(username, password)| Credentials {
                username: username.clone(),
                password: password.clone(),
            });
        let options = SessionOptions::default()
            .creds(creds)
            .user_agent(format!("OpticLink/{}", env!("CARGO_PKG_VERSION")))
            .session_group(self.group.clone())
            .teardown(TeardownPolicy::Auto);
        let mut session = Session::describe(self.config.url.clone(), options)
            .await
            .map_err(|e| self.retina_failure(&e, None))?;
        let found = session.streams().iter().enumerate().find_map(|(i, s)| {
            (s.media() == "video")
                .then(|| VideoCodec::from_encoding_name(s.encoding_name()).map(|c| (i, c)))?
        });
        let Some((stream_i, codec)) = found else {
            let offered: Vec<String> = session
                .streams()
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect();
            return Err(self.failure(
                false,
                format!(
                    "no H.264/H.265 video stream (camera offers {})",
                    offered.join(", ")
                ),
                None,
            ));
        };
        let transport = match self.config.transport {
            Transport::Tcp => retina::client::Transport::Tcp(Default::default()),
            Transport::Udp => retina::client::Transport::Udp(Default::default()),
        };
        session
            .setup(
                stream_i,
                SetupOptions::default()
                    .transport(transport.clone())
                    .frame_format(FrameFormat::SIMPLE),
            )
            .await
            .map_err(|e| self.retina_failure(&e, None))?;
        // The camera's audio, for the recorder. A camera that refuses its audio SETUP still
        // streams video.
        let audio = session.streams().iter().enumerate().find_map(|(i, s)| {
            (s.media() == "audio")
                .then(|| AudioCodec::from_encoding_name(s.encoding_name()).map(|c| (i, c)))?
        });
        let audio = match audio {
            Some((i, c)) => {
                let options = SetupOptions::default()
                    .transport(transport.clone())
                    .frame_format(FrameFormat::MP4);
                match session.setup(i, options).await {
                    Ok(()) => Some((i, c)),
                    Err(e) => {
                        tracing::warn!("audio SETUP refused, recording video only: {e}");
                        None
                    }
                }
            }
            None => None,
        };
        let playing = session
            .play(PlayOptions::default())
            .await
            .map_err(|e| self.retina_failure(&e, None))?;
        let demuxed = playing
            .demuxed()
            .map_err(|e| self.retina_failure(&e, None))?;
        Ok((demuxed, stream_i, codec, audio))
    }
}

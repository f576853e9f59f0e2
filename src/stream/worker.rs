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
use retina::codec::{CodecItem, FrameFormat};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::audio::AudioTap;
use super::backoff::Backoff;
use super::session::SessionState;
use super::spawn::WorkerConfig;
use super::{CameraCommand, CameraEvent, Demand, Figures, Viewers};
use crate::config::Transport;
use crate::media::{AudioCodec, MediaSink, VideoCodec, VideoUnit};
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

    /// Whether anyone needs a session: the ECS (display, recording), MJPEG clients, listeners,
    /// RTSP clients of the restream.
    fn wanted(&self) -> bool {
        let d = *self.demand.borrow();
        d.session || d.motion || self.viewers.watched() || self.audio.wanted() || self.sink.wanted()
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
        let (mut demuxed, video, codec, audio) = match opened {
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
        let mut session = SessionState::new(id, codec, video, audio);
        let mut waiting_for_key = false;
        loop {
            // Before the first frame the grace deadline applies; afterwards the stall watchdog.
            let until = match session.live_since {
                None => deadline,
                Some(_) => session.last_video + self.config.stall,
            };
            let live_for = session.live_since.map(|t| t.elapsed());
            let item = tokio::select! {
                item = tokio::time::timeout_at(until, demuxed.next()) => item,
                command = commands.recv() => return Self::ended_by(command),
            };
            if !self.wanted() {
                return Ended::Standby;
            }
            let frame = match item {
                Err(_) => return self.timed_out(live_for),
                Ok(None) => return self.failure(false, "camera closed the session", live_for),
                Ok(Some(Err(e))) => return self.retina_failure(&e, live_for),
                Ok(Some(Ok(CodecItem::VideoFrame(f)))) if f.stream_id() == video => f,
                Ok(Some(Ok(CodecItem::AudioFrame(a)))) if live_for.is_some() => {
                    let unit = session.audio_unit(&a);
                    self.audio.frame(&unit.data);
                    self.sink.audio(&session.info, &unit);
                    continue;
                }
                Ok(Some(Ok(CodecItem::Rtcp(rtcp)))) => {
                    if let Some((audio, pts, ntp)) = session.sender_report(&rtcp) {
                        self.sink.sender_report(session.info.id, audio, pts, ntp);
                    }
                    continue;
                }
                Ok(Some(Ok(_))) => continue,
            };
            let arrival = std::time::Instant::now();
            Figures::bump(&self.figures.frames, 1);
            Figures::bump(&self.figures.bytes, frame.data().len() as u64);
            let made = session.video_unit(frame, demuxed.streams(), arrival);
            if let Some((width, height)) = made.went_live {
                tracing::info!("live: {} {width}x{height}", codec.as_str());
                self.audio.session(session.info.audio.clone());
                self.emit(CameraEvent::Live {
                    codec,
                    width,
                    height,
                });
            }
            self.sink.video(&session.info, &made.unit);
            if let Err(ended) = self.to_decoder(made.unit, &mut waiting_for_key, live_for) {
                return ended;
            }
        }
    }

    /// No frame in time: before the first, the startup grace ran out; afterwards, a stall.
    fn timed_out(&self, live_for: Option<Duration>) -> Ended {
        if live_for.is_none() {
            let grace = self.config.grace.as_secs();
            return self.failure(
                false,
                format!("no video within {grace}s of connecting"),
                None,
            );
        }
        self.emit(CameraEvent::Stalled {
            after: self.config.stall,
        });
        let stall = self.config.stall.as_secs();
        self.failure(false, format!("stalled: no frame for {stall}s"), live_for)
    }

    /// Hands `unit` to the decoder while anyone wants pictures (after a gap, from the next
    /// keyframe on); a decoder that fell behind makes it skip to the next keyframe instead of
    /// waiting. Errs when the decode thread is gone.
    fn to_decoder(
        &self,
        unit: VideoUnit,
        waiting_for_key: &mut bool,
        live_for: Option<Duration>,
    ) -> Result<(), Ended> {
        let d = *self.demand.borrow();
        if !d.decode && !d.motion && !self.viewers.watched() {
            *waiting_for_key = true;
            return Ok(());
        }
        if *waiting_for_key && !unit.keyframe {
            Figures::bump(&self.figures.dropped, 1);
            return Ok(());
        }
        match self.packets.try_send(unit) {
            Ok(()) => *waiting_for_key = false,
            Err(TrySendError::Full(_)) => {
                Figures::bump(&self.figures.dropped, 1);
                *waiting_for_key = true;
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(self.failure(false, "decode thread ended", live_for));
            }
        }
        Ok(())
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

//! One camera's control agent: a tokio task of its own with its own queue (`mailbox`), so a
//! camera whose SOAP endpoint hangs delays nobody else. The device, profile, PTZ and imaging
//! capabilities are read once per session (`session`) and cached;
//! a connection failure or timeout drops the session, and the next command reads them again.
//! While moving, the move is repeated before the camera's own move timeout runs out, and the
//! camera is stopped when the agent ends.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::mailbox::{Command, ControlHandle, ControlStatus, Mailbox, Reply, answer};
use super::session::Session;
use super::{Endpoint, ErrorKind, OnvifError, Velocity};

/// The camera stops by itself this long after the last move command.
pub(super) const MOVE_TIMEOUT_SECS: u32 = 3;
/// A move still wanted is repeated this often.
const MOVE_REFRESH: Duration = Duration::from_secs(2);
/// Waits between attempts to reach a device that failed.
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Starts camera `endpoint.camera`'s agent on `rt`.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    endpoint: Endpoint,
) -> (ControlHandle, tokio::task::JoinHandle<()>) {
    let mailbox = Arc::new(Mailbox::default());
    let (tx, rx) = watch::channel(ControlStatus::default());
    let handle = ControlHandle {
        camera: endpoint.camera.as_str().into(),
        mailbox: mailbox.clone(),
        status: rx,
    };
    let span = tracing::info_span!("control", camera = %endpoint.camera);
    let task = rt.spawn(tracing::Instrument::instrument(
        Agent {
            endpoint,
            mailbox,
            status: tx,
            session: None,
            moving: None,
        }
        .run(),
        span,
    ));
    (handle, task)
}

struct Agent {
    endpoint: Endpoint,
    mailbox: Arc<Mailbox>,
    status: watch::Sender<ControlStatus>,
    session: Option<Session>,
    /// The move in force and when it was last sent.
    moving: Option<(Velocity, Instant)>,
}

impl Agent {
    async fn run(mut self) {
        let mut retry = RETRY_MIN;
        let mut retry_at = Some(Instant::now());
        loop {
            if self.mailbox.closed.load(Ordering::Relaxed) {
                break;
            }
            if self.session.is_none() && retry_at.is_some_and(|t| Instant::now() >= t) {
                if self.open().await.is_ok() {
                    retry = RETRY_MIN;
                    retry_at = None;
                } else {
                    retry_at = Some(Instant::now() + retry);
                    retry = (retry * 2).min(RETRY_MAX);
                }
                continue;
            }
            let Some((command, reply)) = self.mailbox.pop() else {
                let refresh = self.moving.map(|(_, at)| at + MOVE_REFRESH);
                let wake = match (refresh, retry_at.filter(|_| self.session.is_none())) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let notified = self.mailbox.notify.notified();
                match wake {
                    Some(at) => {
                        tokio::select! {
                            _ = notified => {}
                            _ = tokio::time::sleep_until(at) => {
                                if refresh.is_some_and(|r| Instant::now() >= r)
                                    && let Some((v, _)) = self.moving
                                {
                                    let _ = self.carry_out(Command::Move(v)).await;
                                }
                            }
                        }
                    }
                    None => notified.await,
                }
                continue;
            };
            if self.session.is_none()
                && let Err(e) = self.open().await
            {
                answer(reply, Err(e));
                retry_at = Some(Instant::now() + retry);
                continue;
            }
            let result = self.carry_out(command).await;
            if self.session.is_none() {
                retry_at = Some(Instant::now() + RETRY_MIN);
            }
            answer(reply, result);
        }
        if self.moving.is_some()
            && let Some(s) = &self.session
        {
            // A short last word: the app is closing.
            let stop = s.device.stop(&s.profile);
            match tokio::time::timeout(Duration::from_secs(1), stop).await {
                Ok(Ok(())) => tracing::info!("stopped moving on exit"),
                Ok(Err(e)) => tracing::warn!("stop on exit failed: {e}"),
                Err(_) => tracing::warn!("stop on exit: no answer"),
            }
        }
    }

    /// Reads the device's capabilities; publishes the outcome.
    async fn open(&mut self) -> Result<(), OnvifError> {
        match Session::open(&self.endpoint).await {
            Ok(s) => {
                tracing::info!(
                    "ONVIF ready: profile {:?}, PTZ {}, brightness {}",
                    s.profile,
                    if s.ptz { "yes" } else { "no" },
                    if s.imaging.is_some() { "yes" } else { "no" }
                );
                let brightness = match &s.imaging {
                    Some((source, (min, max))) => s
                        .device
                        .brightness(source)
                        .await
                        .ok()
                        .flatten()
                        .map(|b| ((b - min) / (max - min) * 100.0).clamp(0.0, 100.0)),
                    None => None,
                };
                self.status.send_modify(|st| {
                    st.connected = true;
                    st.ptz = s.ptz;
                    st.imaging = s.imaging.is_some();
                    st.brightness = brightness;
                    st.last_error = None;
                });
                self.session = Some(s);
                Ok(())
            }
            Err(e) => {
                let text = e.to_string();
                if self.status.borrow().last_error.as_deref() != Some(&text) {
                    tracing::warn!("{text}");
                }
                self.status.send_modify(|st| {
                    st.connected = false;
                    st.last_error = Some(text);
                });
                Err(e)
            }
        }
    }

    async fn carry_out(&mut self, command: Command) -> Result<Reply, OnvifError> {
        let Some(session) = self.session.as_mut() else {
            let op = command.op();
            return Err(OnvifError::new(
                &self.endpoint.camera,
                op,
                ErrorKind::Closed,
            ));
        };
        let result = session.execute(&command).await;
        match &result {
            Ok((_, brightness)) => {
                if self.status.borrow().last_error.is_some() {
                    tracing::info!("ONVIF commands are answered again");
                }
                match command {
                    Command::Move(v) if !v.is_zero() => self.moving = Some((v, Instant::now())),
                    Command::Move(_) | Command::Stop | Command::GotoPreset(_) | Command::Home => {
                        self.moving = None
                    }
                    _ => {}
                }
                let moving = self.moving.is_some();
                self.status.send_modify(|st| {
                    st.sent += 1;
                    st.moving = moving;
                    st.last_error = None;
                    if brightness.is_some() {
                        st.brightness = *brightness;
                    }
                });
            }
            Err(e) => {
                // Once per change: a camera that faults every command (five a second while
                // a stick is held) logs one line, as the stream worker does.
                let text = e.to_string();
                if self.status.borrow().last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!("{text}");
                }
                if matches!(e.kind, ErrorKind::Timeout(_) | ErrorKind::Connect(_)) {
                    // The device may have rebooted with new tokens: read it again next time.
                    self.session = None;
                    self.moving = None;
                }
                let moving = self.moving.is_some();
                self.status.send_modify(|st| {
                    st.last_error = Some(text);
                    st.moving = moving;
                    st.connected = self.session.is_some();
                });
            }
        }
        result.map(|(reply, _)| reply)
    }
}

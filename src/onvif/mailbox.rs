//! The camera-control vocabulary and the queue between the wall/API and a camera's agent:
//! commands and replies, the status the agent publishes, the mailbox (newest move wins, a Stop
//! is never dropped: moves after it queue behind it; the newest brightness; presets in order;
//! bounded), the [`ControlHandle`] everyone else holds, and a [`Detached`] stand-in for tests.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, oneshot, watch};

use super::responses::Preset;
use super::{ErrorKind, OnvifError, Velocity};

/// What a camera is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Continuous pan/tilt/zoom at these speeds (`-1..=1`); all zero is a stop.
    Move(Velocity),
    Stop,
    /// Preset `n` (1-based): the camera's preset named `n`, else with token `n`, else its n-th.
    GotoPreset(u32),
    /// Store the current view as preset `n`.
    SetPreset(u32),
    Home,
    /// Brightness in percent of the camera's range.
    Brightness(f32),
    /// List the camera's presets.
    Presets,
}

impl Command {
    /// The ONVIF operation it stands for (in errors).
    pub fn op(&self) -> &'static str {
        match self {
            Self::Move(_) => "ContinuousMove",
            Self::Stop => "Stop",
            Self::GotoPreset(_) => "GotoPreset",
            Self::SetPreset(_) => "SetPreset",
            Self::Home => "GotoHomePosition",
            Self::Brightness(_) => "SetImagingSettings",
            Self::Presets => "GetPresets",
        }
    }
}

/// A command's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Done,
    /// A newer command of the same kind replaced it before it was sent.
    Superseded,
    Presets(Vec<Preset>),
}

pub(super) type ReplyTx = oneshot::Sender<Result<Reply, OnvifError>>;

/// What the wall and the API show about a camera's control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlStatus {
    /// The device answered and its capabilities are known.
    pub connected: bool,
    pub ptz: bool,
    pub imaging: bool,
    pub moving: bool,
    /// Brightness in percent of the camera's range, once known.
    pub brightness: Option<f32>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// Commands sent to the camera (tests count them).
    pub sent: u64,
}

/// The most commands queued per camera.
const QUEUE: usize = 32;

#[derive(Default)]
pub(super) struct Mailbox {
    pub(super) queue: std::sync::Mutex<VecDeque<(Command, Option<ReplyTx>)>>,
    pub(super) notify: Notify,
    pub(super) closed: AtomicBool,
}

pub(super) fn answer(reply: Option<ReplyTx>, result: Result<Reply, OnvifError>) {
    if let Some(tx) = reply {
        let _ = tx.send(result);
    }
}

impl Mailbox {
    pub(super) fn push(&self, camera: &str, command: Command, reply: Option<ReplyTx>) {
        if self.closed.load(Ordering::Relaxed) {
            answer(
                reply,
                Err(OnvifError::new(camera, command.op(), ErrorKind::Closed)),
            );
            return;
        }
        let mut q = self.queue.lock().expect("control queue lock");
        let replaces = |queued: &Command| {
            matches!(
                (&command, queued),
                (Command::Move(_) | Command::Stop, Command::Move(_))
                    | (Command::Brightness(_), Command::Brightness(_))
            )
        };
        match command {
            // Only trailing moves go: a Stop queued before stays before.
            Command::Move(_) | Command::Stop => {
                while q.back().is_some_and(|(c, _)| replaces(c)) {
                    let (_, r) = q.pop_back().expect("checked");
                    answer(r, Ok(Reply::Superseded));
                }
            }
            Command::Brightness(_) => {
                let mut kept = VecDeque::with_capacity(q.len());
                for (c, r) in q.drain(..) {
                    if replaces(&c) {
                        answer(r, Ok(Reply::Superseded));
                    } else {
                        kept.push_back((c, r));
                    }
                }
                *q = kept;
            }
            _ => {}
        }
        if q.len() >= QUEUE {
            drop(q);
            answer(
                reply,
                Err(OnvifError::new(camera, command.op(), ErrorKind::Busy)),
            );
            return;
        }
        q.push_back((command, reply));
        drop(q);
        self.notify.notify_one();
    }

    pub(super) fn pop(&self) -> Option<(Command, Option<ReplyTx>)> {
        self.queue.lock().expect("control queue lock").pop_front()
    }
}

/// The wall's and the API's end of a camera's agent. Clones share the agent.
#[derive(Clone)]
pub struct ControlHandle {
    pub(super) camera: Arc<str>,
    pub(super) mailbox: Arc<Mailbox>,
    pub(super) status: watch::Receiver<ControlStatus>,
}

impl ControlHandle {
    /// Queues a command without waiting for its outcome.
    pub fn send(&self, command: Command) {
        self.mailbox.push(&self.camera, command, None);
    }

    /// Queues a command and waits for the camera's answer.
    pub async fn request(&self, command: Command) -> Result<Reply, OnvifError> {
        let (tx, rx) = oneshot::channel();
        let op = command.op();
        self.mailbox.push(&self.camera, command, Some(tx));
        rx.await
            .unwrap_or_else(|_| Err(OnvifError::new(&self.camera, op, ErrorKind::Closed)))
    }

    pub fn status(&self) -> ControlStatus {
        self.status.borrow().clone()
    }

    /// The status, if it changed since the last call on this handle.
    pub fn changed_status(&mut self) -> Option<ControlStatus> {
        if self.status.has_changed().unwrap_or(false) {
            Some(self.status.borrow_and_update().clone())
        } else {
            None
        }
    }

    /// Ends the agent (stopping the camera if it moves).
    pub fn shutdown(&self) {
        self.mailbox.closed.store(true, Ordering::Relaxed);
        self.mailbox.notify.notify_one();
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }
}

/// A handle with no agent behind it, for tests of whoever sends commands: what was sent can
/// be taken, and the status set.
pub struct Detached {
    mailbox: Arc<Mailbox>,
    status: watch::Sender<ControlStatus>,
}

impl Detached {
    /// Every command queued since the last call, oldest first (as the agent would get them).
    pub fn take(&self) -> Vec<Command> {
        std::iter::from_fn(|| self.mailbox.pop())
            .map(|(c, _)| c)
            .collect()
    }

    pub fn set_status(&self, status: ControlStatus) {
        self.status.send_replace(status);
    }

    /// Whether the handle's side asked the agent to end.
    pub fn shut_down(&self) -> bool {
        self.mailbox.closed.load(Ordering::Relaxed)
    }

    /// The next command, waiting for one (an agent of another kind: a node's); `None` once
    /// the handle's side ended the agent.
    pub async fn next(&self) -> Option<(Command, Responder)> {
        loop {
            if self.shut_down() {
                return None;
            }
            if let Some((command, reply)) = self.mailbox.pop() {
                return Some((command, Responder(reply)));
            }
            self.mailbox.notify.notified().await;
        }
    }
}

/// Where a command's outcome goes (nowhere when its sender did not wait).
pub struct Responder(Option<ReplyTx>);

impl Responder {
    pub fn answer(self, result: Result<Reply, OnvifError>) {
        answer(self.0, result);
    }
}

/// A [`ControlHandle`] and the [`Detached`] end standing in for its agent.
pub fn detached(camera: &str) -> (ControlHandle, Detached) {
    let mailbox = Arc::new(Mailbox::default());
    let (tx, rx) = watch::channel(ControlStatus::default());
    let handle = ControlHandle {
        camera: camera.into(),
        mailbox: mailbox.clone(),
        status: rx,
    };
    (
        handle,
        Detached {
            mailbox,
            status: tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &Mailbox) -> Vec<Command> {
        std::iter::from_fn(|| m.pop()).map(|(c, _)| c).collect()
    }

    fn mv(pan: f32) -> Command {
        Command::Move(Velocity {
            pan,
            ..Velocity::default()
        })
    }

    #[test]
    fn newest_move_wins_and_stop_is_never_dropped() {
        let m = Mailbox::default();
        m.push("c", mv(0.1), None);
        m.push("c", mv(0.2), None);
        assert_eq!(drain(&m), vec![mv(0.2)]);
        m.push("c", mv(0.3), None);
        m.push("c", Command::Stop, None);
        m.push("c", mv(0.4), None);
        m.push("c", mv(0.5), None);
        assert_eq!(drain(&m), vec![Command::Stop, mv(0.5)]);
        m.push("c", Command::GotoPreset(1), None);
        m.push("c", mv(0.6), None);
        m.push("c", Command::Brightness(10.0), None);
        m.push("c", Command::Brightness(20.0), None);
        m.push("c", Command::SetPreset(2), None);
        assert_eq!(
            drain(&m),
            vec![
                Command::GotoPreset(1),
                mv(0.6),
                Command::Brightness(20.0),
                Command::SetPreset(2)
            ]
        );
    }

    #[tokio::test]
    async fn replaced_and_refused_commands_are_answered() {
        let m = Mailbox::default();
        let (tx, rx) = oneshot::channel();
        m.push("c", mv(0.1), Some(tx));
        m.push("c", mv(0.2), None);
        assert_eq!(rx.await.unwrap(), Ok(Reply::Superseded));
        for i in 0..QUEUE as u32 {
            m.push("c", Command::GotoPreset(i), None);
        }
        let (tx, rx) = oneshot::channel();
        m.push("c", Command::Home, Some(tx));
        assert_eq!(rx.await.unwrap().unwrap_err().kind, ErrorKind::Busy);
        m.closed.store(true, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        m.push("c", Command::Home, Some(tx));
        assert_eq!(rx.await.unwrap().unwrap_err().kind, ErrorKind::Closed);
    }
}

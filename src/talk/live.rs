//! Live talk: a microphone's frames to one camera for as long as the operator holds the talk
//! key (the wall) or keeps the browser's stream open (the web page). A [`Live`] takes the talk
//! floor, opens the session (`Talk::open`), sends each frame as it comes (a backlog from the
//! setup goes out at once, so it adds no lasting delay), and on stop, on losing the floor, on
//! the camera dropping it or on the microphone failing, closes it (TEARDOWN / ISAPI close).
//! Dropping the [`Live`] stops it too. It records how long each frame took from capture to sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Floor, Talk, TalkCodec, TalkError};
use crate::config::CameraConfig;
use crate::sound::mic::MicFrame;

/// Where a live talk is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveState {
    /// Setting the session up.
    Opening,
    /// Sending, in this codec.
    Talking(TalkCodec),
    /// Over: `None` when stopped, else why it ended.
    Ended(Option<TalkError>),
}

struct Shared {
    state: LiveState,
    /// Capture → sent, per frame (the most recent [`DELAYS_KEPT`]).
    delays: Vec<Duration>,
}

const DELAYS_KEPT: usize = 1 << 16;

/// A live talk to one camera.
pub struct Live {
    camera: String,
    stop: Option<oneshot::Sender<()>>,
    shared: Arc<Mutex<Shared>>,
}

impl Live {
    /// Starts talking to `camera` on `rt` with `frames`; returns the task too, so an exit can
    /// wait for its TEARDOWN.
    pub fn start(
        rt: &tokio::runtime::Handle,
        floor: &Floor,
        camera: Arc<CameraConfig>,
        frames: mpsc::Receiver<Result<MicFrame, String>>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::new(Mutex::new(Shared {
            state: LiveState::Opening,
            delays: Vec::new(),
        }));
        let turn = floor.take(&camera.name);
        let task = rt.spawn(run(
            floor.clone(),
            turn,
            camera.clone(),
            frames,
            stop_rx,
            shared.clone(),
        ));
        (
            Self {
                camera: camera.name.clone(),
                stop: Some(stop_tx),
                shared,
            },
            task,
        )
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    pub fn state(&self) -> LiveState {
        self.lock().state.clone()
    }

    /// Capture → sent for each frame so far.
    pub fn delays(&self) -> Vec<Duration> {
        self.lock().delays.clone()
    }

    /// Ends the talk (the session closes in the background).
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(
    floor: Floor,
    mut turn: super::Turn,
    camera: Arc<CameraConfig>,
    mut frames: mpsc::Receiver<Result<MicFrame, String>>,
    mut stop: oneshot::Receiver<()>,
    shared: Arc<Mutex<Shared>>,
) {
    let set = |state: LiveState| shared.lock().unwrap_or_else(|p| p.into_inner()).state = state;
    let name = camera.name.clone();
    let superseded = |by: String| TalkError::Superseded {
        camera: name.clone(),
        by,
    };
    let mut talk = tokio::select! {
        t = Talk::open(&floor, &camera, None) => match t {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{e}");
                return set(LiveState::Ended(Some(e)));
            }
        },
        _ = &mut stop => return set(LiveState::Ended(None)),
        by = turn.taken() => return set(LiveState::Ended(Some(superseded(by)))),
    };
    tracing::info!(camera = %name, "talking ({})", talk.codec().as_str());
    set(LiveState::Talking(talk.codec()));
    let outcome = loop {
        tokio::select! {
            biased;
            _ = &mut stop => break None,
            by = turn.taken() => break Some(superseded(by)),
            frame = frames.recv() => match frame {
                Some(Ok(f)) => {
                    if let Err(e) = talk.send(&f.samples).await {
                        break Some(e);
                    }
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    if s.delays.len() < DELAYS_KEPT {
                        s.delays.push(f.captured.elapsed());
                    }
                }
                Some(Err(why)) => break Some(TalkError::Failed { camera: name.clone(), what: why }),
                None => break Some(TalkError::Failed {
                    camera: name.clone(),
                    what: "the microphone stopped".into(),
                }),
            },
        }
    };
    talk.close().await;
    match &outcome {
        None => tracing::info!(camera = %name, "talk ended"),
        Some(e) => tracing::warn!("{e}"),
    }
    set(LiveState::Ended(outcome));
}

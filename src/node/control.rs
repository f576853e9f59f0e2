//! PTZ, brightness and presets of a node's camera from the wall: the camera's control handle
//! (the same the wall and the API use for a local camera) with an agent that sends each
//! command to the node's API (`POST /api/cameras/{name}/ptz|imaging|preset`, `GET …/presets`),
//! where the node's own agent talks ONVIF with the credentials only the node knows.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::onvif::{Command, ControlHandle, ControlStatus, OnvifError, Preset, Reply};
use crate::onvif::{ErrorKind, Responder};

/// How long the node may take over one command (its agent may wait for the camera's).
const ANSWER: Duration = Duration::from_secs(15);

/// How a node's camera is reached for control.
#[derive(Clone)]
pub struct NodeRoute {
    /// The node's API.
    pub base: url::Url,
    /// The camera's name at the node.
    pub camera: String,
    pub token: Option<String>,
    /// The camera's control status as the node reports it (its follower writes it).
    pub status: Arc<watch::Sender<ControlStatus>>,
    /// The camera's recording at the node, as the node reports it (its follower writes it):
    /// the wall's recording status of the camera mirrors this instead of a recorder of its own.
    pub recording: crate::record::RecorderHandle,
    /// The camera's unlock key at the node, while it is locked there and was unlocked.
    pub key: Arc<NodeKey>,
}

/// A node camera's unlock key at the node, shared by its route's users and its lock at the
/// wall (which sets it on a right password and forgets it when everything is locked), and
/// whether a right password opened it (a node without a lock on it any more gives no key).
#[derive(Default)]
pub struct NodeKey(
    std::sync::Mutex<Option<String>>,
    std::sync::atomic::AtomicBool,
);

impl NodeKey {
    pub fn get(&self) -> Option<String> {
        self.slot().clone()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opened, with `key` (none: the node has no lock on the camera any more).
    pub fn open_with(&self, key: Option<String>) {
        if let Some(k) = &key {
            crate::secret::remember(k);
        }
        *self.slot() = key;
        self.1.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Locked again if `key` is still the one held (a check that began before a new
    /// unlock does not undo it): whether it was.
    pub fn forget_if(&self, key: &str) -> bool {
        let mut slot = self.slot();
        if slot.as_deref() != Some(key) {
            return false;
        }
        self.1.store(false, std::sync::atomic::Ordering::Release);
        *slot = None;
        true
    }

    /// Locked again: the key forgotten.
    pub fn forget(&self) {
        self.1.store(false, std::sync::atomic::Ordering::Release);
        *self.slot() = None;
    }

    pub fn is_open(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl NodeRoute {
    /// The camera's recordings at the node.
    pub fn recordings(&self) -> crate::playback::source::NodeRecordings {
        crate::playback::source::NodeRecordings {
            base: self.base.clone(),
            camera: self.camera.clone(),
            token: self.token.clone(),
            key: self.key.clone(),
            stop: Default::default(),
        }
    }

    /// The node's route `/api/cameras/{camera}/{what}` for this camera.
    pub(crate) fn camera_path(&self, what: &str) -> String {
        super::http::camera_path(&self.camera, what)
    }

    /// `method …/{what}` of this camera at the node (with `body` as JSON), with the token and
    /// the camera's unlock key.
    pub(crate) async fn ask(
        &self,
        method: hyper::Method,
        what: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(hyper::StatusCode, bytes::Bytes), String> {
        let key = self.key.get();
        let auth = super::http::Auth {
            token: self.token.as_deref(),
            key: key.as_deref(),
        };
        super::http::request(&self.base, method, &self.camera_path(what), auth, body).await
    }
}

impl PartialEq for NodeRoute {
    fn eq(&self, other: &Self) -> bool {
        (&self.base, &self.camera, &self.token) == (&other.base, &other.camera, &other.token)
    }
}

impl std::fmt::Debug for NodeRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeRoute({} {:?})", self.base, self.camera)
    }
}

/// The control handle of camera `name` (ours) behind `route`, its agent on `runtime`.
pub fn spawn(runtime: &tokio::runtime::Handle, name: &str, route: NodeRoute) -> ControlHandle {
    let (handle, end) = crate::onvif::detached(name);
    let name = name.to_owned();
    runtime.spawn(async move {
        let mut status = route.status.subscribe();
        end.set_status(status.borrow_and_update().clone());
        loop {
            tokio::select! {
                next = end.next() => {
                    let Some((command, responder)) = next else { break };
                    run(&route, &name, command, responder).await;
                }
                changed = status.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    end.set_status(status.borrow_and_update().clone());
                }
            }
        }
    });
    handle
}

/// Sends one command to the node and answers it.
async fn run(route: &NodeRoute, name: &str, command: Command, responder: Responder) {
    let op = command.op();
    let error = |kind| OnvifError::new(name, op, kind);
    let (method, what, body) = request_of(&command);
    let body = body.map(|b| b.to_string().into_bytes());
    let sent = route.ask(method, what, body);
    let result = match tokio::time::timeout(ANSWER, sent).await {
        Err(_) => Err(error(ErrorKind::Timeout(ANSWER))),
        Ok(Err(e)) => Err(error(ErrorKind::Connect(format!("node: {e}")))),
        Ok(Ok((status, body))) if status.is_success() => Ok(reply_of(&command, &body)),
        Ok(Ok((status, body))) => {
            let text = super::http::error_text(status, &body);
            Err(error(match status.as_u16() {
                409 => ErrorKind::Unsupported(text),
                504 => ErrorKind::Timeout(ANSWER),
                s @ (401 | 403) => ErrorKind::Http(s),
                _ => ErrorKind::Connect(format!("node: {text}")),
            }))
        }
    };
    if let Err(e) = &result {
        tracing::warn!(camera = %name, "control through the node: {e}");
    }
    responder.answer(result);
}

/// The node's route for a command: method, last path part, JSON body.
fn request_of(command: &Command) -> (hyper::Method, &'static str, Option<serde_json::Value>) {
    use hyper::Method;
    match command {
        Command::Move(v) => (
            Method::POST,
            "ptz",
            Some(json!({"pan": v.pan, "tilt": v.tilt, "zoom": v.zoom})),
        ),
        Command::Stop => (Method::POST, "ptz", Some(json!({"stop": true}))),
        Command::GotoPreset(n) => (Method::POST, "preset", Some(json!({"goto": n}))),
        Command::SetPreset(n) => (Method::POST, "preset", Some(json!({"set": n}))),
        Command::Home => (Method::POST, "preset", Some(json!({"home": true}))),
        Command::Brightness(b) => (Method::POST, "imaging", Some(json!({"brightness": b}))),
        Command::Presets => (Method::GET, "presets", None),
    }
}

/// Turns the camera's recording at the node on or off (`POST …/recording`); logs a failure.
pub async fn set_recording(route: NodeRoute, name: String, on: bool) {
    let body = json!({ "active": on }).to_string().into_bytes();
    let sent = route.ask(hyper::Method::POST, "recording", Some(body));
    match tokio::time::timeout(ANSWER, sent).await {
        Ok(Ok((status, _))) if status.is_success() => {
            tracing::info!(camera = %name, "recording {} at the node", if on { "on" } else { "off" });
        }
        Ok(Ok((status, body))) => tracing::warn!(
            camera = %name,
            "recording on/off at the node: {}",
            super::http::error_text(status, &body)
        ),
        Ok(Err(e)) => tracing::warn!(camera = %name, "recording on/off at the node: {e}"),
        Err(_) => tracing::warn!(camera = %name, "recording on/off: the node did not answer"),
    }
}

/// The reply a node's 2xx answer stands for.
fn reply_of(command: &Command, body: &[u8]) -> Reply {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match command {
        Command::Presets => Reply::Presets(
            serde_json::from_value::<Vec<Preset>>(v["presets"].clone()).unwrap_or_default(),
        ),
        _ if v["superseded"] == true => Reply::Superseded,
        _ => Reply::Done,
    }
}

/// A camera's recording from the `recording` of the node's status: (on, status).
pub fn recording_of(rec: &serde_json::Value) -> (bool, crate::record::RecorderStatus) {
    let text = |k: &str| rec[k].as_str().map(super::http::clean);
    let status = crate::record::RecorderStatus {
        segments: rec["segments"].as_u64().unwrap_or(0),
        bytes: rec["bytes"].as_u64().unwrap_or(0),
        current: text("current").map(std::path::PathBuf::from),
        current_since_ms: None,
        error: text("error"),
        audio: text("audio"),
    };
    (rec["active"] == true, status)
}

/// A camera's control status from the `ptz` of the node's status.
pub fn status_of(ptz: &serde_json::Value) -> ControlStatus {
    ControlStatus {
        connected: ptz["available"] == true || ptz["imaging"] == true,
        ptz: ptz["available"] == true,
        imaging: ptz["imaging"] == true,
        moving: ptz["moving"] == true,
        brightness: ptz["brightness"].as_f64().map(|b| b as f32),
        last_error: ptz["last_error"].as_str().map(super::http::clean),
        sent: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_the_nodes_routes_and_back() {
        let (m, what, body) = request_of(&Command::Move(crate::onvif::Velocity {
            pan: 0.5,
            tilt: -0.25,
            zoom: 0.0,
        }));
        assert_eq!((m, what), (hyper::Method::POST, "ptz"));
        assert_eq!(body.unwrap()["tilt"], -0.25);
        assert_eq!(request_of(&Command::Presets).0, hyper::Method::GET);
        let presets = br#"{"camera": "Gate", "presets": [{"token": "1", "name": "Door"}]}"#;
        assert_eq!(
            reply_of(&Command::Presets, presets),
            Reply::Presets(vec![Preset {
                token: "1".into(),
                name: "Door".into()
            }])
        );
        assert_eq!(
            reply_of(&Command::Stop, br#"{"done": true, "superseded": true}"#),
            Reply::Superseded
        );
        let s = status_of(&json!({"available": true, "imaging": false, "brightness": 40.0}));
        assert!(s.connected && s.ptz && !s.imaging);
        assert_eq!(s.brightness, Some(40.0));
    }
}

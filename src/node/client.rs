//! A wall's side of its nodes: one task per `nodes:` entry reads the node's status (its
//! cameras and restream port) every [`POLL`] with the token, and keeps this process's cameras
//! `NODE/CAMERA` in step (added, replaced, removed through the same commands as the API's),
//! each reading the node's restream with the existing worker. Whether each node answers is
//! kept on a [`NodeBoard`] the ECS shows (`node unreachable`, not a camera failure).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::http::Auth;
use crate::config::{CameraConfig, NodeConfig};
use crate::serve::api::{ApiCommand, CommandSender};

/// How often a node's status is read.
pub const POLL: Duration = Duration::from_secs(2);
/// The most cameras taken from one node (a node that lists more is cut short, loudly).
pub const MAX_CAMERAS: usize = 256;
/// The longest camera name taken from a node.
const MAX_NAME: usize = 200;
/// A status answer must come within this.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether each node answers, by node name, what each node says of its cameras that are
/// not live there (by our name for them), and a count of the changes.
#[derive(Default, Debug)]
pub struct NodeBoard(
    RwLock<HashMap<String, Reach>>,
    AtomicU64,
    RwLock<HashMap<String, String>>,
);

/// A node as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Not asked yet.
    Unknown,
    Up,
    /// It did not answer, or refused: why.
    Down(String),
}

impl NodeBoard {
    fn set(&self, node: &str, reach: Reach) -> Option<Reach> {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = map.insert(node.to_owned(), reach.clone());
        if old.as_ref() != Some(&reach) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
        old.filter(|old| *old != reach)
    }

    /// What node camera `camera` (our name) is at its node when not live there: `None` when
    /// it is live, or its node does not say.
    pub fn at_node(&self, camera: &str) -> Option<String> {
        self.2.read().ok()?.get(camera).cloned()
    }

    /// Sets what node camera `camera` (our name) is at its node (`None`: live there).
    fn set_at_node(&self, camera: &str, trouble: Option<&String>) {
        let mut map = self
            .2
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = match trouble {
            Some(t) => map.insert(camera.to_owned(), t.clone()).as_ref() != Some(t),
            None => map.remove(camera).is_some(),
        };
        if changed {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts the changes: it moves whenever a node comes or goes.
    pub fn changes(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }

    /// Why the node of `camera` (a `NODE/CAMERA` name) does not answer, if it is one of ours
    /// and down.
    pub fn down(&self, camera: &str) -> Option<String> {
        let map = self.0.read().ok()?;
        map.iter().find_map(|(node, reach)| match reach {
            Reach::Down(why) if camera.strip_prefix(node.as_str())?.starts_with('/') => {
                Some(why.clone())
            }
            _ => None,
        })
    }
}

/// One of a node's cameras as its status tells it.
#[derive(Debug, Clone, PartialEq)]
struct NodeCamera {
    name: String,
    sub: bool,
    /// Its control status (`ptz` in the node's status).
    control: crate::onvif::ControlStatus,
    /// Its recording (`recording` in the node's status): on, and how it goes.
    recording: (bool, crate::record::RecorderStatus),
    /// It may be talked to at the node (`talk`).
    talk: bool,
    /// It has a view password at the node (`locked`).
    locked: bool,
    /// Its state there and why, when it is not live there (`state`, `last_error`).
    trouble: Option<String>,
}

/// What a node camera's agents share with the follower: written on every poll.
#[derive(Clone, Default)]
struct Mirror {
    control: Arc<tokio::sync::watch::Sender<crate::onvif::ControlStatus>>,
    recording: crate::record::RecorderHandle,
    /// Its unlock key at the node, once its view password was given at the wall.
    key: Arc<super::control::NodeKey>,
}

impl Mirror {
    fn update(&self, camera: &NodeCamera) {
        let control = &camera.control;
        self.control
            .send_if_modified(|s| std::mem::replace(s, control.clone()) != *control);
        let (on, status) = &camera.recording;
        self.recording.set_active(*on);
        self.recording
            .status
            .send_if_modified(|s| std::mem::replace(s, status.clone()) != *status);
    }
}

/// Starts a task per node on `runtime`. A camera locked at its node is locked at the wall
/// too, in `locks`, its password checked at the node.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    nodes: &[NodeConfig],
    commands: CommandSender,
    (board, locks): (Arc<NodeBoard>, Option<Arc<crate::locks::Locks>>),
) {
    for node in nodes {
        let token = node.token();
        if let Ok(Some(t)) = &token {
            crate::secret::remember(t);
        }
        board.set(&node.name, Reach::Unknown);
        let (node, commands, board, locks) =
            (node.clone(), commands.clone(), board.clone(), locks.clone());
        runtime.spawn(async move {
            let token = match token {
                Ok(t) => t,
                Err(why) => {
                    tracing::error!("{why}");
                    board.set(&node.name, Reach::Down(why));
                    return;
                }
            };
            Follower {
                node,
                token,
                commands,
                board,
                locks,
                added: HashMap::new(),
                mirrors: HashMap::new(),
                refused: Default::default(),
            }
            .run()
            .await;
        });
    }
}

/// Follows one node.
struct Follower {
    node: NodeConfig,
    token: Option<String>,
    commands: CommandSender,
    board: Arc<NodeBoard>,
    locks: Option<Arc<crate::locks::Locks>>,
    /// The cameras added for it, by our name, as added.
    added: HashMap<String, CameraConfig>,
    /// Each camera's control and recording status, shared with its agents, by the node's
    /// name for it.
    mirrors: HashMap<String, Mirror>,
    /// Cameras refused here (a name taken by a local camera): not asked again while listed.
    refused: std::collections::HashSet<String>,
}

impl Follower {
    async fn run(mut self) {
        let Ok(base) = url::Url::parse(&self.node.url) else {
            return;
        };
        loop {
            match tokio::time::timeout(TIMEOUT, status(&base, self.token.as_deref())).await {
                Ok(Ok((rtsp_port, cameras))) => {
                    if self.board.set(&self.node.name, Reach::Up).is_some() {
                        tracing::info!(node = %self.node.name, "node answers");
                    }
                    self.follow(&base, rtsp_port, &cameras).await;
                }
                outcome => {
                    let why = match outcome {
                        Ok(Err(e)) => e,
                        _ => format!("no answer within {}s", TIMEOUT.as_secs()),
                    };
                    if self
                        .board
                        .set(&self.node.name, Reach::Down(why.clone()))
                        .is_some()
                    {
                        tracing::warn!(node = %self.node.name, "node unreachable: {why}");
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Brings our cameras in step with the node's.
    async fn follow(&mut self, base: &url::Url, rtsp_port: u16, mut cameras: &[NodeCamera]) {
        if cameras.len() > MAX_CAMERAS {
            tracing::warn!(
                node = %self.node.name,
                "the node lists more than {MAX_CAMERAS} cameras: showing the first {MAX_CAMERAS}"
            );
            cameras = &cameras[..MAX_CAMERAS];
        }
        for c in cameras {
            let ours = self.ours(&c.name);
            let mirror = self.mirrors.entry(c.name.clone()).or_default();
            mirror.update(c);
            self.board.set_at_node(&ours, c.trouble.as_ref());
            if !c.locked {
                // No lock at the node: nothing to keep (locked there again, it asks again).
                mirror.key.forget();
                if let Some(locks) = &self.locks {
                    locks.remove_remote(&ours);
                }
            }
        }
        // A camera gone from the node: its mirror, its key and its lock at the wall go too
        // (back, it is locked again until its password is given).
        let gone: Vec<String> = self
            .mirrors
            .keys()
            .filter(|n| !cameras.iter().any(|c| &c.name == *n))
            .cloned()
            .collect();
        for name in gone {
            self.mirrors.remove(&name);
            if let Some(locks) = &self.locks {
                locks.remove_remote(&self.ours(&name));
            }
        }
        self.check_keys(cameras).await;
        let wanted: HashMap<String, CameraConfig> = cameras
            .iter()
            .map(|c| {
                let config = self.camera(base, rtsp_port, c);
                if c.locked {
                    self.lock(&config);
                }
                (config.name.clone(), config)
            })
            .collect();
        let gone: Vec<String> = self
            .added
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            self.board.set_at_node(&name, None);
            let (reply, answer) = tokio::sync::oneshot::channel();
            let command = ApiCommand::RemoveCamera {
                camera: name.clone(),
                reply,
            };
            if self.commands.try_send(command).is_ok() && answer.await.is_ok() {
                self.added.remove(&name);
            }
        }
        self.refused.retain(|n| wanted.contains_key(n));
        for (name, config) in wanted {
            if self.added.get(&name) == Some(&config) || self.refused.contains(&name) {
                continue;
            }
            let replace = self.added.contains_key(&name);
            let (reply, answer) = tokio::sync::oneshot::channel();
            let camera = Box::new(config.clone());
            let command = if replace {
                ApiCommand::ReplaceCamera { camera, reply }
            } else {
                ApiCommand::AddCamera { camera, reply }
            };
            if self.commands.try_send(command).is_err() {
                return; // the ECS is busy: next time
            }
            match answer.await {
                Ok(Ok(_)) => {
                    tracing::info!(camera = %name, "a camera of node {}", self.node.name);
                    self.added.insert(name, config);
                }
                Ok(Err(refused)) => {
                    tracing::warn!(camera = %name, "node camera refused: {refused:?}");
                    self.refused.insert(name);
                }
                Err(_) => return,
            }
        }
    }

    /// Our name for the node's camera `camera`.
    fn ours(&self, camera: &str) -> String {
        format!("{}/{camera}", self.node.name)
    }

    /// Forgets the unlock keys the node no longer takes (expired there): those cameras are
    /// locked again at the wall, and wait for their password.
    /// All at once, each within [`TIMEOUT`]; a camera opened without a key (the node had no
    /// lock on it then) that the node locks now is locked again too.
    async fn check_keys(&self, cameras: &[NodeCamera]) {
        let checks = cameras.iter().filter(|c| c.locked).filter_map(|c| {
            let config = self.added.get(&self.ours(&c.name))?;
            let route = config.via_node.as_ref()?;
            if !route.key.is_open() {
                return None;
            }
            Some(async move {
                let Some(key) = route.key.get() else {
                    route.key.forget();
                    return;
                };
                let check = super::lock::key_still_opens(route);
                if tokio::time::timeout(TIMEOUT, check).await == Ok(false)
                    && route.key.forget_if(&key)
                {
                    tracing::warn!(camera = %config.name, "the node no longer takes its unlock key: locked again");
                }
            })
        });
        futures::future::join_all(checks).await;
    }

    /// Locks our camera `config` (a camera locked at the node) at the wall, once: its
    /// password is checked at the node.
    fn lock(&self, config: &CameraConfig) {
        let (Some(locks), Some(route)) = (&self.locks, &config.via_node) else {
            return;
        };
        if !locks.has_lock(&config.name) {
            let place = format!("{}{}", route.base, route.camera_path(""));
            let check = Arc::new(super::lock::NodeUnlock(route.clone()));
            locks.set_camera(&config.name, crate::locks::CameraLock::remote(place, check));
        }
    }

    /// Our camera for one of the node's: its restream, with the token as the password (and
    /// the camera's unlock key at the node as `?key=` while it is locked there: a key kept
    /// across the node's restarts, which a Digest password is not). Locked at the node and
    /// not unlocked, it waits, offline, for its password.
    fn camera(&self, base: &url::Url, rtsp_port: u16, camera: &NodeCamera) -> CameraConfig {
        let host = match base.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        let mirror = self.mirrors.get(&camera.name).cloned().unwrap_or_default();
        let key = mirror.key.get().filter(|_| camera.locked);
        let open = !camera.locked || mirror.key.is_open();
        let url = |sub| {
            let path = crate::restream::StreamPath::of(&camera.name, sub);
            match &key {
                Some(k) => format!("rtsp://{host}:{rtsp_port}{path}?key={k}"),
                None => format!("rtsp://{host}:{rtsp_port}{path}"),
            }
        };
        let name = self.ours(&camera.name);
        let route = super::control::NodeRoute {
            base: base.clone(),
            camera: camera.name.clone(),
            token: self.token.clone(),
            status: mirror.control,
            recording: mirror.recording,
            key: mirror.key,
        };
        CameraConfig {
            sub_url: camera.sub.then(|| url(true)),
            username: self.token.as_ref().map(|_| "opticlink".to_owned()),
            password: self.token.clone(),
            enabled: open,
            // Talk goes through the node, which knows how to reach the camera.
            talk: if camera.talk {
                crate::config::TalkMode::Auto
            } else {
                crate::config::TalkMode::Off
            },
            via_node: Some(route),
            ..CameraConfig::minimal(&name, &url(false))
        }
    }
}

/// The node's restream port and cameras, from `GET /api/status`.
async fn status(base: &url::Url, token: Option<&str>) -> Result<(u16, Vec<NodeCamera>), String> {
    let (status, body) = super::http::request(
        base,
        hyper::Method::GET,
        "/api/status",
        Auth { token, key: None },
        None,
    )
    .await?;
    match status {
        hyper::StatusCode::OK => parse_status(&body),
        hyper::StatusCode::UNAUTHORIZED => Err("401: the node refuses our token".into()),
        other => Err(super::http::error_text(other, &body)),
    }
}

/// The restream port and cameras of a node's status.
fn parse_status(body: &[u8]) -> Result<(u16, Vec<NodeCamera>), String> {
    let status: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the node's status: {e}"))?;
    let port = status["rtsp_port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or("the node serves no restream (rtsp_port)")?;
    let cameras = status["cameras"]
        .as_array()
        .ok_or("the node's status lists no cameras")?
        .iter()
        // A camera locked at the node shows no restream (nothing that tells of activity).
        .filter(|c| c["restream"].is_object() || c["locked"] == true)
        .filter_map(|c| {
            let name = c["name"].as_str()?;
            let sane = !name.is_empty()
                && name.len() <= MAX_NAME
                && !name.chars().any(super::http::hidden);
            sane.then(|| NodeCamera {
                name: name.to_owned(),
                sub: c["restream"]["sub"].is_string(),
                control: super::control::status_of(&c["ptz"]),
                recording: super::control::recording_of(&c["recording"]),
                talk: c["talk"].as_bool().unwrap_or(false),
                locked: c["locked"] == true,
                trouble: trouble_of(c),
            })
        })
        .take(MAX_CAMERAS + 1)
        .collect::<Vec<_>>();
    Ok((port, cameras))
}

/// What a node's status says of a camera that is not live there: its state and last error
/// (`reconnecting: connection refused`); `None` when it is live. A locked camera's state is
/// shown as the node shows it; it waits at the wall for its password anyway.
fn trouble_of(camera: &serde_json::Value) -> Option<String> {
    let state = camera["state"].as_str()?;
    if state == "live" {
        return None;
    }
    let state = super::http::clean(state);
    Some(match camera["last_error"].as_str() {
        Some(e) => format!("{state}: {}", super::http::clean(e)),
        None => state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_gives_the_restreamed_cameras() {
        let body = br#"{"rtsp_port": 8554, "cameras": [
            {"name": "Gate", "restream": {"main": "rtsp://x/Gate/main", "sub": null, "clients": 0}},
            {"name": "Yard", "restream": {"main": "m", "sub": "s", "clients": 1}},
            {"name": "Off", "restream": null},
            {"name": "Bad\n", "restream": {"main": "m"}}]}"#;
        let (port, cams) = parse_status(body).unwrap();
        assert_eq!(port, 8554);
        assert_eq!(
            cams,
            [("Gate", false), ("Yard", true)].map(|(name, sub)| NodeCamera {
                name: name.into(),
                sub,
                control: Default::default(),
                recording: Default::default(),
                talk: false,
                locked: false,
                trouble: None,
            })
        );
        assert!(parse_status(b"{\"cameras\": []}").is_err());
        assert!(parse_status(b"not json").is_err());
    }

    #[test]
    fn the_board_finds_a_cameras_node() {
        let board = NodeBoard::default();
        board.set("Floor 2", Reach::Down("refused".into()));
        board.set("Floor", Reach::Up);
        assert_eq!(board.down("Floor 2/Gate"), Some("refused".into()));
        assert_eq!(board.down("Floor/Gate"), None);
        assert_eq!(board.down("Floor 2x/Gate"), None);
        assert_eq!(board.set("Floor", Reach::Up), None, "no change");
    }
}

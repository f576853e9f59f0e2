//! Talking to a camera: what the operator says (a file, a request body, the microphone)
//! goes to exactly one camera over its ONVIF backchannel (`backchannel`: our own small RTSP
//! client, since retina has none) or Hikvision's ISAPI two-way audio (`isapi`), encoded as the camera
//! accepts; a node's camera through its node (`node`). No Bevy here; the wall and the servers call in. Every failure is a [`TalkError`]
//! naming the camera, never a panic, and never touches the camera's video session.

pub mod backchannel;
pub mod commands;
mod floor;
pub mod isapi;
pub mod live;
pub mod node;
pub mod rtp;
mod rtsp;

pub use floor::{Floor, Turn};

use std::time::Duration;

use crate::config::{CameraConfig, TalkMode};
use crate::media::g711;

/// What the camera's talk track is encoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TalkCodec {
    Pcmu,
    Pcma,
    /// AAC-LC (`mpeg4-generic`), ONVIF backchannel only.
    Aac,
}

impl TalkCodec {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "pcmu" | "g711u" | "ulaw" | "g.711ulaw" => Some(Self::Pcmu),
            "pcma" | "g711a" | "alaw" | "g.711alaw" => Some(Self::Pcma),
            "aac" | "mpeg4-generic" => Some(Self::Aac),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::Aac => "AAC",
        }
    }

    /// The G.711 encoding of one sample, for the G.711 codecs.
    pub fn g711(self) -> Option<fn(i16) -> u8> {
        match self {
            Self::Pcmu => Some(g711::ulaw_encode),
            Self::Pcma => Some(g711::alaw_encode),
            Self::Aac => None,
        }
    }
}

/// Why talk did not happen or stopped. Messages name the camera; URLs are redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TalkError {
    #[error("camera {camera:?} cannot talk ({why})")]
    CannotTalk { camera: String, why: String },
    #[error("camera {camera:?} refused the credentials for talk ({url})")]
    Auth { camera: String, url: String },
    #[error("camera {camera:?}: talk: {what}")]
    Failed { camera: String, what: String },
    #[error("camera {camera:?} ended the talk session")]
    Dropped { camera: String },
    #[error("talk to camera {camera:?} ended: talking to {by:?} now")]
    Superseded { camera: String, by: String },
    /// What was to be played could not be read (a request body).
    #[error("camera {camera:?}: {what}")]
    Input { camera: String, what: String },
}

/// How long one frame may wait to be taken by the camera (a camera that stops reading, a
/// zero TCP window, a stalled upload) before the talk ends with an error.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// Our side's send buffer on a talk connection: about 2 s of audio. Linux would let it grow
/// to megabytes (minutes of G.711), which a camera that stops reading would fill only after
/// minutes; this way [`SEND_TIMEOUT`] notices within seconds.
const SEND_BUFFER: usize = 16 * 1024;

/// A talk connection: small send buffer ([`SEND_BUFFER`]), no Nagle delay.
fn talk_socket(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER);
}

/// How long setting up a talk session may take before it is given up.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The protocol a session runs on.
enum Inner {
    Onvif(Box<backchannel::Backchannel>),
    Isapi(Box<isapi::Isapi>),
    /// A node's camera, through the node.
    Node(Box<node::NodeTalk>),
}

/// An open talk session to one camera.
pub struct Talk {
    inner: Inner,
}

/// Bounds a setup step by [`SETUP_TIMEOUT`].
async fn in_time<T>(
    camera: &str,
    f: impl std::future::Future<Output = Result<T, TalkError>>,
) -> Result<T, TalkError> {
    tokio::time::timeout(SETUP_TIMEOUT, f)
        .await
        .map_err(|_| TalkError::Failed {
            camera: camera.to_string(),
            what: format!("no answer within {} s", SETUP_TIMEOUT.as_secs()),
        })?
}

impl Talk {
    /// Opens a talk session to `camera` by its `talk:` setting. `Auto` tries the ONVIF
    /// backchannel, then Hikvision ISAPI, and `floor` remembers which worked. `codec` forces an
    /// encoding the camera offers (ONVIF).
    pub async fn open(
        floor: &Floor,
        camera: &CameraConfig,
        codec: Option<TalkCodec>,
    ) -> Result<Self, TalkError> {
        let name = camera.name.clone();
        if let (Some(route), true) = (&camera.via_node, camera.talk != TalkMode::Off) {
            let talk = node::NodeTalk::open(&name, route).await?;
            return Ok(Self {
                inner: Inner::Node(Box::new(talk)),
            });
        }
        let onvif = || async {
            let target = backchannel::Target::of(camera)?;
            in_time(&name, backchannel::Backchannel::open(&target, codec))
                .await
                .map(|b| Inner::Onvif(Box::new(b)))
        };
        let isapi = || async {
            in_time(&name, isapi::Isapi::open(camera))
                .await
                .map(|i| Inner::Isapi(Box::new(i)))
        };
        let inner = match (camera.talk, floor.learned(&name)) {
            (TalkMode::Off, _) => {
                let why = match camera.via_node {
                    Some(_) => "talk: Off at its node",
                    None => "talk: Off in the config",
                };
                return Err(TalkError::CannotTalk {
                    camera: name,
                    why: why.into(),
                });
            }
            (TalkMode::Onvif, _) => onvif().await?,
            (TalkMode::Isapi, _) | (TalkMode::Auto, Some(TalkMode::Isapi)) => isapi().await?,
            (TalkMode::Auto, _) => match onvif().await {
                Ok(i) => i,
                Err(TalkError::CannotTalk { why, .. }) => match isapi().await {
                    Ok(i) => i,
                    Err(e) => {
                        let isapi_why = match e {
                            TalkError::CannotTalk { why, .. } => why,
                            other => other.to_string(),
                        };
                        return Err(TalkError::CannotTalk {
                            camera: name,
                            why: format!("{why}; ISAPI: {isapi_why}"),
                        });
                    }
                },
                Err(e) => return Err(e),
            },
        };
        floor.learn(
            &name,
            match inner {
                Inner::Onvif(_) | Inner::Node(_) => TalkMode::Onvif,
                Inner::Isapi(_) => TalkMode::Isapi,
            },
        );
        Ok(Self { inner })
    }

    pub fn codec(&self) -> TalkCodec {
        match &self.inner {
            Inner::Onvif(b) => b.codec(),
            Inner::Isapi(i) => i.codec(),
            Inner::Node(n) => n.codec(),
        }
    }

    /// Sends one 20 ms frame at [`crate::media::pcm::RATE`].
    pub async fn send(&mut self, frame: &[f32]) -> Result<(), TalkError> {
        match &mut self.inner {
            Inner::Onvif(b) => b.send(frame).await,
            Inner::Isapi(i) => i.send(frame).await,
            Inner::Node(n) => n.send(frame).await,
        }
    }

    /// Ends the session (TEARDOWN, or ISAPI close).
    pub async fn close(self) {
        match self.inner {
            Inner::Onvif(b) => b.close().await,
            Inner::Isapi(i) => i.close().await,
            Inner::Node(n) => n.close().await,
        }
    }
}

/// Plays `frames` (20 ms at 8 kHz, see [`crate::media::pcm::frames_of`]) through `camera`, paced in real
/// time, and closes the session; holds `floor` meanwhile (another talk taking it ends this
/// one). The session is opened before `frames` is awaited, so a camera that cannot talk is
/// known before a request body is read. Returns the codec used and how many frames went out.
pub async fn play(
    floor: &Floor,
    camera: &CameraConfig,
    codec: Option<TalkCodec>,
    frames: impl std::future::Future<Output = Result<Vec<Vec<f32>>, String>>,
) -> Result<(TalkCodec, usize), TalkError> {
    let mut turn = floor.take(&camera.name);
    let mut talk = Talk::open(floor, camera, codec).await?;
    let frames = match frames.await {
        Ok(f) => f,
        Err(what) => {
            talk.close().await;
            return Err(TalkError::Input {
                camera: camera.name.clone(),
                what,
            });
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    let mut result = Ok(());
    for frame in &frames {
        tokio::select! {
            _ = tick.tick() => {}
            by = turn.taken() => {
                result = Err(TalkError::Superseded { camera: camera.name.clone(), by });
                break;
            }
        }
        if let Err(e) = talk.send(frame).await {
            result = Err(e);
            break;
        }
        sent += 1;
    }
    let used = talk.codec();
    talk.close().await;
    result.map(|()| (used, sent))
}

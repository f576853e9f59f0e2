//! Talk to a node's camera (issue 25): the node keeps the camera's credentials and its talk
//! session, so the wall opens the node's live talk route — `GET /api/cameras/{camera}/talk`
//! as a WebSocket, the deployment's token as a bearer header — and sends each 20 ms frame as
//! raw 16-bit PCM at [`pcm::RATE`]. The node says `talking` (with the camera's codec) once
//! the camera took the session, and `ended` (with why) when it is over.

use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use super::{SEND_TIMEOUT, TalkCodec, TalkError};
use crate::media::pcm;
use crate::node::control::NodeRoute;

/// The node sets up the camera's session within its own [`super::SETUP_TIMEOUT`]; this
/// leaves room for the connection to the node.
const SETUP: Duration = Duration::from_secs(8);

/// The largest message taken from the node (its state messages are a few dozen bytes).
const MAX_MESSAGE: usize = 4096;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A live talk through a node.
pub struct NodeTalk {
    camera: String,
    ws: Socket,
    codec: TalkCodec,
}

/// What one of the node's state messages says.
#[derive(Debug, PartialEq)]
enum NodeState {
    Opening,
    Talking(TalkCodec),
    /// Over, and the node's reason if it gave one.
    Ended(Option<String>),
}

fn parse_state(text: &str) -> Option<NodeState> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    match v["state"].as_str()? {
        "opening" => Some(NodeState::Opening),
        "talking" => TalkCodec::from_name(v["codec"].as_str()?).map(NodeState::Talking),
        "ended" => Some(NodeState::Ended(
            v["error"].as_str().map(crate::node::http::clean),
        )),
        _ => None,
    }
}

impl NodeTalk {
    /// Opens the node's talk to `camera` (our name for it) at `route`.
    pub async fn open(camera: &str, route: &NodeRoute) -> Result<Self, TalkError> {
        let failed = |what: String| TalkError::Failed {
            camera: camera.to_owned(),
            what,
        };
        let ws = tokio::time::timeout(SETUP, Self::connect(camera, route))
            .await
            .map_err(|_| {
                failed(format!(
                    "the node did not answer within {} s",
                    SETUP.as_secs()
                ))
            })??;
        let mut talk = Self {
            camera: camera.to_owned(),
            ws,
            codec: TalkCodec::Pcmu,
        };
        let talking = tokio::time::timeout(SETUP, async {
            loop {
                match talk.next_state().await? {
                    NodeState::Opening => {}
                    NodeState::Talking(codec) => return Ok(codec),
                    NodeState::Ended(why) => return Err(talk.ended(why)),
                }
            }
        });
        match talking.await {
            Ok(Ok(codec)) => {
                talk.codec = codec;
                Ok(talk)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(failed(format!(
                "the node's camera did not start talking within {} s",
                SETUP.as_secs()
            ))),
        }
    }

    /// The WebSocket to the node's talk route, its handshake refusals as talk errors.
    async fn connect(camera: &str, route: &NodeRoute) -> Result<Socket, TalkError> {
        let failed = |what: String| TalkError::Failed {
            camera: camera.to_owned(),
            what,
        };
        let mut url = route
            .base
            .join(&route.camera_path("talk"))
            .map_err(|e| failed(e.to_string()))?;
        url.set_query(Some(&format!("rate={}", pcm::RATE)));
        let http = url.clone();
        url.set_scheme("ws")
            .map_err(|()| failed("the node's URL is not http".into()))?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| failed(e.to_string()))?;
        if let Some(t) = &route.token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            request
                .headers_mut()
                .insert(hyper::header::AUTHORIZATION, v);
        }
        if let Some(k) = route.key.get()
            && let Ok(v) = k.parse()
        {
            request.headers_mut().insert("x-unlock-key", v);
        }
        let addr = format!(
            "{}:{}",
            http.host_str().unwrap_or(""),
            http.port_or_known_default().unwrap_or(80)
        );
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| failed(format!("the node at {addr}: {e}")))?;
        super::talk_socket(&stream);
        let limits = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        match tokio_tungstenite::client_async_with_config(request, stream, Some(limits)).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(answer)) => {
                let status = answer.status();
                let why =
                    crate::node::http::error_text(status, answer.body().as_deref().unwrap_or(&[]));
                Err(match status.as_u16() {
                    401 => TalkError::Auth {
                        camera: camera.to_owned(),
                        url: crate::secret::redact_url(http.as_str()),
                    },
                    404 | 409 => TalkError::CannotTalk {
                        camera: camera.to_owned(),
                        why: format!("at its node: {why}"),
                    },
                    _ => failed(format!("the node: {why}")),
                })
            }
            Err(e) => Err(failed(format!("the node: {e}"))),
        }
    }

    /// The node's next state message.
    async fn next_state(&mut self) -> Result<NodeState, TalkError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(state) = parse_state(&text) {
                        return Ok(state);
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Ok(NodeState::Ended(None)),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(TalkError::Failed {
                        camera: self.camera.clone(),
                        what: format!("the node: {e}"),
                    });
                }
            }
        }
    }

    fn ended(&self, why: Option<String>) -> TalkError {
        match why {
            Some(what) => TalkError::Failed {
                camera: self.camera.clone(),
                what: format!("at its node: {what}"),
            },
            None => TalkError::Dropped {
                camera: self.camera.clone(),
            },
        }
    }

    pub fn codec(&self) -> TalkCodec {
        self.codec
    }

    /// Sends one 20 ms frame; an end the node reported meanwhile is the error.
    pub async fn send(&mut self, frame: &[f32]) -> Result<(), TalkError> {
        while let Some(state) = self.next_state().now_or_never() {
            if let NodeState::Ended(why) = state? {
                return Err(self.ended(why));
            }
        }
        let bytes: Vec<u8> = frame
            .iter()
            .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
            .collect();
        match tokio::time::timeout(SEND_TIMEOUT, self.ws.send(Message::binary(bytes))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(TalkError::Failed {
                camera: self.camera.clone(),
                what: format!("the node: {e}"),
            }),
            Err(_) => Err(TalkError::Failed {
                camera: self.camera.clone(),
                what: format!("the node took no sound for {} s", SEND_TIMEOUT.as_secs()),
            }),
        }
    }

    /// Ends the talk: the node closes the camera's session.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(None)).await;
        // The node's last word (`ended`) and its close, briefly.
        let _ = tokio::time::timeout(SEND_TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_state_messages_are_read() {
        assert_eq!(
            parse_state(r#"{"state":"opening"}"#),
            Some(NodeState::Opening)
        );
        assert_eq!(
            parse_state(r#"{"state":"talking","codec":"PCMA"}"#),
            Some(NodeState::Talking(TalkCodec::Pcma))
        );
        assert_eq!(
            parse_state(
                r#"{"state":"ended","error":"camera \"Gate\" ended the talk session\u001b[2J"}"#
            ),
            Some(NodeState::Ended(Some(
                "camera \"Gate\" ended the talk session[2J".into()
            )))
        );
        assert_eq!(
            parse_state(r#"{"state":"ended","error":null}"#),
            Some(NodeState::Ended(None))
        );
        assert_eq!(parse_state(r#"{"state":"talking","codec":"opus"}"#), None);
        assert_eq!(parse_state("not json"), None);
    }
}

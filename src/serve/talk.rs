//! Talk through the API. `POST /api/cameras/{name}/talk`: a WAV file or raw PCM (signed
//! 16-bit little-endian mono, `?rate=` Hz, default 8000) played through that camera's speaker,
//! answered when played: 200 with the codec and seconds, 400 a body we cannot read, 404 no
//! such camera, 409 the camera cannot talk or another talk took over, 502 the camera failed.
//! `GET` with `Upgrade: websocket` (the web page's talk button): binary messages of the same raw
//! PCM at `?rate=` are sent live until the socket closes; text messages report
//! `{"state": "talking", "codec"}` and finally `{"state": "ended", "error"}`. Both take the
//! process's one talk floor (ending any other talk).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::FeedHub;
use super::http::{Body, error_response, reply_json};
use crate::config::CameraConfig;
use crate::media::pcm;
use crate::sound::mic::MicFrame;
use crate::talk::live::{Live, LiveState};
use crate::talk::{self, Floor, TalkError};

/// Largest talk body: about 80 s of 48 kHz stereo WAV, 35 min of raw 8 kHz.
pub(super) const MAX_TALK_BODY: usize = 32 << 20;

/// Largest WebSocket message (the page sends about 40 ms of sound each, under 8 KB).
const MAX_WS_MESSAGE: usize = 64 * 1024;

/// The camera to talk to and the `?rate=` of raw PCM, or the answer that refuses.
fn target(
    req: &Request<Incoming>,
    name: &str,
    hub: &FeedHub,
) -> Result<(Arc<CameraConfig>, u32), Box<Response<Body>>> {
    let camera = hub
        .read()
        .ok()
        .and_then(|h| h.get(name).map(|f| f.talk.clone()));
    let camera = match camera {
        None => {
            return Err(Box::new(error_response(
                StatusCode::NOT_FOUND,
                &format!("no camera {name:?}"),
            )));
        }
        Some(None) => {
            return Err(Box::new(error_response(
                StatusCode::CONFLICT,
                &format!("camera {name:?} cannot talk (talk: Off in the config)"),
            )));
        }
        Some(Some(c)) => c,
    };
    let rate = super::access::query_param(req.uri().query(), "rate")
        .map_or(Ok(pcm::RATE), |v| {
            v.parse::<u32>()
                .ok()
                .filter(|r| pcm::RATES.contains(r))
                .ok_or(format!(
                    "rate={v}: expected {}…{} Hz",
                    pcm::RATES.start(),
                    pcm::RATES.end()
                ))
        })
        .map_err(|e| Box::new(error_response(StatusCode::BAD_REQUEST, &e)))?;
    Ok((camera, rate))
}

pub(super) async fn route(
    req: Request<Incoming>,
    name: &str,
    hub: &FeedHub,
    floor: &Floor,
) -> Response<Body> {
    let (camera, rate) = match target(&req, name, hub) {
        Ok(t) => t,
        Err(refused) => return *refused,
    };
    let body = super::http::body_within(req, MAX_TALK_BODY);
    // Read, checked and resampled only once the camera has answered, and off the runtime.
    let frames = async move {
        let bytes = body.await?;
        tokio::task::spawn_blocking(move || {
            let clip = pcm::read_body(&bytes, rate).map_err(|e| format!("talk body: {e}"))?;
            if clip.samples.is_empty() {
                return Err("no samples in the body".to_owned());
            }
            pcm::frames_of(&clip)
        })
        .await
        .map_err(|e| format!("talk body: {e}"))?
    };
    match talk::play(floor, &camera, None, frames).await {
        Ok((codec, frames)) => reply_json(
            StatusCode::OK,
            &serde_json::json!({
                "camera": name,
                "codec": codec.as_str(),
                "secs": frames as f64 * 0.02,
            }),
        ),
        Err(e) => {
            let status = match e {
                TalkError::CannotTalk { .. } | TalkError::Superseded { .. } => StatusCode::CONFLICT,
                TalkError::Input { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            error_response(status, &e.to_string())
        }
    }
}

/// Whether `req` asks to become a WebSocket.
pub(super) fn is_websocket(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET …/talk` with `Upgrade: websocket`: live talk from the browser's microphone.
pub(super) fn websocket(
    mut req: Request<Incoming>,
    name: &str,
    hub: &FeedHub,
    floor: &Floor,
) -> Response<Body> {
    let (camera, rate) = match target(&req, name, hub) {
        Ok(t) => t,
        Err(refused) => return *refused,
    };
    let key = req
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_KEY)
        .map(|k| tokio_tungstenite::tungstenite::handshake::derive_accept_key(k.as_bytes()));
    let version_ok = req
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let Some(accept) = key.filter(|_| version_ok) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13",
        );
    };
    let upgrade = hyper::upgrade::on(&mut req);
    let floor = floor.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => {
                let io = hyper_util::rt::TokioIo::new(io);
                let limits = WebSocketConfig::default()
                    .max_message_size(Some(MAX_WS_MESSAGE))
                    .max_frame_size(Some(MAX_WS_MESSAGE));
                let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    io,
                    Role::Server,
                    Some(limits),
                )
                .await;
                live_session(ws, camera, rate, floor).await;
            }
            Err(e) => tracing::warn!(camera = %camera.name, "talk: WebSocket upgrade failed: {e}"),
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&accept) {
        h.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

fn state_message(state: &LiveState) -> Message {
    let json = match state {
        LiveState::Opening => serde_json::json!({ "state": "opening" }),
        LiveState::Talking(codec) => {
            serde_json::json!({ "state": "talking", "codec": codec.as_str() })
        }
        LiveState::Ended(why) => serde_json::json!({
            "state": "ended",
            "error": why.as_ref().map(|e| e.to_string()),
        }),
    };
    Message::text(json.to_string())
}

/// Raw PCM from the socket into 20 ms frames for a [`Live`] talk, until the socket closes or
/// the talk ends; the state goes back as text.
async fn live_session<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    camera: Arc<CameraConfig>,
    rate: u32,
    floor: Floor,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut framer = match pcm::Framer::new(rate) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(camera = %camera.name, "talk: {e}");
            return;
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(50);
    let (mut live, task) = Live::start(&tokio::runtime::Handle::current(), &floor, camera, rx);
    let mut reported = LiveState::Opening;
    let _ = ws.send(state_message(&reported)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    let samples: Vec<f32> = bytes
                        .chunks_exact(2)
                        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                        .collect();
                    if framer.push(&samples).is_err() {
                        break;
                    }
                    let captured = Instant::now();
                    while let Some(samples) = framer.frame() {
                        let _ = tx.try_send(Ok(MicFrame { samples, captured }));
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let state = live.state();
                if state != reported {
                    reported = state;
                    if ws.send(state_message(&reported)).await.is_err() {
                        break;
                    }
                }
                if matches!(reported, LiveState::Ended(_)) {
                    break;
                }
            }
        }
    }
    live.stop();
    let _ = task.await;
    let end = match live.state() {
        LiveState::Ended(why) => LiveState::Ended(why),
        _ => LiveState::Ended(None),
    };
    let _ = ws.send(state_message(&end)).await;
    let _ = ws.close(None).await;
}

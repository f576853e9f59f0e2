//! `POST /api/cameras/{name}/talk`: a WAV file or raw PCM (signed 16-bit little-endian mono,
//! `?rate=` Hz, default 8000) played through that camera's speaker, on the process's one talk
//! floor (it ends any other talk). Answers when the message has been played: 200 with the
//! codec and seconds, 400 a body we cannot read, 404 no such camera, 409 the camera cannot
//! talk or another talk took over, 502 the camera failed.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::FeedHub;
use super::api::{Body, error_response, reply_json};
use crate::talk::{self, Floor, TalkError, pcm};

/// Largest talk body: about 80 s of 48 kHz stereo WAV, 35 min of raw 8 kHz.
const MAX_TALK_BODY: usize = 32 << 20;

pub(super) async fn route(
    req: Request<Incoming>,
    name: &str,
    hub: &FeedHub,
    floor: &Floor,
) -> Response<Body> {
    let camera = hub
        .read()
        .ok()
        .and_then(|h| h.get(name).map(|f| f.talk.clone()));
    let camera = match camera {
        None => return error_response(StatusCode::NOT_FOUND, &format!("no camera {name:?}")),
        Some(None) => {
            return error_response(
                StatusCode::CONFLICT,
                &format!("camera {name:?} cannot talk (talk: Off in the config)"),
            );
        }
        Some(Some(c)) => c,
    };
    let rate = req
        .uri()
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "rate")
                .map(|(_, v)| v.into_owned())
        })
        .map_or(Ok(pcm::RATE), |v| {
            v.parse::<u32>()
                .ok()
                .filter(|r| (4000..=192_000).contains(r))
                .ok_or(format!("rate={v}: expected 4000…192000 Hz"))
        });
    let rate = match rate {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let bytes = match http_body_util::Limited::new(req.into_body(), MAX_TALK_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, &format!("cannot read body: {e}"));
        }
    };
    let clip = match pcm::read_body(&bytes, rate) {
        Ok(c) if !c.samples.is_empty() => c,
        Ok(_) => return error_response(StatusCode::BAD_REQUEST, "no samples in the body"),
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &format!("talk body: {e}")),
    };
    match talk::play(floor, &camera, &clip, None).await {
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
                _ => StatusCode::BAD_GATEWAY,
            };
            error_response(status, &e.to_string())
        }
    }
}

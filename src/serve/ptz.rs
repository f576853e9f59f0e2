//! PTZ, brightness and preset routes: `POST /api/cameras/{name}/ptz|imaging|preset`,
//! `GET …/presets`. Each goes straight to that camera's control agent (not through the ECS)
//! and answers with the camera's own outcome: 200 accepted, 404 unknown camera, 409 no such
//! capability, 502 the camera's fault, 504 no answer in time.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use super::FeedHub;
use super::http::{Body, error_response, read_json, reply_json};
use crate::onvif::{Command, ControlHandle, Reply, Velocity};

/// The longest an API caller waits (a queued command may wait for one that times out).
const ANSWER: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PtzBody {
    #[serde(default)]
    pan: f32,
    #[serde(default)]
    tilt: f32,
    #[serde(default)]
    zoom: f32,
    #[serde(default)]
    stop: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagingBody {
    brightness: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetBody {
    #[serde(default)]
    goto: Option<u32>,
    #[serde(default)]
    set: Option<u32>,
    #[serde(default)]
    home: bool,
}

fn in_range(v: f32, lo: f32, hi: f32) -> bool {
    v.is_finite() && (lo..=hi).contains(&v)
}

/// What the body asks for, or the 400 answer.
async fn command(op: &str, req: Request<Incoming>) -> Result<Command, String> {
    match op {
        "ptz" => {
            let b: PtzBody = read_json(req).await?;
            if b.stop {
                return Ok(Command::Stop);
            }
            for (name, v) in [("pan", b.pan), ("tilt", b.tilt), ("zoom", b.zoom)] {
                if !in_range(v, -1.0, 1.0) {
                    return Err(format!("{name} {v} must be between -1 and 1"));
                }
            }
            Ok(Command::Move(Velocity {
                pan: b.pan,
                tilt: b.tilt,
                zoom: b.zoom,
            }))
        }
        "imaging" => {
            let b: ImagingBody = read_json(req).await?;
            if !in_range(b.brightness, 0.0, 100.0) {
                return Err(format!(
                    "brightness {} must be between 0 and 100",
                    b.brightness
                ));
            }
            Ok(Command::Brightness(b.brightness))
        }
        _ => {
            let b: PresetBody = read_json(req).await?;
            match (b.goto, b.set, b.home) {
                (Some(n), None, false) if n >= 1 => Ok(Command::GotoPreset(n)),
                (None, Some(n), false) if n >= 1 => Ok(Command::SetPreset(n)),
                (None, None, true) => Ok(Command::Home),
                _ => Err(
                    "give exactly one of {\"goto\": n}, {\"set\": n} (n ≥ 1) or {\"home\": true}"
                        .into(),
                ),
            }
        }
    }
}

/// Handles `…/{name}/{op}` for the control ops; `None` when `op` is not one of them.
pub(super) async fn route(
    req: Request<Incoming>,
    name: &str,
    op: &str,
    hub: &FeedHub,
) -> Option<Response<Body>> {
    let want = match op {
        "ptz" | "imaging" | "preset" => Method::POST,
        "presets" => Method::GET,
        _ => return None,
    };
    if req.method() != want {
        return Some(error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("use {want}"),
        ));
    }
    let feeds = hub.read().ok().and_then(|h| h.get(name).cloned());
    let Some(feeds) = feeds else {
        return Some(error_response(
            StatusCode::NOT_FOUND,
            &format!("no camera {name:?}"),
        ));
    };
    let Some(control) = feeds.control else {
        return Some(error_response(
            StatusCode::CONFLICT,
            &format!("camera {name:?} has no ONVIF endpoint (no PTZ, no imaging)"),
        ));
    };
    let command = if op == "presets" {
        Command::Presets
    } else {
        match command(op, req).await {
            Ok(c) => c,
            Err(e) => return Some(error_response(StatusCode::BAD_REQUEST, &e)),
        }
    };
    Some(ask(&control, command).await)
}

async fn ask(control: &ControlHandle, command: Command) -> Response<Body> {
    let name = control.camera().to_string();
    match tokio::time::timeout(ANSWER, control.request(command)).await {
        Err(_) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            &format!("camera {name:?}: no answer within {} s", ANSWER.as_secs()),
        ),
        Ok(Ok(Reply::Presets(presets))) => reply_json(
            StatusCode::OK,
            &serde_json::json!({ "camera": name, "presets": presets }),
        ),
        Ok(Ok(reply)) => reply_json(
            StatusCode::OK,
            &serde_json::json!({ "camera": name, "done": true, "superseded": reply == Reply::Superseded }),
        ),
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
            error_response(status, &e.to_string())
        }
    }
}

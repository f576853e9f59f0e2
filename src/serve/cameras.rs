//! The API's camera routes that change the wall, each handed to the ECS as an `ApiCommand`:
//! adding (`POST /api/cameras`), editing (`PUT`), removing (`DELETE /api/cameras/{name}`) and
//! turning recording on or off (`POST …/recording`). Bodies are checked here (every problem
//! named) before anything reaches the ECS.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::StatusSnapshot;
use super::api::{ApiCommand, CommandSender, ask};
use super::http::{Body, error_response, read_json, reply, reply_json};
use crate::config::CameraConfig;

/// A camera from a request body, every problem named (400) before the ECS sees it; an edit's
/// (`named`: the path's camera) cannot rename it.
async fn camera_in(
    req: Request<Incoming>,
    named: Option<&str>,
) -> Result<CameraConfig, Response<Body>> {
    let camera = read_json::<CameraConfig>(req)
        .await
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, &e))?;
    if let Some(name) = named
        && camera.name != name
    {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            &format!(
                "name: {:?} in the body, {name:?} in the path: a camera cannot be renamed (DELETE it and POST the new one)",
                camera.name
            ),
        ));
    }
    let problems: Vec<String> = camera.problems().into_iter().map(|(_, m)| m).collect();
    if !problems.is_empty() {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            &problems.join("; "),
        ));
    }
    crate::secret::remember_camera(&camera);
    Ok(camera)
}

/// `POST /api/cameras` (`named` none: a new camera, 201) or `PUT /api/cameras/{name}` (the
/// camera `name` takes the body's settings, 200); either answers with the ports it serves on.
pub(super) async fn put(
    req: Request<Incoming>,
    named: Option<&str>,
    commands: &CommandSender,
) -> Response<Body> {
    let camera = match camera_in(req, named).await {
        Ok(c) => Box::new(c),
        Err(refused) => return refused,
    };
    let name = camera.name.clone();
    let (reply, answer) = oneshot::channel();
    let (command, status) = match named {
        None => (ApiCommand::AddCamera { camera, reply }, StatusCode::CREATED),
        Some(_) => (ApiCommand::ReplaceCamera { camera, reply }, StatusCode::OK),
    };
    match ask(commands, command, answer).await {
        Ok(ports) => reply_json(
            status,
            &serde_json::json!({ "camera": name, "ports": ports }),
        ),
        Err(r) => r,
    }
}

/// `DELETE /api/cameras/{name}`.
pub(super) async fn remove(name: &str, commands: &CommandSender) -> Response<Body> {
    let (reply, answer) = oneshot::channel();
    let command = ApiCommand::RemoveCamera {
        camera: name.to_owned(),
        reply,
    };
    match ask(commands, command, answer).await {
        Ok(()) => reply_json(StatusCode::OK, &serde_json::json!({ "removed": name })),
        Err(r) => r,
    }
}

/// `POST /api/cameras/{name}/recording` with `{"active": bool}`: 202 (the ECS carries it out
/// in its next frame).
pub(super) async fn set_recording(
    req: Request<Incoming>,
    name: &str,
    snapshot: &StatusSnapshot,
    commands: &CommandSender,
) -> Response<Body> {
    if !snapshot.cameras.iter().any(|c| c.name == name) {
        return error_response(StatusCode::NOT_FOUND, &format!("no camera {name:?}"));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wanted {
        active: bool,
    }
    let body = match read_json::<Wanted>(req).await {
        Ok(b) => b,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let command = ApiCommand::SetRecording {
        camera: name.to_owned(),
        active: body.active,
    };
    match commands.try_send(command) {
        Ok(()) => {
            let json =
                serde_json::json!({ "camera": name, "recording": { "active": body.active } });
            reply(
                StatusCode::ACCEPTED,
                "application/json",
                json.to_string().into_bytes(),
            )
        }
        Err(_) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests; try again",
        ),
    }
}

//! `GET /api/windows`: the wall's windows (the layout each shows, its tour) and the layouts
//! there are, with the camera of each cell; `POST /api/windows/{name}` `{"layout": "…"}`
//! switches a window's layout (pausing its tour), `{"tour": false|true}` pauses or resumes
//! its tour. Unknown windows are 404, unknown layouts 400; the change is made by the ECS, which
//! answers with the window as it is afterwards.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::StatusSnapshot;
use super::api::{ApiCommand, WindowChange, ask};
use super::http::{Body, error_response, read_json, reply_json};

pub(super) fn list(snapshot: &StatusSnapshot) -> Response<Body> {
    reply_json(
        StatusCode::OK,
        &serde_json::json!({ "windows": snapshot.windows, "layouts": snapshot.layouts }),
    )
}

pub(super) async fn change(
    req: Request<Incoming>,
    name: &str,
    snapshot: &StatusSnapshot,
    commands: &super::api::CommandSender,
) -> Response<Body> {
    if !snapshot.windows.iter().any(|w| w.name == name) {
        let known: Vec<&str> = snapshot.windows.iter().map(|w| w.name.as_str()).collect();
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("no window {name:?} (windows: {known:?})"),
        );
    }
    let change: WindowChange = match read_json(req).await {
        Ok(c) => c,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    if let Some(layout) = &change.layout
        && !snapshot.layouts.iter().any(|l| &l.name == layout)
    {
        let known: Vec<&str> = snapshot.layouts.iter().map(|l| l.name.as_str()).collect();
        return error_response(
            StatusCode::BAD_REQUEST,
            &format!("no layout {layout:?} (layouts: {known:?})"),
        );
    }
    if change.layout.is_none() && change.tour.is_none() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "nothing to change: give \"layout\" or \"tour\"",
        );
    }
    let (reply, answer) = oneshot::channel();
    let command = ApiCommand::SetWindow {
        window: name.to_owned(),
        change,
        reply,
    };
    match ask(commands, command, answer).await {
        Ok(window) => reply_json(StatusCode::OK, &serde_json::json!(window)),
        Err(r) => r,
    }
}

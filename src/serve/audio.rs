//! One camera's audio server: `GET /audio.aac`, the camera's audio as an endless ADTS AAC
//! stream (passed through, or transcoded from G.711), on a port chosen by the fallback policy.
//! A camera without audio answers 404 saying so; one not connected yet, 503.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::broadcast::error::RecvError;

use super::{Access, Server, http};
use crate::stream::audio::{AudioFeed, AudioState};

/// Binds `preferred` (or a fallback) and serves camera `camera`'s audio. Logs one
/// `listening on` line per bind.
pub fn start(
    runtime: &tokio::runtime::Handle,
    preferred: SocketAddr,
    camera: &str,
    feed: Arc<AudioFeed>,
    access: Access,
) -> std::io::Result<Server> {
    let on_bound = super::camera_server_log(camera, "audio", "/audio.aac");
    let name = camera.to_owned();
    let handle = move |req: Request<hyper::body::Incoming>| {
        let response = if (req.method(), req.uri().path()) == (&Method::GET, "/audio.aac") {
            stream_response(&name, &feed)
        } else {
            http::error_response(StatusCode::NOT_FOUND, "not found: try /audio.aac")
        };
        async move { response }
    };
    super::start_server(
        runtime,
        preferred,
        format!("audio server of {camera:?}"),
        access,
        on_bound,
        handle,
    )
}

/// The camera's audio as ADTS for as long as the client stays (through reconnects), or why
/// there is none.
pub fn stream_response(
    camera: &str,
    feed: &Arc<AudioFeed>,
) -> Response<BoxBody<Bytes, Infallible>> {
    match feed.state() {
        AudioState::Serving { .. } => {}
        AudioState::Disconnected => {
            let mut r = http::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("camera {camera:?} is not connected yet; its audio comes with its stream"),
            );
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("2"),
            );
            return r;
        }
        AudioState::NoAudio(why) => {
            return http::error_response(
                StatusCode::NOT_FOUND,
                &format!("camera {camera:?} has no audio: {why}"),
            );
        }
        AudioState::Failed(why) => {
            return http::error_response(
                StatusCode::NOT_IMPLEMENTED,
                &format!("camera {camera:?} has audio that cannot be served: {why}"),
            );
        }
    }
    let Some((rx, listener)) = feed.listen() else {
        return http::error_response(
            StatusCode::NOT_FOUND,
            &format!("camera {camera:?} was removed"),
        );
    };
    let frames = futures::stream::unfold((rx, listener), |(mut rx, listener)| async move {
        loop {
            match rx.recv().await {
                Ok(frame) => {
                    return Some((Ok::<_, Infallible>(Frame::data(frame)), (rx, listener)));
                }
                // A slow listener skips what it missed; nobody waits for it.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let mut r = Response::new(StreamBody::new(frames).boxed());
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("audio/aac"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, no-store"),
    );
    r
}

//! The simulated camera's Hikvision ISAPI event stream: `GET
//! /ISAPI/Event/notification/alertStream` on a port of each camera's own (Hikvision serves it
//! at the root), answered with a `multipart/mixed` stream of `EventNotificationAlert`s as the
//! cameras send them: `VMD` `active` every second while the box moves, a `videoloss`
//! `inactive` heartbeat every 5 s otherwise. Behind Digest when the camera has credentials.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::REALM;
use super::Shared;
use crate::restream::digest::{challenge, digest_ok, random_hex};

/// Where the stream is.
pub const ALERT_STREAM: &str = "/ISAPI/Event/notification/alertStream";
/// A quiet camera's heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A moving camera repeats its alert this often.
const REPEAT: Duration = Duration::from_secs(1);
const BOUNDARY: &str = "boundary";

type Body = BoxBody<Bytes, Infallible>;

/// Starts each camera's ISAPI server on a free port; their addresses, camera 1 first.
pub(super) async fn start(shared: &Arc<Shared>) -> std::io::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for n in 1..=shared.sources.len() {
        let listener = TcpListener::bind(SocketAddr::new(shared.config.bind, 0)).await?;
        out.push(listener.local_addr()?);
        shared.track(tokio::spawn(accept_loop(listener, shared.clone(), n)));
    }
    Ok(out)
}

/// Serves camera `n`'s ISAPI on `listener`; its connections end with the server.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, n: usize) {
    let nonce: Arc<str> = random_hex().into();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (s, nonce) = (shared.clone(), nonce.clone());
        let task = tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| {
                let answer = handle(&req, &s, n, &nonce);
                async move { Ok::<_, Infallible>(answer) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
        shared.track(task);
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

fn handle<B>(req: &Request<B>, shared: &Arc<Shared>, n: usize, nonce: &str) -> Response<Body> {
    if req.uri().path() != ALERT_STREAM {
        return text(StatusCode::NOT_FOUND, "no such resource\n");
    }
    if req.method() != hyper::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    if let (Some(user), Some(pass)) = (&shared.config.user, &shared.config.password) {
        let auth = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !digest_ok(auth, "GET", REALM, (user, pass), nonce) {
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            if let Ok(v) = challenge(REALM, nonce).parse() {
                r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
            }
            return r;
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    shared.track(tokio::spawn(alerts(shared.clone(), n, tx)));
    let parts = futures::stream::unfold(rx, |mut rx| async move {
        let part = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(part)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(parts)));
    if let Ok(v) = format!("multipart/mixed; boundary={BOUNDARY}").parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Camera `n`'s alerts into `tx` until the client goes.
async fn alerts(shared: Arc<Shared>, n: usize, tx: tokio::sync::mpsc::Sender<Bytes>) {
    let Some(source) = shared.sources.get(n - 1) else {
        return;
    };
    let mut motion = source.activity.motion();
    loop {
        let on = *motion.borrow_and_update();
        let part = if on {
            alert(n, "VMD", "active", "Motion alarm")
        } else {
            alert(n, "videoloss", "inactive", "videoloss alarm")
        };
        if tx.send(part).await.is_err() {
            return;
        }
        let wait = if on { REPEAT } else { HEARTBEAT };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = motion.changed() => if changed.is_err() { return },
        }
    }
}

/// One part of the stream, as Hikvision writes it.
fn alert(n: usize, kind: &str, state: &str, what: &str) -> Bytes {
    let now = chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z");
    let xml = format!(
        "<EventNotificationAlert version=\"2.0\" xmlns=\"http://www.hikvision.com/ver20/XMLSchema\">\r\n\
<ipAddress>127.0.0.1</ipAddress>\r\n<portNo>80</portNo>\r\n<protocol>HTTP</protocol>\r\n\
<channelID>{n}</channelID>\r\n<dateTime>{now}</dateTime>\r\n<activePostCount>1</activePostCount>\r\n\
<eventType>{kind}</eventType>\r\n<eventState>{state}</eventState>\r\n\
<eventDescription>{what}</eventDescription>\r\n</EventNotificationAlert>\r\n"
    );
    Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Type: application/xml; charset=\"UTF-8\"\r\nContent-Length: {}\r\n\r\n{xml}",
        xml.len()
    ))
}

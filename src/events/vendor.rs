//! Events from cameras' own HTTP push streams, for cameras whose ONVIF events are missing or
//! poor: Hikvision's ISAPI `alertStream` (multipart `EventNotificationAlert` XML: `VMD`, line
//! and field detection, `active`/`inactive`, `videoloss` heartbeats) and Dahua's
//! `eventManager.cgi?action=attach` (multipart `Code=…;action=Start|Stop|Pulse`, heartbeats).
//! Reading a part is pure (`isapi_alert`, `dahua_event`); `spawn` follows one camera's stream
//! on its own task: Digest or Basic auth, reconnect with a growing wait, a stream silent past
//! [`SILENCE`] (no heartbeat) is dropped and opened again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use tokio::sync::watch;

use super::multipart::Parts;
use super::{Edge, EdgeSender, Kind, Retry, Source, Stopper};

/// Which push stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Hikvision,
    Dahua,
}

impl Vendor {
    pub fn path(self) -> &'static str {
        match self {
            Self::Hikvision => "/ISAPI/Event/notification/alertStream",
            Self::Dahua => "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=5",
        }
    }

    fn source(self) -> Source {
        match self {
            Self::Hikvision => Source::Isapi,
            Self::Dahua => Source::Dahua,
        }
    }

    /// The edge a part reports (kind, on, and whether the state lasts until the camera says
    /// otherwise), if it reports one (heartbeats and other events do not). Dahua says start and
    /// stop (a pulse is a moment); Hikvision repeats `active` while it lasts.
    pub fn read(self, part: &[u8]) -> Option<(Kind, bool, bool)> {
        let text = std::str::from_utf8(part).ok()?;
        match self {
            Self::Hikvision => isapi_alert(text).map(|(k, on)| (k, on, false)),
            Self::Dahua => {
                let pulse = text.contains("action=Pulse");
                dahua_event(text).map(|(k, on)| (k, on, !pulse && k != Kind::Line))
            }
        }
    }
}

/// A stream without a part (a heartbeat or an event) for this long is dropped.
pub const SILENCE: Duration = Duration::from_secs(60);
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(120);

/// One `EventNotificationAlert`.
pub fn isapi_alert(xml: &str) -> Option<(Kind, bool)> {
    let root = crate::onvif::xml::parse(xml).ok()?;
    if root.name != "EventNotificationAlert" {
        return None;
    }
    let kind = match root
        .text_at(&["eventType"])?
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "vmd" | "motion" | "motiondetection" => Kind::Motion,
        "linedetection" => Kind::Line,
        "fielddetection" | "regionentrance" => Kind::Intrusion,
        // `videoloss` `inactive` is the heartbeat; the rest is not motion.
        _ => return None,
    };
    let active = match root.text_at(&["eventState"])?.trim() {
        s if s.eq_ignore_ascii_case("active") => true,
        s if s.eq_ignore_ascii_case("inactive") => false,
        _ => return None,
    };
    Some((kind, active))
}

/// One Dahua event line, `Code=VideoMotion;action=Start;index=0`.
pub fn dahua_event(text: &str) -> Option<(Kind, bool)> {
    let field = |name: &str| {
        text.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let kind = match field("Code")? {
        "VideoMotion" | "SmartMotionHuman" | "SmartMotionVehicle" => Kind::Motion,
        "CrossLineDetection" => Kind::Line,
        "CrossRegionDetection" => Kind::Intrusion,
        _ => return None,
    };
    let active = match field("action")? {
        "Start" | "Pulse" => true,
        "Stop" => false,
        _ => return None,
    };
    Some((kind, active))
}

/// Where and how to read one camera's push stream.
#[derive(Debug, Clone)]
pub struct Target {
    pub camera: String,
    pub vendor: Vendor,
    /// `http://host[:port]`, without credentials.
    pub base: url::Url,
    pub creds: Option<(String, String)>,
}

/// Starts following `target` on `rt`; the task ends when the stopper is stopped (or dropped).
pub fn spawn(
    rt: &tokio::runtime::Handle,
    target: Target,
    edges: EdgeSender,
) -> (Stopper, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = Stopper::new();
    let span = tracing::info_span!("events", camera = %target.camera);
    let task = rt.spawn(tracing::Instrument::instrument(
        run(target, edges, stopped),
        span,
    ));
    (stop, task)
}

async fn run(target: Target, edges: EdgeSender, mut stopped: watch::Receiver<bool>) {
    let camera: Arc<str> = target.camera.as_str().into();
    let mut retry = Retry::new(RETRY_MIN, RETRY_MAX, "again");
    loop {
        let ended = tokio::select! {
            e = follow(&target, &edges, &camera, &mut retry) => e,
            _ = stopped.wait_for(|s| *s) => return,
        };
        if !retry.after(ended, &mut stopped).await {
            return;
        }
    }
}

/// Opens the stream and reads it until it fails; what failed.
async fn follow(
    target: &Target,
    edges: &EdgeSender,
    camera: &Arc<str>,
    retry: &mut Retry,
) -> String {
    let what = match target.vendor {
        Vendor::Hikvision => "ISAPI alertStream",
        Vendor::Dahua => "Dahua eventManager",
    };
    let response = match open(target).await {
        Ok(r) => r,
        Err(e) => return format!("{what}: {e}"),
    };
    let Some(boundary) = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Parts::boundary)
    else {
        return format!("{what}: the answer is not a multipart stream");
    };
    tracing::info!("following the camera's {what}");
    let mut parts = Parts::new(&boundary);
    let mut body = response.into_body();
    // A heartbeat or an event comes at least every SILENCE: bytes that never make a part
    // (a camera dripping garbage) do not count.
    let mut last_part = tokio::time::Instant::now();
    loop {
        if last_part.elapsed() > SILENCE {
            return format!("{what}: no event or heartbeat for {} s", SILENCE.as_secs());
        }
        let frame = match tokio::time::timeout(SILENCE, body.frame()).await {
            Err(_) => return format!("{what}: silent for {} s", SILENCE.as_secs()),
            Ok(None) => return format!("{what}: the camera ended the stream"),
            Ok(Some(Err(e))) => return format!("{what}: {e}"),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let (done, error) = parts.push(&data);
        if let Some(e) = error {
            tracing::warn!("{what}: {e}");
        }
        retry.reset();
        for part in done {
            last_part = tokio::time::Instant::now();
            if let Some((kind, active, lasting)) = target.vendor.read(&part) {
                edges.send(Edge {
                    camera: camera.clone(),
                    source: target.vendor.source(),
                    kind,
                    active,
                    lasting,
                });
            }
        }
    }
}

type Response = hyper::Response<hyper::body::Incoming>;

/// `GET` the stream, answering one authentication challenge.
async fn open(target: &Target) -> Result<Response, String> {
    let path = target.vendor.path();
    let url = target.base.join(path).map_err(|e| e.to_string())?;
    let mut auth: Option<http_auth::PasswordClient> = None;
    for _ in 0..2 {
        let (mut sender, _driver) =
            tokio::time::timeout(Duration::from_secs(10), crate::http1::connect(&url, |_| {}))
                .await
                .map_err(|_| format!("no answer from {}", crate::http1::authority(&url)))??;
        let mut req =
            hyper::Request::get(path).header(hyper::header::HOST, crate::http1::authority(&url));
        if let Some(v) = crate::http1::authorization(&mut auth, target.creds.as_ref(), "GET", path)
        {
            req = req.header(hyper::header::AUTHORIZATION, v);
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .map_err(|_| "no answer to the request".to_string())?
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status != hyper::StatusCode::UNAUTHORIZED || auth.is_some() || target.creds.is_none() {
            return Err(match status.as_u16() {
                401 | 403 => format!("HTTP {status}: the camera refused the credentials"),
                _ => format!("HTTP {status}"),
            });
        }
        auth = Some(
            http_auth::PasswordClient::try_from(crate::http1::challenge(resp.headers()).as_str())
                .map_err(|e| format!("unusable challenge: {e}"))?,
        );
    }
    Err("the camera refused the credentials".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/data/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn read_all(vendor: Vendor, file: &str, boundary: &str) -> Vec<(Kind, bool)> {
        let mut parts = Parts::new(boundary);
        let (done, error) = parts.push(&vector(file));
        assert!(error.is_none(), "{error:?}");
        done.iter()
            .filter_map(|p| vendor.read(p))
            .map(|(k, on, _)| (k, on))
            .collect()
    }

    #[test]
    fn hikvision_alert_stream() {
        assert_eq!(
            read_all(Vendor::Hikvision, "hikvision_alertstream.bin", "boundary"),
            [
                (Kind::Motion, true),
                (Kind::Line, true),
                (Kind::Intrusion, true)
            ]
        );
        assert_eq!(isapi_alert("<Other/>"), None);
        assert_eq!(isapi_alert("not xml"), None);
    }

    #[test]
    fn dahua_event_manager() {
        assert_eq!(
            read_all(Vendor::Dahua, "dahua_eventmanager.bin", "myboundary"),
            [
                (Kind::Motion, true),
                (Kind::Line, true),
                (Kind::Intrusion, true),
                (Kind::Motion, false)
            ]
        );
        assert_eq!(dahua_event("Code=VideoMotion;action=Sideways"), None);
        let read = |t: &str| Vendor::Dahua.read(t.as_bytes());
        assert_eq!(
            read("Code=VideoMotion;action=Start;index=0"),
            Some((Kind::Motion, true, true))
        );
        assert_eq!(
            read("Code=VideoMotion;action=Pulse;index=0"),
            Some((Kind::Motion, true, false))
        );
        assert_eq!(dahua_event("Heartbeat"), None);
    }
}

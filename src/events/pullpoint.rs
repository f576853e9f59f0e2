//! ONVIF events from one camera (PullPoint): subscribe, keep one PullMessages outstanding,
//! renew at 80 % of the lifetime (some cameras never extend it on a pull), recreate the
//! subscription after a fault, wait longer after each failure in a row (a fast loop locks
//! some accounts), unsubscribe on exit. A task of its own per camera, beside the camera's
//! control agent: a pull waits up to a minute by design, and a hanging event service must
//! delay neither PTZ nor another camera. Motion topics become [`Edge`]s.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Edge, EdgeSender, Kind, Report, Retry, Source, Stopper};
use crate::onvif::client::PullPoint;
use crate::onvif::events::Notification;
use crate::onvif::{Device, Endpoint, ErrorKind, OnvifError};

/// The lifetime asked for, and renewed by.
const LIFETIME_SECS: u32 = 600;
/// How long one pull may wait for messages.
const PULL_WAIT: Duration = Duration::from_secs(60);
/// At most this many messages per pull.
const PULL_LIMIT: u32 = 100;
/// Waits after a failure, doubling while failures follow each other.
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(120);
/// An empty answer sooner than this means the camera does not wait as asked.
const QUICK_EMPTY: Duration = Duration::from_millis(500);
/// A subscription refused as not supported this many times in a row means no event service.
const NOT_SUPPORTED_TIMES: u32 = 3;
/// A lifetime the camera states is trusted within these bounds.
const LIFETIME_MIN: Duration = Duration::from_secs(2);

/// Starts following `endpoint.camera`'s ONVIF events on `rt`; the task unsubscribes and ends
/// soon after the stopper is stopped (or dropped). With `fallback` (`events: Auto`), a camera
/// that has no event service (none among its capabilities, or a subscription refused as not
/// supported [`NOT_SUPPORTED_TIMES`] times in a row before any succeeded) is reported
/// ([`Report::NoEventService`]) and the task ends: the camera looks at its pictures instead.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    endpoint: Endpoint,
    edges: EdgeSender,
    fallback: bool,
) -> (Stopper, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = Stopper::new();
    let span = tracing::info_span!("events", camera = %endpoint.camera);
    let camera: Arc<str> = endpoint.camera.as_str().into();
    let follow = Follow {
        endpoint,
        edges,
        camera,
        subscribed: None,
        fallback: fallback.then_some(stop.id()),
        ever_subscribed: false,
        not_supported: 0,
    };
    let task = rt.spawn(tracing::Instrument::instrument(follow.run(stopped), span));
    (stop, task)
}

struct Follow {
    endpoint: Endpoint,
    edges: EdgeSender,
    camera: Arc<str>,
    /// The subscription in force, to end on exit.
    subscribed: Option<(Device, PullPoint)>,
    /// `events: Auto`: a camera without events is handed to the picture's motion, reported
    /// as from this source (its stopper's id).
    fallback: Option<u64>,
    /// A subscription was made once: later faults (an expired subscription) are passing.
    ever_subscribed: bool,
    /// Subscriptions refused as not supported, in a row.
    not_supported: u32,
}

impl Follow {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let mut retry = Retry::new(RETRY_MIN, RETRY_MAX, "subscribing again");
        loop {
            let failed = tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => break,
                e = self.follow(&mut retry) => e,
            };
            if let Some(source) = self.fallback
                && self.no_event_service(&failed.kind)
            {
                tracing::info!("{failed}: motion is looked for in the picture instead");
                let report = Report::NoEventService {
                    camera: self.camera.clone(),
                    source,
                };
                // Delivered however busy the queue is, unless told to stop meanwhile.
                while !self.edges.report(report.clone()) {
                    tokio::select! {
                        biased;
                        _ = stopped.wait_for(|s| *s) => break,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                break;
            }
            // Some cameras have few pull points: give this one back before making another.
            if let Some((device, sub)) = self.subscribed.take() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), device.unsubscribe(&sub)).await;
            }
            if !retry.after(failed.to_string(), &mut stopped).await {
                break;
            }
        }
        if let Some((device, sub)) = self.subscribed.take() {
            match tokio::time::timeout(Duration::from_secs(1), device.unsubscribe(&sub)).await {
                Ok(Ok(())) => tracing::info!("unsubscribed from events"),
                Ok(Err(e)) => tracing::debug!("unsubscribe on exit: {e}"),
                Err(_) => tracing::debug!("unsubscribe on exit: no answer"),
            }
        }
    }

    /// Whether failure `kind` (one more in a row) says the camera has no event service:
    /// none among its capabilities, or, before any subscription worked, a subscription
    /// refused as not supported several times (a camera still starting may say so once).
    fn no_event_service(&mut self, kind: &ErrorKind) -> bool {
        let (gone, count) = judge(self.ever_subscribed, self.not_supported, kind);
        self.not_supported = count;
        gone
    }

    /// Subscribes and pulls until something fails; `retry` goes back to its minimum once a
    /// pull succeeds.
    async fn follow(&mut self, retry: &mut Retry) -> OnvifError {
        let device = match self.endpoint.connect().await {
            Ok(d) => d,
            Err(e) => return e,
        };
        if let Err(e) = device.events_url() {
            // Nothing to follow; look again rarely (a camera may be reconfigured).
            retry.wait = RETRY_MAX;
            return e;
        }
        match device.event_topics().await {
            Ok(topics) => tracing::debug!("event topics: {topics:?}"),
            Err(e) => tracing::debug!("no event topics: {e}"),
        }
        let sub = match device.subscribe(LIFETIME_SECS).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        tracing::info!("subscribed to ONVIF events at {}", sub.address.path());
        self.subscribed = Some((device.clone(), sub.clone()));
        self.ever_subscribed = true;
        let mut renew_at = renewal(sub.lifetime);
        loop {
            // Renewed when too little time is left for a pull of a second.
            let left = renew_at.saturating_duration_since(Instant::now());
            if left < Duration::from_secs(1) {
                match device.renew(&sub, LIFETIME_SECS).await {
                    Ok(lifetime) => renew_at = renewal(lifetime),
                    Err(e) => return e,
                }
                continue;
            }
            let asked = Instant::now();
            let pulled = match device.pull(&sub, PULL_WAIT.min(left), PULL_LIMIT).await {
                Ok(p) => p,
                Err(e) => return e,
            };
            // A camera that answers every pull at once with nothing is not pulled in a loop.
            if pulled.messages.is_empty() && asked.elapsed() < QUICK_EMPTY {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            retry.reset();
            for m in &pulled.messages {
                if let Some((kind, active)) = edge_of(m) {
                    self.edges.send(Edge {
                        camera: self.camera.clone(),
                        source: Source::Onvif,
                        kind,
                        active,
                        // Properties last until they change; a crossing is a moment.
                        lasting: kind != Kind::Line,
                    });
                }
            }
            // A camera that states a shorter lifetime on a pull is renewed sooner.
            if pulled.lifetime.is_some() {
                renew_at = renew_at.min(renewal(pulled.lifetime));
            }
        }
    }
}

/// Whether a camera has no event service, judged by one more failure `kind` after `count`
/// subscriptions refused as not supported in a row (`ever_subscribed`: one once worked);
/// and the new count.
fn judge(ever_subscribed: bool, count: u32, kind: &ErrorKind) -> (bool, u32) {
    if ever_subscribed {
        return (false, 0);
    }
    let not_supported = match kind {
        // No event service among the device's capabilities: certain at once.
        ErrorKind::Unsupported(_) => return (true, count),
        ErrorKind::Fault(f) => f
            .subcode
            .as_deref()
            .unwrap_or(&f.code)
            .ends_with("ActionNotSupported"),
        ErrorKind::Http(status) => matches!(status, 404 | 405 | 501),
        _ => false,
    };
    let count = if not_supported { count + 1 } else { 0 };
    (count >= NOT_SUPPORTED_TIMES, count)
}

/// When to renew a subscription that lives `lifetime` from now (our own lifetime when the
/// camera does not say, or says something unusable).
fn renewal(lifetime: Option<chrono::TimeDelta>) -> Instant {
    let asked = Duration::from_secs(u64::from(LIFETIME_SECS));
    let life = lifetime
        .and_then(|l| l.to_std().ok())
        .filter(|l| *l >= LIFETIME_MIN)
        .unwrap_or(asked)
        .min(asked);
    Instant::now() + life.mul_f64(0.8)
}

/// `true/false/1/0`, any case.
fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The motion (or line, or intrusion) state a notification reports, if it reports one.
pub fn edge_of(n: &Notification) -> Option<(Kind, bool)> {
    if n.operation.eq_ignore_ascii_case("Deleted") {
        return None;
    }
    // The topic without its namespace prefix: `RuleEngine/CellMotionDetector/Motion`.
    let topic = n.topic.split_once(':').map_or(n.topic.as_str(), |(_, t)| t);
    let (kind, item) = if topic.ends_with("CellMotionDetector/Motion") {
        (Kind::Motion, "IsMotion")
    } else if topic.ends_with("VideoSource/MotionAlarm") {
        (Kind::Motion, "State")
    } else if topic.contains("FieldDetector/ObjectsInside") {
        (Kind::Intrusion, "IsInside")
    } else if topic.contains("LineDetector/Crossed") {
        // A crossing is a moment: on now, ended by the hold-off.
        return Some((Kind::Line, true));
    } else if topic.contains("Motion") {
        let item = ["IsMotion", "State", "Motion"]
            .into_iter()
            .find(|i| n.data(i).is_some())?;
        (Kind::Motion, item)
    } else {
        return None;
    };
    Some((kind, flag(n.data(item)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(topic: &str, items: &[(&str, &str)]) -> Notification {
        Notification {
            topic: topic.into(),
            operation: "Changed".into(),
            source: Vec::new(),
            data: items
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_a_camera_that_has_no_events_falls_back() {
        let fault = |code: &str, sub: Option<&str>| {
            ErrorKind::Fault(crate::onvif::Fault {
                code: code.into(),
                subcode: sub.map(Into::into),
                reason: String::new(),
            })
        };
        let missing = ErrorKind::Unsupported("no event service".into());
        assert_eq!(judge(false, 0, &missing), (true, 0));
        assert_eq!(judge(true, 0, &missing), (false, 0), "it had events once");
        // Not supported, three times in a row (a camera still starting may say so once).
        let refused = fault("Receiver", Some("ter:ActionNotSupported"));
        let mut count = 0;
        for (i, kind) in [&refused, &ErrorKind::Http(404), &refused]
            .into_iter()
            .enumerate()
        {
            let (gone, c) = judge(false, count, kind);
            assert_eq!(gone, i == 2);
            count = c;
        }
        // Anything else breaks the row; credentials, busy pull points and timeouts never count.
        for other in [
            fault("Sender", Some("ter:NotAuthorized")),
            fault("Receiver", Some("ter:MaxPullPointsReached")),
            fault("Sender", Some("wsse:MessageExpired")),
            ErrorKind::Timeout(Duration::from_secs(5)),
            ErrorKind::Connect("refused".into()),
        ] {
            assert_eq!(judge(false, 2, &other), (false, 0), "{other}");
        }
    }

    #[test]
    fn motion_topics_and_values() {
        let cell = "tns1:RuleEngine/CellMotionDetector/Motion";
        assert_eq!(
            edge_of(&note(cell, &[("IsMotion", "true")])),
            Some((Kind::Motion, true))
        );
        assert_eq!(
            edge_of(&note(cell, &[("IsMotion", "0")])),
            Some((Kind::Motion, false))
        );
        assert_eq!(
            edge_of(&note("tns1:VideoSource/MotionAlarm", &[("State", "1")])),
            Some((Kind::Motion, true))
        );
        assert_eq!(
            edge_of(&note("tns1:VideoSource/MotionAlarm", &[("State", "FALSE")])),
            Some((Kind::Motion, false))
        );
        // Another vendor prefix, items found by name.
        assert_eq!(
            edge_of(&note(
                "ns0:RuleEngine/FieldDetector/ObjectsInside",
                &[("IsInside", "true")]
            )),
            Some((Kind::Intrusion, true))
        );
        assert_eq!(
            edge_of(&note(
                "tns1:RuleEngine/LineDetector/Crossed",
                &[("ObjectId", "3")]
            )),
            Some((Kind::Line, true))
        );
        // Not ours, or unreadable.
        assert_eq!(
            edge_of(&note(
                "tns1:Device/Trigger/DigitalInput",
                &[("LogicalState", "true")]
            )),
            None
        );
        assert_eq!(edge_of(&note(cell, &[("IsMotion", "maybe")])), None);
        assert_eq!(edge_of(&note(cell, &[])), None);
        let mut deleted = note(cell, &[("IsMotion", "true")]);
        deleted.operation = "Deleted".into();
        assert_eq!(edge_of(&deleted), None);
    }

    #[tokio::test(start_paused = true)]
    async fn renews_at_four_fifths_of_a_lifetime_within_bounds() {
        let at = |secs: i64| renewal(Some(chrono::TimeDelta::seconds(secs))) - Instant::now();
        assert_eq!(at(100), Duration::from_secs(80));
        // Longer than asked, unusable, or unknown: ours.
        assert_eq!(at(100_000), Duration::from_secs(480));
        assert_eq!(at(-5), Duration::from_secs(480));
        assert_eq!(renewal(None) - Instant::now(), Duration::from_secs(480));
    }
}

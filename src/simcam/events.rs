//! The simulated camera's ONVIF event service, as the spec has it: GetEventProperties,
//! CreatePullPointSubscription (a subscription at its own address, with a reference parameter
//! the client must echo), PullMessages (the current state first as `Initialized`, then each
//! change as `Changed`, waiting up to the asked timeout; a pull does not extend the
//! subscription), Renew, Unsubscribe, and a fault for a subscription that is unknown or has
//! expired. Odd cameras report `RuleEngine/CellMotionDetector/Motion` (`IsMotion`), even ones
//! `VideoSource/MotionAlarm` (`State`), as vendors differ.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use quick_xml::escape::escape;

use super::Shared;
use super::onvif::{Parsed, bad_arg, fault, field, parse_duration, reply};

const NS: &str = "xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\" \
xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" \
xmlns:tns1=\"http://www.onvif.org/ver10/topics\" xmlns:wstop=\"http://docs.oasis-open.org/wsn/t-1\" \
xmlns:sim=\"urn:opticlink:simcam\"";
/// A subscription asked for without a lifetime lives this long.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Longest wait of one pull.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// Open subscriptions of all cameras.
#[derive(Default)]
pub(super) struct Subscriptions {
    next: u64,
    open: HashMap<u64, Sub>,
}

struct Sub {
    camera: usize,
    expires: Instant,
    /// The state last reported; `None` before the first pull.
    reported: Option<bool>,
}

/// Event service operations; `None` for any other.
pub(super) async fn operation(
    shared: &Shared,
    n: usize,
    host: &str,
    path: &str,
    p: &Parsed,
) -> Option<Response<Full<Bytes>>> {
    let ours = matches!(
        p.op.as_str(),
        "GetEventProperties"
            | "CreatePullPointSubscription"
            | "PullMessages"
            | "Renew"
            | "Unsubscribe"
    );
    if !ours || shared.faults.lock().expect("faults lock").events_none {
        return None;
    }
    if shared.faults.lock().expect("faults lock").events_hang {
        // The event service took the request and went quiet; the rest of the device answers.
        std::future::pending::<()>().await;
    }
    Some(match p.op.as_str() {
        "GetEventProperties" => ok("tev", &p.op, &properties(n)),
        "CreatePullPointSubscription" => subscribe(shared, n, host, p),
        _ => match subscription(shared, n, path, p) {
            Err(refusal) => *refusal,
            Ok(id) => match p.op.as_str() {
                "PullMessages" => pull(shared, n, id, p).await,
                "Renew" => renew(shared, id, p),
                _ => {
                    shared.subscriptions.lock().expect("subs").open.remove(&id);
                    shared
                        .stats
                        .event_unsubscribes
                        .fetch_add(1, Ordering::Relaxed);
                    ok("wsnt", &p.op, "")
                }
            },
        },
    })
}

fn ok(prefix: &str, op: &str, inner: &str) -> Response<Full<Bytes>> {
    reply(
        StatusCode::OK,
        format!("<{prefix}:{op}Response {NS}>{inner}</{prefix}:{op}Response>"),
    )
}

fn topic(n: usize) -> (&'static str, &'static str) {
    if n % 2 == 1 {
        ("tns1:RuleEngine/CellMotionDetector/Motion", "IsMotion")
    } else {
        ("tns1:VideoSource/MotionAlarm", "State")
    }
}

fn properties(n: usize) -> String {
    let (topic, item) = topic(n);
    let path: Vec<&str> = topic.trim_start_matches("tns1:").split('/').collect();
    let mut xml = String::from(
        "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml\
</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>",
    );
    for (i, p) in path.iter().enumerate() {
        let prefix = if i == 0 { "tns1:" } else { "" };
        xml.push_str(&format!("<{prefix}{p} wstop:topic=\"true\">"));
    }
    xml.push_str(&format!(
        "<tt:MessageDescription IsProperty=\"true\"><tt:Data><tt:SimpleItemDescription Name=\"{item}\" \
Type=\"xs:boolean\"/></tt:Data></tt:MessageDescription>"
    ));
    for (i, p) in path.iter().enumerate().rev() {
        let prefix = if i == 0 { "tns1:" } else { "" };
        xml.push_str(&format!("</{prefix}{p}>"));
    }
    xml.push_str("</wstop:TopicSet>");
    xml
}

/// The camera's lifetime for a request asking `asked` (capped by the faults' limit).
fn lifetime(shared: &Shared, asked: &str) -> Duration {
    let cap = shared
        .faults
        .lock()
        .expect("faults lock")
        .events_lifetime_secs;
    let want = parse_duration(asked).unwrap_or(DEFAULT_LIFETIME);
    match cap {
        Some(c) => want.min(Duration::from_secs(c)),
        None => want,
    }
}

fn times(shared: &Shared, life: Duration) -> String {
    let now = super::onvif::camera_now(shared);
    let end = now + chrono::TimeDelta::from_std(life).unwrap_or_default();
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    format!(
        "<wsnt:CurrentTime>{}</wsnt:CurrentTime><wsnt:TerminationTime>{}</wsnt:TerminationTime>",
        f(now),
        f(end)
    )
}

fn subscribe(shared: &Shared, n: usize, host: &str, p: &Parsed) -> Response<Full<Bytes>> {
    let life = lifetime(shared, field(p, "InitialTerminationTime"));
    let id = {
        let mut subs = shared.subscriptions.lock().expect("subs");
        subs.next += 1;
        let id = subs.next;
        subs.open.insert(
            id,
            Sub {
                camera: n,
                expires: Instant::now() + life,
                reported: None,
            },
        );
        id
    };
    shared
        .stats
        .event_subscriptions
        .fetch_add(1, Ordering::Relaxed);
    ok(
        "tev",
        &p.op,
        &format!(
            "<tev:SubscriptionReference><wsa:Address>http://{}/onvif/cam{n}/subscription/{id}</wsa:Address>\
<wsa:ReferenceParameters><sim:SubscriptionId>{id}</sim:SubscriptionId></wsa:ReferenceParameters>\
</tev:SubscriptionReference>{}",
            escape(host),
            times(shared, life)
        ),
    )
}

fn unknown(why: &str) -> Response<Full<Bytes>> {
    fault(
        StatusCode::BAD_REQUEST,
        "Receiver",
        "wsrf-rw:ResourceUnknownFault",
        why,
    )
}

/// The subscription a request is for: its address in the path, the same id echoed as the
/// reference parameter, alive.
fn subscription(
    shared: &Shared,
    n: usize,
    path: &str,
    p: &Parsed,
) -> Result<u64, Box<Response<Full<Bytes>>>> {
    let prefix = format!("/onvif/cam{n}/subscription/");
    let Some(id) = path
        .strip_prefix(&prefix)
        .and_then(|i| i.parse::<u64>().ok())
    else {
        return Err(Box::new(bad_arg("not a subscription address")));
    };
    if field(p, "SubscriptionId") != id.to_string() {
        return Err(Box::new(bad_arg(
            "the reference parameter SubscriptionId was not echoed",
        )));
    }
    if !field(p, "To").ends_with(&format!("{prefix}{id}")) {
        return Err(Box::new(bad_arg(
            "wsa:To is not this subscription's address",
        )));
    }
    let mut subs = shared.subscriptions.lock().expect("subs");
    match subs.open.get(&id) {
        Some(s) if s.camera == n && s.expires > Instant::now() => Ok(id),
        Some(_) => {
            subs.open.remove(&id);
            Err(Box::new(unknown("the subscription has expired")))
        }
        None => Err(Box::new(unknown("no such subscription"))),
    }
}

fn renew(shared: &Shared, id: u64, p: &Parsed) -> Response<Full<Bytes>> {
    let life = lifetime(shared, field(p, "TerminationTime"));
    if let Some(s) = shared.subscriptions.lock().expect("subs").open.get_mut(&id) {
        s.expires = Instant::now() + life;
    }
    shared.stats.event_renewals.fetch_add(1, Ordering::Relaxed);
    ok("wsnt", &p.op, &times(shared, life))
}

/// Waits until the state differs from what this subscription last heard, or the timeout.
async fn pull(shared: &Shared, n: usize, id: u64, p: &Parsed) -> Response<Full<Bytes>> {
    shared.stats.event_pulls.fetch_add(1, Ordering::Relaxed);
    let wait = parse_duration(field(p, "Timeout"))
        .unwrap_or(Duration::from_secs(10))
        .min(MAX_WAIT);
    let mut motion = shared.sources[n - 1].activity.motion();
    let reported = |subs: &Subscriptions| subs.open.get(&id).and_then(|s| s.reported);
    let first = reported(&shared.subscriptions.lock().expect("subs")).is_none();
    let deadline = tokio::time::Instant::now() + wait;
    let state = loop {
        let now = *motion.borrow_and_update();
        let last = reported(&shared.subscriptions.lock().expect("subs"));
        if last != Some(now) {
            break Some(now);
        }
        match tokio::time::timeout_at(deadline, motion.changed()).await {
            Ok(Ok(())) => continue,
            _ => break None,
        }
    };
    let expires = {
        let mut subs = shared.subscriptions.lock().expect("subs");
        let Some(s) = subs.open.get_mut(&id) else {
            return unknown("the subscription ended during the pull");
        };
        if let Some(st) = state {
            s.reported = Some(st);
        }
        s.expires
    };
    let (no_stop, numeric) = {
        let f = shared.faults.lock().expect("faults lock");
        (f.events_no_stop, f.events_numeric)
    };
    let message = match state {
        // A camera that never says stop.
        Some(false) if no_stop && !first => String::new(),
        Some(on) => {
            let (topic, item) = topic(n);
            let value = match (numeric, on) {
                (true, true) => "1",
                (true, false) => "0",
                (false, true) => "true",
                (false, false) => "false",
            };
            let op = if first { "Initialized" } else { "Changed" };
            let at = super::onvif::camera_now(shared).format("%Y-%m-%dT%H:%M:%SZ");
            format!(
                "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">\
{topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime=\"{at}\" PropertyOperation=\"{op}\"><tt:Source>\
<tt:SimpleItem Name=\"VideoSourceConfigurationToken\" Value=\"vsc1\"/></tt:Source><tt:Data>\
<tt:SimpleItem Name=\"{item}\" Value=\"{value}\"/></tt:Data></tt:Message></wsnt:Message>\
</wsnt:NotificationMessage>"
            )
        }
        None => String::new(),
    };
    let life = expires.saturating_duration_since(Instant::now());
    let times = times(shared, life).replace("wsnt:", "tev:");
    ok("tev", &p.op, &format!("{times}{message}"))
}

/// Every subscription ends at once (as when a camera reboots): the next request faults.
pub(super) fn drop_all(shared: &Shared) {
    shared.subscriptions.lock().expect("subs").open.clear();
}

/// Open subscriptions, for tests.
pub(super) fn open_count(shared: &Shared) -> usize {
    shared.subscriptions.lock().expect("subs").open.len()
}

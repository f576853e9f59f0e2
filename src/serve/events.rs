//! The events routes: `GET /api/events?camera=&from=&to=` (the events overlapping a span,
//! times as RFC 3339 or Unix seconds) and `GET /api/events/stream`, every event's start and
//! end as server-sent events (a keep-alive comment every 15 s; a client too slow to keep up
//! is told how many it missed, never queued for). A locked camera's events reach only a
//! request with its unlock key. Times are kept within years 2000–2200; the store is read on
//! a blocking thread.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use tokio::sync::broadcast::error::RecvError;

use super::http::{Body, error_response, reply_json};
use crate::events::log::EventLog;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A time as `2026-12-07T10:00:00Z` or Unix seconds, between the years 2000 and 2200.
fn time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    let t = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.to_utc()),
        Err(_) => text
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && s.abs() < 1e13)
            .and_then(|s| DateTime::from_timestamp_millis((s * 1000.0) as i64)),
    };
    let sane = |t: &DateTime<Utc>| (946_684_800..7_258_118_400).contains(&t.timestamp());
    t.filter(sane).ok_or_else(|| {
        format!(
            "{field}={text:?} is not a time between 2000 and 2200 (RFC 3339, e.g. 2026-12-07T10:00:00Z, or Unix seconds)"
        )
    })
}

/// Days of the store a query reads at most.
const MAX_DAYS: i64 = 62;

/// `GET /api/events`: from memory, and from the store beside the recordings for a span with a
/// start (older events than memory keeps live only there), merged by id.
pub async fn list(
    query: Option<&str>,
    log: &EventLog,
    store: &std::path::Path,
    cameras: &[String],
    visible: impl Fn(&str) -> bool,
) -> Response<Body> {
    let (mut camera, mut from, mut to) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let parsed = match k.as_ref() {
            "camera" => {
                camera = Some(v.into_owned());
                continue;
            }
            "from" => time("from", &v).map(|t| from = Some(t)),
            "to" => time("to", &v).map(|t| to = Some(t)),
            _ => Ok(()),
        };
        if let Err(why) = parsed {
            return error_response(StatusCode::BAD_REQUEST, &why);
        }
    }
    let mut events = log.query(camera.as_deref(), from, to);
    if let Some(from) = from {
        let to = to.unwrap_or_else(Utc::now);
        let wanted: Vec<String> = cameras
            .iter()
            .filter(|c| camera.as_ref().is_none_or(|want| want == *c))
            .cloned()
            .collect();
        let store = store.to_path_buf();
        let stored = tokio::task::spawn_blocking(move || {
            wanted
                .iter()
                .flat_map(|c| crate::events::store::read_range(&store, c, from, to, MAX_DAYS))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let known: std::collections::HashSet<u64> = events.iter().map(|e| e.id).collect();
        events.extend(stored.into_iter().filter(|e| !known.contains(&e.id)));
        events.sort_by_key(|e| (e.start, e.id));
    }
    events.retain(|e| visible(&e.camera));
    reply_json(StatusCode::OK, &serde_json::json!({ "events": events }))
}

/// One message of the live feed.
enum News {
    Event(crate::events::log::Event),
    Notice(crate::events::log::Notice),
    Lagged(u64),
    Closed,
}

/// The next message of either feed.
async fn next(
    events: &mut tokio::sync::broadcast::Receiver<crate::events::log::Event>,
    notices: &mut tokio::sync::broadcast::Receiver<crate::events::log::Notice>,
) -> News {
    let news = |r: Result<News, RecvError>| match r {
        Ok(n) => n,
        Err(RecvError::Lagged(n)) => News::Lagged(n),
        Err(RecvError::Closed) => News::Closed,
    };
    tokio::select! {
        e = events.recv() => news(e.map(News::Event)),
        n = notices.recv() => news(n.map(News::Notice)),
    }
}

/// `GET /api/events/stream`: events (`start`, `end`) and the node's notices (`state`,
/// `segment`, `stopping`).
pub fn stream(
    log: &EventLog,
    visible: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> Response<Body> {
    let feeds = (log.subscribe(), log.subscribe_notices());
    let visible = std::sync::Arc::new(visible);
    let parts = futures::stream::unfold(feeds, move |(mut events, mut notices)| {
        let visible = visible.clone();
        async move {
            let text = loop {
                let news = tokio::time::timeout(KEEP_ALIVE, next(&mut events, &mut notices));
                break match news.await {
                    Err(_) => ": keep-alive\n\n".to_string(),
                    Ok(News::Event(event)) if !visible(&event.camera) => continue,
                    Ok(News::Event(event)) => {
                        let json = serde_json::to_string(&event).unwrap_or_default();
                        let name = if event.end.is_some() { "end" } else { "start" };
                        format!("event: {name}\nid: {}\ndata: {json}\n\n", event.id)
                    }
                    Ok(News::Notice(n)) if n.camera().is_some_and(|c| !visible(c)) => continue,
                    Ok(News::Notice(n)) => {
                        let json = serde_json::to_string(&n).unwrap_or_default();
                        format!("event: {}\ndata: {json}\n\n", n.name())
                    }
                    Ok(News::Lagged(n)) => format!("event: lagged\ndata: {n}\n\n"),
                    Ok(News::Closed) => return None,
                };
            };
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(text))),
                (events, notices),
            ))
        }
    });
    let mut r = Response::new(StreamBody::new(parts).boxed());
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms_and_a_clear_error() {
        assert_eq!(
            time("from", "2026-12-07T10:00:00Z").unwrap().timestamp(),
            1_796_637_600
        );
        assert_eq!(
            time("to", "1796637600.5").unwrap().timestamp_millis(),
            1_796_637_600_500
        );
        let e = time("from", "yesterday").unwrap_err();
        assert!(e.contains("from=\"yesterday\""), "{e}");
        assert!(time("to", "NaN").is_err());
        assert!(time("from", "-8334600000000").is_err());
        assert!(time("from", "1e300").is_err());
    }
}

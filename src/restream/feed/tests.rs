//! The feed's cache, timeline and generations, fed as a worker feeds it.

use super::*;

pub(crate) fn session(id: u64) -> Arc<SessionInfo> {
    Arc::new(SessionInfo { id, audio: None })
}

pub(crate) fn unit(pts: i64, keyframe: bool, width: u32) -> VideoUnit {
    VideoUnit {
        codec: VideoCodec::H264,
        width,
        height: 360,
        data: vec![0, 0, 0, 1, if keyframe { 0x65 } else { 0x41 }, pts as u8].into(),
        pts,
        wall_ms: 1_000_000 + pts / 90,
        keyframe,
        arrival: std::time::Instant::now(),
    }
}

#[test]
fn a_client_starts_at_the_last_keyframe_and_misses_nothing_after() {
    let feed = Feed::new();
    let s = session(1);
    feed.video(&s, &unit(0, false, 640));
    assert!(
        feed.subscribe(feed.client()).is_err(),
        "nothing to describe before a keyframe"
    );
    for (i, key) in [true, false, false, true, false].into_iter().enumerate() {
        feed.video(&s, &unit(3600 * (i as i64 + 1), key, 640));
    }
    let mut sub = feed.subscribe(feed.client()).ok().unwrap();
    let pts: Vec<i64> = sub.backlog.iter().map(|u| u.pts).collect();
    assert_eq!(pts, [14400, 18000], "from the second keyframe");
    assert!(sub.backlog[0].keyframe);
    feed.video(&s, &unit(21600, false, 640));
    assert_eq!(sub.live.try_recv().unwrap().pts, 21600);
    assert!(sub.live.try_recv().is_err());
    assert_eq!(feed.clients(), 1, "the first, refused, client is gone");
    assert!(feed.wanted());
}

#[test]
fn a_new_size_is_a_new_generation_and_time_runs_on_across_sessions() {
    let feed = Feed::new();
    feed.video(&session(1), &unit(0, true, 640));
    feed.video(&session(1), &unit(3600, false, 640));
    let first = feed.subscribe(feed.client()).ok().unwrap();
    assert_eq!(first.description.generation, 1);
    feed.session_ended(1);
    // The camera's next session starts its clock at 0 again, 1 s (by wall clock) later.
    let mut next = unit(0, true, 1280);
    next.wall_ms = 1_000_000 + 3600 / 90 + 1000;
    feed.video(&session(2), &next);
    let second = feed.subscribe(feed.client()).ok().unwrap();
    assert_eq!(second.description.generation, 2);
    assert_eq!(second.description.width, 1280);
    assert_eq!(second.backlog.len(), 1);
    assert_eq!(second.backlog[0].pts, 3600 + 90_000, "on after the gap");
    assert_eq!(second.backlog[0].generation, 2);
}

#[test]
fn the_cameras_sender_reports_set_our_clock() {
    let feed = Feed::new();
    feed.video(&session(4), &unit(0, true, 640));
    let by_arrival = feed.ntp(false, 90_000).unwrap();
    assert_eq!(by_arrival, ntp_of_unix_ms(1_000_000) + (1 << 32));
    feed.sender_report(4, false, 45_000, 7 << 32);
    assert_eq!(feed.ntp(false, 90_000), Some((7 << 32) + (1 << 31)));
    feed.sender_report(3, false, 0, 1 << 32);
    assert_eq!(
        feed.ntp(false, 90_000),
        Some((7 << 32) + (1 << 31)),
        "a report of an older session is ignored"
    );
}

#[test]
fn a_group_too_long_to_cache_is_not_cached() {
    let feed = Feed::new();
    let s = session(1);
    feed.video(&s, &unit(0, true, 640));
    for i in 1..=GOP_UNITS as i64 + 1 {
        feed.video(&s, &unit(i, false, 640));
    }
    assert!(
        feed.subscribe(feed.client())
            .ok()
            .unwrap()
            .backlog
            .is_empty()
    );
    feed.video(&s, &unit(1_000_000, true, 640));
    assert_eq!(feed.subscribe(feed.client()).ok().unwrap().backlog.len(), 1);
}

#[test]
fn ntp_counts_from_1900() {
    assert_eq!(ntp_of_unix_ms(0), 2_208_988_800u64 << 32);
    assert_eq!(ntp_of_unix_ms(1500) & 0xFFFF_FFFF, 1 << 31);
}

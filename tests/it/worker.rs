//! A real worker (retina session + decode thread) against the simulated camera, no Bevy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opticlink::config::Transport;
use opticlink::media::{AudioUnit, MediaSink, SessionInfo, VideoUnit};
use opticlink::simcam::{SimConfig, SimServer, SimStats};
use opticlink::stream::{CameraCommand, CameraEvent, CameraHandle, WorkerConfig, spawn_camera};
use retina::client::SessionGroup;

use crate::common;

fn config(url: &str, transport: Transport) -> WorkerConfig {
    WorkerConfig {
        name: "test".into(),
        url: url::Url::parse(url).unwrap(),
        creds: None,
        transport,
        grace: Duration::from_secs(10),
        stall: Duration::from_secs(5),
        speaker: None,
        bell: None,
    }
}

/// A sink that counts what the worker hands it (the recorder's place).
#[derive(Default)]
pub struct CountingSink {
    pub video: AtomicU64,
    pub sessions_ended: AtomicU64,
    pub last_session: AtomicU64,
}

impl MediaSink for CountingSink {
    fn video(&self, session: &Arc<SessionInfo>, _: &VideoUnit) {
        self.video.fetch_add(1, Ordering::Relaxed);
        self.last_session.store(session.id, Ordering::Relaxed);
    }
    fn audio(&self, _: &Arc<SessionInfo>, _: &AudioUnit) {}
    fn session_ended(&self, _: u64) {
        self.sessions_ended.fetch_add(1, Ordering::Relaxed);
    }
}

fn start(rt: &tokio::runtime::Runtime, cfg: WorkerConfig) -> (CameraHandle, Arc<CountingSink>) {
    let sink = Arc::new(CountingSink::default());
    let h = spawn_camera(
        rt.handle(),
        cfg,
        Arc::new(SessionGroup::default()),
        sink.clone(),
    )
    .unwrap();
    (h, sink)
}

fn next_event(rx: &crossbeam_channel::Receiver<CameraEvent>) -> CameraEvent {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("an event within 20 s")
}

#[test]
fn reaches_live_with_the_right_size_and_counts_frames() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = rt
        .block_on(SimServer::start(SimConfig {
            cameras: 2,
            width: 320,
            height: 180,
            fps: 25,
            ..Default::default()
        }))
        .unwrap();
    for (n, transport) in [(1, Transport::Tcp), (2, Transport::Udp)] {
        let (h, sink) = start(&rt, config(&sim.url(n), transport));
        assert_eq!(
            next_event(&h.events),
            CameraEvent::Connecting { attempt: 1 }
        );
        match next_event(&h.events) {
            CameraEvent::Live { width, height, .. } => {
                assert_eq!((width, height), (320, 180), "{transport:?}")
            }
            other => panic!("{transport:?}: expected live, got {other:?}"),
        }
        let first = h.figures.frames();
        common::wait_for(Duration::from_secs(10), "frames to grow", || {
            (h.figures.frames() >= first + 10 && h.figures.decoded() >= 5).then_some(())
        });
        // Pictures arrive decoded, 4:2:0, at the stream's size.
        let frame = h
            .frames
            .recv_timeout(Duration::from_secs(5))
            .expect("a picture");
        assert_eq!((frame.width, frame.height), (320, 180));
        assert_eq!((frame.planes[1].width, frame.planes[1].height), (160, 90));
        assert!(frame.planes[0].stride >= 320);
        // The sink (the recorder's place) got the same access units, tagged with session 1.
        assert!(sink.video.load(Ordering::Relaxed) >= 10);
        assert_eq!(sink.last_session.load(Ordering::Relaxed), 1);
        // Shutdown closes the session with TEARDOWN.
        let teardowns = SimStats::get(&sim.stats().teardowns);
        h.commands.try_send(CameraCommand::Shutdown).unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), h.task).await })
            .unwrap()
            .unwrap();
        assert_eq!(next_event(&h.events), CameraEvent::Stopped);
        assert_eq!(sink.sessions_ended.load(Ordering::Relaxed), 1);
        common::wait_for(Duration::from_secs(5), "TEARDOWN at the camera", || {
            (SimStats::get(&sim.stats().teardowns) > teardowns).then_some(())
        });
    }
    assert_eq!(
        SimStats::get(&sim.stats().sessions),
        2,
        "one session per worker"
    );
}

/// Events until `Live` (or panics after 20 s).
fn until_live(rx: &crossbeam_channel::Receiver<CameraEvent>) -> Vec<CameraEvent> {
    let mut seen = Vec::new();
    loop {
        let e = next_event(rx);
        let live = matches!(e, CameraEvent::Live { .. });
        seen.push(e);
        if live {
            return seen;
        }
    }
}

#[test]
fn dropped_and_frozen_sessions_are_reopened() {
    use opticlink::simcam::SimFaults;
    let _g = common::heavy();
    let rt = common::runtime();
    for (faults, stall, expect) in [
        (
            SimFaults {
                drop_after_frames: Some(15),
                ..Default::default()
            },
            5,
            "camera closed the session",
        ),
        (
            SimFaults {
                freeze_after_frames: Some(15),
                ..Default::default()
            },
            1,
            "stalled: no frame for 1s",
        ),
    ] {
        let sim = rt
            .block_on(SimServer::start(SimConfig {
                width: 160,
                height: 96,
                fps: 25,
                // With sound, which goes on while the picture is frozen: only video counts.
                audio: true,
                faults,
                ..Default::default()
            }))
            .unwrap();
        let mut cfg = config(&sim.url(1), Transport::Tcp);
        cfg.stall = Duration::from_secs(stall);
        let (h, sink) = start(&rt, cfg);
        until_live(&h.events);
        let after = until_live(&h.events);
        if stall == 1 {
            assert!(
                after.contains(&CameraEvent::Stalled {
                    after: Duration::from_secs(1)
                }),
                "{after:?}"
            );
        }
        let error = after.iter().find_map(|e| match e {
            CameraEvent::Reconnecting { error, delay } => Some((error.clone(), *delay)),
            _ => None,
        });
        let (error, delay) = error.unwrap_or_else(|| panic!("no reconnect in {after:?}"));
        assert!(error.contains(expect), "{error}");
        assert!(
            delay >= Duration::from_millis(800) && delay <= Duration::from_millis(1200),
            "first backoff {delay:?}"
        );
        assert!(
            after.contains(&CameraEvent::Connecting { attempt: 2 }),
            "{after:?}"
        );
        assert_eq!(SimStats::get(&sim.stats().sessions), 2);
        assert!(sink.sessions_ended.load(Ordering::Relaxed) >= 1);
        common::wait_for(Duration::from_secs(10), "session 2's frames", || {
            (sink.last_session.load(Ordering::Relaxed) == 2).then_some(())
        });
        h.commands.try_send(CameraCommand::Shutdown).unwrap();
    }
}

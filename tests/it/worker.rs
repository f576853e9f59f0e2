//! A real worker (retina session + decode thread) against the simulated camera, no Bevy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opticlink::config::Transport;
use opticlink::simcam::{SimConfig, SimServer, SimStats};
use opticlink::stream::{CameraCommand, CameraEvent, StreamStats, WorkerConfig, spawn_camera};
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
    }
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
        let group = Arc::new(SessionGroup::default());
        let h = spawn_camera(rt.handle(), config(&sim.url(n), transport), group.clone()).unwrap();
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
        let first = StreamStats::get(&h.stats.frames);
        let t0 = Instant::now();
        common::wait_for(Duration::from_secs(10), "frames to grow", || {
            (StreamStats::get(&h.stats.frames) >= first + 10
                && StreamStats::get(&h.stats.decoded) >= 5)
                .then_some(())
        });
        // Pictures arrive decoded, 4:2:0, at the stream's size.
        let frame = h
            .frames
            .recv_timeout(Duration::from_secs(5))
            .expect("a picture");
        assert_eq!((frame.width, frame.height), (320, 180));
        assert_eq!((frame.planes[1].width, frame.planes[1].height), (160, 90));
        assert!(frame.planes[0].stride >= 320);
        assert!(t0.elapsed() < Duration::from_secs(10));
        // Shutdown closes the session with TEARDOWN.
        let teardowns = SimStats::get(&sim.stats().teardowns);
        h.commands.try_send(CameraCommand::Shutdown).unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), h.task).await })
            .unwrap()
            .unwrap();
        assert_eq!(next_event(&h.events), CameraEvent::Stopped);
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

//! Camera plugin tests with stepped Bevy time (`TimeUpdateStrategy::ManualDuration`): worker
//! events injected through a hand-made `WorkerLink`, no sockets, no wall-clock waits.

use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use opticlink::camera::state::{Grace, StreamMachine, StreamState};
use opticlink::camera::{self, GraceTimer, IpCamera, StreamStatus, WorkerLink};
use opticlink::media::VideoCodec;
use opticlink::stream::{CameraCommand, CameraEvent, FrameSlot};

const STEP: Duration = Duration::from_millis(100);

struct Rig {
    app: App,
    events: crossbeam_channel::Sender<CameraEvent>,
    commands: tokio::sync::mpsc::Receiver<CameraCommand>,
    /// The camera's main stream.
    camera: Entity,
}

impl Rig {
    fn new() -> Self {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(TimeUpdateStrategy::ManualDuration(STEP))
            .add_plugins(opticlink::schedule_plugin)
            .add_plugins(camera::state_plugin);
        let (events, ev_rx) = crossbeam_channel::bounded(16);
        let (cmd_tx, commands) = tokio::sync::mpsc::channel(4);
        let (_slot, frames) = FrameSlot::new();
        let owner = app
            .world_mut()
            .spawn(IpCamera {
                name: "T".into(),
                index: 0,
                url: "rtsp://t/".into(),
            })
            .id();
        // The camera's main stream, whose worker the test plays.
        let camera = app
            .world_mut()
            .spawn((
                camera::CameraStream {
                    kind: camera::StreamKind::Main,
                },
                camera::StreamOf(owner),
                StreamStatus {
                    machine: StreamMachine::connecting(),
                    ..default()
                },
                GraceTimer(Grace::starting(Duration::ZERO, Duration::from_secs(10))),
                WorkerLink::detached(cmd_tx, ev_rx, frames),
            ))
            .id();
        Self {
            app,
            events,
            commands,
            camera,
        }
    }

    fn now(&self) -> Duration {
        self.app.world().resource::<Time<Real>>().elapsed()
    }

    /// Steps until Bevy time reaches `t`.
    fn run_until(&mut self, t: f64) {
        while self.now() < Duration::from_secs_f64(t) {
            self.app.update();
        }
    }

    fn send(&mut self, e: CameraEvent) {
        self.events.send(e).unwrap();
        self.app.update();
    }

    fn state(&self) -> StreamState {
        self.app
            .world()
            .get::<StreamStatus>(self.camera)
            .unwrap()
            .machine
            .state
    }

    fn status(&self) -> StreamStatus {
        self.app
            .world()
            .get::<StreamStatus>(self.camera)
            .unwrap()
            .clone()
    }
}

fn failed() -> CameraEvent {
    CameraEvent::Reconnecting {
        delay: Duration::from_secs(1),
        error: "connection refused".into(),
    }
}

#[test]
fn failures_inside_the_grace_stay_connecting_until_it_ends() {
    let mut rig = Rig::new();
    rig.run_until(2.0);
    rig.send(failed());
    rig.run_until(9.8);
    assert_eq!(rig.state(), StreamState::Connecting, "at {:?}", rig.now());
    rig.run_until(10.2);
    assert_eq!(rig.state(), StreamState::Reconnecting, "at {:?}", rig.now());
    assert_eq!(
        rig.status().machine.last_error.as_deref(),
        Some("connection refused")
    );
}

#[test]
fn slow_start_then_live_then_drop_and_recovery() {
    let mut rig = Rig::new();
    rig.run_until(6.0);
    assert_eq!(rig.state(), StreamState::Connecting);
    rig.send(CameraEvent::Live {
        codec: VideoCodec::H264,
        width: 1280,
        height: 720,
    });
    assert_eq!(rig.state(), StreamState::Live);
    let s = rig.status();
    assert_eq!(
        (s.width, s.height, s.codec),
        (1280, 720, Some(VideoCodec::H264))
    );
    rig.run_until(30.0);
    assert_eq!(
        rig.state(),
        StreamState::Live,
        "the grace ending changes nothing once live"
    );
    rig.send(CameraEvent::Stalled {
        after: Duration::from_secs(5),
    });
    assert_eq!(rig.state(), StreamState::Stalled);
    rig.send(failed());
    assert_eq!(
        rig.state(),
        StreamState::Reconnecting,
        "after the grace a failure shows at once"
    );
    rig.send(CameraEvent::Live {
        codec: VideoCodec::H264,
        width: 1280,
        height: 720,
    });
    assert_eq!(rig.state(), StreamState::Live);
    assert_eq!(rig.status().machine.reconnects, 1);
    // The state systems never command the worker.
    assert!(rig.commands.try_recv().is_err());
}

#[test]
fn auth_failure_shows_at_once() {
    let mut rig = Rig::new();
    rig.run_until(1.0);
    rig.send(CameraEvent::AuthFailed {
        retry_in: Duration::from_secs(60),
        error: "401 Unauthorized".into(),
    });
    assert_eq!(rig.state(), StreamState::AuthFailed);
    rig.run_until(20.0);
    assert_eq!(rig.state(), StreamState::AuthFailed);
}

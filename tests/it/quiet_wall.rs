//! The quiet wall in a real window (Xvfb + llvmpipe): it draws when a shown picture changes
//! and at the overlay tick, not as fast as it can. Frames drawn come from `/api/status`
//! (`wall.frames`); the bounds are wide, for a loaded 2-core machine draws fewer frames, never
//! more.

use std::time::{Duration, Instant};

use crate::common::{self, Proc};
use crate::screenshot::xvfb;

/// Frames the wall draws per second over `span`, from its counter.
pub(crate) fn frames_per_second(app: &Proc, span: Duration) -> f64 {
    let frames = || app.status()["wall"]["frames"].as_u64();
    let f0 = common::wait_for(Duration::from_secs(30), "the wall to count frames", frames);
    let t0 = Instant::now();
    std::thread::sleep(span);
    let f1 = frames().unwrap();
    (f1 - f0) as f64 / t0.elapsed().as_secs_f64()
}

#[test]
fn a_window_draws_for_new_pictures_and_only_ticks_when_they_stop() {
    let _g = common::heavy();
    let x = xvfb();
    let rt = common::runtime();
    // 10 s of pictures at 10 fps, then none on an open session (a frozen camera; the
    // watchdog is set not to notice during the test).
    let sim = common::sim(
        &rt,
        opticlink::simcam::SimConfig {
            fps: 10,
            faults: opticlink::simcam::SimFaults {
                freeze_after_frames: Some(100),
                ..Default::default()
            },
            ..common::small(0)
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("wall.ron");
    std::fs::write(
        &cfg,
        format!(
            r#"(cameras: [(name: "Door", url: "{}")], servers: (api_port: 0), stall_secs: 3600)"#,
            sim.url(1)
        ),
    )
    .unwrap();
    let app = Proc::start(
        &["--config", cfg.to_str().unwrap()],
        &[("DISPLAY", x.1.as_str())],
    );
    app.wait_state("Door", "live", Duration::from_secs(60));
    // A 10 fps camera: about 10 frames a second and the tick; never the hundreds a
    // continuously drawing window reaches here.
    let live = frames_per_second(&app, Duration::from_secs(3));
    assert!(
        (4.0..=14.0).contains(&live),
        "{live:.1} frames/s for a 10 fps camera"
    );
    // Frozen: only the overlay tick draws.
    common::wait_for(Duration::from_secs(60), "the camera to freeze", || {
        (app.camera("Door")["fps"].as_f64() == Some(0.0)).then_some(())
    });
    let idle = frames_per_second(&app, Duration::from_secs(4));
    assert!(idle <= 2.0, "{idle:.1} frames/s without pictures");
    assert!(
        idle >= 0.5,
        "{idle:.1} frames/s: the overlay tick still draws"
    );
}

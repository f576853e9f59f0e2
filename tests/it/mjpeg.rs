//! MJPEG delivery: pacing by an average rate (a jittery camera at or below `mjpeg_fps`
//! reaches viewers at its full rate, a faster one is thinned evenly) and fan-out (twenty
//! clients get every picture while a stalled one is ignored). Counts are against the camera's
//! own frame count, never a fixed wall-clock window.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use opticlink::simcam::SimStats;

use crate::common::{self, Proc, sim, small};

/// A client of `port`'s MJPEG stream on its own thread: logs the arrival of every picture
/// until `stop`.
fn watch_mjpeg(
    port: u16,
    log: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let marker = b"Content-Type: image/jpeg";
        let mut tail: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let Ok(n) = s.read(&mut chunk) else { break };
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&chunk[..n]);
            let parts = tail.windows(marker.len()).filter(|w| w == marker).count();
            let now = std::time::Instant::now();
            log.lock().unwrap().extend(std::iter::repeat_n(now, parts));
            // Keep a little overlap so a marker split across reads is still found once.
            let keep = tail.len().saturating_sub(marker.len() - 1);
            let last = tail
                .windows(marker.len())
                .rposition(|w| w == marker)
                .map_or(0, |i| i + marker.len());
            tail.drain(..keep.max(last).min(tail.len()));
        }
    })
}

/// A camera whose frames arrive ±30 % around their times (network jitter), watched at the
/// default `mjpeg_fps: 15`: at 15 fps every viewer gets (nearly) every picture; at 25 fps each
/// gets an even 15 a second. Two viewers, equal rates. Counts are against the camera's own
/// frame count, not the wall clock.
#[test]
fn jittery_cameras_reach_mjpeg_viewers_at_their_full_rate_up_to_the_cap() {
    use opticlink::simcam::{SimConfig, SimFaults};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let _g = common::heavy();
    let rt = common::runtime();
    for fps in [15u32, 25] {
        let cap = 15u32;
        let faults = SimFaults {
            jitter: 0.3,
            ..Default::default()
        };
        let camera = sim(
            &rt,
            SimConfig {
                fps,
                faults,
                ..small(0)
            },
        );
        let app = Proc::headless(&format!(
            "(cameras: [(name: \"Cam\", url: \"{}\")], servers: (api_port: 0, mjpeg_fps: {cap}))",
            camera.url(1)
        ));
        let port = app.wait_state("Cam", "live", Duration::from_secs(20))["ports"]["mjpeg"]
            .as_u64()
            .unwrap() as u16;
        let stop = Arc::new(AtomicBool::new(false));
        let logs: Vec<Arc<Mutex<Vec<Instant>>>> = (0..2).map(|_| Arc::default()).collect();
        let viewers: Vec<_> = logs
            .iter()
            .map(|l| watch_mjpeg(port, l.clone(), stop.clone()))
            .collect();
        common::wait_for(
            Duration::from_secs(20),
            "both viewers' first picture",
            || {
                logs.iter()
                    .all(|l| !l.lock().unwrap().is_empty())
                    .then_some(())
            },
        );
        // Settle for a second of camera time, then count over the next 8 s of it.
        let settle = SimStats::get(&camera.stats().frames_sent) + u64::from(fps);
        common::wait_for(Duration::from_secs(20), "a second of frames", || {
            (SimStats::get(&camera.stats().frames_sent) >= settle).then_some(())
        });
        let (t0, sent0) = (Instant::now(), SimStats::get(&camera.stats().frames_sent));
        let span = 8 * u64::from(fps);
        common::wait_for(Duration::from_secs(60), "8 s of camera frames", || {
            (SimStats::get(&camera.stats().frames_sent) >= sent0 + span).then_some(())
        });
        let sent = SimStats::get(&camera.stats().frames_sent) - sent0;
        let got: Vec<usize> = logs
            .iter()
            .map(|l| l.lock().unwrap().iter().filter(|t| **t >= t0).count())
            .collect();
        stop.store(true, Ordering::Relaxed);
        for v in viewers {
            v.join().unwrap();
        }
        let expected = sent as f64 * f64::from(fps.min(cap)) / f64::from(fps);
        eprintln!(
            "MJPEG pacing: {fps} fps camera (±30 % jitter), mjpeg_fps {cap}: viewers got {got:?} of {expected:.0} expected in {sent} camera frames ({:.1} fps each)",
            got[0] as f64 * f64::from(fps) / sent as f64
        );
        for g in &got {
            let g = *g as f64;
            assert!(
                g >= 0.95 * expected && g <= 1.05 * expected + 2.0,
                "{fps} fps camera: a viewer got {g} of {expected:.0}: {got:?}"
            );
        }
        assert!(got[0].abs_diff(got[1]) <= 2, "unequal rates: {got:?}");
    }
}

#[test]
fn twenty_clients_get_every_picture_while_a_stalled_one_is_ignored() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(&rt, small(0));
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Cam\", url: \"{}\")], servers: (api_port: 0, mjpeg_fps: 30))",
        camera.url(1)
    ));
    let port = app.wait_state("Cam", "live", Duration::from_secs(20))["ports"]["mjpeg"]
        .as_u64()
        .unwrap() as u16;
    // One client that asks and never reads.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stalled,
        "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let arrivals: Vec<Arc<Mutex<Vec<Instant>>>> = (0..20).map(|_| Arc::default()).collect();
    let clients: Vec<_> = arrivals
        .iter()
        .map(|log| watch_mjpeg(port, log.clone(), stop.clone()))
        .collect();
    common::wait_for(
        Duration::from_secs(20),
        "every client's first picture",
        || {
            arrivals
                .iter()
                .all(|a| !a.lock().unwrap().is_empty())
                .then_some(())
        },
    );
    // From now on, count what each client gets until every one has 100 more pictures; the
    // camera must not have sent many more than that meanwhile (≥ 90 % each), and decoding
    // must have kept up. No fixed window: a slow machine only makes it take longer.
    let t0 = Instant::now();
    let (sent0, decoded0) = (
        SimStats::get(&camera.stats().frames_sent),
        app.camera("Cam")["decoded"].as_u64().unwrap(),
    );
    let since =
        |a: &Arc<Mutex<Vec<Instant>>>| a.lock().unwrap().iter().filter(|t| **t >= t0).count();
    common::wait_for(
        Duration::from_secs(60),
        "100 pictures at every client",
        || arrivals.iter().all(|a| since(a) >= 100).then_some(()),
    );
    let sent1 = SimStats::get(&camera.stats().frames_sent);
    let decoded1 = app.camera("Cam")["decoded"].as_u64().unwrap();
    let got: Vec<usize> = arrivals.iter().map(since).collect();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let produced = sent1 - sent0;
    let slowest = *got.iter().min().unwrap();
    assert!(
        slowest as f64 >= 0.9 * produced as f64,
        "the camera sent {produced} frames while the slowest client got {slowest}: {got:?}"
    );
    assert!(
        (decoded1 - decoded0) as f64 >= 0.9 * produced as f64,
        "decoding slowed: {} of {produced}",
        decoded1 - decoded0
    );
    drop(stalled);
}

//! The live web page on the API port, in a real browser (Debian `chromium`, headless): every
//! camera's tile shows its MJPEG picture, and the pictures move; a camera with an event is
//! framed and badged, and its events are on its timeline.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{self, Proc, sim, small};

/// Debian's Chromium, headless, quiet (no background networking: this machine's network is
/// closed), 1280×720, with a fresh profile in `profile`.
pub(crate) fn chromium(profile: &Path) -> Command {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,720",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// A headless Chromium screenshot (1280×720) of `url`, taken after `wait_ms`.
fn screenshot(url: &str, out: &Path, wait_ms: u32) -> (Vec<u8>, usize) {
    let profile = tempfile::tempdir().unwrap();
    let status = chromium(profile.path())
        .arg("--hide-scrollbars")
        .arg(format!("--timeout={wait_ms}"))
        .arg(format!("--screenshot={}", out.display()))
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("chromium (Debian package chromium)");
    assert!(status.success(), "chromium failed: {status:?}");
    let mut reader = png::Decoder::new(BufReader::new(File::open(out).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = buf.len() / (info.width as usize * info.height as usize);
    (buf, channels)
}

/// Mean RGB of a 120×80 box at (x, y) of a 1280-wide screenshot.
fn mean(px: &[u8], channels: usize, x: usize, y: usize) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for yy in y..y + 80 {
        for xx in x..x + 120 {
            let p = &px[(yy * 1280 + xx) * channels..];
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
        }
    }
    sum.map(|s| s / 9600.0)
}

#[test]
fn the_web_page_shows_every_camera_live() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(
        &rt,
        opticlink::simcam::SimConfig {
            cameras: 2,
            ..small(0)
        },
    );
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Left\", url: \"{}\"), (name: \"Right\", url: \"{}\")], servers: (api_port: 0))",
        camera.url(1),
        camera.url(2)
    ));
    for name in ["Left", "Right"] {
        app.wait_state(name, "live", Duration::from_secs(20));
    }
    let url = format!("http://127.0.0.1:{}/", app.api_port());
    let (code, html) = common::http_get(app.api_port(), "/");
    assert_eq!(code, 200);
    assert!(
        html.contains("/api/status") && html.contains("video.mjpeg"),
        "{html}"
    );
    let dir = tempfile::tempdir().unwrap();
    // Headless Chromium takes its picture at the page's load event, which multipart images do
    // not always hold back: shoot until both tiles show their pictures (within seconds).
    let background = [20.0, 20.0, 20.0];
    let shows_picture =
        |t: &[f64; 3]| (0..3).map(|c| (t[c] - background[c]).abs()).sum::<f64>() > 60.0;
    let mut shot = 0;
    let (a, ch, tiles) = common::wait_for(
        Duration::from_secs(40),
        "both tiles to show pictures",
        || {
            shot += 1;
            let (a, ch) = screenshot(&url, &dir.path().join(format!("a{shot}.png")), 4000);
            let tiles: Vec<[f64; 3]> = (0..2)
                .map(|i| mean(&a, ch, 4 + i * 425 + 150, 110))
                .collect();
            tiles.iter().all(shows_picture).then_some((a, ch, tiles))
        },
    );
    let d: f64 = (0..3).map(|c| (tiles[0][c] - tiles[1][c]).abs()).sum();
    assert!(d > 30.0, "the two tiles show the same picture: {tiles:?}");
    // The pictures move: the burned-in frame counter and clock of the first tile differ
    // between two screenshots seconds apart (each takes 4 s of page time).
    common::wait_for(Duration::from_secs(40), "a later picture", || {
        let (b, _) = screenshot(&url, &dir.path().join("b.png"), 4000);
        let changed = pixels(&a, ch, 8, 34, 300, 60) != pixels(&b, ch, 8, 34, 300, 60);
        changed.then_some(())
    });
}

/// The raw pixels of a `w×h` box at (x, y) of a 1280-wide screenshot.
fn pixels(px: &[u8], channels: usize, x: usize, y: usize, w: usize, h: usize) -> Vec<u8> {
    (y..y + h)
        .flat_map(|yy| px[(yy * 1280 + x) * channels..(yy * 1280 + x + w) * channels].to_vec())
        .collect()
}

/// The page's DOM after `wait_ms` of page time, as headless Chromium sees it.
fn dump_dom(url: &str, wait_ms: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path())
        .arg("--dump-dom")
        .arg(format!("--timeout={wait_ms}"))
        .arg(url)
        .stderr(std::process::Stdio::null())
        .output()
        .expect("chromium (Debian package chromium)");
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ptz_cameras_get_arrow_buttons_on_the_page() {
    let _g = common::heavy();
    let app = Proc::headless(
        "(simulated: Some((cameras: 1, width: 320, height: 180, onvif: true)),\n\
         cameras: [(name: \"Plain\", url: \"rtsp://127.0.0.1:9/none\")], servers: (api_port: 0))",
    );
    app.wait_state("Sim 1", "live", Duration::from_secs(30));
    common::wait_for(Duration::from_secs(15), "PTZ in the status", || {
        (app.camera("Sim 1")["ptz"]["available"] == true).then_some(())
    });
    let url = format!("http://127.0.0.1:{}/", app.api_port());
    let dom = dump_dom(&url, 3000);
    // One figure per camera, in order: the PTZ camera's pad is shown, the other's is not.
    let figures: Vec<&str> = dom.split("<figure").skip(1).collect();
    assert_eq!(figures.len(), 2, "{dom}");
    assert!(
        figures[0].contains("Sim 1")
            && figures[0].contains("class=\"pad\" style=\"display: grid;\""),
        "{}",
        figures[0]
    );
    assert!(figures[0].contains(">▶</button>") && figures[0].contains("class=\"ptz\""));
    assert!(
        figures[1].contains("Plain")
            && figures[1].contains("class=\"pad\" style=\"display: none;\""),
        "{}",
        figures[1]
    );
}

#[test]
fn a_locked_camera_asks_for_its_password_on_the_page() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state) = crate::locks::locked_sim_config(dir.path(), (320, 180));
    let cfg = cfg.as_str();
    let app = Proc::start(
        &["--headless", "--config", cfg],
        &[("OPTICLINK_STATE_DIR", state.as_str())],
    );
    app.wait_state("Sim 2", "live", Duration::from_secs(30));
    let dom = dump_dom(&format!("http://127.0.0.1:{}/", app.api_port()), 3000);
    let figures: Vec<&str> = dom
        .split("<figure")
        .skip(1)
        .map(|f| f.split("</figure>").next().unwrap_or(f))
        .collect();
    assert_eq!(figures.len(), 2, "{dom}");
    assert!(figures[0].contains("video.mjpeg") && !figures[0].contains("class=\"lock\""));
    assert!(
        figures[1].contains("class=\"lock\"") && figures[1].contains("type=\"password\""),
        "{}",
        figures[1]
    );
    assert!(
        !figures[1].contains("video.mjpeg"),
        "no stream for a locked camera: {}",
        figures[1]
    );
}

#[test]
fn a_camera_with_an_event_is_framed_and_its_events_are_on_the_timeline() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(
        &rt,
        opticlink::simcam::SimConfig {
            cameras: 2,
            onvif_port: Some(0),
            ..small(0)
        },
    );
    camera.set_motion(1, true);
    camera.set_motion(2, false);
    let rec = tempfile::tempdir().unwrap();
    let entry = |n: u32, name: &str| {
        format!(
            "(name: \"{name}\", url: \"{}\", record: true, onvif: Some((url: \"{}\")), motion: (hold_secs: 60.0))",
            camera.url(n),
            camera.onvif_url(n).unwrap()
        )
    };
    let app = Proc::headless(&format!(
        "(cameras: [{}, {}], recording: (dir: \"{}\", segment_secs: 2), servers: (api_port: 0))",
        entry(1, "Gate"),
        entry(2, "Yard"),
        rec.path().display()
    ));
    common::wait_for(Duration::from_secs(30), "Gate's event", || {
        app.camera("Gate")["motion"].as_bool()?.then_some(())
    });
    common::wait_for(Duration::from_secs(30), "a recorded segment", || {
        (app.camera("Gate")["recording"]["segments"].as_u64()? >= 2).then_some(())
    });
    let url = format!("http://127.0.0.1:{}/", app.api_port());
    // The timeline's marks come with a fetch of their own after the first status: a loaded
    // machine may dump the page before it, so the page is read again until they are there.
    let dom = common::wait_for(Duration::from_secs(60), "the event on the timeline", || {
        let dom = dump_dom(&url, 4000);
        dom.contains("class=\"event\"").then_some(dom)
    });
    let figures: Vec<&str> = dom.split("<figure").skip(1).collect();
    assert_eq!(figures.len(), 2, "{dom}");
    let (gate, yard) = (figures[0], figures[1]);
    assert!(
        gate.contains("Gate") && gate.starts_with(" class=\"motion\""),
        "{gate}"
    );
    assert!(gate.contains("class=\"motionbadge\""), "{gate}");
    assert!(
        gate.contains("class=\"event\""),
        "Gate's event on its timeline: {gate}"
    );
    assert!(
        !yard.starts_with(" class=\"motion\"") && !yard.contains("class=\"event\""),
        "{yard}"
    );
}

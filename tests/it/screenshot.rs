//! The real window under Xvfb with software Vulkan (Debian `xvfb`, `mesa-vulkan-drivers`):
//! `--screenshot --when-live` of the built-in demo writes a PNG whose four tiles show pictures
//! that are not blank and differ from each other, and logs each tile's measured latency
//! (arrival → texture upload, and glass-to-glass from the burned-in capture clock). Without a
//! display the app runs headless and says where the live page is.

use std::fs::File;
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{self, Proc};

pub(crate) struct Xvfb(Child, pub String);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A virtual display of 1600×900. Xvfb picks a free display number itself and reports it
/// (`-displayfd`) only once it accepts clients, so no test races another for a number or
/// talks to a server still starting.
pub(crate) fn xvfb() -> Xvfb {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1600x900x24",
            "-nolisten",
            "tcp",
            // An X server resets when its last client leaves, and refuses connections while
            // it does: the display check's or xwininfo's goodbye could make the app's own
            // connection fail (the intermittent XOpenDisplayFailed seen in CI).
            "-noreset",
        ])
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("Xvfb (Debian package xvfb)");
    let n = common::display_number(&mut child, "Xvfb");
    let display = format!(":{n}");
    // A real client answered by the server, before any test relies on it (its log if not).
    common::wait_for(Duration::from_secs(20), "Xvfb to answer a client", || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "Xvfb {display} exited ({status}): {}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        Command::new("xwininfo")
            .args(["-root", "-display", &display])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success()
            .then_some(())
    });
    Xvfb(child, display)
}

/// `opticlink --screenshot wall.png --after 120 --when-live` with `args` before it and
/// `envs`; waits for it to exit, checks it succeeded, and returns it (its directory holds the
/// PNGs) with its log.
pub(crate) fn shoot(args: &[&str], envs: &[(&str, &str)]) -> (Proc, String) {
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--screenshot", "wall.png", "--after", "120", "--when-live"])
        .collect();
    let mut app = Proc::start(&all, envs);
    let status = common::wait_for(
        Duration::from_secs(180),
        "the screenshot run to end",
        || app.child.try_wait().unwrap(),
    );
    let log = app.log();
    assert!(status.success(), "exit {status:?}\n{log}");
    (app, log)
}

/// Mean and standard deviation of each channel over a rectangle.
fn stats(px: &[u8], width: usize, x0: usize, y0: usize, w: usize, h: usize) -> ([f64; 3], f64) {
    let mut sum = [0f64; 3];
    let mut sq = 0f64;
    let n = (w * h) as f64;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let p = &px[(y * width + x) * 3..][..3];
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
            let l = f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2]);
            sq += l * l;
        }
    }
    let mean = sum.map(|s| s / n);
    let lmean = mean.iter().sum::<f64>();
    (mean, (sq / n - lmean * lmean).max(0.0).sqrt())
}

#[test]
fn demo_screenshot_shows_four_distinct_live_tiles() {
    let _g = common::heavy();
    let x = xvfb();
    // As soon as every camera is live with its picture on screen (at most 120 s).
    let (app, log) = shoot(&[], &[("DISPLAY", x.1.as_str())]);
    let png = app.dir.path().join("wall.png");
    let decoder = png::Decoder::new(BufReader::new(File::open(&png).expect("wall.png written")));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{info:?}");
    let (w, h) = (info.width as usize, info.height as usize);
    assert!(w >= 800 && h >= 450, "{w}x{h}");
    // The demo has 4 cameras in a 2×2 grid: sample the middle of each quadrant.
    let mut tiles = Vec::new();
    for (qx, qy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let (x0, y0) = (qx * w / 2 + w / 8, qy * h / 2 + h / 8);
        tiles.push(stats(&buf, w, x0, y0, w / 4, h / 4));
    }
    for (i, (mean, dev)) in tiles.iter().enumerate() {
        let bright = mean.iter().sum::<f64>() / 3.0;
        assert!(
            bright > 20.0 && *dev > 3.0,
            "tile {i} looks blank: mean {mean:?} dev {dev}\n{log}"
        );
    }
    for i in 0..4 {
        for j in i + 1..4 {
            let d: f64 = (0..3).map(|c| (tiles[i].0[c] - tiles[j].0[c]).abs()).sum();
            assert!(
                d > 15.0,
                "tiles {i} and {j} look the same: {:?} vs {:?}",
                tiles[i].0,
                tiles[j].0
            );
        }
    }
    assert!(log.contains("connecting → live"), "{log}");
    assert!(!log.contains("not every camera is live"), "{log}");
    // Each tile's latency, measured at the texture upload; the simulated cameras' capture
    // clock read back from the decoded pictures gives glass-to-glass.
    for n in 1..=4 {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("camera=Sim {n}")) && l.contains("screenshot: live"))
            .unwrap_or_else(|| panic!("no screenshot line for Sim {n}\n{log}"));
        let glass: f64 = line
            .split("glass ")
            .nth(1)
            .and_then(|g| g.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no glass time: {line}"));
        assert!(glass > 0.0 && glass < 5000.0, "{line}");
        assert!(
            line.contains("latency ") && !line.contains("latency -"),
            "{line}"
        );
    }
    drop(x);
}

#[test]
fn without_a_display_the_wall_runs_headless_and_names_its_page() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.ron");
    std::fs::write(
        &path,
        "(simulated: Some((cameras: 2, width: 320, height: 180)), servers: (api_port: 0))",
    )
    .unwrap();
    let config = path.to_str().unwrap().to_owned();
    // No DISPLAY at all, and a DISPLAY nobody serves.
    for display in [None, Some(":4242")] {
        let env: Vec<(&str, &str)> = display.iter().map(|d| ("DISPLAY", *d)).collect();
        let mut app = Proc::start_with(&["--config", &config], &env, &["DISPLAY"]);
        let line = common::wait_for(Duration::from_secs(30), "the no-display line", || {
            app.log()
                .lines()
                .find(|l| l.contains("no display"))
                .map(str::to_owned)
        });
        assert!(line.contains("running headless"), "{line}");
        let port = app.api_port();
        assert!(
            line.contains(&format!("http://127.0.0.1:{port}/")),
            "{line}"
        );
        for name in ["Sim 1", "Sim 2"] {
            app.wait_state(name, "live", Duration::from_secs(30));
            // Live comes with the first frame; its picture is decoded just after.
            common::wait_for(Duration::from_secs(10), "a decoded picture", || {
                (app.camera(name)["decoded"].as_u64() > Some(0)).then_some(())
            });
        }
        // Headless, latency ends at the decoded picture; the simulated cameras' clock
        // gives glass-to-glass.
        let c = common::wait_for(Duration::from_secs(20), "latency in the status", || {
            let c = app.camera("Sim 1");
            (c["latency_ms"]["p50"].is_number() && c["glass_ms"]["p99"].is_number()).then_some(c)
        });
        // The burned-in clock counts whole milliseconds: glass may read up to 1 ms short.
        assert!(
            c["glass_ms"]["p50"].as_f64().unwrap() + 1.0
                >= c["latency_ms"]["p50"].as_f64().unwrap(),
            "{c}"
        );
        let (code, page) = common::http_get(port, "/");
        assert_eq!(code, 200);
        assert!(page.contains("Sim 1"), "the page lists the cameras");
        assert!(app.stop().success());
        let log = app.log();
        assert!(!log.contains("panicked"), "{log}");
    }
    // A screenshot cannot be taken without a display: a clear error, exit 1.
    let out = std::process::Command::new(common::BIN)
        .args(["--config", &config, "--screenshot", "x.png"])
        .env_remove("DISPLAY")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--screenshot needs a display"), "{err}");
}

#[test]
fn a_locked_tile_is_the_lock_not_the_picture() {
    let _g = common::heavy();
    let x = xvfb();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state) = crate::locks::locked_sim_config(dir.path(), (640, 360));
    let cfg = cfg.as_str();
    let (app, log) = shoot(
        &["--config", cfg],
        &[
            ("DISPLAY", x.1.as_str()),
            ("OPTICLINK_STATE_DIR", state.as_str()),
        ],
    );
    assert!(log.contains("locked: no picture shown"), "{log}");
    let png = app.dir.path().join("wall.png");
    let mut reader = png::Decoder::new(BufReader::new(File::open(&png).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    // Two cameras side by side: the left shows its textured picture, the right (locked)
    // only its dark background and the lock (sampled away from the lock's text).
    let (_, open_dev) = stats(&buf, w, w / 16, h / 2 - h / 8, w / 4, h / 4);
    let (locked_mean, locked_dev) = stats(&buf, w, w / 2 + w / 32, h / 2 - h / 8, w / 10, h / 4);
    assert!(
        open_dev > 20.0,
        "the open tile shows a picture ({open_dev})"
    );
    assert!(
        locked_mean.iter().all(|m| *m < 30.0) && locked_dev < 5.0,
        "the locked tile shows no picture: {locked_mean:?} ± {locked_dev}"
    );
}

#[test]
fn a_named_layout_shows_its_cameras_in_its_cells() {
    let _g = common::heavy();
    let x = xvfb();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pair.ron");
    // Four simulated cameras (1 blue, 2 orange, 3 green, 4 magenta); the window shows only
    // Sim 3 on the left and Sim 2 on the right.
    std::fs::write(
        &cfg,
        "(simulated: Some((cameras: 4, width: 320, height: 180)),\n\
         layouts: [(name: \"All\"), (name: \"Pair\", grid: Grid(2, 1), cameras: [\"Sim 3\", \"Sim 2\"])],\n\
         windows: [(name: \"Wall\", layout: Some(\"Pair\"))],\n\
         servers: (api_port: 0))",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (app, log) = shoot(&["--config", cfg], &[("DISPLAY", x.1.as_str())]);
    for hidden in ["Sim 1", "Sim 4"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("camera={hidden}")) && l.contains("not in the layout")),
            "{hidden}\n{log}"
        );
    }
    let (left, right) = halves(&app.dir.path().join("wall.png"));
    let [r, g, b] = left;
    assert!(
        g > r + 20.0 && g > b,
        "the left cell shows Sim 3 (green): {left:?}"
    );
    let [r, g, b] = right;
    assert!(
        r > g + 20.0 && g > b,
        "the right cell shows Sim 2 (orange): {right:?}"
    );
}

/// The mean colour of the middle of a PNG's left and right halves.
pub(crate) fn halves(path: &std::path::Path) -> ([f64; 3], [f64; 3]) {
    let mut reader = png::Decoder::new(BufReader::new(File::open(path).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    (
        stats(&buf, w, w / 8, h / 3, w / 4, h / 3).0,
        stats(&buf, w, w / 2 + w / 8, h / 3, w / 4, h / 3).0,
    )
}

#[test]
fn two_windows_each_show_their_own_layout() {
    let _g = common::heavy();
    let x = xvfb();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("two.ron");
    // Sim 1 blue, 2 orange, 3 green, 4 magenta. Plain Xvfb has one monitor (one RandR CRTC),
    // so both windows share it; the monitor matching is tested on its own.
    std::fs::write(
        &cfg,
        "(simulated: Some((cameras: 4, width: 320, height: 180)),\n\
         layouts: [(name: \"Green, orange\", grid: Grid(2, 1), cameras: [\"Sim 3\", \"Sim 2\"]),\n\
                   (name: \"Blue, magenta\", grid: Grid(2, 1), cameras: [\"Sim 1\", \"Sim 4\"])],\n\
         windows: [(name: \"Desk\", layout: Some(\"Green, orange\"), size: (800, 450)),\n\
                   (name: \"Wall 2\", monitor: Index(1), layout: Some(\"Blue, magenta\"), size: (640, 360))],\n\
         servers: (api_port: 0))",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (app, log) = shoot(&["--config", cfg], &[("DISPLAY", x.1.as_str())]);
    assert!(
        log.contains("monitor 1 not found"),
        "the missing monitor is named\n{log}"
    );
    let (left, right) = halves(&app.dir.path().join("wall.png"));
    assert!(
        left[1] > left[0] + 20.0 && left[1] > left[2],
        "Desk, left: Sim 3 (green) {left:?}"
    );
    assert!(
        right[0] > right[1] + 20.0 && right[1] > right[2],
        "Desk, right: Sim 2 (orange) {right:?}"
    );
    // The second window's picture, under its own name.
    let (left, right) = halves(&app.dir.path().join("wall-Wall_2.png"));
    assert!(
        left[2] > left[0] && left[2] > left[1],
        "Wall 2, left: Sim 1 (blue) {left:?}"
    );
    assert!(
        right[0] > right[1] + 20.0 && right[2] > right[1] + 20.0,
        "Wall 2, right: Sim 4 (magenta) {right:?}"
    );
}

//! Keys and clicks through the real window (Xvfb, xdotool): the wall's whole input path,
//! winit and egui included, steers the camera the operator picked — after a click, and after
//! Tab and Shift+Tab move the selection (egui once took the keyboard on Tab, and nothing
//! steered until a tile was clicked).

use std::process::Command;
use std::time::Duration;

use crate::common::{self, Proc};
use crate::screenshot::xvfb;

fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool (Debian package xdotool)");
    assert!(out.status.success(), "xdotool {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The wall's window on `display`, once it is there, focused for the keys to come.
fn focus_wall_window(display: &str) -> String {
    let window = common::wait_for(Duration::from_secs(30), "the wall's window", || {
        let found = Command::new("xdotool")
            .args(["search", "--name", "OpticLink"])
            .env("DISPLAY", display)
            .output()
            .ok()?;
        let id = String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()?
            .to_owned();
        (!id.is_empty()).then_some(id)
    });
    xdotool(display, &["windowfocus", "--sync", &window]);
    window
}

/// Whether camera `name`'s head is moving, per `/api/status`.
fn moving(app: &Proc, name: &str) -> bool {
    app.camera(name)["ptz"]["moving"] == true
}

/// Holds `key` until `camera` moves (and no other camera does), then lets it go and waits
/// until it stops.
fn steer(app: &Proc, display: &str, key: &str, camera: &str, other: &str) {
    xdotool(display, &["keydown", key]);
    common::wait_for(
        Duration::from_secs(10),
        &format!("{key} to move {camera}"),
        || moving(app, camera).then_some(()),
    );
    assert!(!moving(app, other), "{key} moved {other} too");
    xdotool(display, &["keyup", key]);
    common::wait_for(
        Duration::from_secs(10),
        &format!("{camera} to stop"),
        || (!moving(app, camera)).then_some(()),
    );
}

#[test]
fn click_tab_and_shift_tab_pick_the_camera_the_keys_steer() {
    let _g = common::heavy();
    let x = xvfb();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("wall.ron");
    std::fs::write(
        &cfg,
        "(simulated: Some((cameras: 2, width: 320, height: 180, onvif: true)), \
         servers: (api_port: 0))",
    )
    .unwrap();
    let app = Proc::start(
        &["--config", cfg.to_str().unwrap()],
        &[("DISPLAY", x.1.as_str())],
    );
    let (one, two) = ("Sim 1", "Sim 2");
    for name in [one, two] {
        app.wait_state(name, "live", Duration::from_secs(60));
        common::wait_for(Duration::from_secs(30), "PTZ", || {
            (app.camera(name)["ptz"]["available"] == true).then_some(())
        });
    }
    let window = focus_wall_window(&x.1);
    // Two cameras side by side in 1600×900: a click on the left one picks Sim 1.
    xdotool(
        &x.1,
        &["mousemove", "--window", &window, "400", "450", "click", "1"],
    );
    steer(&app, &x.1, "Up", one, two);
    xdotool(&x.1, &["key", "Tab"]);
    steer(&app, &x.1, "Up", two, one);
    steer(&app, &x.1, "Left", two, one);
    xdotool(&x.1, &["key", "shift+Tab"]);
    steer(&app, &x.1, "Down", one, two);
}

/// A locked tile's password field still takes what is typed (the wall leaves the keyboard to
/// egui while a text field has focus): a click in it, the password, Enter — the wall unlocks
/// (the unlock is kept in the state file).
#[test]
fn typing_into_a_locked_tiles_password_field_unlocks_it() {
    let _g = common::heavy();
    let x = xvfb();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state) = crate::locks::locked_sim_config(dir.path(), (320, 180));
    let app = Proc::start(
        &["--config", &cfg],
        &[
            ("DISPLAY", x.1.as_str()),
            ("OPTICLINK_STATE_DIR", state.as_str()),
        ],
    );
    app.wait_state("Sim 2", "live", Duration::from_secs(60));
    let window = focus_wall_window(&x.1);
    let unlocks = std::path::Path::new(&state).join("unlocks.json");
    // The form sits in the middle of the right tile: "LOCKED", the name, then the field.
    common::wait_for(Duration::from_secs(30), "the wall to unlock Sim 2", || {
        xdotool(
            &x.1,
            &[
                "mousemove",
                "--window",
                &window,
                "1200",
                "460",
                "click",
                "1",
            ],
        );
        xdotool(&x.1, &["type", "--delay", "50", "pw"]);
        xdotool(&x.1, &["key", "Return"]);
        std::thread::sleep(Duration::from_secs(2));
        let text = std::fs::read_to_string(&unlocks).ok()?;
        text.contains("wall_until").then_some(())
    });
}

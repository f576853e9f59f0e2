//! `secrets: Os` against a real Secret Service: a private D-Bus session bus with GNOME
//! Keyring (Debian `dbus-daemon`, `gnome-keyring`) unlocked in a temporary home.
//! `set-credentials` stores the password there (no secrets file appears), and a headless start
//! reads it back: the simulated camera, which demands Digest auth, goes live.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{self, Owned, Proc};

/// A session bus and an unlocked GNOME Keyring in `home`; the environment that reaches them.
fn secret_service(home: &std::path::Path) -> (Owned, Owned, Vec<(String, String)>) {
    let runtime = home.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon (Debian dbus-daemon)");
    let mut address = String::new();
    BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let bus = Owned(bus);
    let env: Vec<(String, String)> = [
        ("DBUS_SESSION_BUS_ADDRESS", address.trim().to_string()),
        ("HOME", home.display().to_string()),
        ("XDG_DATA_HOME", home.join("data").display().to_string()),
        ("XDG_RUNTIME_DIR", runtime.display().to_string()),
        (
            "OPTICLINK_STATE_DIR",
            home.join("state").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon (Debian gnome-keyring)");
    let mut stdin = keyring.stdin.take().unwrap();
    stdin.write_all(b"keyring-unlock-pw").unwrap();
    drop(stdin);
    (bus, Owned(keyring), env)
}

#[test]
fn set_credentials_into_the_secret_service_then_the_camera_goes_live() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = common::sim(
        &rt,
        opticlink::simcam::SimConfig {
            user: Some("viewer".into()),
            password: Some("k3yring-pass".into()),
            ..common::small(0)
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let (_bus, _keyring, env) = secret_service(dir.path());
    let config = dir.path().join("box.ron");
    std::fs::write(
        &config,
        format!(
            "(cameras: [(name: \"Door\", url: \"{}\")], servers: (api_port: 0), secrets: Os)",
            camera.url(1)
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The keyring daemon takes a moment to own its bus name: retry until it answers.
    let out = common::wait_for(Duration::from_secs(15), "the Secret Service", || {
        let (ok, text) = common::run_cli(
            &[
                "set-credentials",
                "Door",
                "--username",
                "viewer",
                "--config",
                cfg,
            ],
            "k3yring-pass\n",
            &envs,
        );
        if !ok {
            assert!(text.contains("secrets: Os"), "{text}");
            std::thread::sleep(Duration::from_millis(200));
        }
        ok.then_some(text)
    });
    assert!(out.contains("the OS credential store"), "{out}");
    assert!(!out.contains("k3yring-pass"), "{out}");
    assert!(
        !dir.path().join("box.secrets.ron").exists(),
        "secrets: Os writes no secrets file"
    );
    let app = Proc::start(&["--headless", "--config", cfg], &envs);
    let c = app.wait_state("Door", "live", Duration::from_secs(30));
    assert!(!c.to_string().contains("k3yring-pass"), "{c}");
    assert!(!app.log().contains("k3yring-pass"));
}

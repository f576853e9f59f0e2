//! `opticlink check-config` and start-up on bad configs: file, line:col and what is wrong,
//! exit 1; valid files pass.

use std::process::Command;

use crate::common::BIN;

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let msg =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        msg.replace(path.to_str().unwrap(), "bad.ron"),
    )
}

#[test]
fn bad_configs_name_file_line_col() {
    let cases = [
        (
            "unknown field",
            "(\n  cameras: [],\n  grace_sec: 3,\n)",
            "bad.ron:3:3:",
            "grace_sec",
        ),
        (
            "wrong type",
            "(\n  grace_secs: \"ten\",\n)",
            "bad.ron:2:",
            "integer",
        ),
        (
            "duplicate name",
            "(cameras: [\n  (name: \"Gate\", url: \"rtsp://10.0.0.1/a\"),\n  (name: \"Gate\", url: \"rtsp://10.0.0.2/a\"),\n])",
            "bad.ron:3:10:",
            "duplicate camera name \"Gate\"",
        ),
        (
            "malformed URL",
            "(cameras: [\n  (name: \"Gate\",\n   url: \"rtsp//admin:pw-9912@10.0.0.1\"),\n])",
            "bad.ron:3:9:",
            "not a valid RTSP URL",
        ),
        (
            "unknown camera field",
            "(cameras: [(name: \"A\", url: \"rtsp://h/\", fps: 3)])",
            "bad.ron:1:",
            "fps",
        ),
        ("syntax", "(cameras: [", "bad.ron:1:", ""),
        (
            "layout naming an unknown camera",
            "(simulated: Some((cameras: 2)),\n layouts: [\n  (name: \"Pair\", grid: Grid(2, 1),\n   cameras: [\"Sim 2\", \"Sim 9\"]),\n ])",
            "bad.ron:4:23:",
            "layout \"Pair\": no camera named \"Sim 9\"",
        ),
        (
            "big cell outside its grid",
            "(layouts: [(name: \"X\",\n  grid: Spans(cols: 2, rows: 2, big: [(1, 1, 2, 1)]))])",
            "bad.ron:2:14:",
            "does not fit the 2×2 grid",
        ),
        (
            "window naming an unknown layout",
            "(layouts: [(name: \"A\")],\n windows: [(name: \"Left\", layout: Some(\"B\"))])",
            "bad.ron:2:",
            "window \"Left\": no layout named \"B\"",
        ),
        (
            "a grace of centuries",
            "(\n  grace_secs: 99999999999,\n)",
            "bad.ron:2:15:",
            "grace_secs 99999999999 must be between 1 and 3600",
        ),
        (
            "retention of no days",
            "(recording: (\n  retain_days: Some(0)))",
            "bad.ron:2:",
            "recording.retain_days 0 must be between 1 and 36500",
        ),
        (
            "a header timeout of a minute",
            "(servers: (header_timeout_secs: 60))",
            "bad.ron:1:",
            "servers.header_timeout_secs 60 must be between 1 and 30",
        ),
        (
            "network bind without token",
            "(\n  servers: (bind: \"0.0.0.0\"),\n)",
            "bad.ron:2:19:",
            "set servers.token",
        ),
    ];
    for (name, text, place, what) in cases {
        let (ok, msg) = check(text);
        assert!(!ok, "{name}: accepted");
        assert!(msg.contains(place), "{name}: no {place} in {msg}");
        assert!(msg.contains(what), "{name}: no {what:?} in {msg}");
        assert!(!msg.contains("pw-9912"), "{name}: password shown: {msg}");
    }
}

#[test]
fn shipped_configs_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files = vec![root.join("wall.ron")];
    for e in std::fs::read_dir(root.join("examples")).unwrap() {
        files.push(e.unwrap().path());
    }
    assert!(files.len() >= 6, "demo + five vendor examples");
    for f in files {
        let out = Command::new(BIN)
            .arg("check-config")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_app_refuses_to_start_on_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, "(\n  graze_secs: 1,\n)").unwrap();
    let out = Command::new(BIN)
        .args(["--headless", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.ron:2:3:") && err.contains("graze_secs"),
        "{err}"
    );
}

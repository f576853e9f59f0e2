//! What the Windows work changed, checked on Linux with real processes: the config found in the
//! platform's config folder (no `--config`, no `config/wall.ron` here), a camera whose name
//! Windows refuses recording into its sanitised folder, and SIGHUP (the terminal closed)
//! finishing the open segment as SIGTERM and Ctrl-C do. The Windows side runs under Wine in
//! `.ci/windows/smoke`.

use std::time::Duration;

use crate::common::{self, Proc, ffprobe, sim, small};
use crate::record::{NO_ROTATION, segments};

#[test]
fn platform_config_folder_sanitised_folder_and_sighup() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The test's `Proc` points OPTICLINK_CONFIG_DIR at its working folder.
    std::fs::write(
        dir.path().join("wall.ron"),
        format!(
            "(cameras: [(name: \"Hall: 1?*\", url: \"{}\", record: true)],
              recording: (dir: \"{}\", format: Mkv, segment_secs: {NO_ROTATION}),
              servers: (api_port: 0))",
            sim.url(1),
            out.path().display()
        ),
    )
    .unwrap();
    let mut app = Proc::start_in(dir, &["--headless"], &[]);
    app.wait_state("Hall: 1?*", "live", Duration::from_secs(30));
    common::wait_for(Duration::from_secs(30), "2 s of recorded pictures", || {
        let c = app.camera("Hall: 1?*");
        (c["recording"]["current"].is_string() && c["frames"].as_u64()? >= 50).then_some(())
    });
    assert!(app.stop_with("HUP").success(), "{}", app.log());
    assert!(app.log().contains("SIGHUP: shutting down"), "{}", app.log());
    let files = segments(out.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let rel = files[0].strip_prefix(out.path()).unwrap();
    assert_eq!(
        rel.components().next().unwrap().as_os_str(),
        "Hall_ 1__",
        "{rel:?}"
    );
    // Matroska has its duration only when the segment was finished properly.
    let v = ffprobe(&[
        "-show_entries",
        "format=duration",
        files[0].to_str().unwrap(),
    ]);
    let secs: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(secs > 1.5, "{v}");
}

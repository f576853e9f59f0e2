//! Background recording end to end: the headless app records the simulated camera (which
//! counts what it sent) into segments that ffprobe checks: keyframe starts, sizes, frame
//! totals, monotonic timestamps, gap-free joins by `creation_time` + duration; crash safety
//! (SIGKILL) and a new segment after a reconnect.

use std::path::{Path, PathBuf};
use std::time::Duration;

use opticlink::media::VideoCodec;
use opticlink::simcam::{SimConfig, SimFaults, SimStats};

use crate::common::{self, Proc, ffprobe, sim, small};

/// Every segment under `dir` (`.mp4`, `.mkv`), oldest first (names sort by time).
pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else if p.extension().is_some_and(|e| e == "mp4" || e == "mkv") {
                files.push(p)
            }
        }
    }
    files.sort();
    files
}

/// What ffprobe says about one segment.
#[derive(Debug)]
struct Segment {
    codec: String,
    width: u64,
    height: u64,
    pts: Vec<f64>,
    first_is_key: bool,
    start_ms: f64,
    duration: f64,
}

/// The video packets' times (s) and key flags of a segment, by ffprobe (none when it reads
/// nothing).
pub(crate) fn video_packets(path: &Path) -> Vec<(f64, bool)> {
    let v = ffprobe(&[
        "-select_streams",
        "v",
        "-show_entries",
        "packet=pts_time,flags",
        path.to_str().unwrap(),
    ]);
    v["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["pts_time"].as_str().unwrap().parse().unwrap(),
                        p["flags"].as_str().unwrap().contains('K'),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The video packets' times (s) of a segment.
pub(crate) fn video_pts(path: &Path) -> Vec<f64> {
    video_packets(path).into_iter().map(|(t, _)| t).collect()
}

fn probe(path: &Path) -> Segment {
    let p = path.to_str().unwrap();
    let v = ffprobe(&[
        "-show_entries",
        "stream=codec_name,width,height:format=duration:format_tags=creation_time",
        p,
    ]);
    let packets = ffprobe(&[
        "-select_streams",
        "v",
        "-show_entries",
        "packet=pts_time,flags",
        p,
    ]);
    let packets = packets["packets"].as_array().cloned().unwrap_or_default();
    let created = v["format"]["tags"]["creation_time"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}: no creation_time: {v}"));
    let start_ms = chrono::DateTime::parse_from_rfc3339(created)
        .unwrap()
        .timestamp_millis() as f64;
    Segment {
        codec: v["streams"][0]["codec_name"].as_str().unwrap().to_owned(),
        width: v["streams"][0]["width"].as_u64().unwrap(),
        height: v["streams"][0]["height"].as_u64().unwrap(),
        pts: packets
            .iter()
            .map(|p| p["pts_time"].as_str().unwrap().parse().unwrap())
            .collect(),
        first_is_key: packets
            .first()
            .is_some_and(|p| p["flags"].as_str().unwrap().contains('K')),
        start_ms,
        duration: v["format"]["duration"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap(),
    }
}

/// A segment length whose wall-clock boundaries (multiples since the epoch, about 31.7 years
/// apart) never fall inside a test, so a test that expects one segment per session never sees
/// a rotation on the hour.
pub(crate) const NO_ROTATION: u64 = 1_000_000_000;

pub(crate) fn record_config(url: &str, dir: &Path, format: &str, segment_secs: u64) -> String {
    format!(
        "(cameras: [(name: \"Rec\", url: \"{url}\", record: true)],
          recording: (dir: \"{}\", format: {format}, segment_secs: {segment_secs}),
          servers: (api_port: 0))",
        dir.display()
    )
}

/// Waits until camera `name` has received `n` more frames (camera time, not wall-clock time).
fn wait_frames(app: &Proc, name: &str, n: u64) {
    let start = app.camera(name)["frames"].as_u64().unwrap_or(0);
    common::wait_for(
        Duration::from_secs(60),
        &format!("{n} more frames of {name}"),
        || (app.camera(name)["frames"].as_u64()? >= start + n).then_some(()),
    );
}

/// Records one session of exactly `frames` frames and checks the segments it made.
fn gap_free(format: &str) {
    let _g = common::heavy();
    let rt = common::runtime();
    let frames = 180u64; // 7.2 s at 25 fps: at least 3 segments of 2 s
    let faults = SimFaults {
        drop_after_frames: Some(frames),
        ..Default::default()
    };
    let sim = sim(&rt, SimConfig { faults, ..small(0) });
    let out = tempfile::tempdir().unwrap();
    let mut app = Proc::headless(&record_config(&sim.url(1), out.path(), format, 2));
    app.wait_state("Rec", "live", Duration::from_secs(20));
    // Later sessions are refused: only the first one's frames are recorded.
    sim.set_faults(SimFaults {
        drop_after_frames: Some(frames),
        refuse: true,
        ..Default::default()
    });
    common::wait_for(
        Duration::from_secs(30),
        "the session to end and its segment to close",
        || {
            let c = app.camera("Rec");
            (c["state"] != "live" && c["recording"]["current"].is_null()).then_some(())
        },
    );
    let rec = app.camera("Rec")["recording"].clone();
    assert!(app.stop().success());
    assert_eq!(
        SimStats::get(&sim.stats().sessions),
        1,
        "display and recording share one session"
    );
    let files = segments(out.path());
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(rec["segments"].as_u64(), Some(files.len() as u64), "{rec}");
    let ext = if format == "Mp4" { "mp4" } else { "mkv" };
    let segs: Vec<Segment> = files.iter().map(|f| probe(f)).collect();
    let mut total = 0;
    for (f, s) in files.iter().zip(&segs) {
        assert_eq!(f.extension().unwrap(), ext);
        let rel = f
            .strip_prefix(out.path())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!((parts.len(), parts[0]), (3, "Rec"), "{rel}");
        assert_eq!(parts[1].len(), "YYYY-MM-DD".len(), "{rel}");
        assert_eq!(s.codec, "h264", "{rel}");
        assert_eq!((s.width, s.height), (320, 180), "{rel}");
        assert!(s.first_is_key, "{rel} does not start with a keyframe");
        assert!(
            s.pts.windows(2).all(|w| w[1] > w[0]),
            "{rel}: timestamps not increasing: {:?}",
            s.pts
        );
        total += s.pts.len() as u64;
    }
    assert_eq!(total, frames, "every frame sent is in exactly one file");
    for (a, b) in segs.iter().zip(segs.iter().skip(1)) {
        let gap = b.start_ms - (a.start_ms + a.duration * 1000.0);
        assert!(
            gap.abs() <= 40.0,
            "segments do not join: gap {gap} ms ({a:?} → {b:?})"
        );
    }
}

#[test]
fn mp4_segments_are_gap_free_and_complete() {
    gap_free("Mp4");
}

#[test]
fn mkv_segments_are_gap_free_and_complete() {
    gap_free("Mkv");
}

#[test]
fn sigkill_leaves_a_playable_mp4() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let mut app = Proc::headless(&record_config(&sim.url(1), out.path(), "Mp4", NO_ROTATION));
    common::wait_for(Duration::from_secs(20), "a segment to open", || {
        app.camera("Rec")["recording"]["current"]
            .as_str()
            .map(str::to_owned)
    });
    wait_frames(&app, "Rec", 110); // 4.4 s of the camera's time
    app.child.kill().unwrap(); // SIGKILL: no trailer, no cleanup
    let killed_ms = chrono::Utc::now().timestamp_millis() as f64;
    app.child.wait().unwrap();
    let files = segments(out.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let s = probe(&files[0]);
    assert!(s.first_is_key && s.pts.len() > 50, "{s:?}");
    let open_for = (killed_ms - s.start_ms) / 1000.0;
    let last = s.pts.last().unwrap() - s.pts[0];
    assert!(
        open_for - last <= 1.5,
        "lost {:.2} s of {open_for:.2} s",
        open_for - last
    );
}

#[test]
fn a_reconnect_starts_a_new_segment_without_timestamp_jumps() {
    let _g = common::heavy();
    let rt = common::runtime();
    let faults = SimFaults {
        drop_after_frames: Some(60),
        ..Default::default()
    };
    let sim = sim(&rt, SimConfig { faults, ..small(0) });
    let out = tempfile::tempdir().unwrap();
    let mut app = Proc::headless(&record_config(&sim.url(1), out.path(), "Mp4", NO_ROTATION));
    common::wait_for(Duration::from_secs(30), "a reconnect", || {
        (app.camera("Rec")["reconnects"].as_u64()? >= 1).then_some(())
    });
    sim.set_faults(SimFaults {
        drop_after_frames: Some(60),
        refuse: true,
        ..Default::default()
    });
    common::wait_for(Duration::from_secs(30), "the second session to end", || {
        let c = app.camera("Rec");
        (c["state"] != "live" && c["recording"]["current"].is_null()).then_some(())
    });
    assert!(app.stop().success());
    let files = segments(out.path());
    assert_eq!(files.len(), 2, "one segment per session: {files:?}");
    for f in &files {
        let s = probe(f);
        assert_eq!(s.pts.len(), 60, "{f:?}");
        for w in s.pts.windows(2) {
            let step = w[1] - w[0];
            assert!((step - 0.04).abs() < 0.005, "{f:?}: timestamp jump {step}");
        }
    }
}

#[test]
fn recording_toggles_over_the_api() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let ron = record_config(&sim.url(1), out.path(), "Mp4", NO_ROTATION)
        .replace("record: true", "record: false");
    let app = Proc::headless(&ron);
    app.wait_state("Rec", "live", Duration::from_secs(20));
    assert_eq!(app.camera("Rec")["recording"]["active"], false);
    let port = app.api_port();
    let (code, body) = common::http_post(port, "/api/cameras/Rec/recording", r#"{"active": true}"#);
    assert_eq!(code, 202, "{body}");
    common::wait_for(Duration::from_secs(10), "a segment to open", || {
        let r = app.camera("Rec")["recording"].clone();
        (r["active"] == true && r["current"].is_string()).then_some(())
    });
    wait_frames(&app, "Rec", 37);
    let (code, _) = common::http_post(port, "/api/cameras/Rec/recording", r#"{"active": false}"#);
    assert_eq!(code, 202);
    let r = common::wait_for(Duration::from_secs(10), "the segment to close", || {
        let r = app.camera("Rec")["recording"].clone();
        (r["active"] == false && r["current"].is_null()).then_some(r)
    });
    assert_eq!(r["segments"], 1);
    assert!(r["bytes"].as_u64().unwrap() > 1000, "{r}");
    let files = segments(out.path());
    assert_eq!(files.len(), 1);
    assert!(probe(&files[0]).first_is_key);
    // Bad requests say what is wrong.
    let (code, body) =
        common::http_post(port, "/api/cameras/Nope/recording", r#"{"active": true}"#);
    assert_eq!(code, 404, "{body}");
    let (code, body) = common::http_post(port, "/api/cameras/Rec/recording", r#"{"activ": true}"#);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("activ"), "{body}");
    let (code, _) = common::http_get(port, "/api/cameras/Rec/recording");
    assert_eq!(code, 405);
}

/// A tmpfs of `size`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (and why) where this machine cannot mount one: not root, or no `mount`.
    fn mount(size: &str) -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("mounting a tmpfs needs root".into());
        }
        let dir = tempfile::tempdir().unwrap().keep();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status();
        match status {
            Ok(s) if s.success() => Ok(Self(dir)),
            other => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!("mount -t tmpfs failed: {other:?}"))
            }
        }
    }

    fn resize(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_disk_is_an_error_that_heals() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(
        &rt,
        SimConfig {
            cameras: 2,
            ..small(0)
        },
    );
    let disk = match Tmpfs::mount("256k") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped a_full_disk_is_an_error_that_heals: {why}");
            return;
        }
    };
    let ron = format!(
        "(cameras: [(name: \"Rec\", url: \"{}\", record: true), (name: \"Other\", url: \"{}\")],
          recording: (dir: \"{}\", format: Mp4, segment_secs: {NO_ROTATION}), servers: (api_port: 0))",
        sim.url(1),
        sim.url(2),
        disk.0.display()
    );
    let mut app = Proc::headless(&ron);
    let failed = common::wait_for(Duration::from_secs(30), "a recording error", || {
        let r = app.camera("Rec")["recording"].clone();
        r["error"].as_str().map(str::to_owned)
    });
    assert!(
        failed.contains(disk.0.to_str().unwrap()),
        "the error names the file: {failed}"
    );
    // Retries while the disk stays full leave no litter: every file there holds pictures.
    common::wait_for(Duration::from_secs(30), "three failed attempts", || {
        (app.log().matches("recording failed").count() >= 3).then_some(())
    });
    for seg in segments(&disk.0) {
        assert!(!video_pts(&seg).is_empty(), "{seg:?} is an unreadable stub");
    }
    // The camera and its neighbour carry on.
    wait_frames(&app, "Other", 25);
    wait_frames(&app, "Rec", 25);
    assert_eq!(app.camera("Rec")["state"], "live");
    // Space comes back: recording resumes by itself.
    disk.resize("64m");
    common::wait_for(Duration::from_secs(20), "recording to recover", || {
        let r = app.camera("Rec")["recording"].clone();
        (r["error"].is_null() && r["current"].is_string()).then_some(())
    });
    wait_frames(&app, "Rec", 50);
    // The listing shows the outage as one gap with its reason.
    let (code, listing) = common::http_get(app.api_port(), "/api/cameras/Rec/recordings");
    assert_eq!(code, 200, "{listing}");
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let reasons: Vec<&str> = listing["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 1, "{listing}");
    assert!(reasons[0].starts_with("recording failed: "), "{listing}");
    assert!(app.stop().success());
    assert!(!app.log().contains("panicked"), "{}", app.log());
    let last = segments(&disk.0).pop().unwrap();
    let s = probe(&last);
    assert!(s.first_is_key && s.pts.len() >= 25, "{last:?}: {s:?}");
}

#[test]
fn retention_deletes_the_oldest_first_at_start() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let day = out.path().join("Rec").join("2026-01-01");
    std::fs::create_dir_all(&day).unwrap();
    let now = std::time::SystemTime::now();
    let mut old = Vec::new();
    for (i, age_days) in [40u64, 5, 4, 3, 2].iter().enumerate() {
        let p = day.join(format!("00-00-0{i}.mp4"));
        std::fs::write(&p, vec![0u8; 100_000]).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(now - Duration::from_secs(age_days * 86_400))
            .unwrap();
        old.push(p);
    }
    // The user's own video in the same folder, older than everything: never ours to delete.
    let holiday = out.path().join("Holiday").join("2019").join("beach.mp4");
    std::fs::create_dir_all(holiday.parent().unwrap()).unwrap();
    std::fs::write(&holiday, vec![0u8; 100_000]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&holiday)
        .unwrap()
        .set_modified(now - Duration::from_secs(400 * 86_400))
        .unwrap();
    let ron = record_config(&sim.url(1), out.path(), "Mp4", NO_ROTATION).replace(
        &format!("segment_secs: {NO_ROTATION})"),
        &format!("segment_secs: {NO_ROTATION}, retain_days: Some(30), max_bytes: Some(250000))"),
    );
    let app = Proc::headless(&ron);
    common::wait_for(Duration::from_secs(20), "a segment to open", || {
        app.camera("Rec")["recording"]["current"]
            .as_str()
            .map(str::to_owned)
    });
    common::wait_for(Duration::from_secs(10), "the start-up pass", || {
        (!old[2].exists()).then_some(())
    });
    let kept: Vec<bool> = old.iter().map(|p| p.exists()).collect();
    assert_eq!(
        kept,
        [false, false, false, true, true],
        "oldest first, down to the budget"
    );
    let open = app.camera("Rec")["recording"]["current"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(std::path::Path::new(&open).exists());
    assert!(app.log().contains("retention: deleted"), "{}", app.log());
    assert!(holiday.exists(), "the user's own file is kept");
}

#[test]
fn sigterm_finishes_the_open_segment() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let mut app = Proc::headless(&record_config(&sim.url(1), out.path(), "Mkv", NO_ROTATION));
    common::wait_for(Duration::from_secs(20), "a segment to open", || {
        app.camera("Rec")["recording"]["current"]
            .as_str()
            .map(str::to_owned)
    });
    wait_frames(&app, "Rec", 75); // 3 s of the camera's time
    assert!(app.stop().success(), "{}", app.log());
    let files = segments(out.path());
    assert_eq!(files.len(), 1, "{files:?}");
    // Matroska writes its duration only when the segment is finished properly.
    let s = probe(&files[0]);
    assert!(s.duration > 2.5 && s.duration < 10.0, "{s:?}");
    assert!(app.log().contains("segment closed"), "{}", app.log());
}

/// Records the GStreamer peer's H.264 + AAC and H.264 + G.711 mounts in `format`; returns the
/// status of each camera and its first finished segment.
fn record_gst_audio(format: &str) -> (tempfile::TempDir, Vec<(serde_json::Value, PathBuf)>) {
    let (_gst, port) = crate::interop::gst_server();
    let out = tempfile::tempdir().unwrap();
    let ron = format!(
        "(cameras: [
            (name: \"Aac\", url: \"rtsp://127.0.0.1:{port}/h264aac\", username: Some(\"viewer\"), password: Some(\"gst-pass\"), record: true),
            (name: \"Pcma\", url: \"rtsp://127.0.0.1:{port}/h264pcma\", username: Some(\"viewer\"), password: Some(\"gst-pass\"), record: true),
        ], recording: (dir: \"{}\", format: {format}, segment_secs: 2), servers: (api_port: 0))",
        out.path().display()
    );
    let mut app = Proc::headless(&ron);
    let mut result = Vec::new();
    for name in ["Aac", "Pcma"] {
        common::wait_for(Duration::from_secs(30), "two segments", || {
            (app.camera(name)["recording"]["segments"].as_u64()? >= 2).then_some(())
        });
        let first = segments(&out.path().join(name)).into_iter().next().unwrap();
        result.push((app.camera(name)["recording"].clone(), first));
    }
    assert!(app.stop().success());
    (out, result)
}

fn streams(path: &Path) -> Vec<String> {
    let v = ffprobe(&["-show_entries", "stream=codec_name", path.to_str().unwrap()]);
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn decodes(path: &Path) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{path:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn camera_audio_is_recorded_aac_everywhere_g711_in_mkv() {
    let _g = common::heavy();
    let (_dir1, mkv) = record_gst_audio("Mkv");
    assert_eq!(mkv[0].0["audio"], "AAC 16000 Hz", "{}", mkv[0].0);
    assert_eq!(streams(&mkv[0].1), ["h264", "aac"]);
    assert_eq!(mkv[1].0["audio"], "G.711 A-law 8000 Hz", "{}", mkv[1].0);
    assert_eq!(streams(&mkv[1].1), ["h264", "pcm_alaw"]);
    let (_dir2, mp4) = record_gst_audio("Mp4");
    assert_eq!(streams(&mp4[0].1), ["h264", "aac"]);
    assert_eq!(
        streams(&mp4[1].1),
        ["h264"],
        "G.711 does not fit MP4: video only"
    );
    assert!(
        mp4[1].0["audio"]
            .as_str()
            .unwrap()
            .contains("cannot be stored in MP4"),
        "{}",
        mp4[1].0
    );
    for (_, f) in mkv.iter().chain(&mp4) {
        decodes(f);
    }
}

#[test]
fn h265_is_remuxed_into_mp4_and_mkv() {
    let _g = common::heavy();
    let rt = common::runtime();
    // Closed GOPs (IDR keyframes) and open ones (CRA keyframes, parameter sets out of band).
    let closed = sim(
        &rt,
        SimConfig {
            codec: VideoCodec::H265,
            ..small(0)
        },
    );
    let open = sim(
        &rt,
        SimConfig {
            codec: VideoCodec::H265,
            open_gop: true,
            ..small(0)
        },
    );
    for (camera, format) in [(&closed, "Mp4"), (&closed, "Mkv"), (&open, "Mp4")] {
        let out = tempfile::tempdir().unwrap();
        // 1 s segments: every segment after the first starts at a keyframe met mid-stream.
        let mut app = Proc::headless(&record_config(&camera.url(1), out.path(), format, 1));
        common::wait_for(Duration::from_secs(20), "three segments", || {
            (app.camera("Rec")["recording"]["segments"].as_u64()? >= 3).then_some(())
        });
        assert!(
            app.camera("Rec")["decoded"].as_u64().unwrap() > 25,
            "{format}: H.265 decodes"
        );
        assert!(app.stop().success());
        let files = segments(out.path());
        let s = probe(&files[1]);
        assert_eq!(
            (s.codec.as_str(), s.width, s.height),
            ("hevc", 320, 180),
            "{format}"
        );
        assert!(s.first_is_key && s.pts.len() >= 20, "{format}: {s:?}");
        if format == "Mp4" {
            let tag = ffprobe(&[
                "-show_entries",
                "stream=codec_tag_string",
                files[1].to_str().unwrap(),
            ]);
            assert_eq!(tag["streams"][0]["codec_tag_string"], "hvc1");
        }
        decodes(&files[1]);
    }
}

//! Per-camera audio servers: an AAC camera's audio passed through as ADTS and a G.711 camera's
//! transcoded to AAC (ffprobe and ffmpeg read both from the reported ports), a clear 404 for a
//! camera without audio, and the port policy for a taken audio port.

use std::process::Command;
use std::time::Duration;

use crate::common::{self, Proc, sim, small};

/// ffprobe's view of `n` packets of an ADTS stream at `url`: (codec, sample rate, channels,
/// packets read).
fn probe_adts(url: &str, n: usize) -> (String, u64, u64, usize) {
    let j = common::ffprobe(&[
        // Fail rather than hang if the stream stops (microseconds).
        "-rw_timeout",
        "10000000",
        "-f",
        "aac",
        "-read_intervals",
        &format!("%+#{n}"),
        "-show_entries",
        "stream=codec_name,sample_rate,channels:packet=size",
        url,
    ]);
    let s = &j["streams"][0];
    (
        s["codec_name"].as_str().unwrap_or_default().to_owned(),
        s["sample_rate"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
        s["channels"].as_u64().unwrap_or(0),
        j["packets"].as_array().map_or(0, Vec::len),
    )
}

/// Decodes `frames` audio frames from `url` with ffmpeg; panics on any decoding error.
fn decodes(url: &str, frames: usize) {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-f",
            "aac",
            "-i",
            url,
        ])
        .arg("-frames:a")
        .arg(frames.to_string())
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "{url}: {err}"
    );
}

#[test]
fn camera_audio_is_served_as_adts_aac() {
    let _g = common::heavy();
    let (_gst, gst) = crate::interop::gst_server();
    let rt = common::runtime();
    let mute = sim(&rt, small(0));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let preferred = taken.local_addr().unwrap().port();
    let auth = "username: Some(\"viewer\"), password: Some(\"gst-pass\")";
    let app = Proc::headless(&format!(
        "(cameras: [
            (name: \"Aac\", url: \"rtsp://127.0.0.1:{gst}/h264aac\", {auth}, audio_port: Some({preferred})),
            (name: \"Pcma\", url: \"rtsp://127.0.0.1:{gst}/h264pcma\", {auth}),
            (name: \"Mute\", url: \"{}\"),
          ],
          headless_decode: false, servers: (api_port: 0))",
        mute.url(1)
    ));
    for name in ["Aac", "Pcma", "Mute"] {
        app.wait_state(name, "live", Duration::from_secs(30));
    }
    let audio_port = |name: &str| {
        app.camera(name)["ports"]["audio"]
            .as_u64()
            .expect("audio port reported") as u16
    };
    // The taken preferred port fell back, and the log says where.
    let aac = audio_port("Aac");
    assert_ne!(aac, preferred);
    let log = app.log();
    assert!(
        log.contains(&format!("audio port {preferred} unavailable")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "audio listening on http://127.0.0.1:{aac}/audio.aac"
        )),
        "{log}"
    );
    // AAC passes through: 16 kHz mono, as the camera sends it.
    let url = format!("http://127.0.0.1:{aac}/audio.aac");
    assert_eq!(probe_adts(&url, 20), ("aac".into(), 16000, 1, 20));
    decodes(&url, 20);
    // The same stream on the API port (for the web page).
    let api = app.api_port();
    let url = format!("http://127.0.0.1:{api}/api/cameras/Aac/audio.aac");
    assert_eq!(probe_adts(&url, 10).0, "aac");
    // G.711 A-law is transcoded to AAC at the camera's rate.
    let url = format!("http://127.0.0.1:{}/audio.aac", audio_port("Pcma"));
    assert_eq!(probe_adts(&url, 20), ("aac".into(), 8000, 1, 20));
    decodes(&url, 20);
    // The status says what each audio port serves.
    let what = |name: &str| app.camera(name)["audio"].as_str().map(str::to_owned);
    assert_eq!(
        what("Aac").as_deref(),
        Some("AAC 16000 Hz, 1 ch, passed through as ADTS")
    );
    assert!(what("Pcma").unwrap().contains("transcoded to AAC"));
    assert_eq!(what("Mute"), None);
    // A camera without audio says so.
    let (code, body) = common::http_get(audio_port("Mute"), "/audio.aac");
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains("Mute") && body.contains("has no audio"),
        "{body}"
    );
    let (code, _) = common::http_get(aac, "/nope");
    assert_eq!(code, 404);
    // Every camera has its own audio port.
    let ports: std::collections::HashSet<u16> = ["Aac", "Pcma", "Mute"]
        .iter()
        .map(|n| audio_port(n))
        .collect();
    assert_eq!(ports.len(), 3);
    drop(taken);
}

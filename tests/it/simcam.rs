//! The simulated camera read by an independent client (ffprobe): codec, size, frame rate,
//! over TCP and UDP, H.264 and H.265; and its faults.

use opticlink::media::VideoCodec;
use opticlink::simcam::{SimConfig, SimFaults, SimServer, SimStats};

use crate::common::{self, ffprobe};

fn probe(url: &str, transport: &str) -> serde_json::Value {
    let v = ffprobe(&[
        "-rtsp_transport",
        transport,
        "-show_entries",
        "stream=codec_name,width,height,r_frame_rate",
        url,
    ]);
    v["streams"][0].clone()
}

#[test]
fn ffprobe_reads_h264_over_tcp_and_udp() {
    let _g = common::heavy();
    let rt = common::runtime();
    let cfg = SimConfig {
        cameras: 2,
        width: 640,
        height: 360,
        fps: 25,
        ..Default::default()
    };
    let server = rt.block_on(SimServer::start(cfg)).unwrap();
    for (n, transport) in [(1, "tcp"), (2, "udp")] {
        let s = probe(&server.url(n), transport);
        assert_eq!(s["codec_name"], "h264", "{transport}: {s}");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(640), Some(360)),
            "{s}"
        );
        assert_eq!(s["r_frame_rate"], "25/1", "{s}");
    }
    assert!(SimStats::get(&server.stats().frames_sent) > 0);
    assert!(
        SimStats::get(&server.stats().teardowns) >= 1,
        "ffprobe closes with TEARDOWN"
    );
}

#[test]
fn ffprobe_reads_h265() {
    let _g = common::heavy();
    let rt = common::runtime();
    let cfg = SimConfig {
        width: 320,
        height: 240,
        fps: 15,
        codec: VideoCodec::H265,
        ..Default::default()
    };
    let server = rt.block_on(SimServer::start(cfg)).unwrap();
    let s = probe(&server.url(1), "tcp");
    assert_eq!(s["codec_name"], "hevc", "{s}");
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(320), Some(240)),
        "{s}"
    );
    assert_eq!(s["r_frame_rate"], "15/1", "{s}");
}

#[test]
fn unknown_path_is_404_and_refuse_fault_closes() {
    let rt = common::runtime();
    let cfg = SimConfig {
        width: 64,
        height: 64,
        ..Default::default()
    };
    let server = rt.block_on(SimServer::start(cfg)).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            &format!("rtsp://{}/cam9", server.addr()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.set_faults(SimFaults {
        refuse: true,
        ..Default::default()
    });
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-timeout", "5000000", &server.url(1)])
        .output()
        .unwrap();
    assert!(!out.status.success(), "refused connections must fail");
}

#[test]
fn with_audio_ffprobe_reads_picture_and_sound_over_tcp_and_udp() {
    let _g = common::heavy();
    let rt = common::runtime();
    let cfg = SimConfig {
        width: 320,
        height: 180,
        audio: true,
        ..Default::default()
    };
    let server = rt.block_on(SimServer::start(cfg)).unwrap();
    for transport in ["tcp", "udp"] {
        let j = common::ffprobe(&[
            "-rtsp_transport",
            transport,
            "-show_entries",
            "stream=codec_type,codec_name,sample_rate,channels,width",
            &server.url(1),
        ]);
        let streams = j["streams"].as_array().unwrap();
        let of = |kind: &str| {
            streams
                .iter()
                .find(|s| s["codec_type"] == kind)
                .unwrap_or_else(|| panic!("{transport}: no {kind} in {j}"))
        };
        assert_eq!(of("video")["codec_name"], "h264");
        let a = of("audio");
        assert_eq!(
            (&a["codec_name"], &a["sample_rate"], &a["channels"]),
            (&"aac".into(), &"16000".into(), &1.into()),
            "{transport}: {a}"
        );
    }
    // The sound decodes: ffmpeg reads 2 s of it without an error.
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &server.url(1),
        ])
        .args(["-map", "0:a", "-t", "2", "-f", "null", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}

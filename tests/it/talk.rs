//! Talk end to end: `opticlink talk` plays a 1 kHz tone through GStreamer's ONVIF RTSP server
//! (an independent backchannel peer, Digest auth) and through the simulated camera (Digest
//! auth), in PCMU and PCMA (and AAC to GStreamer); what arrives is checked by its dominant
//! frequency and duration.
//! Talk reaches only the camera it is for; a camera without a backchannel says so and its
//! video goes on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use opticlink::media::g711;
use opticlink::media::pcm;

use crate::common::{self, Proc};

/// A 16 kHz WAV file of a 1 kHz tone, `secs` long.
fn tone_wav(dir: &Path, secs: f32) -> PathBuf {
    tone_wav_at(dir, 16_000, secs)
}

/// A WAV file of a 1 kHz tone at `rate`, `secs` long.
pub(crate) fn tone_wav_at(dir: &Path, rate: u32, secs: f32) -> PathBuf {
    let clip = pcm::tone(1000.0, rate, secs, 0.4);
    let path = dir.join(format!("tone-{rate}-{secs}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for s in pcm::to_i16(&clip.samples) {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// `opticlink talk CAMERA FILE --config CONFIG [extra]`: success and its output.
pub(crate) fn talk(config: &Path, camera: &str, file: &Path, extra: &[&str]) -> (bool, String) {
    let (file, config) = (file.to_str().unwrap(), config.to_str().unwrap());
    let mut args = vec!["talk", camera, file, "--config", config];
    args.extend_from_slice(extra);
    common::run_cli(&args, "", &[])
}

/// Checks received 8 kHz samples: a 1 kHz tone (±2 %) about `secs` long, counted from the
/// first to the last 10 ms that is not silence (an AAC encoder's priming and flush are).
pub(crate) fn assert_tone(samples: &[f32], secs: f32, what: &str) {
    let loud = |c: &[f32]| pcm::level_dbfs(c) > -40.0;
    let chunks: Vec<&[f32]> = samples.chunks(80).collect();
    let first = chunks.iter().position(|c| loud(c)).unwrap_or(0);
    let last = chunks.iter().rposition(|c| loud(c)).unwrap_or(0);
    let samples = &samples[first * 80..((last + 1) * 80).min(samples.len())];
    let got = samples.len() as f32 / 8000.0;
    assert!(
        (got - secs).abs() <= 0.15,
        "{what}: {got:.3} s received, {secs} s sent"
    );
    let body = &samples[samples.len() / 8..samples.len() * 7 / 8];
    let f = pcm::dominant_frequency(body, 8000, 500, 2000);
    assert!((f - 1000.0).abs() <= 20.0, "{what}: dominant {f} Hz");
    let level = pcm::level_dbfs(body);
    assert!(level > -15.0, "{what}: level {level} dBFS");
}

#[test]
fn talk_reaches_gstreamers_onvif_backchannel_as_pcmu_pcma_and_aac() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let wav = tone_wav(dir.path(), 2.0);
    for codec in ["pcmu", "pcma", "aac"] {
        let raw = dir.path().join(format!("heard-{codec}.raw"));
        let (_gst, port) = common::python_peer(
            "peers/gst_onvif_backchannel.py",
            &[codec, raw.to_str().unwrap()],
        );
        let config = dir.path().join(format!("{codec}.ron"));
        let with_password = |password: &str| {
            std::fs::write(
                &config,
                format!(
                    "(cameras: [(name: \"Door\", url: \"rtsp://127.0.0.1:{port}/talk\", \
                     username: Some(\"talker\"), password: Some(\"{password}\"))])"
                ),
            )
            .unwrap();
        };
        with_password("gst-talk");
        let (ok, out) = talk(&config, "Door", &wav, &[]);
        assert!(ok, "{codec}: {out}");
        assert!(
            out.contains(&format!("as {}", codec.to_uppercase())),
            "{out}"
        );
        // G.711 arrives as its bytes; AAC decoded by GStreamer as 8 kHz S16LE.
        let bytes_per_sample = if codec == "aac" { 2 } else { 1 };
        let bytes = common::wait_for(Duration::from_secs(10), "the received audio", || {
            let b = std::fs::read(&raw).ok()?;
            (b.len() as f32 >= 8000.0 * 1.8 * bytes_per_sample as f32).then_some(b)
        });
        let samples: Vec<f32> = match codec {
            "pcmu" => bytes
                .iter()
                .map(|&c| g711::ulaw_decode(c))
                .collect::<Vec<_>>(),
            "pcma" => bytes.iter().map(|&c| g711::alaw_decode(c)).collect(),
            _ => bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
        }
        .into_iter()
        .map(|s| f32::from(s) / 32768.0)
        .collect();
        assert_tone(&samples, 2.0, &format!("GStreamer {codec}"));
        // The wrong password is refused with the camera named, never the password shown.
        with_password("nope-secret");
        let (ok, out) = talk(&config, "Door", &wav, &[]);
        assert!(!ok && out.contains("refused the credentials"), "{out}");
        assert!(!out.contains("nope-secret"), "{out}");
    }
}

/// Starts a simulated camera server with `cameras` cameras, Digest auth (`u`/`p`) and talk
/// written to `talk_out`; returns it with a config naming its cameras "A", "B" ….
pub(crate) fn sim_with_talk(
    rt: &tokio::runtime::Runtime,
    cameras: u32,
    backchannel: bool,
    talk_out: &Path,
    config: &Path,
) -> opticlink::simcam::SimServer {
    let server = common::sim(
        rt,
        opticlink::simcam::SimConfig {
            cameras,
            user: Some("u".into()),
            password: Some("p".into()),
            backchannel,
            talk_out: Some(talk_out.to_path_buf()),
            ..common::small(0)
        },
    );
    let entries: Vec<String> = (1..=cameras)
        .map(|i| {
            format!(
                "(name: \"{}\", url: \"{}\", username: Some(\"u\"), password: Some(\"p\"))",
                char::from(b'A' + i as u8 - 1),
                server.url(i)
            )
        })
        .collect();
    std::fs::write(
        config,
        format!(
            "(cameras: [{}], servers: (api_port: 0))",
            entries.join(", ")
        ),
    )
    .unwrap();
    server
}

pub(crate) fn read_wav(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    pcm::read_wav(&bytes).unwrap().samples
}

#[test]
fn talk_reaches_only_the_simulated_camera_it_is_for_in_both_codecs() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let heard = dir.path().join("heard");
    let config = dir.path().join("wall.ron");
    let _server = sim_with_talk(&rt, 2, true, &heard, &config);
    let wav = tone_wav(dir.path(), 1.5);
    for (k, codec) in ["pcmu", "pcma"].iter().enumerate() {
        let (ok, out) = talk(&config, "A", &wav, &["--codec", codec]);
        assert!(ok, "{out}");
        let file = heard.join(format!("cam1-{}.wav", k + 1));
        common::wait_for(Duration::from_secs(5), "A's talk file", || {
            file.exists().then_some(())
        });
        assert_tone(&read_wav(&file), 1.5, &format!("simulated camera {codec}"));
    }
    let names: Vec<String> = std::fs::read_dir(&heard)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("cam1-")),
        "nothing may reach B: {names:?}"
    );
}

#[test]
fn a_camera_without_backchannel_cannot_talk_and_its_video_goes_on() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let heard = dir.path().join("heard");
    let config = dir.path().join("wall.ron");
    let server = sim_with_talk(&rt, 1, false, &heard, &config);
    let ron = std::fs::read_to_string(&config).unwrap();
    let app = Proc::headless(&ron);
    app.wait_state("A", "live", Duration::from_secs(30));
    let before = common::wait_for(Duration::from_secs(15), "decoded pictures", || {
        app.camera("A")["decoded"].as_u64().filter(|n| *n > 5)
    });
    let sessions = server
        .stats()
        .sessions
        .load(std::sync::atomic::Ordering::Relaxed);
    let wav = tone_wav(dir.path(), 0.5);
    let (ok, out) = talk(&config, "A", &wav, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("camera \"A\" cannot talk (no ONVIF backchannel"),
        "{out}"
    );
    common::wait_for(Duration::from_secs(10), "more decoded pictures", || {
        (app.camera("A")["decoded"].as_u64()? > before + 25).then_some(())
    });
    assert_eq!(app.camera("A")["state"], "live");
    assert_eq!(
        server
            .stats()
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed),
        sessions,
        "the refused talk set up no session"
    );
    assert!(!heard.exists());
}

#[test]
fn the_api_plays_a_body_through_one_camera_and_a_new_talk_ends_the_old_one() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let heard = dir.path().join("heard");
    let config = dir.path().join("wall.ron");
    let _server = sim_with_talk(&rt, 2, true, &heard, &config);
    let app = Proc::headless(&std::fs::read_to_string(&config).unwrap());
    let port = app.api_port();
    app.camera("A");
    // Raw PCM at 16 kHz, one second.
    let clip = pcm::tone(1000.0, 16_000, 1.0, 0.4);
    let raw: Vec<u8> = pcm::to_i16(&clip.samples)
        .flat_map(i16::to_le_bytes)
        .collect();
    let (code, body) = common::http_post_bytes(
        port,
        "/api/cameras/A/talk?rate=16000",
        "application/octet-stream",
        &raw,
    );
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["codec"], "PCMU", "{answer}");
    let first = heard.join("cam1-1.wav");
    common::wait_for(Duration::from_secs(5), "A's talk file", || {
        first.exists().then_some(())
    });
    assert_tone(&read_wav(&first), 1.0, "API raw PCM");
    // A long message to A, then one to B: B takes the floor, A's talk ends early.
    let long = std::fs::read(tone_wav(dir.path(), 4.0)).unwrap();
    let to_a = std::thread::spawn(move || {
        common::http_post_bytes(port, "/api/cameras/A/talk", "audio/wav", &long)
    });
    common::wait_for(Duration::from_secs(10), "talk to A under way", || {
        app.log()
            .contains("talk: ONVIF backchannel open")
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500)); // A has been heard for a while
    let short = std::fs::read(tone_wav(dir.path(), 0.5)).unwrap();
    let (code, body) = common::http_post_bytes(port, "/api/cameras/B/talk", "audio/wav", &short);
    assert_eq!(code, 200, "{body}");
    let (code, body) = to_a.join().unwrap();
    assert_eq!(code, 409, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.ends_with("talking to \"B\" now")),
        "{body}"
    );
    let a2 = common::wait_for(Duration::from_secs(5), "A's second file", || {
        std::fs::read_dir(&heard).ok()?.find_map(|e| {
            let p = e.ok()?.path();
            let n = p.file_name()?.to_str()?.to_owned();
            (n.starts_with("cam1-") && n != "cam1-1.wav" && n.ends_with(".wav")).then_some(p)
        })
    });
    let a_secs = read_wav(&a2).len() as f32 / 8000.0;
    assert!(a_secs < 3.0, "A's talk was cut short: {a_secs} s");
    let b = common::wait_for(Duration::from_secs(5), "B's file", || {
        std::fs::read_dir(&heard).ok()?.find_map(|e| {
            let p = e.ok()?.path();
            let n = p.file_name()?.to_str()?;
            (n.starts_with("cam2-") && n.ends_with(".wav")).then_some(p)
        })
    });
    assert_tone(&read_wav(&b), 0.5, "B after A");
    // Bad bodies name the problem.
    let (code, body) = common::http_post_bytes(port, "/api/cameras/A/talk", "audio/wav", b"RIFF");
    assert_eq!(code, 400, "{body}");
    let (code, _) = common::http_post_bytes(port, "/api/cameras/Nope/talk", "audio/wav", &raw);
    assert_eq!(code, 404);
}

/// A camera that stops reading its backchannel (its TCP window shut, the connection open)
/// ends the talk with an error within seconds, not when the message would have ended.
#[test]
fn a_camera_that_stops_reading_ends_the_talk_within_seconds() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wall.ron");
    let server = sim_with_talk(&rt, 2, true, &dir.path().join("heard"), &config);
    server.set_faults(opticlink::simcam::SimFaults {
        talk_deaf: true,
        ..Default::default()
    });
    let app = Proc::headless(&std::fs::read_to_string(&config).unwrap());
    let port = app.api_port();
    app.camera("A");
    let minute = std::fs::read(tone_wav(dir.path(), 60.0)).unwrap();
    let mut request = format!(
        "POST /api/cameras/A/talk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        minute.len()
    )
    .into_bytes();
    request.extend_from_slice(&minute);
    let t = std::time::Instant::now();
    let (code, body) = common::http_bytes_within(port, &request, Duration::from_secs(90));
    let took = t.elapsed();
    eprintln!("a deaf camera ended the talk after {took:?}");
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("took no talk audio"), "{body}");
    assert!(took < Duration::from_secs(20), "ended only after {took:?}");
    // The floor is free again: the next talk (to a camera that reads) goes through. (The
    // hung camera itself keeps its one backchannel until it notices.)
    server.set_faults(opticlink::simcam::SimFaults::default());
    let short = std::fs::read(tone_wav(dir.path(), 0.5)).unwrap();
    let (code, body) = common::http_post_bytes(port, "/api/cameras/B/talk", "audio/wav", &short);
    assert_eq!(code, 200, "{body}");
}

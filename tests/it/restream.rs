//! The RTSP restream against independent clients: ffprobe and FFmpeg, GStreamer's rtspsrc
//! (Python gi) and a raw socket that stops reading, served by a headless app from one session
//! of a simulated camera.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use opticlink::simcam::{SimConfig, SimStats};

use crate::common::{self, Owned, Proc, ffprobe};

/// A headless app with one camera `Door` at `url` (and `sub`), its restream on any port.
fn app(url: &str, sub: Option<&str>, servers: &str) -> Proc {
    let sub = sub.map_or(String::new(), |s| format!(", sub_url: Some(\"{s}\")"));
    Proc::headless(&format!(
        "(cameras: [(name: \"Door\", url: \"{url}\"{sub}, record: true)],\n \
         headless_decode: false, recording: (segment_secs: 2),\n \
         servers: (api_port: 0, rtsp_port: 0{servers}))"
    ))
}

/// The camera's restream URL of `stream` ("main" or "sub"), once the status has it.
fn restream_url(app: &Proc, stream: &str) -> String {
    common::wait_for(Duration::from_secs(10), "the restream URL", || {
        app.camera("Door")["restream"][stream]
            .as_str()
            .map(str::to_owned)
    })
}

/// GStreamer's rtspsrc playing `url` for `secs` after its first picture (`auth`: user-id and
/// user-pw), as the JSON the peer prints.
fn gst_client(url: &str, secs: f64, auth: Option<(&str, &str)>) -> std::process::Child {
    let mut args = vec![url.to_owned(), secs.to_string()];
    if let Some((u, p)) = auth {
        args.extend([u.to_owned(), p.to_owned()]);
    }
    Command::new("/usr/bin/python3")
        .arg(common::test_file("peers/gst_rtsp_client.py"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("/usr/bin/python3 with GStreamer (python3-gi, gstreamer1.0-libav)")
}

fn gst_result(child: std::process::Child) -> serde_json::Value {
    let out = Owned(child);
    let mut child = out;
    let mut text = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(text.trim()).unwrap_or_else(|_| panic!("rtspsrc client: {text:?}"))
}

/// FFmpeg decoding `secs` of `url`'s video over TCP; its pictures are counted on `wait`.
fn ffmpeg_client(url: &str, secs: u32) -> std::process::Child {
    Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostats",
            "-rtsp_transport",
            "tcp",
            "-i",
            url,
        ])
        .args(["-t", &secs.to_string(), "-map", "0:v:0", "-f", "null", "-"])
        .args(["-progress", "pipe:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed")
}

/// Pictures an [`ffmpeg_client`] decoded, and whether it ended well.
fn ffmpeg_frames(child: std::process::Child) -> (u64, bool, String) {
    let out = child.wait_with_output().unwrap();
    let progress = String::from_utf8_lossy(&out.stdout);
    let frames = progress
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (frames, out.status.success(), err)
}

/// Asserts `n` pictures is 10 s of a 25 fps camera (plus the cached group it starts with).
fn ten_seconds(n: u64, who: &str) {
    assert!((225..=300).contains(&n), "{who}: {n} pictures in 10 s");
}

#[test]
fn independent_clients_share_the_cameras_one_session_while_it_records() {
    let _g = common::heavy();
    let rt = common::runtime();
    let server = common::sim(
        &rt,
        SimConfig {
            width: 640,
            height: 360,
            audio: true,
            sub_size: Some((320, 180)),
            // Main and sub: a third session would be refused.
            max_sessions: Some(2),
            ..Default::default()
        },
    );
    let app = app(&server.url(1), Some(&server.sub_url(1)), "");
    app.wait_state("Door", "live", Duration::from_secs(20));
    let (main, sub) = (restream_url(&app, "main"), restream_url(&app, "sub"));
    assert!(main.ends_with("/Door/main"), "{main}");

    let streams = |url: &str| {
        ffprobe(&[
            "-rtsp_transport",
            "tcp",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_rate",
            url,
        ])["streams"]
            .clone()
    };
    let s = streams(&main);
    assert_eq!(s[0]["codec_name"], "h264", "{s}");
    assert_eq!(
        (s[0]["width"].as_u64(), s[0]["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(s[1]["codec_name"], "aac", "{s}");
    assert_eq!(s[1]["sample_rate"], "16000", "{s}");
    let s = streams(&sub);
    assert_eq!(
        (s[0]["width"].as_u64(), s[0]["height"].as_u64()),
        (Some(320), Some(180)),
        "{s}"
    );
    // UDP is not served.
    assert!(try_probe(&main, "udp", "width").is_err(), "UDP was served");

    // Three clients at once on the main stream, 10 s each.
    let gst = gst_client(&main, 10.0, None);
    let ff = [ffmpeg_client(&main, 10), ffmpeg_client(&main, 10)];
    let gst = gst_result(gst);
    assert_eq!(gst["error"], serde_json::Value::Null, "{gst}");
    assert_eq!(
        (gst["width"].as_u64(), gst["height"].as_u64()),
        (Some(640), Some(360))
    );
    let gst_frames = gst["frames"].as_u64().unwrap();
    ten_seconds(gst_frames, "rtspsrc");
    for child in ff {
        let (frames, ok, err) = ffmpeg_frames(child);
        assert!(ok, "ffmpeg: {err}");
        eprintln!("restream: ffmpeg {frames} pictures, rtspsrc {gst_frames}");
        ten_seconds(frames, "ffmpeg");
        assert!(
            frames.abs_diff(gst_frames) <= 30,
            "ffmpeg {frames} vs rtspsrc {gst_frames}"
        );
    }
    let stats = server.stats();
    let main_sessions = SimStats::get(&stats.sessions) - SimStats::get(&stats.sub_sessions);
    assert_eq!(main_sessions, 1, "the camera saw one main session");
    assert_eq!(SimStats::get(&stats.refused_sessions), 0);
    let cam = app.camera("Door");
    assert_eq!(cam["recording"]["active"], true, "{cam}");
    assert!(cam["recording"]["bytes"].as_u64() > Some(0), "{cam}");
}

#[test]
fn a_client_joining_mid_group_gets_a_picture_at_once() {
    let _g = common::heavy();
    let rt = common::runtime();
    // A keyframe every 4 s: without the cache a client would wait 2 s on average.
    let server = common::sim(
        &rt,
        SimConfig {
            keyframe_secs: 4,
            ..common::small(0)
        },
    );
    let app = app(&server.url(1), None, "");
    app.wait_state("Door", "live", Duration::from_secs(20));
    let url = restream_url(&app, "main");
    let mut firsts = Vec::new();
    for _ in 0..3 {
        let r = gst_result(gst_client(&url, 0.5, None));
        assert_eq!(r["error"], serde_json::Value::Null, "{r}");
        firsts.push(r["first_ms"].as_f64().unwrap());
        // Join at another point of the group next time.
        std::thread::sleep(Duration::from_millis(1300));
    }
    firsts.sort_by(f64::total_cmp);
    eprintln!("restream: first pictures after {firsts:?} ms");
    assert!(firsts[1] < 500.0, "first pictures after {firsts:?} ms");
    assert_eq!(
        SimStats::get(&server.stats().plays),
        1,
        "no client asked the camera for a keyframe"
    );
}

/// RTSP over `stream`: sends `request` (CSeq `n`) and reads the response head and body.
fn rtsp(stream: &mut BufReader<TcpStream>, request: &str, n: u32) -> (String, Vec<u8>) {
    let req = request.replace("\n", "\r\n") + &format!("CSeq: {n}\r\n\r\n");
    stream.get_mut().write_all(req.as_bytes()).unwrap();
    let mut head = String::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

/// A raw client that plays `url`'s video (interleaved on channels 0 and 1) and reads nothing
/// yet.
fn play_raw(url: &str) -> BufReader<TcpStream> {
    let addr = url
        .strip_prefix("rtsp://")
        .and_then(|r| r.split('/').next())
        .unwrap();
    let mut client = BufReader::new(TcpStream::connect(addr).unwrap());
    let (head, _) = rtsp(&mut client, &format!("DESCRIBE {url} RTSP/1.0\n"), 1);
    assert!(head.starts_with("RTSP/1.0 200"), "{head}");
    let setup =
        format!("SETUP {url}/trackID=0 RTSP/1.0\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\n");
    let (head, _) = rtsp(&mut client, &setup, 2);
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .and_then(|s| s.split(';').next())
        .unwrap()
        .to_owned();
    let play = format!("PLAY {url} RTSP/1.0\nSession: {session}\n");
    let (head, _) = rtsp(&mut client, &play, 3);
    assert!(head.starts_with("RTSP/1.0 200"), "{head}");
    client
}

/// The next interleaved message on `client`: (channel, payload).
fn interleaved(client: &mut BufReader<TcpStream>) -> (u8, Vec<u8>) {
    let mut head = [0u8; 4];
    client.read_exact(&mut head).unwrap();
    assert_eq!(head[0], b'$', "not interleaved data");
    let mut payload = vec![0; usize::from(u16::from_be_bytes([head[2], head[3]]))];
    client.read_exact(&mut payload).unwrap();
    (head[1], payload)
}

#[test]
fn sender_reports_carry_the_cameras_own_clock() {
    let _g = common::heavy();
    let rt = common::runtime();
    // The camera's clock is an hour behind ours; its sender reports say so.
    let server = common::sim(
        &rt,
        SimConfig {
            faults: opticlink::simcam::SimFaults {
                clock_offset_secs: -3600,
                ..Default::default()
            },
            ..common::small(0)
        },
    );
    let app = app(&server.url(1), None, "");
    app.wait_state("Door", "live", Duration::from_secs(20));
    // The camera's first report after going live comes within 5 s.
    std::thread::sleep(Duration::from_secs(6));
    let mut client = play_raw(&restream_url(&app, "main"));
    client
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let report = loop {
        let (channel, payload) = interleaved(&mut client);
        if channel == 1 && payload.get(1) == Some(&200) {
            break payload;
        }
    };
    let ntp = u64::from_be_bytes(report[8..16].try_into().unwrap());
    let reported_unix = (ntp >> 32) as i64 - 2_208_988_800;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (reported_unix - (now - 3600)).abs() <= 3,
        "the report says {reported_unix}, the camera's clock is {}",
        now - 3600
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn a_reader_that_stops_slows_nobody_and_costs_bounded_memory() {
    let _g = common::heavy();
    let rt = common::runtime();
    // Noise makes a big stream, so the stalled reader's socket fills soon.
    let server = common::sim(
        &rt,
        SimConfig {
            width: 640,
            height: 360,
            noise: 40,
            ..Default::default()
        },
    );
    let app = app(&server.url(1), None, "");
    app.wait_state("Door", "live", Duration::from_secs(20));
    let url = restream_url(&app, "main");
    let mut stalled = play_raw(&url);
    // From here on it reads nothing for 20 s.
    let stalled_since = Instant::now();
    let pid = app.child.id();
    let before = rss_kib(pid);
    std::thread::sleep(Duration::from_secs(4));
    let (frames, ok, err) = ffmpeg_frames(ffmpeg_client(&url, 10));
    assert!(ok, "ffmpeg: {err}");
    ten_seconds(frames, "a client beside the stalled one");
    let cam = app.camera("Door");
    assert!(
        cam["fps"].as_f64() >= Some(20.0),
        "the camera slowed: {cam}"
    );
    assert_eq!(cam["recording"]["active"], true, "{cam}");
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 48 * 1024, "{grown} KiB more while a reader stalls");
    while stalled_since.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    // It reads again: the connection is still there and the pictures come again.
    stalled
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let until = Instant::now() + Duration::from_secs(10);
    while got < 8 << 20 && Instant::now() < until {
        got += stalled
            .read(&mut buf)
            .expect("the stalled client was dropped");
    }
    assert!(got >= 8 << 20, "only {got} bytes after reading again");
    common::wait_for(Duration::from_secs(5), "one client left", || {
        (app.camera("Door")["restream"]["clients"] == 1).then_some(())
    });
}

#[test]
fn the_token_guards_the_restream_and_a_new_stream_ends_its_clients() {
    let _g = common::heavy();
    let rt = common::runtime();
    let server = common::sim(&rt, common::small(0));
    let port = server.addr().port();
    let token = "restream-token-0123456789abcdef";
    let mut app = app(&server.url(1), None, &format!(", token: Some(\"{token}\")"));
    app.token = Some(token.to_owned());
    app.wait_state("Door", "live", Duration::from_secs(20));
    let url = restream_url(&app, "main");
    let with =
        |user: &str, pass: &str| url.replacen("rtsp://", &format!("rtsp://{user}:{pass}@"), 1);
    for refused in [url.clone(), with("viewer", "wrong")] {
        let err = try_probe(&refused, "tcp", "width").unwrap_err();
        assert!(err.contains("401"), "{err}");
    }
    let good = with("viewer", token);
    let s = ffprobe(&[
        "-rtsp_transport",
        "tcp",
        "-show_entries",
        "stream=width",
        &good,
    ]);
    assert_eq!(s["streams"][0]["width"], 320);
    let r = gst_result(gst_client(&url, 1.0, Some(("viewer", token))));
    assert!(r["frames"].as_u64() > Some(0), "{r}");
    assert!(!app.log().contains(token), "the token was logged");

    // The camera comes back as H.265 at another size: clients are ended, and describe anew.
    let playing = ffmpeg_client(&good, 60);
    common::wait_for(Duration::from_secs(10), "the client to play", || {
        (app.camera("Door")["restream"]["clients"] == 1).then_some(())
    });
    server.stop();
    drop(server);
    // The old listener closes as its aborted task is dropped: bind again until it has.
    let _next = common::wait_for(Duration::from_secs(5), "the port to be free", || {
        rt.block_on(opticlink::simcam::SimServer::start(SimConfig {
            codec: opticlink::media::VideoCodec::H265,
            width: 480,
            height: 270,
            port,
            ..Default::default()
        }))
        .ok()
    });
    let ended = Instant::now();
    let (_, _, err) = ffmpeg_frames(playing);
    assert!(
        ended.elapsed() < Duration::from_secs(40),
        "the client played on: {err}"
    );
    let s = common::wait_for(Duration::from_secs(20), "the new stream", || {
        let s = try_probe(&good, "tcp", "codec_name,width").ok()?;
        (s["streams"][0]["width"] == 480).then_some(s)
    });
    assert_eq!(s["streams"][0]["codec_name"], "hevc", "{s}");
}

/// `ffprobe URL` over `transport` showing the streams' `entries`: its JSON, or what it printed
/// on failure.
fn try_probe(url: &str, transport: &str, entries: &str) -> Result<serde_json::Value, String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-rtsp_transport", transport])
        .args(["-show_entries", &format!("stream={entries}"), url])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).ok();
    json.filter(|_| out.status.success())
        .ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The first stream's width over TCP, or what ffprobe printed on failure.
fn probe_width(url: &str) -> Result<u64, String> {
    let json = try_probe(url, "tcp", "width")?;
    json["streams"][0]["width"]
        .as_u64()
        .ok_or_else(|| json.to_string())
}

#[test]
fn a_locked_camera_needs_its_key_on_the_restream_too() {
    let _g = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state) = crate::locks::locked_sim_config(dir.path(), (160, 90));
    let app = Proc::start(
        &["--headless", "--config", &cfg],
        &[("OPTICLINK_STATE_DIR", state.as_str())],
    );
    app.wait_state("Sim 2", "live", Duration::from_secs(30));
    let port = app.status()["rtsp_port"].as_u64().unwrap();
    let url = |camera: &str, auth: &str, query: &str| {
        format!("rtsp://{auth}127.0.0.1:{port}/{camera}/main{query}")
    };
    assert_eq!(probe_width(&url("Sim%201", "", "")), Ok(160), "not locked");
    let refused = probe_width(&url("Sim%202", "", "")).unwrap_err();
    assert!(refused.contains("401"), "{refused}");
    let (code, body) = common::http_post(
        app.api_port(),
        "/api/cameras/Sim%202/unlock",
        r#"{"password":"pw"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let key: serde_json::Value = serde_json::from_str(&body).unwrap();
    let key = key["key"].as_str().unwrap();
    assert_eq!(
        probe_width(&url("Sim%202", "", &format!("?key={key}"))),
        Ok(160)
    );
    let as_password = format!("viewer:{key}@");
    assert_eq!(probe_width(&url("Sim%202", &as_password, "")), Ok(160));
    let wrong = probe_width(&url("Sim%202", "viewer:nope@", "")).unwrap_err();
    assert!(wrong.contains("401"), "{wrong}");
    assert!(!app.log().contains(key), "the key was logged");
}

//! `opticlink bench-events`: what events cost and how soon they show, each beside a baseline
//! in the same run. CPU: picture motion analysis of a 320×180 stream at five pictures a second
//! against decoding that stream (the work a camera needs for it in any case), both timed on
//! this thread over the same pictures; and decoding it lightly (as a hidden camera is, for its
//! motion alone) against decoding it in full. Latency: a simulated camera (in this process) starts
//! moving or raises its ONVIF motion state → the event's start on the app's live event stream
//! (`/api/events/stream`, the same feed the tile, the alarm list and MQTT take), with the app
//! as a separate `--headless` process, for ONVIF and for picture motion; and on to a subscriber
//! of the app's MQTT `ON` through a local `mosquitto`, where one is installed.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;

use super::picture::{Detector, Settings};
use crate::bench::Spread;
use crate::media::{VideoCodec, init_ffmpeg};
use crate::simcam::scene::{Activity, Source, SourceSpec};
use crate::simcam::{SimConfig, SimServer};

/// A decoded luma plane: bytes, stride, width, height.
type Luma = (Vec<u8>, usize, usize, usize);

/// `frames` access units, from a keyframe on, of a `width`×`height` H.264 stream at 25 fps
/// whose box moves.
fn clip(frames: usize, (width, height): (u32, u32)) -> Result<Vec<Vec<u8>>, String> {
    let spec = SourceSpec {
        name: "bench".into(),
        index: 0,
        width,
        height,
        fps: 25,
        codec: VideoCodec::H264,
        open_gop: false,
        noise: 3,
        keyframe_secs: 1,
    };
    let source = Source::start(
        spec,
        Default::default(),
        std::sync::Arc::new(Activity::default()),
    )
    .map_err(|e| e.to_string())?;
    let mut rx = source.frames.subscribe();
    let mut units = Vec::new();
    while units.len() < frames {
        let f = rx.blocking_recv().map_err(|e| e.to_string())?;
        if units.is_empty() && !f.keyframe {
            continue;
        }
        units.push(f.data.to_vec());
    }
    source.stop();
    Ok(units)
}

/// The luma planes of `units` and the time decoding them took on this thread, in full or
/// as for the motion detector alone (`light`).
fn decode(units: &[Vec<u8>], light: bool) -> Result<(Vec<Luma>, Duration), String> {
    init_ffmpeg();
    let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::H264).ok_or("no H.264 decoder")?;
    let mut decoder = ffmpeg::codec::Context::new_with_codec(codec)
        .decoder()
        .video()
        .map_err(|e| e.to_string())?;
    crate::stream::decode::decode_lightly(&mut decoder, VideoCodec::H264, light);
    let mut picture = ffmpeg::frame::Video::empty();
    let mut out = Vec::new();
    let started = Instant::now();
    for u in units {
        decoder
            .send_packet(&ffmpeg::Packet::copy(u))
            .map_err(|e| e.to_string())?;
        while decoder.receive_frame(&mut picture).is_ok() {
            let (w, h, s) = (
                picture.width() as usize,
                picture.height() as usize,
                picture.stride(0),
            );
            out.push((picture.data(0)[..s * h].to_vec(), s, w, h));
        }
    }
    Ok((out, started.elapsed()))
}

/// Analysis time for `planes` fed at 25 pictures a second (the detector takes one in five).
fn analyse(planes: &[Luma]) -> Duration {
    let mut d = Detector::new(Settings::default());
    let started = Instant::now();
    for (i, (luma, stride, w, h)) in planes.iter().enumerate() {
        let at = Duration::from_millis(40 * i as u64);
        std::hint::black_box(d.feed(luma, *stride, *w, *h, at));
    }
    started.elapsed()
}

/// The app's live event stream; the first `event: start` line of `camera` after now.
struct Stream(BufReader<std::net::TcpStream>);

impl Stream {
    fn open(port: u16) -> Result<Self, String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        s.write_all(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        Ok(Self(BufReader::new(s)))
    }

    /// Waits for the next start (`start`) or end of `camera`'s events.
    fn next(&mut self, camera: &str, start: bool) -> Result<Instant, String> {
        let mut kind = String::new();
        loop {
            let mut line = String::new();
            if self.0.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("the event stream ended".into());
            }
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.trim().to_string();
            } else if let Some(json) = line.strip_prefix("data: ")
                && json.contains(&format!("\"camera\":\"{camera}\""))
                && kind == if start { "start" } else { "end" }
            {
                return Ok(Instant::now());
            }
        }
    }
}

/// `trials` motion starts on camera `n` (`name` in the app): raise → the event's start.
/// A local MQTT broker (Debian's `mosquitto`, when installed) and a subscriber to every
/// camera's motion topic: when each `ON` arrived.
struct Broker {
    process: std::process::Child,
    port: u16,
    ons: crossbeam_channel::Receiver<(String, Instant)>,
}

impl Broker {
    /// `None` without `mosquitto`.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let process = std::process::Command::new("mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let (tx, ons) = crossbeam_channel::unbounded();
        let options = rumqttc::MqttOptions::new("bench-events", "127.0.0.1", port);
        let (client, mut connection) = rumqttc::Client::new(options, 16);
        std::thread::spawn(move || {
            let mut subscribed = false;
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) if !subscribed => {
                        subscribed = client
                            .subscribe("opticlink/+/motion", rumqttc::QoS::AtMostOnce)
                            .is_ok();
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))
                        if &p.payload[..] == b"ON" =>
                    {
                        if tx.send((p.topic, Instant::now())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The broker is still starting, or gone with the bench.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Some(Self { process, port, ons })
    }

    /// When camera `camera`'s next `ON` arrived.
    fn next_on(&self, camera: &str) -> Result<Instant, String> {
        let topic = format!("opticlink/{camera}/motion");
        loop {
            match self.ons.recv_timeout(Duration::from_secs(20)) {
                Ok((t, at)) if t == topic => return Ok(at),
                Ok(_) => {}
                Err(_) => return Err(format!("no MQTT ON for {camera}")),
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `trials` events of simulated camera `n` (the app's camera `name`): camera → the event feed,
/// and → the MQTT `ON` where a broker runs.
fn latencies(
    sim: &SimServer,
    stream: &mut Stream,
    mqtt: Option<&Broker>,
    (n, name): (u32, &str),
    trials: usize,
) -> Result<(Spread, Option<Spread>), String> {
    let (mut v, mut m) = (Vec::new(), Vec::new());
    for i in 0..trials {
        // What came before (retained states, earlier events) is not this event's.
        while mqtt.is_some_and(|b| b.ons.try_recv().is_ok()) {}
        sim.set_motion(n, true);
        let raised = Instant::now();
        v.push(stream.next(name, true)? - raised);
        if let Some(b) = mqtt {
            m.push(b.next_on(name)? - raised);
        }
        sim.set_motion(n, false);
        stream.next(name, false)?;
        // The scene settles into the detector's average again; the pause varies over the
        // app's 100 ms tick (a whole number of ticks would measure one phase of it only).
        std::thread::sleep(Duration::from_millis(2000 + (i as u64 * 37) % 100));
    }
    Ok((Spread::of(v).ok_or("no samples")?, Spread::of(m)))
}

/// Runs the bench; the report.
pub fn run(trials: usize) -> Result<String, String> {
    let mut out = cpu()?;
    out += &latency(trials)?;
    Ok(out)
}

/// CPU: three trials over ten seconds of pictures, each side timed at its best of three.
fn cpu() -> Result<String, String> {
    let (mut ratios, mut light_ratios) = (Vec::new(), Vec::new());
    let (mut dec_best, mut ana_best) = (Duration::MAX, Duration::MAX);
    let mut kbps = 0.0;
    for _ in 0..3 {
        let units = clip(250, (320, 180))?;
        kbps = units.iter().map(Vec::len).sum::<usize>() as f64 * 8.0 / 10.0 / 1000.0;
        // Each side at its best of three (what the scheduler steals is not the work's).
        let mut full = Duration::MAX;
        for _ in 0..3 {
            full = full.min(decode(&units, false)?.1);
        }
        let (planes, _) = decode(&units, true)?;
        let analysis = (0..3).map(|_| analyse(&planes)).min().unwrap_or_default();
        dec_best = dec_best.min(full);
        ana_best = ana_best.min(analysis);
        ratios.push(analysis.as_secs_f64() / full.as_secs_f64().max(1e-9));
        // A camera without a sub stream is analysed on its main stream.
        let units = clip(100, (1280, 720))?;
        let (_, full) = decode(&units, false)?;
        let (_, light) = decode(&units, true)?;
        light_ratios.push(light.as_secs_f64() / full.as_secs_f64().max(1e-9));
    }
    ratios.sort_by(f64::total_cmp);
    light_ratios.sort_by(f64::total_cmp);
    let mut out = String::new();
    out += &format!(
        "picture motion, 320×180 at 5 analyses/s vs decoding it ({kbps:.0} kbit/s): analysis {:.1} ms, decode {:.1} ms per 10 s of video; ratio {:.3} (median of 3; goal ≤ 0.15); 16 cameras: {:.1} % of a core for analysis\n",
        ana_best.as_secs_f64() * 1000.0,
        dec_best.as_secs_f64() * 1000.0,
        ratios[1],
        ana_best.as_secs_f64() / 10.0 * 16.0 * 100.0
    );
    out += &format!(
        "decoding a hidden 1280×720 camera for its motion alone (no deblocking, unreferenced pictures skipped) vs in full: ratio {:.3} (median of 3)\n",
        light_ratios[1]
    );
    Ok(out)
}

/// Latency: an app with one ONVIF camera and one picture-motion camera, `trials` events each.
fn latency(trials: usize) -> Result<String, String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let sim = rt
        .block_on(SimServer::start(SimConfig {
            cameras: 2,
            width: 320,
            height: 180,
            onvif_port: Some(0),
            noise: 3,
            ..SimConfig::default()
        }))
        .map_err(|e| e.to_string())?;
    sim.set_motion(1, false);
    sim.set_motion(2, false);
    let broker = Broker::start();
    let mqtt = broker.as_ref().map_or(String::new(), |b| {
        format!(
            ", mqtt: Some((url: \"mqtt://127.0.0.1:{}\", topic: \"opticlink\"))",
            b.port
        )
    });
    let dir = std::env::temp_dir().join(format!("opticlink-bench-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = dir.join("bench.ron");
    std::fs::write(
        &config,
        format!(
            "(cameras: [(name: \"Onvif\", url: \"{}\", onvif: Some((url: \"{}\")), motion: (hold_secs: 0.3, min_secs: 0.0)),
               (name: \"Picture\", url: \"{}\", events: Local, motion: (hold_secs: 0.5, min_secs: 0.0))],
              headless_decode: false, recording: (dir: \"{}\"), servers: (api_port: 0){mqtt})",
            sim.url(1),
            sim.onvif_url(1).ok_or("no ONVIF")?,
            sim.url(2),
            dir.join("rec").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut app = std::process::Command::new(exe)
        .args(["--headless", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = (|| {
        let stderr = BufReader::new(app.stderr.take().ok_or("no stderr")?);
        let mut port = None;
        let mut learned = false;
        let mut lines = stderr.lines();
        while port.is_none() || !learned {
            let line = lines
                .next()
                .ok_or("the app ended")?
                .map_err(|e| e.to_string())?;
            if let Some(rest) = line.split("status API listening on http://").nth(1) {
                port = rest
                    .split('/')
                    .next()
                    .and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok());
            }
            learned |= line.contains("looking for motion in the picture");
        }
        std::thread::spawn(move || for _ in lines {});
        let mut stream = Stream::open(port.ok_or("no API port")?)?;
        // The subscription's first pull has come back by now.
        std::thread::sleep(Duration::from_secs(2));
        let broker = broker.as_ref();
        let onvif = latencies(&sim, &mut stream, broker, (1, "Onvif"), trials)?;
        let picture = latencies(&sim, &mut stream, broker, (2, "Picture"), trials)?;
        let line = |what: &str, s: &Spread, goal: u32| {
            format!(
                "  {what:<15} p50 {:6.1} ms  p99 {:6.1} ms  ({} events; goal p99 ≤ {goal} ms)\n",
                s.p50.as_secs_f64() * 1000.0,
                s.p99.as_secs_f64() * 1000.0,
                s.n
            )
        };
        let mut out = String::from(
            "event latency, camera → the app's event feed, the same ECS step that highlights the tile (headless, 10 Hz tick included), and → the MQTT ON at a subscriber:\n",
        );
        out += &line("ONVIF", &onvif.0, 500);
        out += &line("picture", &picture.0, 1000);
        match (&onvif.1, &picture.1) {
            (Some(o), Some(p)) => {
                out += &line("ONVIF → MQTT", o, 500);
                out += &line("picture → MQTT", p, 1000);
            }
            _ => out += "  MQTT: not measured (no mosquitto here)\n",
        }
        Ok::<_, String>(out)
    })();
    let _ = app.kill();
    let _ = app.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

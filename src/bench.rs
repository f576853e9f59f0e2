//! `opticlink bench-audio`: the audio delays measured in one process against simulated cameras
//! (AAC sound, ONVIF backchannel), each beside a baseline run at the same time in the same
//! process. Listening: a camera's audio from its arrival on the camera's audio thread to the
//! hand-over to a sink that pulls 10 ms at a time as a device does, against a generator that
//! hands the same speaker chunks directly (the jitter buffer's own floor). Talk: a tone
//! microphone's frame from capture to its RTP packet written to the camera, against the same
//! microphone's frames merely received (the capture and framing floor).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sound::Speaker;
use crate::sound::mic::{Microphone, ToneMic};
use crate::talk::live::{Live, LiveState};

/// p50 and p99 of a set of delays.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub p50: Duration,
    pub p99: Duration,
    pub n: usize,
}

impl Spread {
    pub fn of(mut v: Vec<Duration>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort();
        Some(Self {
            p50: v[v.len() / 2],
            p99: v[(v.len() * 99 / 100).min(v.len() - 1)],
            n: v.len(),
        })
    }
}

/// What the bench found.
#[derive(Debug, Clone, Copy)]
pub struct AudioReport {
    pub listen: Spread,
    pub listen_baseline: Spread,
    pub talk: Spread,
    pub talk_baseline: Spread,
}

impl std::fmt::Display for AudioReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let line = |f: &mut std::fmt::Formatter<'_>, what: &str, s: &Spread, base: &Spread| {
            writeln!(
                f,
                "{what:<32} p50 {:7.1} ms  p99 {:7.1} ms  ({} samples)  p50 ×{:.2} of baseline",
                ms(s.p50),
                ms(s.p99),
                s.n,
                ms(s.p50) / ms(base.p50).max(0.001)
            )
        };
        line(
            f,
            "listen: arrival → sink",
            &self.listen,
            &self.listen_baseline,
        )?;
        line(
            f,
            "  baseline: direct → sink",
            &self.listen_baseline,
            &self.listen_baseline,
        )?;
        line(
            f,
            "talk: captured → RTP sent",
            &self.talk,
            &self.talk_baseline,
        )?;
        line(
            f,
            "  baseline: captured → received",
            &self.talk_baseline,
            &self.talk_baseline,
        )
    }
}

/// Pulls 10 ms at a time from `speaker` in real time until `stop`.
fn pull(speaker: Arc<Speaker>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut out = vec![0.0f32; speaker.rate() as usize / 100];
        let start = Instant::now();
        let mut k = 0u32;
        while !stop.load(Ordering::Relaxed) {
            k += 1;
            if let Some(wait) =
                (start + Duration::from_millis(10) * k).checked_duration_since(Instant::now())
            {
                std::thread::sleep(wait);
            }
            speaker.pull(&mut out, Instant::now());
        }
    })
}

/// Runs every measurement for `secs` (the two pairs at once) and reports.
pub fn audio(secs: u64) -> Result<AudioReport, String> {
    let run = Duration::from_secs(secs.max(1));
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let sim = rt
        .block_on(crate::simcam::SimServer::start(crate::simcam::SimConfig {
            cameras: 2,
            audio: true,
            backchannel: true,
            ..Default::default()
        }))
        .map_err(|e| format!("simulated cameras: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));

    // Listening through a real worker, and the baseline speaker fed directly.
    let speaker = Arc::new(Speaker::new(48_000));
    speaker.set_audible(Some("listen"));
    let url = url::Url::parse(&sim.url(1)).map_err(|e| e.to_string())?;
    let worker = crate::stream::spawn_camera(
        rt.handle(),
        crate::stream::WorkerConfig {
            name: "listen".into(),
            url,
            creds: None,
            transport: crate::config::Transport::Tcp,
            grace: Duration::from_secs(10),
            stall: Duration::from_secs(5),
            speaker: Some(speaker.clone()),
            bell: None,
        },
        Arc::new(retina::client::SessionGroup::default()),
        Arc::new(crate::media::NoSink),
    )
    .map_err(|e| e.to_string())?;
    let base_speaker = Arc::new(Speaker::new(48_000));
    base_speaker.set_audible(Some("direct"));
    let feeder = {
        let (sp, stop) = (base_speaker.clone(), stop.clone());
        // AAC frames of the simulated camera: 1024 samples at 16 kHz, 64 ms, resampled to 48k.
        std::thread::spawn(move || {
            let chunk = vec![0.1f32; 3072];
            let start = Instant::now();
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let due = start + Duration::from_millis(64) * k;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                sp.push("direct", &chunk, Instant::now());
            }
        })
    };
    let sinks = [
        pull(speaker.clone(), stop.clone()),
        pull(base_speaker.clone(), stop.clone()),
    ];

    // Talk to the second camera, and the baseline microphone merely received.
    let camera = crate::config::Config::parse(
        &format!("(cameras: [(name: \"talk\", url: \"{}\")])", sim.url(2)),
        "bench",
    )
    .map_err(|e| e.to_string())?
    .cameras
    .remove(0);
    let mic = ToneMic {
        freq: 1000.0,
        rate: 48_000,
        amplitude: 0.4,
    };
    let floor = crate::talk::Floor::default();
    let (capture, frames) = mic.open();
    let (mut live, task) = Live::start(rt.handle(), &floor, Arc::new(camera), frames);
    let (base_capture, mut base_frames) = mic.open();
    let received = rt.spawn(async move {
        let mut delays = Vec::new();
        while let Some(Ok(f)) = base_frames.recv().await {
            delays.push(f.captured.elapsed());
        }
        delays
    });

    std::thread::sleep(run);
    if let LiveState::Ended(Some(e)) = live.state() {
        return Err(e.to_string());
    }
    let talk = live.delays();
    live.stop();
    drop((capture, base_capture));
    let _ = rt.block_on(task);
    let talk_baseline = rt.block_on(received).map_err(|e| e.to_string())?;
    stop.store(true, Ordering::Relaxed);
    for s in sinks {
        let _ = s.join();
    }
    let _ = feeder.join();
    drop(worker);
    let none = |what: &str| format!("no {what} measured");
    Ok(AudioReport {
        listen: Spread::of(speaker.delays()).ok_or_else(|| none("listening delay"))?,
        listen_baseline: Spread::of(base_speaker.delays()).ok_or_else(|| none("baseline"))?,
        talk: Spread::of(talk).ok_or_else(|| none("talk delay"))?,
        talk_baseline: Spread::of(talk_baseline).ok_or_else(|| none("talk baseline"))?,
    })
}

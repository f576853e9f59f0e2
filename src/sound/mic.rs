//! The microphone for talk: cpal's default input device, opened on a thread of its own only
//! while talking and closed when the [`Capture`] is dropped, mixed to mono, resampled and cut
//! into 20 ms frames at 8 kHz ([`crate::media::pcm::Framer`]) stamped with when the device
//! handed them over, plus the live level for the overlay. [`Microphone`] is the seam: tests and
//! the bench open a [`ToneMic`] instead of a device.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample};
use tokio::sync::mpsc;

use crate::media::pcm;

/// One 20 ms frame at [`pcm::RATE`] and when its last sample came from the device.
#[derive(Debug, Clone)]
pub struct MicFrame {
    pub samples: Vec<f32>,
    pub captured: Instant,
}

/// What an open microphone delivers: frames, then an `Err` with the reason if it failed (no
/// input device, the device went away). The channel ends when the capture is dropped.
pub type MicFrames = mpsc::Receiver<Result<MicFrame, String>>;

/// Frames queued for the talk session: 1 s. A session that cannot keep up loses the newest.
const QUEUE: usize = 50;

struct Shared {
    stop: AtomicBool,
    level_bits: AtomicU32,
}

/// An open microphone; dropping it closes the device.
pub struct Capture {
    shared: Arc<Shared>,
}

impl Capture {
    /// The level of the last frame, dBFS (−100 before the first).
    pub fn level_dbfs(&self) -> f32 {
        f32::from_bits(self.shared.level_bits.load(Ordering::Relaxed))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Something that can be opened as a microphone.
pub trait Microphone: Send + Sync + 'static {
    fn open(&self) -> (Capture, MicFrames);
}

fn channel() -> (
    Capture,
    Arc<Shared>,
    mpsc::Sender<Result<MicFrame, String>>,
    MicFrames,
) {
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        level_bits: AtomicU32::new((-100.0f32).to_bits()),
    });
    let (tx, rx) = mpsc::channel(QUEUE);
    (
        Capture {
            shared: shared.clone(),
        },
        shared,
        tx,
        rx,
    )
}

/// Device-rate interleaved samples in, stamped 8 kHz frames out.
struct Feeder {
    framer: pcm::Framer,
    channels: usize,
    mono: Vec<f32>,
    tx: mpsc::Sender<Result<MicFrame, String>>,
    shared: Arc<Shared>,
}

impl Feeder {
    fn new(
        rate: u32,
        channels: usize,
        tx: mpsc::Sender<Result<MicFrame, String>>,
        shared: Arc<Shared>,
    ) -> Result<Self, String> {
        Ok(Self {
            framer: pcm::Framer::new(rate)?,
            channels: channels.max(1),
            mono: Vec::new(),
            tx,
            shared,
        })
    }

    fn push<T>(&mut self, data: &[T], now: Instant)
    where
        T: Sample,
        f32: FromSample<T>,
    {
        self.mono.clear();
        let n = self.channels as f32;
        self.mono.extend(
            data.chunks(self.channels)
                .map(|f| f.iter().map(|s| f32::from_sample(*s)).sum::<f32>() / n),
        );
        if let Err(e) = self.framer.push(&self.mono) {
            let _ = self.tx.try_send(Err(format!("microphone: {e}")));
            return;
        }
        while let Some(samples) = self.framer.frame() {
            self.shared
                .level_bits
                .store(pcm::level_dbfs(&samples).to_bits(), Ordering::Relaxed);
            // A full queue means the session is stuck; it hears about the gap, not a backlog.
            let _ = self.tx.try_send(Ok(MicFrame {
                samples,
                captured: now,
            }));
        }
    }
}

/// The default input device (cpal's default host).
pub struct DefaultInput;

impl Microphone for DefaultInput {
    fn open(&self) -> (Capture, MicFrames) {
        let (capture, shared, tx, rx) = channel();
        let spawned = std::thread::Builder::new()
            .name("microphone".into())
            .spawn({
                let tx = tx.clone();
                move || {
                    if let Err(why) = record(&shared, tx.clone()) {
                        tracing::warn!("microphone: {why}");
                        let _ = tx.blocking_send(Err(format!("microphone: {why}")));
                    }
                }
            });
        if let Err(e) = spawned {
            let _ = tx.try_send(Err(format!("cannot start the microphone thread: {e}")));
        }
        (capture, rx)
    }
}

fn record(shared: &Arc<Shared>, tx: mpsc::Sender<Result<MicFrame, String>>) -> Result<(), String> {
    let host = cpal::default_host();
    let device = host.default_input_device().ok_or("no input device")?;
    let name = device
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "the default input".into());
    let config = device
        .default_input_config()
        .map_err(|e| format!("{name}: {e}"))?;
    let format = config.sample_format();
    let config: cpal::StreamConfig = config.into();
    let feeder = Feeder::new(
        config.sample_rate,
        usize::from(config.channels),
        tx,
        shared.clone(),
    )?;
    let stream = match format {
        SampleFormat::F32 => stream::<f32>(&device, &config, feeder),
        SampleFormat::I16 => stream::<i16>(&device, &config, feeder),
        SampleFormat::I32 => stream::<i32>(&device, &config, feeder),
        SampleFormat::U16 => stream::<u16>(&device, &config, feeder),
        SampleFormat::U8 => stream::<u8>(&device, &config, feeder),
        other => Err(format!("unsupported sample format {other}")),
    }
    .map_err(|e| format!("{name}: {e}"))?;
    stream.play().map_err(|e| format!("{name}: {e}"))?;
    tracing::info!("microphone open: {name} ({} Hz)", config.sample_rate);
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stream);
    tracing::info!("microphone closed");
    Ok(())
}

fn stream<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut feeder: Feeder,
) -> Result<cpal::Stream, String>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let failed = feeder.tx.clone();
    device
        .build_input_stream(
            *config,
            move |data: &[T], _: &cpal::InputCallbackInfo| feeder.push(data, Instant::now()),
            move |e| {
                tracing::warn!("microphone failed: {e}");
                let _ = failed.try_send(Err(format!("the microphone failed: {e}")));
            },
            None,
        )
        .map_err(|e| e.to_string())
}

/// A microphone that hears a steady tone, delivered in real time in 10 ms chunks at `rate`
/// (stereo, like most devices), for tests and the bench.
#[derive(Debug, Clone, Copy)]
pub struct ToneMic {
    pub freq: f32,
    pub rate: u32,
    pub amplitude: f32,
}

impl Microphone for ToneMic {
    fn open(&self) -> (Capture, MicFrames) {
        let (capture, shared, tx, rx) = channel();
        let tone = *self;
        let spawned = std::thread::Builder::new()
            .name("tone-mic".into())
            .spawn(move || {
                let mut feeder = match Feeder::new(tone.rate, 2, tx.clone(), shared.clone()) {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                let chunk = (tone.rate / 100) as usize;
                let step = std::f32::consts::TAU * tone.freq / tone.rate as f32;
                let start = Instant::now();
                let mut n = 0usize;
                let mut k = 0u32;
                let mut data = Vec::with_capacity(chunk * 2);
                while !shared.stop.load(Ordering::Relaxed) {
                    k += 1;
                    let due = start + Duration::from_millis(10) * k;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    data.clear();
                    for _ in 0..chunk {
                        let v = tone.amplitude * (step * n as f32).sin();
                        data.extend([v, v]);
                        n += 1;
                    }
                    feeder.push(&data, Instant::now());
                }
            });
        if let Err(e) = spawned {
            // The sender went with the closure: the channel ends, and the session with it.
            tracing::warn!("cannot start the tone microphone: {e}");
        }
        (capture, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tone_microphone_delivers_stamped_8_khz_frames_until_dropped() {
        let (capture, mut rx) = ToneMic {
            freq: 1000.0,
            rate: 48_000,
            amplitude: 0.5,
        }
        .open();
        let mut samples = Vec::new();
        let mut last = None;
        while samples.len() < pcm::RATE as usize / 2 {
            let f = rx.blocking_recv().unwrap().unwrap();
            assert_eq!(f.samples.len(), pcm::FRAME);
            assert!(last.is_none_or(|t| f.captured >= t));
            last = Some(f.captured);
            samples.extend(f.samples);
        }
        let f = pcm::dominant_frequency(&samples[800..], pcm::RATE, 200, 3500);
        assert!((f - 1000.0).abs() < 20.0, "{f}");
        assert!(capture.level_dbfs() > -10.0, "{}", capture.level_dbfs());
        drop(capture);
        // The thread stops; the channel ends once it is gone.
        while rx.blocking_recv().is_some() {}
    }
}

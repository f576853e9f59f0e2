//! The output device behind the [`Speaker`]: cpal's default host and output device, opened
//! on a thread of its own (a cpal stream may not move between threads), pulling mono samples
//! from the speaker and writing them to every channel. No device, or one that fails, is a
//! [`SpeakerStatus::NoSound`] with the reason: the wall runs on without sound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::{Speaker, SpeakerStatus};

/// Keeps the device open; dropping it closes it.
pub struct Output {
    stop: Arc<AtomicBool>,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Opens the default output device for `speaker`, on its own thread. The outcome shows in the
/// speaker's status.
pub fn open(speaker: Arc<Speaker>) -> Output {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("speaker".into())
        .spawn(move || {
            if let Err(why) = play(&speaker, &flag) {
                tracing::warn!("no sound: {why}");
                speaker.set_status(SpeakerStatus::NoSound(why));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no sound: cannot start the speaker thread: {e}");
    }
    Output { stop }
}

fn play(speaker: &Arc<Speaker>, stop: &AtomicBool) -> Result<(), String> {
    let host = cpal::default_host();
    let device = host.default_output_device().ok_or("no output device")?;
    let name = device
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "the default output".into());
    let config = device
        .default_output_config()
        .map_err(|e| format!("{name}: {e}"))?;
    let format = config.sample_format();
    let config: cpal::StreamConfig = config.into();
    speaker.set_rate(config.sample_rate);
    let stream = match format {
        SampleFormat::F32 => stream::<f32>(&device, &config, speaker),
        SampleFormat::I16 => stream::<i16>(&device, &config, speaker),
        SampleFormat::I32 => stream::<i32>(&device, &config, speaker),
        SampleFormat::U16 => stream::<u16>(&device, &config, speaker),
        SampleFormat::U8 => stream::<u8>(&device, &config, speaker),
        other => Err(format!("unsupported sample format {other}")),
    }
    .map_err(|e| format!("{name}: {e}"))?;
    stream.play().map_err(|e| format!("{name}: {e}"))?;
    tracing::info!("sound plays through {name} ({} Hz)", config.sample_rate);
    speaker.set_status(SpeakerStatus::Playing(name));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn stream<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    speaker: &Arc<Speaker>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let sp = speaker.clone();
    let failed = speaker.clone();
    let mut mono: Vec<f32> = Vec::new();
    device
        .build_output_stream(
            *config,
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
                mono.resize(data.len() / channels, 0.0);
                sp.pull(&mut mono, Instant::now());
                for (frame, v) in data.chunks_mut(channels).zip(&mono) {
                    frame.fill(T::from_sample(*v));
                }
            },
            move |e| {
                tracing::warn!("sound output failed: {e}");
                failed.set_status(SpeakerStatus::NoSound(format!("the output failed: {e}")));
            },
            None,
        )
        .map_err(|e| e.to_string())
}

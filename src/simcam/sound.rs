//! The simulated camera's sound: a beep at the start of every second over a soft hum (pitch
//! by camera), encoded to AAC-LC 16 kHz mono in real time on its own thread, only while
//! someone listens, and fanned out to sessions like the pictures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::media::encode::AacEncoder;

/// Sample rate (and RTP clock) of the simulated sound.
pub const RATE: u32 = 16_000;

/// One AAC frame and its place in the sound (frames since the sound started).
#[derive(Debug)]
pub struct AudioPacket {
    pub data: Vec<u8>,
    pub index: u64,
}

/// A running sound, shared by all sessions of one simulated camera.
pub struct Sound {
    pub packets: broadcast::Sender<Arc<AudioPacket>>,
    /// The AudioSpecificConfig (for the SDP's `config=`).
    pub asc: Vec<u8>,
    /// Samples per AAC frame.
    pub frame_size: usize,
    stop: AtomicBool,
}

impl Sound {
    /// The track as a session describes it.
    pub fn track(&self) -> crate::media::AudioTrack {
        crate::media::AudioTrack {
            codec: crate::media::AudioCodec::Aac,
            sample_rate: RATE,
            channels: 1,
            extradata: self.asc.clone(),
        }
    }

    /// Starts camera `index`'s sound thread.
    pub fn start(name: &str, index: u32) -> std::io::Result<Arc<Self>> {
        let encoder = AacEncoder::new(RATE, 1).map_err(std::io::Error::other)?;
        let (packets, _) = broadcast::channel(64);
        let sound = Arc::new(Self {
            packets,
            asc: encoder.asc().to_vec(),
            frame_size: encoder.frame_size(),
            stop: AtomicBool::new(false),
        });
        let me = sound.clone();
        let pitch = 440.0 * (1.0 + f32::from(u8::try_from(index % 8).unwrap_or(0)) / 4.0);
        std::thread::Builder::new()
            .name(format!("simcam sound {name}"))
            .spawn(move || me.run(encoder, pitch))?;
        Ok(sound)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn run(&self, mut encoder: AacEncoder, pitch: f32) {
        let chunk = self.frame_size;
        let period = Duration::from_secs_f64(chunk as f64 / f64::from(RATE));
        let mut sample = 0u64;
        let mut index = 0u64;
        let mut next = Instant::now();
        let mut samples = vec![0f32; chunk];
        while !self.stop.load(Ordering::Relaxed) {
            if self.packets.receiver_count() == 0 {
                std::thread::sleep(Duration::from_millis(20));
                next = Instant::now();
                continue;
            }
            for s in &mut samples {
                let t = sample as f32 / RATE as f32;
                let in_second = sample % u64::from(RATE);
                let (freq, level) = if in_second < u64::from(RATE) / 8 {
                    (pitch * 2.0, 0.3)
                } else {
                    (pitch / 2.0, 0.03)
                };
                *s = level * (std::f32::consts::TAU * freq * t).sin();
                sample += 1;
            }
            match encoder.encode(&[&samples]) {
                Ok(frames) => {
                    for data in frames {
                        let _ = self.packets.send(Arc::new(AudioPacket { data, index }));
                        index += 1;
                    }
                }
                Err(e) => {
                    tracing::error!("simulated sound: AAC encoding failed: {e}");
                    return;
                }
            }
            next += period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > period * 10 {
                next = now;
            }
        }
    }
}

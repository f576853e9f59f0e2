//! Mono audio samples, pure (no sockets, no devices): WAV files and request bodies read into
//! mono samples, streaming resampling (rubato's sinc resampler: talk goes to the 8 kHz G.711
//! rate, camera sound to the speaker's rate), 20 ms talk frames, and the level a meter shows.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler as _, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// The rate every talk path encodes at (G.711).
pub const RATE: u32 = 8000;
/// Samples per RTP packet: 20 ms.
pub const FRAME: usize = 160;

/// Mono samples at one rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Clip {
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate.max(1))
    }
}

/// Sample rates a talk WAV or raw body may have (Hz): anything else would size the resampler
/// by what the sender claims.
pub const RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// A WAV file's or body's samples, channels mixed down to mono. The header is checked before
/// anything is allocated (rate in [`RATES`], 1–2 channels, 8–32 bits, a data size the bytes
/// hold). Errors name what is wrong.
pub fn read_wav(bytes: &[u8]) -> Result<Clip, String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if !RATES.contains(&spec.sample_rate) {
        return Err(format!(
            "WAV sample rate {} Hz: expected {}–{} Hz",
            spec.sample_rate,
            RATES.start(),
            RATES.end()
        ));
    }
    if !(1..=2).contains(&spec.channels) {
        return Err(format!(
            "WAV with {} channels: expected mono or stereo",
            spec.channels
        ));
    }
    if !(8..=32).contains(&spec.bits_per_sample) {
        return Err(format!(
            "WAV with {} bits per sample: expected 8 to 32",
            spec.bits_per_sample
        ));
    }
    let claimed = u64::from(reader.len()) * u64::from(spec.bits_per_sample.div_ceil(8));
    if claimed > bytes.len() as u64 {
        return Err(format!(
            "WAV header claims {claimed} bytes of samples; the body has {}",
            bytes.len()
        ));
    }
    let channels = usize::from(spec.channels);
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        }
    };
    let samples = interleaved
        .chunks(channels)
        .map(|c| c.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok(Clip {
        rate: spec.sample_rate,
        samples,
    })
}

/// A talk request body: a WAV file (`RIFF…`), else raw signed 16-bit little-endian mono PCM
/// at `raw_rate`.
pub fn read_body(bytes: &[u8], raw_rate: u32) -> Result<Clip, String> {
    if bytes.starts_with(b"RIFF") {
        return read_wav(bytes);
    }
    if !bytes.len().is_multiple_of(2) {
        return Err("raw PCM must be whole 16-bit samples (an odd number of bytes)".into());
    }
    Ok(Clip {
        rate: raw_rate,
        samples: bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
    })
}

/// Streaming conversion of mono samples from one rate to another (rubato's sinc resampler;
/// nothing to do when the rates agree). The resampler's delay is dropped from the output.
pub struct Resample {
    resampler: Option<Async<f32>>,
    input: Vec<f32>,
    scratch: Vec<f32>,
    delay: usize,
}

impl Resample {
    pub fn new(from: u32, to: u32) -> Result<Self, String> {
        if from == 0 || to == 0 {
            return Err("sample rate 0".into());
        }
        let (resampler, delay) = if from == to {
            (None, 0)
        } else {
            let params = SincInterpolationParameters::new(64, WindowFunction::BlackmanHarris2)
                .oversampling_factor(128)
                .interpolation(SincInterpolationType::Linear);
            let r = Async::<f32>::new_sinc(
                f64::from(to) / f64::from(from),
                1.0,
                &params,
                (from as usize / 50).max(16),
                1,
                FixedAsync::Input,
            )
            .map_err(|e| e.to_string())?;
            let delay = r.output_delay();
            (Some(r), delay)
        };
        let scratch = vec![0.0; resampler.as_ref().map_or(0, |r| r.output_frames_max())];
        Ok(Self {
            resampler,
            input: Vec::new(),
            scratch,
            delay,
        })
    }

    /// Converts what it can of `samples` (and what was queued) onto the end of `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        let Some(r) = &mut self.resampler else {
            out.extend_from_slice(samples);
            return Ok(());
        };
        self.input.extend_from_slice(samples);
        loop {
            let need = r.input_frames_next();
            if self.input.len() < need {
                return Ok(());
            }
            let inp =
                InterleavedSlice::new(&self.input[..need], 1, need).map_err(|e| e.to_string())?;
            let frames = self.scratch.len();
            let mut outp = InterleavedSlice::new_mut(&mut self.scratch[..], 1, frames)
                .map_err(|e| e.to_string())?;
            let (used, made) = r
                .process_into_buffer(&inp, &mut outp, None)
                .map_err(|e| e.to_string())?;
            self.input.drain(..used);
            let skip = self.delay.min(made);
            self.delay -= skip;
            out.extend_from_slice(&self.scratch[skip..made]);
        }
    }

    /// Pushes silence through so everything queued comes out.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), String> {
        if let Some(r) = &self.resampler {
            let tail = r.input_frames_next() + r.output_delay() * 8;
            self.push(&vec![0.0; tail], out)?;
        }
        Ok(())
    }
}

/// Mono samples at any rate to [`RATE`], cut into [`FRAME`]s.
pub struct Framer {
    resample: Resample,
    ready: Vec<f32>,
}

impl Framer {
    pub fn new(rate: u32) -> Result<Self, String> {
        Ok(Self {
            resample: Resample::new(rate, RATE)?,
            ready: Vec::new(),
        })
    }

    /// Queues samples at the input rate.
    pub fn push(&mut self, samples: &[f32]) -> Result<(), String> {
        self.resample.push(samples, &mut self.ready)
    }

    /// Pushes silence through so everything queued comes out, then pads to a whole frame.
    pub fn finish(&mut self) -> Result<(), String> {
        self.resample.flush(&mut self.ready)?;
        let rem = self.ready.len() % FRAME;
        if rem != 0 {
            self.ready.extend(std::iter::repeat_n(0.0, FRAME - rem));
        }
        Ok(())
    }

    /// The next whole 20 ms frame at [`RATE`], if one is ready.
    pub fn frame(&mut self) -> Option<Vec<f32>> {
        (self.ready.len() >= FRAME).then(|| self.ready.drain(..FRAME).collect())
    }
}

/// A clip as 20 ms frames at [`RATE`], resampled when needed; the tail is exactly the clip's
/// length (rounded up to a frame), not the resampler's flush.
pub fn frames_of(clip: &Clip) -> Result<Vec<Vec<f32>>, String> {
    let mut framer = Framer::new(clip.rate)?;
    framer.push(&clip.samples)?;
    framer.finish()?;
    let want = (clip.duration_secs() * f64::from(RATE)).ceil() as usize;
    let count = want.div_ceil(FRAME);
    Ok(std::iter::from_fn(|| framer.frame()).take(count).collect())
}

/// 16-bit samples of floats (clipped).
pub fn to_i16(samples: &[f32]) -> impl Iterator<Item = i16> + '_ {
    samples
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
}

/// RMS level in dBFS (−∞ for silence is reported as −100).
pub fn level_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return -100.0;
    }
    let mean = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
    if mean <= 1e-10 {
        -100.0
    } else {
        10.0 * mean.log10()
    }
}

/// A sine tone (tests, the demo, benches).
pub fn tone(freq: f32, rate: u32, secs: f32, amplitude: f32) -> Clip {
    let n = (secs * rate as f32) as usize;
    Clip {
        rate,
        samples: (0..n)
            .map(|i| amplitude * (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin())
            .collect(),
    }
}

/// The strongest frequency in `samples` between `lo` and `hi` Hz (1 Hz steps, Goertzel).
pub fn dominant_frequency(samples: &[f32], rate: u32, lo: u32, hi: u32) -> f32 {
    let power = |f: f32| {
        let w = std::f32::consts::TAU * f / rate as f32;
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in samples {
            let s0 = x + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    };
    (lo..=hi)
        .map(|f| (f as f32, power(f as f32)))
        .fold(
            (0.0, f32::MIN),
            |best, c| if c.1 > best.1 { c } else { best },
        )
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn wav_and_raw_bodies_read_as_mono() {
        let clip = read_body(&wav(16_000, 2, &[16384, 0, -16384, -16384]), 8000).unwrap();
        assert_eq!(clip.rate, 16_000);
        assert_eq!(clip.samples, vec![0.25, -0.5]);
        let raw = read_body(&[0x00, 0x40, 0x00, 0xC0], 8000).unwrap();
        assert_eq!(raw.samples, vec![0.5, -0.5]);
        assert!(read_body(&[1, 2, 3], 8000).unwrap_err().contains("odd"));
        assert!(read_wav(b"RIFF\0\0\0\0WAVE").is_err());
    }

    /// A PCM WAV of `len` bytes of silence whose header says `rate`, `channels`, `bits` and
    /// `claimed` data bytes (each field consistent with the others, as a careful liar makes it).
    fn lying_wav(rate: u32, channels: u16, bits: u16, claimed: u32, len: usize) -> Vec<u8> {
        let align = channels * bits.div_ceil(8);
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + claimed).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&rate.wrapping_mul(u32::from(align)).to_le_bytes());
        w.extend_from_slice(&align.to_le_bytes());
        w.extend_from_slice(&bits.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&claimed.to_le_bytes());
        w.extend(std::iter::repeat_n(0u8, len));
        w
    }

    /// A 1 KB WAV whose header claims 4 GHz, 9 channels or more samples than it holds is
    /// refused before anything is allocated for it.
    #[test]
    fn lying_wav_headers_are_refused() {
        assert!(read_wav(&lying_wav(8000, 1, 8, 1000, 1000)).is_ok());
        let rate = read_wav(&lying_wav(4_000_000_000, 1, 8, 1000, 1000)).unwrap_err();
        assert!(rate.contains("4000000000 Hz"), "{rate}");
        assert!(read_wav(&lying_wav(7_999, 1, 8, 1000, 1000)).is_err());
        let channels = read_wav(&lying_wav(8000, 9, 8, 990, 990)).unwrap_err();
        assert!(channels.contains("channels"), "{channels}");
        let size = read_wav(&lying_wav(8000, 1, 8, 0x7fff_fff0, 1000)).unwrap_err();
        assert!(size.contains("claims"), "{size}");
    }

    #[test]
    fn any_rate_becomes_20_ms_frames_at_8_khz_keeping_pitch_and_length() {
        for rate in [8000, 16_000, 44_100, 48_000] {
            let clip = tone(1000.0, rate, 1.0, 0.5);
            let frames = frames_of(&clip).unwrap();
            assert_eq!(frames.len(), 50, "{rate} Hz: one second is 50 frames");
            assert!(frames.iter().all(|f| f.len() == FRAME));
            let all: Vec<f32> = frames.concat();
            let f = dominant_frequency(&all[800..7200], RATE, 500, 2000);
            assert!((f - 1000.0).abs() <= 5.0, "{rate} Hz → {f} Hz");
            let level = level_dbfs(&all[800..7200]);
            assert!((level - -9.0).abs() < 1.0, "{rate} Hz: {level} dBFS");
        }
        assert_eq!(level_dbfs(&[0.0; 10]), -100.0);
    }
}

//! Turning one session's camera audio into ADTS AAC frames: AAC that ADTS can describe passes
//! through with a header per frame; G.711, and AAC that ADTS cannot describe, is decoded with
//! FFmpeg and re-encoded to AAC-LC. A camera whose samples do not match what it declared
//! (more channels announced than sent, odd sample formats, short buffers) is an error for
//! that camera, never a panic.

use bytes::Bytes;
use ffmpeg_next as ffmpeg;

use crate::media::aac::{Adts, Asc};
use crate::media::encode::{AacEncoder, frame_channels, set_default_layout};
use crate::media::{AudioCodec, AudioTrack, init_ffmpeg};

/// Why audio cannot go on: the track cannot be served at all (`Fatal`), or one frame was bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// The camera's audio does not match what it declared: stop serving this session's audio.
    Fatal(String),
    /// One frame could not be converted; the next may.
    Frame(String),
}

/// Turns one session's audio frames into ADTS frames.
pub enum Converter {
    PassThrough(Adts),
    Transcode(Box<Transcoder>),
}

impl Converter {
    pub fn new(track: &AudioTrack) -> Result<Self, String> {
        if track.codec == AudioCodec::Aac {
            match Asc::parse(&track.extradata).and_then(|a| a.adts()) {
                Ok(adts) => return Ok(Self::PassThrough(adts)),
                Err(why) => tracing::info!("ADTS cannot carry this AAC ({why}): transcoding"),
            }
        }
        Self::transcoding(track)
    }

    /// Always through FFmpeg, whatever the track.
    pub fn transcoding(track: &AudioTrack) -> Result<Self, String> {
        Transcoder::new(track)
            .map(|t| Self::Transcode(Box::new(t)))
            .map_err(|e| {
                format!(
                    "{} audio cannot be transcoded to AAC: {e}",
                    track.codec.as_str()
                )
            })
    }

    pub fn describe(&self, track: &AudioTrack) -> String {
        let what = track.describe();
        match self {
            Self::PassThrough(_) => format!("{what}, passed through as ADTS"),
            Self::Transcode(_) => format!("{what}, transcoded to AAC"),
        }
    }

    pub fn convert(&mut self, data: &[u8]) -> Result<Vec<Bytes>, ConvertError> {
        match self {
            Self::PassThrough(adts) => Ok(vec![adts.frame(data).map_err(ConvertError::Frame)?]),
            Self::Transcode(t) => t.convert(data),
        }
    }
}

/// FFmpeg decoder (G.711 or AAC) → float planar samples → [`AacEncoder`] → ADTS.
pub struct Transcoder {
    decoder: Decoder,
    encoder: AacEncoder,
    adts: Adts,
}

impl Transcoder {
    pub fn new(track: &AudioTrack) -> Result<Self, String> {
        let decoder = Decoder::new(track)?;
        let encoder = AacEncoder::new(track.sample_rate, track.channels)?;
        let adts = Asc::parse(encoder.asc()).and_then(|a| a.adts())?;
        Ok(Self {
            decoder,
            encoder,
            adts,
        })
    }

    fn convert(&mut self, data: &[u8]) -> Result<Vec<Bytes>, ConvertError> {
        let mut out = Vec::new();
        for samples in self.decoder.decode(data)? {
            let slices: Vec<&[f32]> = samples.iter().map(Vec::as_slice).collect();
            let frames = self.encoder.encode(&slices).map_err(ConvertError::Fatal)?;
            out.extend(
                frames
                    .iter()
                    .filter_map(|payload| self.adts.frame(payload).ok()),
            );
        }
        Ok(out)
    }
}

/// FFmpeg's decoder of a camera's audio track (G.711 or AAC): packets in, float samples per
/// channel out. The wall's speaker and the transcoder both use it.
pub struct Decoder {
    decoder: ffmpeg::decoder::Audio,
    /// The channel count the camera declared.
    channels: usize,
}

impl Decoder {
    pub fn new(track: &AudioTrack) -> Result<Self, String> {
        init_ffmpeg();
        let rate = i32::try_from(track.sample_rate).map_err(|_| "bad sample rate")?;
        if track.sample_rate == 0 || track.channels == 0 || track.channels > 8 {
            return Err(format!(
                "{} Hz with {} channels",
                track.sample_rate, track.channels
            ));
        }
        let id = match track.codec {
            AudioCodec::Aac => ffmpeg::codec::Id::AAC,
            AudioCodec::Pcma => ffmpeg::codec::Id::PCM_ALAW,
            AudioCodec::Pcmu => ffmpeg::codec::Id::PCM_MULAW,
        };
        let codec = ffmpeg::decoder::find(id).ok_or("no FFmpeg decoder")?;
        let mut ctx = ffmpeg::codec::Context::new_with_codec(codec);
        // SAFETY: `ctx` owns a fresh, unopened AVCodecContext; these are plain fields the
        // decoder reads when opened, and extradata is FFmpeg-allocated (FFmpeg frees it).
        unsafe {
            let p = ctx.as_mut_ptr();
            (*p).sample_rate = rate;
            set_default_layout(&mut (*p).ch_layout, track.channels);
            if !track.extradata.is_empty() {
                let size = track.extradata.len();
                let buf = ffmpeg::ffi::av_mallocz(
                    size + ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize,
                ) as *mut u8;
                if buf.is_null() {
                    return Err("out of memory".into());
                }
                std::ptr::copy_nonoverlapping(track.extradata.as_ptr(), buf, size);
                (*p).extradata = buf;
                (*p).extradata_size = size as i32;
            }
        }
        let decoder = ctx.decoder().audio().map_err(|e| e.to_string())?;
        Ok(Self {
            decoder,
            channels: usize::from(track.channels),
        })
    }

    /// One packet's decoded frames, each as samples per channel.
    pub fn decode(&mut self, data: &[u8]) -> Result<Vec<Vec<Vec<f32>>>, ConvertError> {
        self.decoder
            .send_packet(&ffmpeg::Packet::copy(data))
            .map_err(|e| ConvertError::Frame(format!("audio decoder: {e}")))?;
        let mut decoded = ffmpeg::frame::Audio::empty();
        let mut out = Vec::new();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            out.push(samples_of(&decoded, self.channels)?);
        }
        Ok(out)
    }
}

/// A decoded frame's samples (16-bit or float, packed or planar) as floats per channel,
/// checked against the declared channel count and the frame's real buffer sizes.
fn samples_of(
    frame: &ffmpeg::frame::Audio,
    declared: usize,
) -> Result<Vec<Vec<f32>>, ConvertError> {
    use ffmpeg::format::Sample;
    let n = frame.samples();
    let channels = frame_channels(frame);
    if channels != declared {
        return Err(ConvertError::Fatal(format!(
            "the camera declared {declared} audio channel(s) but sends {channels}"
        )));
    }
    let width = match frame.format() {
        Sample::I16(_) => 2,
        Sample::F32(_) => 4,
        other => {
            return Err(ConvertError::Fatal(format!(
                "unexpected decoded sample format {other:?}"
            )));
        }
    };
    let convert = |b: &[u8]| -> Vec<f32> {
        if width == 2 {
            b.chunks_exact(2)
                .map(|c| f32::from(i16::from_ne_bytes([c[0], c[1]])) / 32768.0)
                .collect()
        } else {
            b.chunks_exact(4)
                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
    };
    let short = || ConvertError::Frame("decoded audio shorter than it says".into());
    if frame.is_planar() {
        (0..channels)
            .map(|c| {
                let plane = frame.data(c).get(..n * width).ok_or_else(short)?;
                Ok(convert(plane))
            })
            .collect()
    } else {
        let all = convert(
            frame
                .data(0)
                .get(..n * width * channels)
                .ok_or_else(short)?,
        );
        let mut out = vec![Vec::with_capacity(n); channels];
        for (i, s) in all.into_iter().enumerate() {
            out[i % channels].push(s);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_is_transcoded_to_adts_aac() {
        let track = AudioTrack {
            codec: AudioCodec::Pcma,
            sample_rate: 8000,
            channels: 1,
            extradata: vec![],
        };
        let mut c = Converter::new(&track).unwrap();
        assert!(c.describe(&track).contains("transcoded"));
        let mut frames = Vec::new();
        // 1 s of A-law silence in 20 ms packets (0xD5 is A-law zero).
        for _ in 0..50 {
            frames.extend(c.convert(&[0xD5; 160]).unwrap());
        }
        // 8000 samples = 7 whole 1024-sample frames, less the encoder's priming delay.
        assert!((5..=7).contains(&frames.len()), "{}", frames.len());
        let header = Asc::parse(&[0x15, 0x88]).unwrap().adts().unwrap(); // LC, 8 kHz, mono
        for f in &frames {
            let want = header.frame(&f[7..]).unwrap();
            assert_eq!(&f[..7], &want[..7]);
        }
    }

    /// An AAC camera that declares stereo but sends mono, on the transcoding path: an error on
    /// that camera's audio, not a panic on its audio thread. (Passed through, the ADTS header
    /// follows the AudioSpecificConfig and the declared count does not matter.)
    #[test]
    fn more_channels_declared_than_sent_is_an_error() {
        let mut mono = AacEncoder::new(16_000, 1).unwrap();
        let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.2).collect();
        let aac = mono.encode(&[&tone]).unwrap();
        assert!(aac.len() > 5);
        let track = AudioTrack {
            codec: AudioCodec::Aac,
            sample_rate: 16_000,
            channels: 2,
            extradata: vec![0x14, 0x08], // AAC-LC, 16 kHz, mono
        };
        let mut c = Converter::transcoding(&track).unwrap();
        let results: Vec<_> = aac.iter().map(|f| c.convert(f)).collect();
        let fatal = results.iter().find_map(|r| match r {
            Err(ConvertError::Fatal(why)) => Some(why.clone()),
            _ => None,
        });
        let why = fatal.expect("the mismatch is reported");
        assert!(
            why.contains("declared 2") && why.contains("sends 1"),
            "{why}"
        );
    }
}

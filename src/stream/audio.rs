//! Camera audio as ADTS AAC for listeners: AAC passes through with a 7-byte ADTS header per
//! frame (no re-encode); G.711, and AAC that ADTS cannot describe, is transcoded to AAC-LC
//! with FFmpeg. Runs on the camera's own audio thread, fed only while someone listens, and
//! fans out through a `broadcast` channel so a slow listener skips frames and delays nobody.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use ffmpeg_next as ffmpeg;
use tokio::sync::{broadcast, watch};

use super::AudioCodec;
use crate::record::writer::AudioTrack;

/// What a camera's audio endpoint can give right now.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioState {
    /// No session yet (or between sessions).
    Disconnected,
    /// The camera's session carries no audio we can use.
    NoAudio(String),
    /// Audio flows: what it is and how it is served ("AAC 16000 Hz, 1 ch, passed through").
    Serving(String),
    /// The camera has audio but it cannot be turned into AAC (why).
    Failed(String),
}

/// Frames kept for listeners that fall behind (AAC at 48 kHz: about 5 s).
const BACKLOG: usize = 256;

/// One camera's audio as ADTS frames, shared by its worker (writer) and audio server (readers).
pub struct AudioFeed {
    state: watch::Sender<AudioState>,
    /// For new listeners; taken when the camera's audio thread ends, so that every
    /// listener's stream ends with the camera.
    adts: Mutex<Option<broadcast::Sender<Bytes>>>,
    listeners: AtomicUsize,
}

impl AudioFeed {
    pub fn state(&self) -> AudioState {
        self.state.borrow().clone()
    }

    /// A new listener: its frames, and a guard that counts it while alive (`None` once the
    /// camera is gone).
    pub fn listen(self: &Arc<Self>) -> Option<(broadcast::Receiver<Bytes>, Listener)> {
        let rx = self.adts.lock().ok()?.as_ref()?.subscribe();
        self.listeners.fetch_add(1, Ordering::Relaxed);
        Some((rx, Listener(self.clone())))
    }

    pub fn listeners(&self) -> usize {
        self.listeners.load(Ordering::Relaxed)
    }
}

/// Counts one listener for as long as it lives.
pub struct Listener(Arc<AudioFeed>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the worker tells the audio thread.
pub enum AudioInput {
    /// A session went live with this audio track (or none).
    Session(Option<AudioTrack>),
    /// One audio frame of the current session, as the camera sent it.
    Frame(Bytes),
    /// The session ended.
    Ended,
}

/// The worker's end: cheap, never blocks, sends frames only while someone listens.
#[derive(Clone)]
pub struct AudioTap {
    input: Sender<AudioInput>,
    feed: Arc<AudioFeed>,
}

impl AudioTap {
    pub fn session(&self, track: Option<AudioTrack>) {
        self.send(AudioInput::Session(track));
    }

    pub fn ended(&self) {
        self.send(AudioInput::Ended);
    }

    pub fn frame(&self, data: &[u8]) {
        if self.feed.listeners() > 0 {
            self.send(AudioInput::Frame(Bytes::copy_from_slice(data)));
        }
    }

    fn send(&self, input: AudioInput) {
        match self.input.try_send(input) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => tracing::debug!("audio thread behind; frame dropped"),
        }
    }
}

/// Starts camera `name`'s audio thread. It ends when the returned tap is dropped.
pub fn spawn_audio(name: &str) -> std::io::Result<(AudioTap, Arc<AudioFeed>)> {
    let adts = broadcast::Sender::new(BACKLOG);
    let feed = Arc::new(AudioFeed {
        state: watch::Sender::new(AudioState::Disconnected),
        adts: Mutex::new(Some(adts.clone())),
        listeners: AtomicUsize::new(0),
    });
    let (tx, rx) = crossbeam_channel::bounded(64);
    let thread_feed = feed.clone();
    let camera = name.to_owned();
    std::thread::Builder::new()
        .name(format!("audio {name}"))
        .spawn(move || {
            let span = tracing::info_span!("audio", camera = %camera);
            let _guard = span.enter();
            audio_loop(&rx, &thread_feed, &adts);
            if let Ok(mut kept) = thread_feed.adts.lock() {
                kept.take();
            }
        })?;
    Ok((
        AudioTap {
            input: tx,
            feed: feed.clone(),
        },
        feed,
    ))
}

fn audio_loop(input: &Receiver<AudioInput>, feed: &AudioFeed, out: &broadcast::Sender<Bytes>) {
    let mut converter: Option<Converter> = None;
    for msg in input.iter() {
        match msg {
            AudioInput::Session(track) => {
                let (next, state) = match track {
                    None => (
                        None,
                        AudioState::NoAudio("its stream has no audio track".into()),
                    ),
                    Some(t) => match Converter::new(&t) {
                        Ok(c) => {
                            let how = c.describe(&t);
                            (Some(c), AudioState::Serving(how))
                        }
                        Err(e) => {
                            tracing::warn!("audio cannot be served: {e}");
                            (None, AudioState::Failed(e))
                        }
                    },
                };
                converter = next;
                feed.state.send_replace(state);
            }
            AudioInput::Ended => {
                converter = None;
                feed.state.send_replace(AudioState::Disconnected);
            }
            AudioInput::Frame(data) => {
                let Some(c) = converter.as_mut() else {
                    continue;
                };
                match c.convert(&data) {
                    Ok(frames) => {
                        for f in frames {
                            let _ = out.send(f);
                        }
                    }
                    Err(e) => tracing::debug!("audio frame dropped: {e}"),
                }
            }
        }
    }
}

/// What an AudioSpecificConfig says, as far as ADTS needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asc {
    pub object_type: u8,
    /// Index into the MPEG-4 sampling frequency table (`None`: an explicit frequency).
    pub frequency_index: Option<u8>,
    pub channels: u8,
}

impl Asc {
    /// Parses the first fields of an AudioSpecificConfig (ISO 14496-3 1.6.2.1).
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let mut bits = Bits { data, at: 0 };
        let mut object_type = bits.take(5)?;
        if object_type == 31 {
            object_type = 32 + bits.take(6)?;
        }
        let index = bits.take(4)?;
        let frequency_index = if index == 15 {
            bits.take(24)?;
            None
        } else {
            Some(index as u8)
        };
        let channels = bits.take(4)? as u8;
        Ok(Self {
            object_type: object_type as u8,
            frequency_index,
            channels,
        })
    }

    /// The 7-byte ADTS header writer for this config, if ADTS can describe it (AAC Main, LC,
    /// SSR or LTP; a tabled sampling frequency; a standard channel configuration).
    pub fn adts(&self) -> Result<Adts, String> {
        let index = self
            .frequency_index
            .filter(|i| *i < 13)
            .ok_or("an explicit sampling frequency")?;
        if !(1..=4).contains(&self.object_type) {
            return Err(format!("audio object type {}", self.object_type));
        }
        if !(1..=7).contains(&self.channels) {
            return Err(format!("channel configuration {}", self.channels));
        }
        Ok(Adts {
            profile: self.object_type - 1,
            frequency_index: index,
            channels: self.channels,
        })
    }
}

struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self
                .data
                .get(self.at / 8)
                .ok_or("AudioSpecificConfig too short")?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Ok(v)
    }
}

/// Writes ADTS headers (MPEG-4, no CRC, one raw data block per frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adts {
    profile: u8,
    frequency_index: u8,
    channels: u8,
}

impl Adts {
    /// `payload` with its ADTS header in front.
    pub fn frame(&self, payload: &[u8]) -> Result<Bytes, String> {
        let len = payload.len() + 7;
        if len >= 1 << 13 {
            return Err(format!(
                "AAC frame of {} bytes is too long for ADTS",
                payload.len()
            ));
        }
        let (p, f, c) = (self.profile, self.frequency_index, self.channels);
        let header = [
            0xFF,
            0xF1,
            (p << 6) | (f << 2) | (c >> 2),
            ((c & 3) << 6) | (len >> 11) as u8,
            (len >> 3) as u8,
            (((len & 7) as u8) << 5) | 0x1F,
            0xFC,
        ];
        let mut out = BytesMut::with_capacity(len);
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        Ok(out.freeze())
    }
}

/// Turns one session's audio frames into ADTS frames.
enum Converter {
    PassThrough(Adts),
    Transcode(Box<Transcoder>),
}

impl Converter {
    fn new(track: &AudioTrack) -> Result<Self, String> {
        if track.codec == AudioCodec::Aac {
            match Asc::parse(&track.extradata).and_then(|a| a.adts()) {
                Ok(adts) => return Ok(Self::PassThrough(adts)),
                Err(why) => tracing::info!("ADTS cannot carry this AAC ({why}): transcoding"),
            }
        }
        Transcoder::new(track)
            .map(|t| Self::Transcode(Box::new(t)))
            .map_err(|e| {
                format!(
                    "{} audio cannot be transcoded to AAC: {e}",
                    track.codec.as_str()
                )
            })
    }

    fn describe(&self, track: &AudioTrack) -> String {
        let what = format!(
            "{} {} Hz, {} ch",
            track.codec.as_str(),
            track.sample_rate,
            track.channels
        );
        match self {
            Self::PassThrough(_) => format!("{what}, passed through as ADTS"),
            Self::Transcode(_) => format!("{what}, transcoded to AAC"),
        }
    }

    fn convert(&mut self, data: &[u8]) -> Result<Vec<Bytes>, String> {
        match self {
            Self::PassThrough(adts) => Ok(vec![adts.frame(data)?]),
            Self::Transcode(t) => t.convert(data).map_err(|e| e.to_string()),
        }
    }
}

/// FFmpeg's AAC-LC encoder fed float samples of any count; gives whole raw AAC frames.
pub struct AacEncoder {
    encoder: ffmpeg::encoder::Audio,
    layout: ffmpeg::ChannelLayout,
    asc: Vec<u8>,
    /// Samples waiting for a whole encoder frame, per channel.
    pending: Vec<Vec<f32>>,
    pts: i64,
}

impl AacEncoder {
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, String> {
        super::decode::init_ffmpeg();
        let rate = i32::try_from(sample_rate).map_err(|_| "bad sample rate")?;
        let channels = i32::from(channels.max(1));
        let layout = ffmpeg::ChannelLayout::default(channels);
        let aac = ffmpeg::encoder::find(ffmpeg::codec::Id::AAC).ok_or("no AAC encoder")?;
        let mut enc = ffmpeg::codec::Context::new_with_codec(aac)
            .encoder()
            .audio()
            .map_err(|e| e.to_string())?;
        enc.set_rate(rate);
        enc.set_channel_layout(layout);
        enc.set_channels(channels);
        enc.set_format(ffmpeg::format::Sample::F32(
            ffmpeg::format::sample::Type::Planar,
        ));
        enc.set_bit_rate(32_000 * channels as usize);
        enc.set_time_base((1, rate));
        enc.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        let encoder = enc.open_as(aac).map_err(|e| e.to_string())?;
        // SAFETY: the opened encoder's extradata is `extradata_size` valid bytes (or null).
        let asc = unsafe {
            let p = encoder.as_ptr();
            if (*p).extradata.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
            }
        };
        Ok(Self {
            encoder,
            layout,
            asc,
            pending: vec![Vec::new(); channels as usize],
            pts: 0,
        })
    }

    /// The AudioSpecificConfig of what it encodes.
    pub fn asc(&self) -> &[u8] {
        &self.asc
    }

    /// Samples per AAC frame (1024).
    pub fn frame_size(&self) -> usize {
        (self.encoder.frame_size() as usize).max(1)
    }

    /// Queues `samples` (one slice per channel) and returns every AAC frame now complete.
    pub fn encode(&mut self, samples: &[&[f32]]) -> Result<Vec<Vec<u8>>, ffmpeg::Error> {
        for (pending, more) in self.pending.iter_mut().zip(samples) {
            pending.extend_from_slice(more);
        }
        self.drain()
    }

    fn drain(&mut self) -> Result<Vec<Vec<u8>>, ffmpeg::Error> {
        let size = self.frame_size();
        let mut out = Vec::new();
        while self.pending[0].len() >= size {
            let mut frame = ffmpeg::frame::Audio::new(
                ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Planar),
                size,
                self.layout,
            );
            frame.set_rate(self.encoder.rate());
            frame.set_pts(Some(self.pts));
            self.pts += size as i64;
            for (i, samples) in self.pending.iter_mut().enumerate() {
                frame.plane_mut::<f32>(i).copy_from_slice(&samples[..size]);
                samples.drain(..size);
            }
            self.encoder.send_frame(&frame)?;
            let mut packet = ffmpeg::Packet::empty();
            while self.encoder.receive_packet(&mut packet).is_ok() {
                if let Some(payload) = packet.data() {
                    out.push(payload.to_vec());
                }
            }
        }
        Ok(out)
    }
}

/// FFmpeg decoder (G.711 or AAC) → float planar samples → [`AacEncoder`] → ADTS.
struct Transcoder {
    decoder: ffmpeg::decoder::Audio,
    encoder: AacEncoder,
    adts: Adts,
}

impl Transcoder {
    fn new(track: &AudioTrack) -> Result<Self, String> {
        super::decode::init_ffmpeg();
        let rate = i32::try_from(track.sample_rate).map_err(|_| "bad sample rate")?;
        let channels = i32::from(track.channels.max(1));
        let layout = ffmpeg::ChannelLayout::default(channels);
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
            #[allow(deprecated)]
            {
                (*p).channels = channels;
                (*p).channel_layout = layout.bits();
            }
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
        let encoder = AacEncoder::new(track.sample_rate, track.channels)?;
        let adts = Asc::parse(encoder.asc()).and_then(|a| a.adts())?;
        Ok(Self {
            decoder,
            encoder,
            adts,
        })
    }

    fn convert(&mut self, data: &[u8]) -> Result<Vec<Bytes>, ffmpeg::Error> {
        self.decoder.send_packet(&ffmpeg::Packet::copy(data))?;
        let mut decoded = ffmpeg::frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            append_samples(&decoded, &mut self.encoder.pending);
        }
        Ok(self
            .encoder
            .drain()?
            .iter()
            .filter_map(|payload| self.adts.frame(payload).ok())
            .collect())
    }
}

/// Appends a decoded frame's samples (16-bit or float, packed or planar) as floats per channel.
fn append_samples(frame: &ffmpeg::frame::Audio, out: &mut [Vec<f32>]) {
    use ffmpeg::format::Sample;
    use ffmpeg::format::sample::Type;
    let n = frame.samples();
    let channels = out.len();
    let i16s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(2)
            .map(|c| f32::from(i16::from_ne_bytes([c[0], c[1]])) / 32768.0)
            .collect()
    };
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let convert: &dyn Fn(&[u8]) -> Vec<f32> = match frame.format() {
        Sample::I16(_) => &i16s,
        Sample::F32(_) => &f32s,
        other => {
            tracing::debug!("unexpected decoded sample format {other:?}");
            return;
        }
    };
    if frame.is_planar() {
        let width = if matches!(frame.format(), Sample::I16(_)) {
            2
        } else {
            4
        };
        for (c, samples) in out.iter_mut().enumerate().take(frame.planes()) {
            samples.extend(convert(&frame.data(c)[..n * width]));
        }
    } else {
        let width = if matches!(frame.format(), Sample::I16(Type::Packed)) {
            2
        } else {
            4
        };
        let all = convert(&frame.data(0)[..n * width * channels]);
        for (i, s) in all.into_iter().enumerate() {
            out[i % channels].push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_parses_and_makes_adts_headers() {
        // AAC-LC, 16 kHz (index 8), mono: 00010 1000 0001 000 = 0x14 0x08.
        let asc = Asc::parse(&[0x14, 0x08]).unwrap();
        assert_eq!(
            asc,
            Asc {
                object_type: 2,
                frequency_index: Some(8),
                channels: 1
            }
        );
        let frame = asc.adts().unwrap().frame(&[0xAB; 100]).unwrap();
        // 0xFFF sync, MPEG-4, no CRC; LC (profile 1), index 8, 1 channel, length 107.
        assert_eq!(&frame[..7], &[0xFF, 0xF1, 0x60, 0x40, 0x0D, 0x7F, 0xFC]);
        assert_eq!(frame.len(), 107);
        // HE-AAC (object type 5) and explicit frequencies cannot be described by ADTS.
        assert!(
            Asc::parse(&[0x2B, 0x8A, 0x08, 0x00])
                .unwrap()
                .adts()
                .is_err()
        );
        let explicit = Asc::parse(&[0x17, 0x80, 0x1F, 0x40, 0x08]).unwrap();
        assert_eq!(explicit.frequency_index, None);
        assert!(explicit.adts().is_err());
        assert!(Asc::parse(&[0x14]).is_err());
    }

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
        for f in &frames {
            let asc = Asc::parse(&[0x15, 0x88]).unwrap(); // LC, 8 kHz (index 11), mono
            let want = asc.adts().unwrap().frame(&f[7..]).unwrap();
            assert_eq!(&f[..7], &want[..7]);
        }
    }
}

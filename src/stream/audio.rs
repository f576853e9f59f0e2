//! Camera audio for listeners: the camera's own audio thread (fed by the session only while
//! someone listens) turns frames into ADTS AAC (`transcode`) and fans them out through a
//! `broadcast` channel, so a slow listener skips frames and delays nobody. When the camera's
//! audio turns out to be unusable, or the thread ends for any reason (a panic included),
//! every listener's stream ends cleanly instead of hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::{broadcast, watch};

use super::transcode::{ConvertError, Converter, Decoder};
use crate::media::AudioTrack;
use crate::media::pcm::Resample;
use crate::sound::Speaker;

/// What a camera's audio endpoint can give right now.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioState {
    /// No session yet (or between sessions).
    Disconnected,
    /// The camera's session carries no audio we can use.
    NoAudio(String),
    /// Audio flows: the camera's codec, and what it is and how it is served ("AAC 16000 Hz,
    /// 1 ch, passed through").
    Serving {
        codec: crate::media::AudioCodec,
        how: String,
    },
    /// The camera has audio but it cannot be turned into AAC (why).
    Failed(String),
}

/// Frames kept for listeners that fall behind (AAC at 48 kHz: about 5 s).
const BACKLOG: usize = 256;

/// One camera's audio as ADTS frames, shared by its worker (writer) and audio server (readers).
pub struct AudioFeed {
    state: watch::Sender<AudioState>,
    /// For new listeners and for the audio thread; replaced when the camera's audio fails
    /// and taken when the thread ends, so that every listener's stream ends then.
    adts: Mutex<Option<broadcast::Sender<Bytes>>>,
    listeners: AtomicUsize,
}

impl AudioFeed {
    pub fn state(&self) -> AudioState {
        self.state.borrow().clone()
    }

    /// A watch on the state, for whoever mirrors it only when it changes.
    pub fn watch(&self) -> watch::Receiver<AudioState> {
        self.state.subscribe()
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

    fn send(&self, frame: Bytes) {
        if let Ok(adts) = self.adts.lock()
            && let Some(tx) = adts.as_ref()
        {
            let _ = tx.send(frame);
        }
    }

    /// Ends every current listener's stream (new listeners get a fresh channel).
    fn end_listeners(&self) {
        if let Ok(mut adts) = self.adts.lock()
            && adts.is_some()
        {
            *adts = Some(broadcast::Sender::new(BACKLOG));
        }
    }
}

/// Owned by the audio thread: however the thread ends (a panic included), listeners' streams
/// end and the feed says the audio is gone.
struct ThreadGuard(Arc<AudioFeed>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        if let Ok(mut adts) = self.0.adts.lock() {
            adts.take();
        }
        if std::thread::panicking() {
            tracing::error!("audio thread failed; this camera's audio is off");
            self.0
                .state
                .send_replace(AudioState::Failed("the audio thread failed".into()));
        }
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
    /// One audio frame of the current session, as the camera sent it, and when it came.
    Frame(Bytes, Instant),
    /// The session ended.
    Ended,
}

/// The worker's end: cheap, never blocks, sends frames only while someone listens (a
/// client of the audio server, or the wall's speaker with this camera audible).
#[derive(Clone)]
pub struct AudioTap {
    input: Sender<AudioInput>,
    feed: Arc<AudioFeed>,
    camera: String,
    speaker: Option<Arc<Speaker>>,
}

impl AudioTap {
    pub fn session(&self, track: Option<AudioTrack>) {
        self.send(AudioInput::Session(track));
    }

    pub fn ended(&self) {
        self.send(AudioInput::Ended);
    }

    /// Whether anyone hears this camera: a client of its audio server, or the wall's
    /// speaker.
    pub fn wanted(&self) -> bool {
        self.feed.listeners() > 0
            || self
                .speaker
                .as_ref()
                .is_some_and(|s| s.is_audible(&self.camera))
    }

    pub fn frame(&self, data: &[u8]) {
        if self.wanted() {
            self.send(AudioInput::Frame(
                Bytes::copy_from_slice(data),
                Instant::now(),
            ));
        }
    }

    fn send(&self, input: AudioInput) {
        match self.input.try_send(input) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => tracing::debug!("audio thread behind; frame dropped"),
        }
    }
}

/// How a session's audio track becomes a converter (a seam for tests).
type MakeConverter = fn(&AudioTrack) -> Result<Converter, String>;

/// Starts camera `name`'s audio thread, which also decodes for `speaker` while this camera is
/// the audible one. It ends when the returned tap is dropped.
pub fn spawn_audio(
    name: &str,
    speaker: Option<Arc<Speaker>>,
) -> std::io::Result<(AudioTap, Arc<AudioFeed>)> {
    spawn_audio_with(name, Converter::new, speaker)
}

fn spawn_audio_with(
    name: &str,
    make: MakeConverter,
    speaker: Option<Arc<Speaker>>,
) -> std::io::Result<(AudioTap, Arc<AudioFeed>)> {
    let feed = Arc::new(AudioFeed {
        state: watch::Sender::new(AudioState::Disconnected),
        adts: Mutex::new(Some(broadcast::Sender::new(BACKLOG))),
        listeners: AtomicUsize::new(0),
    });
    let (tx, rx) = crossbeam_channel::bounded(64);
    let thread_feed = feed.clone();
    let camera = name.to_owned();
    let thread_speaker = speaker.clone();
    std::thread::Builder::new()
        .name(format!("audio {name}"))
        .spawn(move || {
            let span = tracing::info_span!("audio", camera = %camera);
            let _span = span.enter();
            let guard = ThreadGuard(thread_feed);
            let mut ear = thread_speaker.map(|s| Ear::new(&camera, s));
            audio_loop(&rx, &guard.0, make, ear.as_mut());
        })?;
    Ok((
        AudioTap {
            input: tx,
            feed: feed.clone(),
            camera: name.to_owned(),
            speaker,
        },
        feed,
    ))
}

/// The speaker's side of a camera's audio thread: decodes (FFmpeg), mixes down to mono and
/// resamples to the speaker's rate while this camera is the audible one.
struct Ear {
    camera: String,
    speaker: Arc<Speaker>,
    track: Option<AudioTrack>,
    /// The decoder and resampler of this session, at the speaker rate they were made for.
    pipe: Option<(Decoder, Resample, u32)>,
    failed: bool,
}

impl Ear {
    fn new(camera: &str, speaker: Arc<Speaker>) -> Self {
        Self {
            camera: camera.to_owned(),
            speaker,
            track: None,
            pipe: None,
            failed: false,
        }
    }

    fn session(&mut self, track: Option<AudioTrack>) {
        self.track = track;
        self.pipe = None;
        self.failed = false;
    }

    fn frame(&mut self, data: &[u8], arrival: Instant) {
        if !self.speaker.is_audible(&self.camera) || self.failed {
            return;
        }
        let Some(track) = &self.track else { return };
        let rate = self.speaker.rate();
        if self.pipe.as_ref().is_none_or(|p| p.2 != rate) {
            match Decoder::new(track)
                .and_then(|d| Ok((d, Resample::new(track.sample_rate, rate)?, rate)))
            {
                Ok(p) => self.pipe = Some(p),
                Err(e) => {
                    tracing::warn!("this camera's sound cannot be played: {e}");
                    self.failed = true;
                    return;
                }
            }
        }
        let Some((decoder, resample, _)) = &mut self.pipe else {
            return;
        };
        let frames = match decoder.decode(data) {
            Ok(f) => f,
            Err(ConvertError::Frame(e)) => {
                tracing::debug!("audio frame not played: {e}");
                return;
            }
            Err(ConvertError::Fatal(e)) => {
                tracing::warn!("this camera's sound cannot be played: {e}");
                self.failed = true;
                return;
            }
        };
        let mut out = Vec::new();
        for channels in frames {
            let n = channels.first().map_or(0, Vec::len);
            let k = channels.len().max(1) as f32;
            let mono: Vec<f32> = (0..n)
                .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() / k)
                .collect();
            if resample.push(&mono, &mut out).is_err() {
                return;
            }
        }
        if !out.is_empty() {
            self.speaker.push(&self.camera, &out, arrival);
        }
    }
}

fn audio_loop(
    input: &Receiver<AudioInput>,
    feed: &AudioFeed,
    make: MakeConverter,
    mut ear: Option<&mut Ear>,
) {
    let mut converter: Option<Converter> = None;
    for msg in input.iter() {
        match msg {
            AudioInput::Session(track) => {
                if let Some(e) = ear.as_deref_mut() {
                    e.session(track.clone());
                }
                let (next, state) = match track {
                    None => (
                        None,
                        AudioState::NoAudio("its stream has no audio track".into()),
                    ),
                    Some(t) => match make(&t) {
                        Ok(c) => {
                            let how = c.describe(&t);
                            (
                                Some(c),
                                AudioState::Serving {
                                    codec: t.codec,
                                    how,
                                },
                            )
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
                if let Some(e) = ear.as_deref_mut() {
                    e.session(None);
                }
                feed.state.send_replace(AudioState::Disconnected);
            }
            AudioInput::Frame(data, arrival) => {
                if let Some(e) = ear.as_deref_mut() {
                    e.frame(&data, arrival);
                }
                if feed.listeners() == 0 {
                    continue;
                }
                let Some(c) = converter.as_mut() else {
                    continue;
                };
                match c.convert(&data) {
                    Ok(frames) => {
                        for f in frames {
                            feed.send(f);
                        }
                    }
                    Err(ConvertError::Frame(e)) => tracing::debug!("audio frame dropped: {e}"),
                    Err(ConvertError::Fatal(why)) => {
                        // Until the next session: the listeners' streams end now.
                        tracing::warn!("audio cannot be served: {why}");
                        converter = None;
                        feed.state.send_replace(AudioState::Failed(why));
                        feed.end_listeners();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioCodec;
    use crate::media::encode::AacEncoder;

    fn wait(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The state carries the camera's codec as data (the wall shows it), not only as text.
    #[test]
    fn serving_names_the_cameras_codec() {
        let (tap, feed) = spawn_audio_with("test", Converter::transcoding, None).unwrap();
        let mut watch = feed.watch();
        tap.session(Some(AudioTrack {
            codec: AudioCodec::Pcma,
            sample_rate: 8_000,
            channels: 1,
            extradata: vec![],
        }));
        wait("serving", || watch.has_changed().unwrap_or(false));
        match &*watch.borrow_and_update() {
            AudioState::Serving { codec, how } => {
                assert_eq!(*codec, AudioCodec::Pcma);
                assert!(how.contains("transcoded to AAC"), "{how}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A camera whose audio declares more channels than it sends (on the transcoding path):
    /// the feed says so, and a listener's stream ends instead of hanging.
    #[test]
    fn unusable_audio_ends_every_listener() {
        let (tap, feed) = spawn_audio_with("test", Converter::transcoding, None).unwrap();
        tap.session(Some(AudioTrack {
            codec: AudioCodec::Aac,
            sample_rate: 16_000,
            channels: 2,
            extradata: vec![0x14, 0x08], // AAC-LC, 16 kHz, mono
        }));
        wait("serving", || {
            matches!(feed.state(), AudioState::Serving { .. })
        });
        let (mut rx, _listener) = feed.listen().unwrap();
        let mut mono = AacEncoder::new(16_000, 1).unwrap();
        let tone = vec![0.1f32; 16_000];
        for frame in mono.encode(&[&tone]).unwrap() {
            tap.frame(&frame);
        }
        wait("failed", || matches!(feed.state(), AudioState::Failed(_)));
        loop {
            match rx.blocking_recv() {
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        let AudioState::Failed(why) = feed.state() else {
            unreachable!()
        };
        assert!(why.contains("declared 2"), "{why}");
        // The camera's next session starts afresh.
        tap.session(None);
        wait("no audio", || {
            matches!(feed.state(), AudioState::NoAudio(_))
        });
    }
}

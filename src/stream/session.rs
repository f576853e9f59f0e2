//! What one RTSP session of a worker knows as its frames arrive — its id, when it went live,
//! the picture size and parameter sets, the clocks its first video and audio frames started
//! — and the turning of retina's frames into our media units (`VideoUnit`, `AudioUnit`):
//! timestamps from the session's start, a wall clock for each, parameter sets put in band
//! before every keyframe.

use std::sync::Arc;

use retina::codec::ParametersRef;
use tokio::time::Instant;

use crate::media::{
    AudioCodec, AudioTrack, AudioUnit, SessionInfo, VideoCodec, VideoUnit, nal, rescale, unix_ms,
};

/// One session of a worker, from PLAY to its end.
pub(super) struct SessionState {
    pub(super) codec: VideoCodec,
    /// The video stream's index among the session's streams.
    pub(super) video: usize,
    /// The audio stream's index and codec, if it was set up.
    audio: Option<(usize, AudioCodec)>,
    /// When its first video frame arrived.
    pub(super) live_since: Option<Instant>,
    /// When its last video frame arrived (the stall watchdog counts from it: a camera whose
    /// picture froze while its sound goes on is stalled).
    pub(super) last_video: Instant,
    /// What the recorder is told with every unit.
    pub(super) info: Arc<SessionInfo>,
    size: (u32, u32),
    parameter_sets: Option<Vec<u8>>,
    /// (RTP ticks, Unix ms) of the first video frame: every frame's wall clock follows from
    /// its timestamp, so segments join exactly.
    video_start: (i64, i64),
    audio_start: Option<(i64, i64)>,
}

/// What a video frame made: its unit, and the camera's picture when the session just went
/// live with it.
pub(super) struct Video {
    pub(super) unit: VideoUnit,
    pub(super) went_live: Option<(u32, u32)>,
}

impl SessionState {
    pub(super) fn new(
        id: u64,
        codec: VideoCodec,
        video: usize,
        audio: Option<(usize, AudioCodec)>,
    ) -> Self {
        Self {
            codec,
            video,
            audio,
            live_since: None,
            last_video: Instant::now(),
            info: Arc::new(SessionInfo { id, audio: None }),
            size: (0, 0),
            parameter_sets: None,
            video_start: (0, 0),
            audio_start: None,
        }
    }

    /// An audio frame as a unit, timed from the first audio frame of the session.
    pub(super) fn audio_unit(&mut self, a: &retina::codec::AudioFrame) -> AudioUnit {
        let ts = a.timestamp();
        let clock = i64::from(ts.clock_rate().get());
        let start = *self.audio_start.get_or_insert((ts.elapsed(), unix_ms()));
        // Checked: a camera's timestamps may jump anywhere.
        let since = ts.elapsed().saturating_sub(start.0);
        AudioUnit {
            data: a.data().into(),
            pts: since,
            wall_ms: start.1.saturating_add(rescale(since, 1000, clock)),
            duration: i64::from(a.frame_length().get()),
        }
    }

    /// A video frame that arrived at `arrival` as a unit. The first one makes the session
    /// live: its size, its audio track (told to the recorder from then on).
    pub(super) fn video_unit(
        &mut self,
        frame: retina::codec::VideoFrame,
        streams: &[retina::client::Stream],
        arrival: std::time::Instant,
    ) -> Video {
        self.last_video = Instant::now();
        let first = self.live_since.is_none();
        if (first || frame.has_new_parameters())
            && let Some(ParametersRef::Video(v)) = streams[self.video].parameters()
        {
            self.size = v.pixel_dimensions();
            self.parameter_sets = nal::annex_b_from_config(self.codec, v.extra_data());
        }
        let ts = frame.timestamp();
        let clock = i64::from(ts.clock_rate().get());
        let went_live = first.then(|| self.go_live(ts.elapsed(), streams));
        let marked = frame.is_random_access_point();
        let since_start = ts.elapsed().saturating_sub(self.video_start.0);
        let mut data = frame.into_data();
        // retina marks only IDR pictures; H.265 cameras with open GOPs send CRA keyframes,
        // without the parameter sets retina keeps out of band. Decoder and recorder both
        // need them in band before every keyframe.
        let keyframe = marked || nal::is_random_access(self.codec, &data);
        if keyframe
            && nal::parameter_sets(self.codec, &data).is_empty()
            && let Some(sets) = &self.parameter_sets
        {
            data.splice(0..0, sets.iter().copied());
        }
        let unit = VideoUnit {
            codec: self.codec,
            width: self.size.0,
            height: self.size.1,
            data: data.into(),
            pts: rescale(since_start, 90_000, clock),
            wall_ms: self
                .video_start
                .1
                .saturating_add(rescale(since_start, 1000, clock)),
            keyframe,
            arrival,
        };
        Video { unit, went_live }
    }

    /// A sender report of the camera's on our units' timeline: whether it is the audio
    /// track's, the `pts` it names, and its NTP time. `None` before the session is live, or
    /// for a stream we did not set up.
    pub(super) fn sender_report(
        &self,
        rtcp: &retina::rtcp::ReceivedCompoundPacket,
    ) -> Option<(bool, i64, u64)> {
        self.live_since?;
        let ts = rtcp.rtp_timestamp()?;
        let report = rtcp
            .pkts()
            .find_map(|p| p.as_sender_report().ok().flatten())?;
        let ntp = report.ntp_timestamp().0;
        let id = rtcp.stream_id();
        if id == self.video {
            let clock = i64::from(ts.clock_rate().get());
            let since = ts.elapsed().saturating_sub(self.video_start.0);
            Some((false, rescale(since, 90_000, clock), ntp))
        } else if self.audio.is_some_and(|(i, _)| i == id) {
            let start = self.audio_start?;
            Some((true, ts.elapsed().saturating_sub(start.0), ntp))
        } else {
            None
        }
    }

    /// The first video frame (RTP ticks `ticks`): the session is live, its clocks start, and
    /// its audio track is known. Returns the picture size.
    fn go_live(&mut self, ticks: i64, streams: &[retina::client::Stream]) -> (u32, u32) {
        self.live_since = Some(Instant::now());
        self.video_start = (ticks, unix_ms());
        let track = self
            .audio
            .and_then(|(i, codec)| match streams[i].parameters() {
                Some(ParametersRef::Audio(p)) => Some(AudioTrack {
                    codec,
                    sample_rate: p.clock_rate(),
                    channels: p.channels().get(),
                    extradata: p.extra_data().to_vec(),
                }),
                _ => None,
            });
        self.info = Arc::new(SessionInfo {
            id: self.info.id,
            audio: track,
        });
        self.size
    }
}

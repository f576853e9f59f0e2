//! One playing restream client: its tracks' RTP numbering, and the task that sends it the
//! cached group of pictures and then the live units, interleaved on its RTSP connection, with
//! sender reports on the camera's clock. A client that falls behind (its queue is full, or it
//! lagged the broadcast) skips to the next keyframe; a new description or the feed's end
//! sends BYE and closes, so the client describes again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::conn::{Outbox, Refused, interleave};
use super::feed::{Description, Feed, Subscription, Unit};
use super::rtp::RtpState;
use crate::media::{AudioCodec, nal};

/// Sender reports go out at least this often per track (RFC 3550 §6.2's minimum interval).
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// One set-up track of a client.
#[derive(Debug, Clone)]
pub struct Track {
    /// RTP goes on this interleaved channel, RTCP on the next.
    pub channel: u8,
    pub rtp: RtpState,
    /// The RTP time of the track's first unit.
    pub base: u32,
}

impl Track {
    pub fn new(channel: u8) -> Self {
        Self {
            channel,
            rtp: RtpState::random(),
            base: rand::random(),
        }
    }
}

/// The RTP time of the first unit a client gets on its video track: the cached units are
/// sent one tick apart ending at `base`, so a player shows the newest at once instead of
/// playing the group out (and staying that far behind).
pub fn first_video_time(track: &Track, sub: &Subscription) -> u32 {
    track
        .base
        .wrapping_sub(sub.backlog.len().saturating_sub(1) as u32)
}

/// What a sender needs to know of its client.
pub struct Client {
    pub video: Option<Track>,
    pub audio: Option<Track>,
    pub out: Outbox,
    /// Ends the connection.
    pub close: mpsc::Sender<()>,
    /// Our CNAME in sender reports.
    pub cname: String,
    /// Whether the client may still watch (a view lock set, or its key expired, since it
    /// started); asked with every sender report.
    pub allowed: Box<dyn Fn() -> bool + Send>,
}

struct Sender {
    feed: Arc<Feed>,
    description: Arc<Description>,
    client: Client,
    /// Our pts of the first live video and audio unit sent (RTP time `base`).
    starts: [Option<i64>; 2],
    reports: [Option<Instant>; 2],
    /// Waiting for a keyframe after falling behind.
    skipping: bool,
    dropped: u64,
}

/// Sends `sub` to `client` until the connection ends, the stream changes or the feed ends.
pub async fn run(feed: Arc<Feed>, mut sub: Subscription, client: Client) {
    let mut s = Sender {
        feed,
        description: sub.description.clone(),
        client,
        starts: [None, None],
        reports: [None, None],
        skipping: false,
        dropped: 0,
    };
    let backlog = std::mem::take(&mut sub.backlog);
    if s.client.video.is_some() {
        // The whole group, waiting for room (bounded by the writer's stall limit): a group cut
        // short cannot be decoded.
        let n = backlog.len();
        for (i, unit) in backlog.iter().enumerate() {
            let base = s.client.video.as_ref().map_or(0, |t| t.base);
            let ts = base.wrapping_sub((n - 1 - i) as u32);
            let message = s.pack(unit, ts, false);
            if !s.client.out.send(message).await {
                return;
            }
        }
        s.starts[0] = backlog.last().map(|u| u.pts);
    }
    let mut ended = s.feed.ended();
    loop {
        let unit = tokio::select! {
            unit = sub.live.recv() => match unit {
                Ok(unit) => unit,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    s.fell_behind(n);
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = ended.wait_for(|gone| *gone) => break,
        };
        if unit.generation != s.description.generation {
            break;
        }
        if s.live(&unit).is_err() {
            break;
        }
    }
    s.end().await;
}

impl Sender {
    fn fell_behind(&mut self, units: u64) {
        if !self.skipping {
            tracing::debug!("restream client behind: skipping to the next keyframe");
        }
        self.skipping = true;
        self.dropped += units;
    }

    /// A live unit, at its place after the client's start.
    fn live(&mut self, unit: &Unit) -> Result<(), Refused> {
        let k = usize::from(unit.audio);
        let track = if unit.audio {
            &self.client.audio
        } else {
            &self.client.video
        };
        let Some(base) = track.as_ref().map(|t| t.base) else {
            return Ok(());
        };
        // Video restarts at a keyframe; sound alone at any frame.
        let restarts = if unit.audio {
            self.client.video.is_none()
        } else {
            unit.keyframe
        };
        if self.skipping && !restarts {
            self.dropped += 1;
            return Ok(());
        }
        self.skipping = false;
        if self.starts[k].is_none() {
            // Video starts at a keyframe; sound once the picture goes (or at once without).
            let ready = if unit.audio {
                self.client.video.is_none() || self.starts[0].is_some()
            } else {
                unit.keyframe
            };
            if !ready {
                return Ok(());
            }
            self.starts[k] = Some(unit.pts);
        }
        let since = unit.pts.wrapping_sub(self.starts[k].unwrap_or(unit.pts));
        let ts = base.wrapping_add(since as u32);
        if self.reports[k].is_some_and(|t| t.elapsed() >= REPORT_EVERY) && !(self.client.allowed)()
        {
            tracing::info!("restream client ended: the camera is locked to it now");
            return Err(Refused::Closed);
        }
        self.emit(unit, ts)
    }

    /// Queues `unit` at RTP time `ts` if there is room; a full queue drops it and skips to
    /// the next keyframe. Ends the client when it may no longer watch.
    fn emit(&mut self, unit: &Unit, ts: u32) -> Result<(), Refused> {
        let message = self.pack(unit, ts, true);
        match self.client.out.offer(message) {
            Ok(()) => Ok(()),
            Err(Refused::Full) => {
                self.fell_behind(1);
                Ok(())
            }
            Err(Refused::Closed) => Err(Refused::Closed),
        }
    }

    /// `unit` at RTP time `ts` as one message of interleaved packets, after a sender report
    /// when one is due on a live unit.
    fn pack(&mut self, unit: &Unit, ts: u32, live: bool) -> Vec<u8> {
        let k = usize::from(unit.audio);
        let due = live && self.reports[k].is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        let ntp = due.then(|| self.feed.ntp(unit.audio, unit.pts)).flatten();
        let description = self.description.clone();
        let cname = self.client.cname.clone();
        let track = if unit.audio {
            self.client.audio.as_mut()
        } else {
            self.client.video.as_mut()
        };
        let Some(track) = track else {
            return Vec::new();
        };
        let mut message = Vec::with_capacity(unit.data.len() + unit.data.len() / 64 + 128);
        if let Some(ntp) = ntp {
            interleave(
                track.channel + 1,
                &track.rtp.sender_report(ntp, ts, &cname),
                &mut message,
            );
            self.reports[k] = Some(Instant::now());
        }
        for packet in packets(&description, &mut track.rtp, unit, ts) {
            interleave(track.channel, &packet, &mut message);
        }
        message
    }

    /// BYE on every track, then the connection closes (after what is queued is written).
    async fn end(self) {
        let mut message = Vec::new();
        for track in [&self.client.video, &self.client.audio]
            .into_iter()
            .flatten()
        {
            interleave(track.channel + 1, &track.rtp.bye(), &mut message);
        }
        let _ = self.client.out.offer(message);
        let _ = self.client.close.send(()).await;
        if self.dropped > 0 {
            tracing::debug!("restream client ended; {} units skipped", self.dropped);
        }
    }
}

/// The RTP packets of `unit`: a video access unit (parameter sets put first on a keyframe
/// that lacks them), an AAC frame, or G.711 samples.
fn packets(description: &Description, rtp: &mut RtpState, unit: &Unit, ts: u32) -> Vec<Vec<u8>> {
    if unit.audio {
        let Some(track) = &description.audio else {
            return Vec::new();
        };
        return match track.codec {
            AudioCodec::Aac => vec![rtp.aac(&unit.data, ts)],
            AudioCodec::Pcma | AudioCodec::Pcmu => {
                rtp.g711(super::sdp::audio_payload_type(track), &unit.data, ts)
            }
        };
    }
    let codec = description.codec;
    let mut nals = nal::split_annex_b(&unit.data);
    if unit.keyframe && nal::parameter_sets(codec, &unit.data).is_empty() {
        let sets = description.params.iter().map(Vec::as_slice);
        nals = sets.chain(nals).collect();
    }
    rtp.packetize(codec, &nals, ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaSink;
    use crate::restream::feed::tests::{session, unit};

    /// The RTP packets of one queued message: (channel, packet).
    fn packets_of(message: &[u8]) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        let mut rest = message;
        while rest.len() >= 4 {
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            out.push((rest[1], &rest[4..4 + len]));
            rest = &rest[4 + len..];
        }
        out
    }

    /// A video client of `feed` playing into a queue of `len` messages: the queue, the close
    /// signal, the sender task.
    fn play(
        feed: &Arc<Feed>,
        len: usize,
    ) -> (
        crate::restream::conn::Inbox,
        mpsc::Receiver<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let sub = feed.subscribe(feed.client()).ok().unwrap();
        let (out, queue) = Outbox::channel(len, usize::MAX / 2);
        let (close, closed) = mpsc::channel(1);
        let client = Client {
            video: Some(Track::new(0)),
            audio: None,
            out,
            close,
            cname: "test".into(),
            allowed: Box::new(|| true),
        };
        (queue, closed, tokio::spawn(run(feed.clone(), sub, client)))
    }

    fn timestamp(packet: &[u8]) -> u32 {
        u32::from_be_bytes(packet[4..8].try_into().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_behind_skips_to_the_next_keyframe_and_a_new_stream_ends_it() {
        let feed = Feed::new();
        let s = session(1);
        feed.video(&s, &unit(0, true, 640));
        let (mut queue, mut closed, task) = play(&feed, 2);
        // The queue holds two messages: the cached keyframe and one more; the rest of the
        // group cannot be decoded without what was dropped.
        for i in 1..=5 {
            feed.video(&s, &unit(i * 3600, false, 640));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let first = queue.recv().await.unwrap();
        let key = packets_of(&first)[0].1;
        assert_eq!(key[12] & 0x1F, 5, "starts with the cached keyframe");
        let second = queue.recv().await.unwrap();
        assert!(queue.try_recv().is_none(), "the rest was dropped");
        feed.video(&s, &unit(6 * 3600, false, 640));
        feed.video(&s, &unit(7 * 3600, true, 640));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let next = queue.recv().await.unwrap();
        let (channel, packet) = packets_of(&next)[0];
        assert_eq!(
            (channel, packet[12] & 0x1F),
            (0, 5),
            "resumes at a keyframe"
        );
        assert_eq!(timestamp(packet).wrapping_sub(timestamp(key)), 7 * 3600);
        let second = packets_of(&second);
        assert_eq!(second[0].0, 1, "a sender report before the first live unit");
        let p1 = second.last().unwrap().1;
        assert_eq!(timestamp(p1).wrapping_sub(timestamp(key)), 3600);
        // The camera comes back at another size: BYE, and the connection is asked to close.
        feed.video(&session(2), &unit(0, true, 1280));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let bye = queue.recv().await.unwrap();
        let (channel, packet) = packets_of(&bye)[0];
        assert_eq!((channel, packet[1]), (1, 203));
        assert!(closed.recv().await.is_some());
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_camera_ends_its_clients() {
        let feed = Feed::new();
        let s = session(1);
        feed.video(&s, &unit(0, true, 640));
        let (mut queue, mut closed, task) = play(&feed, 8);
        feed.end();
        assert!(closed.recv().await.is_some(), "asked to close");
        let mut last = Vec::new();
        while let Some(m) = queue.try_recv() {
            last = m;
        }
        assert_eq!(packets_of(&last)[0].1[1], 203, "BYE last");
        task.await.unwrap();
        assert!(feed.subscribe(feed.client()).is_err(), "no new client");
    }
}

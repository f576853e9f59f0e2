//! The simulated camera's RTP senders: one task per set-up track of a playing session, fed
//! from the camera's shared encoder (pictures) or sound, delivered over the RTSP connection
//! (interleaved) or UDP, with the faults tests ask for (late first frame, drop, freeze,
//! garbage, jitter) applied here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};

use super::Shared;
use crate::media::VideoCodec;
use crate::media::nal::{is_parameter_set, split_annex_b};
use crate::restream::conn::{Outbox, interleave};
use crate::restream::rtp::RtpState;

/// Where a track's RTP goes.
#[derive(Clone)]
pub(super) enum Delivery {
    Interleaved {
        channel: u8,
    },
    Udp {
        socket: Arc<UdpSocket>,
        to: SocketAddr,
    },
}

/// Streams one camera's frames to one session until aborted.
pub(super) async fn send_rtp(
    shared: Arc<Shared>,
    source: Arc<super::scene::Source>,
    delivery: Delivery,
    mut rtp: RtpState,
    rtp_base: u32,
    out: Outbox,
    close: mpsc::Sender<()>,
) {
    let faults = shared.faults.lock().expect("faults lock").clone();
    let mut frames = source.frames.subscribe();
    if !faults.first_frame_delay.is_zero() {
        tokio::time::sleep(faults.first_frame_delay).await;
        frames = frames.resubscribe();
    }
    source.force_keyframe.store(true, Ordering::Relaxed);
    let ticks = 90_000 / u64::from(source.spec.fps.max(1));
    let mut first_index: Option<u64> = None;
    let mut sent = 0u64;
    let mut reported: Option<tokio::time::Instant> = None;
    loop {
        let frame = match frames.recv().await {
            Ok(f) => f,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Skipped frames: the picture is broken until the next keyframe.
                if let Some(f) = wait_keyframe(&mut frames).await {
                    f
                } else {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if first_index.is_none() && !frame.keyframe {
            continue;
        }
        let first = *first_index.get_or_insert(frame.index);
        let ts = rtp_base.wrapping_add(((frame.index - first) * ticks) as u32);
        let garbled;
        let mut nals = split_annex_b(&frame.data);
        if faults.garbage {
            garbled = nals
                .iter()
                .map(|n| garble(source.spec.codec, n))
                .collect::<Vec<_>>();
            nals = garbled.iter().map(Vec::as_slice).collect();
        }
        if faults.jitter > 0.0 {
            let late = 2.0 * faults.jitter.min(0.5) * rand::random::<f64>();
            let period = 1.0 / f64::from(source.spec.fps.max(1));
            tokio::time::sleep(std::time::Duration::from_secs_f64(late * period)).await;
        }
        // A sender report on the camera's own clock (`clock_offset_secs` off ours) before
        // the first frame and every 5 s, as cameras send them.
        if let Delivery::Interleaved { channel } = &delivery
            && reported.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(5))
        {
            reported = Some(tokio::time::Instant::now());
            let now = crate::media::unix_ms() + faults.clock_offset_secs * 1000;
            let ntp = crate::restream::feed::ntp_of_unix_ms(now);
            let report = rtp.sender_report(ntp, ts, "opticlink-simcam");
            let rtcp = Delivery::Interleaved {
                channel: channel.wrapping_add(1),
            };
            if !deliver(&rtcp, &out, report).await {
                return;
            }
        }
        for packet in rtp.packetize(source.spec.codec, &nals, ts) {
            if !deliver(&delivery, &out, packet).await {
                return;
            }
        }
        sent += 1;
        shared.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
        if faults.drop_after_frames.is_some_and(|n| sent >= n) {
            let _ = close.send(()).await;
            return;
        }
        if faults.freeze_after_frames.is_some_and(|n| sent >= n) {
            return std::future::pending().await;
        }
    }
}

/// Sends one RTP packet; `false` once the connection is gone.
pub(super) async fn deliver(delivery: &Delivery, out: &Outbox, packet: Vec<u8>) -> bool {
    match delivery {
        Delivery::Interleaved { channel } => {
            let mut framed = Vec::with_capacity(4 + packet.len());
            interleave(*channel, &packet, &mut framed);
            out.send(framed).await
        }
        Delivery::Udp { socket, to } => {
            let _ = socket.send_to(&packet, to).await;
            true
        }
    }
}

/// Streams one camera's sound to one session until aborted. Faults leave it alone: a
/// frozen camera that still sends sound is the case a watchdog must see through.
pub(super) async fn send_audio(
    shared: Arc<Shared>,
    camera: usize,
    delivery: Delivery,
    mut rtp: RtpState,
    rtp_base: u32,
    out: Outbox,
) {
    let Some(sound) = shared.sounds.get(camera).cloned() else {
        return;
    };
    let delay = shared.faults.lock().expect("faults lock").first_frame_delay;
    tokio::time::sleep(delay).await;
    let mut packets = sound.packets.subscribe();
    let mut first = None;
    loop {
        let packet = match packets.recv().await {
            Ok(p) => p,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let first = *first.get_or_insert(packet.index);
        let ticks = (packet.index - first) * sound.frame_size as u64;
        let rtp_packet = rtp.aac(&packet.data, rtp_base.wrapping_add(ticks as u32));
        if !deliver(&delivery, &out, rtp_packet).await {
            return;
        }
    }
}

/// A NAL unit with its header kept and everything after replaced by random bytes; parameter
/// sets pass unchanged so the session itself stays valid.
pub(super) fn garble(codec: VideoCodec, nal: &[u8]) -> Vec<u8> {
    let header = match codec {
        VideoCodec::H264 => 1,
        VideoCodec::H265 => 2,
    };
    if is_parameter_set(codec, nal) || nal.len() <= header {
        return nal.to_vec();
    }
    let mut out = nal[..header].to_vec();
    out.extend((header..nal.len()).map(|_| rand::random::<u8>()));
    out
}

pub(super) async fn wait_keyframe(
    frames: &mut broadcast::Receiver<Arc<super::scene::EncodedFrame>>,
) -> Option<Arc<super::scene::EncodedFrame>> {
    loop {
        match frames.recv().await {
            Ok(f) if f.keyframe => return Some(f),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

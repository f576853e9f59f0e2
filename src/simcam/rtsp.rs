//! The simulated camera's RTSP connection handling: message framing and parsing with
//! `rtsp-types`, Digest auth, sessions, and the RTP sender of each playing session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use md5::{Digest, Md5};
use rtsp_types::{Message, Method, Request, Response, StatusCode, Version, headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc};

use super::rtp::RtpState;
use super::{Shared, SimStats};
use crate::media::VideoCodec;
use crate::media::nal::{is_parameter_set, nal_type, split_annex_b};

const REALM: &str = "OpticLink simulated camera";

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        SimStats::bump(&shared.stats.connections);
        if shared.faults.lock().expect("faults lock").refuse {
            drop(stream);
            continue;
        }
        let task = tokio::spawn(serve_connection(stream, peer, shared.clone()));
        let mut tasks = shared.tasks.lock().expect("tasks lock");
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }
}

impl SimStats {
    fn bump(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a track's RTP goes.
#[derive(Clone)]
enum Delivery {
    Interleaved {
        channel: u8,
    },
    Udp {
        socket: Arc<UdpSocket>,
        to: SocketAddr,
    },
}

/// A camera's tracks: `trackID=0` is the picture, `trackID=1` the sound (when it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    Video,
    Audio,
}

impl Media {
    fn track_id(self) -> u8 {
        match self {
            Self::Video => 0,
            Self::Audio => 1,
        }
    }
}

/// One set-up track of a session.
struct TrackState {
    media: Media,
    delivery: Delivery,
    rtp: RtpState,
    rtp_base: u32,
}

struct SessionState {
    id: String,
    camera: usize,
    tracks: Vec<TrackState>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        for s in self.senders.drain(..) {
            s.abort();
        }
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let (mut rd, mut wr) = stream.into_split();
    // One writer: responses and interleaved RTP share the TCP stream.
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
    // The sender asks the connection to close (fault: drop after N frames).
    let (close_tx, mut close_rx) = mpsc::channel::<()>(1);
    let writer = tokio::spawn(async move {
        while let Some(buf) = out_rx.recv().await {
            if wr.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::with_capacity(4096);
    let mut session: Option<SessionState> = None;
    let mut nonce = random_hex();
    'conn: loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::select! {
            n = rd.read(&mut chunk) => match n { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = close_rx.recv() => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let (msg, used) = match Message::<Vec<u8>>::parse(&buf) {
                Ok(parsed) => parsed,
                Err(rtsp_types::ParseError::Incomplete(_)) => break,
                Err(rtsp_types::ParseError::Error) => {
                    let _ = out_tx
                        .send(response(StatusCode::BadRequest, "0", &[], b""))
                        .await;
                    break 'conn;
                }
            };
            buf.drain(..used);
            let Message::Request(req) = msg else { continue }; // RTCP from the client etc.
            let ctx = Ctx {
                shared: &shared,
                peer,
                local,
                out: &out_tx,
                close: &close_tx,
            };
            let reply = handle(&ctx, &req, &mut session, &mut nonce).await;
            let is_teardown = matches!(req.method(), Method::Teardown);
            if out_tx.send(reply).await.is_err() {
                break 'conn;
            }
            if is_teardown {
                session = None;
            }
        }
    }
    drop(session);
    drop(out_tx);
    let _ = writer.await;
}

struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    out: &'a mpsc::Sender<Vec<u8>>,
    close: &'a mpsc::Sender<()>,
}

fn header<'r>(req: &'r Request<Vec<u8>>, name: &headers::HeaderName) -> Option<&'r str> {
    req.header(name).map(|v| v.as_str())
}

fn response(
    status: StatusCode,
    cseq: &str,
    extra: &[(headers::HeaderName, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut b = Response::builder(Version::V1_0, status)
        .header(headers::CSEQ, cseq)
        .header(headers::SERVER, "OpticLink-simcam");
    for (name, value) in extra {
        b = b.header(name.clone(), value.as_str());
    }
    let mut out = Vec::new();
    b.build(body.to_vec())
        .write(&mut out)
        .expect("writing to a Vec");
    out
}

async fn handle(
    ctx: &Ctx<'_>,
    req: &Request<Vec<u8>>,
    session: &mut Option<SessionState>,
    nonce: &mut String,
) -> Vec<u8> {
    let cseq = header(req, &headers::CSEQ).unwrap_or("0").to_owned();
    let reply = |status, extra: &[(headers::HeaderName, String)], body: &[u8]| {
        response(status, &cseq, extra, body)
    };
    let method = req.method().clone();
    if matches!(method, Method::Options) {
        let public = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, SET_PARAMETER, TEARDOWN";
        return reply(StatusCode::Ok, &[(headers::PUBLIC, public.into())], b"");
    }
    let config = &ctx.shared.config;
    if let (Some(user), Some(pass)) = (&config.user, &config.password)
        && !digest_ok(
            header(req, &headers::AUTHORIZATION),
            &method,
            user,
            pass,
            nonce,
        )
    {
        *nonce = random_hex();
        let challenge = format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\"");
        return reply(
            StatusCode::Unauthorized,
            &[(headers::WWW_AUTHENTICATE, challenge)],
            b"",
        );
    }
    let Some(uri) = req.request_uri() else {
        return reply(StatusCode::BadRequest, &[], b"");
    };
    let camera = uri
        .path_segments()
        .and_then(|mut s| s.next())
        .and_then(|first| first.strip_prefix("cam"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=ctx.shared.sources.len()).contains(n))
        .map(|n| n - 1);
    match method {
        Method::Describe => {
            let Some(camera) = camera else {
                return reply(StatusCode::NotFound, &[], b"");
            };
            let source = &ctx.shared.sources[camera];
            let mut params = source.params.clone();
            let sets = match tokio::time::timeout(
                std::time::Duration::from_secs(10),
                params.wait_for(Option::is_some),
            )
            .await
            {
                Ok(Ok(sets)) => sets.clone().unwrap_or_default(),
                _ => return reply(StatusCode::ServiceUnavailable, &[], b""),
            };
            let mut sdp = sdp(source.spec.codec, &sets, source.spec.fps, ctx.local);
            if let Some(sound) = ctx.shared.sounds.get(camera) {
                sdp.push_str(&audio_sdp(&sound.asc));
            }
            let base = format!("{}/", uri.as_str().trim_end_matches('/'));
            reply(
                StatusCode::Ok,
                &[
                    (headers::CONTENT_TYPE, "application/sdp".into()),
                    (headers::CONTENT_BASE, base),
                ],
                sdp.as_bytes(),
            )
        }
        Method::Setup => {
            let Some(camera) = camera else {
                return reply(StatusCode::NotFound, &[], b"");
            };
            let media = if uri.path().trim_end_matches('/').ends_with("trackID=1") {
                Media::Audio
            } else {
                Media::Video
            };
            if media == Media::Audio && ctx.shared.sounds.get(camera).is_none() {
                return reply(StatusCode::NotFound, &[], b"");
            }
            if let Some(s) = session.as_ref()
                && (s.camera != camera || s.tracks.iter().any(|t| t.media == media))
            {
                // Each track once, all of one camera.
                return reply(StatusCode::AggregateOperationNotAllowed, &[], b"");
            }
            let transport = header(req, &headers::TRANSPORT).unwrap_or("").to_owned();
            let ssrc: u32 = rand::random();
            let (delivery, answer) = if transport.contains("TCP")
                || transport.contains("interleaved")
            {
                let channel = param(&transport, "interleaved")
                    .and_then(|v| v.split('-').next()?.parse::<u8>().ok())
                    .unwrap_or(0);
                (
                    Delivery::Interleaved { channel },
                    format!(
                        "RTP/AVP/TCP;unicast;interleaved={channel}-{};ssrc={ssrc:08X}",
                        channel + 1
                    ),
                )
            } else {
                let Some(client) = param(&transport, "client_port")
                    .and_then(|v| v.split('-').next()?.parse::<u16>().ok())
                else {
                    return reply(StatusCode::UnsupportedTransport, &[], b"");
                };
                let Ok((rtp_sock, rtcp_sock)) = udp_pair(ctx.local).await else {
                    return reply(StatusCode::InternalServerError, &[], b"");
                };
                let (a, b) = (port_of(&rtp_sock), port_of(&rtcp_sock));
                // The RTCP socket only has to exist so the port pair is ours; we send no RTCP.
                std::mem::forget(rtcp_sock);
                (
                    Delivery::Udp {
                        socket: Arc::new(rtp_sock),
                        to: SocketAddr::new(ctx.peer.ip(), client),
                    },
                    format!(
                        "RTP/AVP;unicast;client_port={client}-{};server_port={a}-{b};ssrc={ssrc:08X}",
                        client + 1
                    ),
                )
            };
            let state = session.get_or_insert_with(|| {
                SimStats::bump(&ctx.shared.stats.sessions);
                SessionState {
                    id: format!(
                        "{:016X}",
                        ctx.shared.next_session.fetch_add(1, Ordering::Relaxed)
                            ^ rand::random::<u64>()
                    ),
                    camera,
                    tracks: Vec::new(),
                    senders: Vec::new(),
                }
            });
            let id = state.id.clone();
            state.tracks.push(TrackState {
                media,
                delivery,
                rtp: RtpState {
                    ssrc,
                    seq: rand::random(),
                },
                rtp_base: rand::random(),
            });
            reply(
                StatusCode::Ok,
                &[
                    (headers::TRANSPORT, answer),
                    (headers::SESSION, format!("{id};timeout=60")),
                ],
                b"",
            )
        }
        Method::Play => {
            let Some(s) = session.as_mut() else {
                return reply(StatusCode::SessionNotFound, &[], b"");
            };
            SimStats::bump(&ctx.shared.stats.plays);
            let base = uri.as_str().trim_end_matches('/');
            let rtp_info = s
                .tracks
                .iter()
                .map(|t| {
                    format!(
                        "url={base}/trackID={};seq={};rtptime={}",
                        t.media.track_id(),
                        t.rtp.seq,
                        t.rtp_base
                    )
                })
                .collect::<Vec<_>>()
                .join(",");
            if s.senders.is_empty() {
                for t in &s.tracks {
                    let (shared, out) = (ctx.shared.clone(), ctx.out.clone());
                    let (delivery, rtp) = (t.delivery.clone(), t.rtp.clone());
                    s.senders.push(match t.media {
                        Media::Video => tokio::spawn(send_rtp(
                            shared,
                            s.camera,
                            delivery,
                            rtp,
                            t.rtp_base,
                            out,
                            ctx.close.clone(),
                        )),
                        Media::Audio => tokio::spawn(send_audio(
                            shared, s.camera, delivery, rtp, t.rtp_base, out,
                        )),
                    });
                }
            }
            reply(
                StatusCode::Ok,
                &[
                    (headers::SESSION, s.id.clone()),
                    (headers::RANGE, "npt=0.000-".into()),
                    (headers::RTP_INFO, rtp_info),
                ],
                b"",
            )
        }
        Method::Teardown => {
            SimStats::bump(&ctx.shared.stats.teardowns);
            reply(StatusCode::Ok, &[], b"")
        }
        Method::GetParameter | Method::SetParameter => {
            let extra: Vec<_> = session
                .iter()
                .map(|s| (headers::SESSION, s.id.clone()))
                .collect();
            reply(StatusCode::Ok, &extra, b"")
        }
        _ => reply(StatusCode::MethodNotAllowed, &[], b""),
    }
}

/// Streams one camera's frames to one session until aborted.
async fn send_rtp(
    shared: Arc<Shared>,
    camera: usize,
    delivery: Delivery,
    mut rtp: RtpState,
    rtp_base: u32,
    out: mpsc::Sender<Vec<u8>>,
    close: mpsc::Sender<()>,
) {
    let faults = shared.faults.lock().expect("faults lock").clone();
    let source = shared.sources[camera].clone();
    let mut frames = source.frames.subscribe();
    if !faults.first_frame_delay.is_zero() {
        tokio::time::sleep(faults.first_frame_delay).await;
        frames = frames.resubscribe();
    }
    source.force_keyframe.store(true, Ordering::Relaxed);
    let ticks = 90_000 / u64::from(source.spec.fps.max(1));
    let mut first_index: Option<u64> = None;
    let mut sent = 0u64;
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
async fn deliver(delivery: &Delivery, out: &mpsc::Sender<Vec<u8>>, packet: Vec<u8>) -> bool {
    match delivery {
        Delivery::Interleaved { channel } => {
            let mut framed = Vec::with_capacity(4 + packet.len());
            framed.push(b'$');
            framed.push(*channel);
            framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
            framed.extend_from_slice(&packet);
            out.send(framed).await.is_ok()
        }
        Delivery::Udp { socket, to } => {
            let _ = socket.send_to(&packet, to).await;
            true
        }
    }
}

/// Streams one camera's sound to one session until aborted. Faults leave it alone: a
/// frozen camera that still sends sound is the case a watchdog must see through.
async fn send_audio(
    shared: Arc<Shared>,
    camera: usize,
    delivery: Delivery,
    mut rtp: RtpState,
    rtp_base: u32,
    out: mpsc::Sender<Vec<u8>>,
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

/// The SDP media section of the sound: AAC-hbr (RFC 3640), one frame per packet.
fn audio_sdp(asc: &[u8]) -> String {
    let config: String = asc.iter().map(|b| format!("{b:02x}")).collect();
    let rate = super::sound::RATE;
    let pt = super::rtp::AUDIO_PAYLOAD_TYPE;
    format!(
        "m=audio 0 RTP/AVP {pt}\r\na=rtpmap:{pt} MPEG4-GENERIC/{rate}/1\r\n\
         a=fmtp:{pt} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;\
         indexdeltalength=3;config={config}\r\na=control:trackID=1\r\n"
    )
}

/// A NAL unit with its header kept and everything after replaced by random bytes; parameter
/// sets pass unchanged so the session itself stays valid.
fn garble(codec: VideoCodec, nal: &[u8]) -> Vec<u8> {
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

async fn wait_keyframe(
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

fn sdp(codec: VideoCodec, sets: &[Vec<u8>], fps: u32, local: Option<SocketAddr>) -> String {
    let b64 = |nal: &[u8]| base64::engine::general_purpose::STANDARD.encode(nal);
    let ip = local.map_or_else(|| "127.0.0.1".to_owned(), |a| a.ip().to_string());
    let (rtpmap, fmtp) = match codec {
        VideoCodec::H264 => {
            let sps = sets.iter().find(|n| nal_type(codec, n) == Some(7));
            let profile = sps.filter(|s| s.len() >= 4).map_or_else(
                || "42e01f".to_owned(),
                |s| format!("{:02x}{:02x}{:02x}", s[1], s[2], s[3]),
            );
            let sprop: Vec<String> = sets.iter().map(|n| b64(n)).collect();
            (
                "H264/90000",
                format!(
                    "packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={}",
                    sprop.join(",")
                ),
            )
        }
        VideoCodec::H265 => {
            let of = |t: u8| {
                sets.iter()
                    .find(|n| nal_type(codec, n) == Some(t))
                    .map(|n| b64(n))
                    .unwrap_or_default()
            };
            (
                "H265/90000",
                format!(
                    "sprop-vps={};sprop-sps={};sprop-pps={}",
                    of(32),
                    of(33),
                    of(34)
                ),
            )
        }
    };
    format!(
        "v=0\r\no=- {id} 1 IN IP4 {ip}\r\ns=OpticLink simulated camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         a=control:*\r\na=range:npt=0-\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 {rtpmap}\r\n\
         a=fmtp:96 {fmtp}\r\na=framerate:{fps}\r\na=control:trackID=0\r\n",
        id = rand::random::<u32>()
    )
}

/// A `key=value` parameter of a Transport header.
fn param<'t>(transport: &'t str, key: &str) -> Option<&'t str> {
    transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix(key)?.strip_prefix('='))
}

async fn udp_pair(local: Option<SocketAddr>) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let ip = local.map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    for _ in 0..32 {
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let port = port_of(&rtp);
        if port.is_multiple_of(2)
            && let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await
        {
            return Ok((rtp, rtcp));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free UDP port pair",
    ))
}

fn port_of(s: &UdpSocket) -> u16 {
    s.local_addr().map_or(0, |a| a.port())
}

fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks an RFC 2617 Digest `Authorization` header (no qop, as we offer none).
fn digest_ok(auth: Option<&str>, method: &Method, user: &str, pass: &str, nonce: &str) -> bool {
    let Some(rest) = auth.and_then(|a| a.trim().strip_prefix("Digest ")) else {
        return false;
    };
    let field = |k: &str| {
        rest.split(',').find_map(|kv| {
            let (key, v) = kv.trim().split_once('=')?;
            (key.trim() == k).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    let (Some(u), Some(n), Some(uri), Some(resp)) = (
        field("username"),
        field("nonce"),
        field("uri"),
        field("response"),
    ) else {
        return false;
    };
    let method: &str = method.into();
    let ha1 = md5_hex(&format!("{user}:{REALM}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    u == user && n == nonce && resp == md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_params() {
        let t = "RTP/AVP;unicast;client_port=5000-5001";
        assert_eq!(param(t, "client_port"), Some("5000-5001"));
        assert_eq!(
            param("RTP/AVP/TCP;unicast;interleaved=2-3", "interleaved"),
            Some("2-3")
        );
        assert_eq!(param(t, "interleaved"), None);
    }

    #[test]
    fn digest_accepts_only_the_right_password() {
        let nonce = "abc";
        let ha1 = md5_hex(&format!("u:{REALM}:pw"));
        let ha2 = md5_hex("DESCRIBE:rtsp://h/cam1");
        let good = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let hdr = format!(
            "Digest username=\"u\", realm=\"{REALM}\", nonce=\"abc\", uri=\"rtsp://h/cam1\", response=\"{good}\""
        );
        assert!(digest_ok(Some(&hdr), &Method::Describe, "u", "pw", nonce));
        assert!(!digest_ok(
            Some(&hdr),
            &Method::Describe,
            "u",
            "other",
            nonce
        ));
        assert!(!digest_ok(
            Some(&hdr),
            &Method::Describe,
            "u",
            "pw",
            "stale"
        ));
        assert!(!digest_ok(None, &Method::Describe, "u", "pw", nonce));
    }

    #[test]
    fn sdp_carries_sprop_parameter_sets() {
        let sets = vec![vec![0x67, 0x64, 0x00, 0x1f, 1], vec![0x68, 2]];
        let s = sdp(VideoCodec::H264, &sets, 25, None);
        assert!(s.contains("profile-level-id=64001f"), "{s}");
        assert!(s.contains("sprop-parameter-sets=Z2QAHwE=,aAI="), "{s}");
    }
}

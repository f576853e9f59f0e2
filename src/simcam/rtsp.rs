//! The simulated camera's RTSP connection handling: message framing and parsing with
//! `rtsp-types` and the requests (OPTIONS … TEARDOWN). Session state and the per-camera
//! session limit are in `session`, authentication in `digest`, descriptions in `sdp`, the RTP
//! senders a PLAY starts in `send`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rtsp_types::{Message, Method, Request, Response, StatusCode, Version, headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::digest::{REALM, digest_ok, random_hex};
use super::rtp::RtpState;
use super::sdp::{audio_sdp, sdp};
use super::send::{Delivery, send_audio, send_rtp};
use super::session::{Media, SessionSlot, SessionState, TrackState};
use super::talk::{TalkIn, backchannel_sdp};
use super::{Shared, SimStats};

/// The ONVIF backchannel's option tag.
const BACKCHANNEL: &str = crate::talk::backchannel::REQUIRE;

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
            let req = match msg {
                Message::Request(req) => req,
                Message::Data(d) => {
                    if let Some(t) = session.as_mut().and_then(|s| s.talk.as_mut())
                        && t.channel == d.channel_id()
                    {
                        if shared.faults.lock().expect("faults lock").talk_deaf {
                            // Reads nothing more: a small receive buffer fills and the
                            // window shuts, with the connection left open.
                            let _ = socket2::SockRef::from(rd.as_ref()).set_recv_buffer_size(4096);
                            std::future::pending::<()>().await;
                        }
                        t.packet(d.as_slice());
                    }
                    continue; // RTCP from the client etc.
                }
                Message::Response(_) => continue,
            };
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
            (&method).into(),
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
    let mut segments = uri.path_segments().into_iter().flatten();
    let camera = segments
        .next()
        .and_then(|first| first.strip_prefix("cam"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=ctx.shared.sources.len()).contains(n))
        .map(|n| n - 1);
    // `/camN/sub…`: the sub stream, when the cameras have one.
    let sub = segments.next() == Some("sub");
    let camera = camera.filter(|_| !sub || !ctx.shared.subs.is_empty());
    let source = |camera: usize| {
        if sub {
            &ctx.shared.subs[camera]
        } else {
            &ctx.shared.sources[camera]
        }
    };
    let wants_backchannel = header(req, &headers::REQUIRE)
        .is_some_and(|r| r.split(',').any(|t| t.trim() == BACKCHANNEL));
    if wants_backchannel && !config.backchannel {
        return reply(
            StatusCode::OptionNotSupported,
            &[(headers::UNSUPPORTED, BACKCHANNEL.into())],
            b"",
        );
    }
    match method {
        Method::Describe => {
            let Some(camera) = camera else {
                return reply(StatusCode::NotFound, &[], b"");
            };
            let source = source(camera);
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
            if wants_backchannel {
                sdp.push_str(backchannel_sdp());
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
            let path = uri.path().trim_end_matches('/');
            let media = if path.ends_with("trackID=1") {
                Media::Audio
            } else if path.ends_with("trackID=2") {
                Media::Backchannel
            } else {
                Media::Video
            };
            if media == Media::Backchannel && !wants_backchannel {
                return reply(StatusCode::NotFound, &[], b"");
            }
            if media == Media::Audio && ctx.shared.sounds.get(camera).is_none() {
                return reply(StatusCode::NotFound, &[], b"");
            }
            if let Some(s) = session.as_ref()
                && (s.camera != camera || s.sub != sub || s.tracks.iter().any(|t| t.media == media))
            {
                // Each track once, all of one stream of one camera.
                return reply(StatusCode::AggregateOperationNotAllowed, &[], b"");
            }
            let slot = match session {
                Some(_) => None,
                None => match SessionSlot::claim(ctx.shared, camera) {
                    Some(slot) => Some(slot),
                    None => {
                        // As a camera at its session limit answers.
                        SimStats::bump(&ctx.shared.stats.refused_sessions);
                        tracing::warn!(
                            "simulated camera {}: session refused (limit {:?})",
                            camera + 1,
                            ctx.shared.config.max_sessions
                        );
                        return reply(StatusCode::NotEnoughBandwidth, &[], b"");
                    }
                },
            };
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
            if let Some(slot) = slot {
                SimStats::bump(&ctx.shared.stats.sessions);
                if sub {
                    SimStats::bump(&ctx.shared.stats.sub_sessions);
                }
                *session = Some(SessionState {
                    id: format!(
                        "{:016X}",
                        ctx.shared.next_session.fetch_add(1, Ordering::Relaxed)
                            ^ rand::random::<u64>()
                    ),
                    camera,
                    sub,
                    _slot: slot,
                    tracks: Vec::new(),
                    senders: Vec::new(),
                    talk: None,
                });
            }
            let Some(state) = session.as_mut() else {
                return reply(StatusCode::InternalServerError, &[], b"");
            };
            if media == Media::Backchannel {
                let Delivery::Interleaved { channel } = delivery else {
                    // The backchannel comes over the RTSP connection only.
                    return reply(StatusCode::UnsupportedTransport, &[], b"");
                };
                let Some(talk) = TalkIn::claim(ctx.shared, camera, channel) else {
                    // One talk session per camera, as many cameras allow.
                    return reply(StatusCode::NotEnoughBandwidth, &[], b"");
                };
                state.talk = Some(talk);
            }
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
                            shared.clone(),
                            if s.sub {
                                shared.subs[s.camera].clone()
                            } else {
                                shared.sources[s.camera].clone()
                            },
                            delivery,
                            rtp,
                            t.rtp_base,
                            out,
                            ctx.close.clone(),
                        )),
                        Media::Audio => tokio::spawn(send_audio(
                            shared, s.camera, delivery, rtp, t.rtp_base, out,
                        )),
                        // The client sends on this one.
                        Media::Backchannel => continue,
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
}

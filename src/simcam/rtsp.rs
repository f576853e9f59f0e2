//! The simulated camera's RTSP requests (OPTIONS … TEARDOWN) on the shared connection loop
//! (`restream::conn`). Session state and the per-camera session limit are in `session`, the
//! RTP senders a PLAY starts in `send`; Digest, SDP and RTP are `restream`'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rtsp_types::{Method, Request, StatusCode, headers};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::send::{Delivery, send_audio, send_rtp};
use super::session::{Media, SessionSlot, SessionState, TrackState};
use super::talk::{TalkIn, backchannel_sdp};
use super::{REALM, Shared, SimStats};
use crate::restream::conn::{self, Conn, Flow, Limits, Reply, header, param};
use crate::restream::digest::{challenge, digest_ok, random_hex};
use crate::restream::rtp::RtpState;
use crate::restream::sdp::{audio_sdp, sdp};

/// The ONVIF backchannel's option tag.
const BACKCHANNEL: &str = crate::talk::backchannel::REQUIRE;

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, or one connection's failure: never a busy loop.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        SimStats::bump(&shared.stats.connections);
        if shared.faults.lock().expect("faults lock").refuse {
            drop(stream);
            continue;
        }
        let task = tokio::spawn(serve_connection(stream, shared.clone()));
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

/// Limits of a simulated camera's connection: generous (tests hold connections open
/// between requests), but bounded like any server's.
const LIMITS: Limits = Limits {
    max_message: 64 * 1024,
    idle: std::time::Duration::from_secs(60),
    write_stall: crate::serve::stall::WRITE_STALL,
    queue: 1024,
    queue_bytes: 64 << 20,
};

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let handler = SimHandler {
        shared,
        session: None,
        nonce: random_hex(),
    };
    conn::serve(stream, handler, LIMITS).await;
}

/// One connection's state: its session and the nonce it was challenged with.
struct SimHandler {
    shared: Arc<Shared>,
    session: Option<SessionState>,
    nonce: String,
}

impl conn::Handler for SimHandler {
    async fn request(&mut self, req: &Request<Vec<u8>>, conn: &Conn) -> Reply {
        let reply = handle(&self.shared, conn, req, &mut self.session, &mut self.nonce).await;
        if matches!(req.method(), Method::Teardown) {
            self.session = None;
        }
        reply.into()
    }

    fn data(&mut self, channel: u8, data: &[u8]) -> Flow {
        if let Some(t) = self.session.as_mut().and_then(|s| s.talk.as_mut())
            && t.channel == channel
        {
            if self.shared.faults.lock().expect("faults lock").talk_deaf {
                return Flow::Deaf;
            }
            t.packet(data);
        }
        // RTCP from the client etc.
        Flow::Go
    }

    fn playing(&self) -> bool {
        self.session.as_ref().is_some_and(|s| !s.senders.is_empty())
    }

    fn server(&self) -> &str {
        SERVER
    }
}

const SERVER: &str = "OpticLink-simcam";

fn response(
    status: StatusCode,
    cseq: &str,
    extra: &[(headers::HeaderName, String)],
    body: &[u8],
) -> Vec<u8> {
    conn::response(SERVER, status, cseq, extra, body)
}

async fn handle(
    shared: &Arc<Shared>,
    ctx: &Conn,
    req: &Request<Vec<u8>>,
    session: &mut Option<SessionState>,
    nonce: &mut String,
) -> Vec<u8> {
    let cseq = conn::cseq(req).to_owned();
    let reply = |status, extra: &[(headers::HeaderName, String)], body: &[u8]| {
        response(status, &cseq, extra, body)
    };
    let method = req.method().clone();
    if matches!(method, Method::Options) {
        let public = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, SET_PARAMETER, TEARDOWN";
        return reply(StatusCode::Ok, &[(headers::PUBLIC, public.into())], b"");
    }
    let config = &shared.config;
    if let (Some(user), Some(pass)) = (&config.user, &config.password)
        && !digest_ok(
            header(req, &headers::AUTHORIZATION),
            (&method).into(),
            REALM,
            (user, pass),
            nonce,
        )
    {
        *nonce = random_hex();
        let challenge = challenge(REALM, nonce);
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
        .filter(|n| (1..=shared.sources.len()).contains(n))
        .map(|n| n - 1);
    // `/camN/sub…`: the sub stream, when the cameras have one.
    let sub = segments.next() == Some("sub");
    let camera = camera.filter(|_| !sub || !shared.subs.is_empty());
    let source = |camera: usize| {
        if sub {
            &shared.subs[camera]
        } else {
            &shared.sources[camera]
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
            let mut sdp = sdp(
                "OpticLink simulated camera",
                source.spec.codec,
                &sets,
                Some(source.spec.fps),
                ctx.local,
            );
            if let Some(sound) = shared.sounds.get(camera) {
                sdp.push_str(&audio_sdp(&sound.track()));
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
            if media == Media::Audio && shared.sounds.get(camera).is_none() {
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
                None => match SessionSlot::claim(shared, camera) {
                    Some(slot) => Some(slot),
                    None => {
                        // As a camera at its session limit answers.
                        SimStats::bump(&shared.stats.refused_sessions);
                        tracing::warn!(
                            "simulated camera {}: session refused (limit {:?})",
                            camera + 1,
                            shared.config.max_sessions
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
                SimStats::bump(&shared.stats.sessions);
                if sub {
                    SimStats::bump(&shared.stats.sub_sessions);
                }
                *session = Some(SessionState {
                    id: format!(
                        "{:016X}",
                        shared.next_session.fetch_add(1, Ordering::Relaxed) ^ rand::random::<u64>()
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
                let Some(talk) = TalkIn::claim(shared, camera, channel) else {
                    // One talk session per camera, as many cameras allow.
                    return reply(StatusCode::NotEnoughBandwidth, &[], b"");
                };
                state.talk = Some(talk);
            }
            let id = state.id.clone();
            state.tracks.push(TrackState {
                media,
                delivery,
                rtp: RtpState::new(ssrc, rand::random()),
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
            SimStats::bump(&shared.stats.plays);
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
                    let (shared, out) = (shared.clone(), ctx.out.clone());
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
                            ctx.closer(),
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
            SimStats::bump(&shared.stats.teardowns);
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

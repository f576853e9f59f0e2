//! The ONVIF backchannel (ONVIF Streaming Specification, "Back channel connection"): a small
//! RTSP client of our own on `rtsp-types`, opened only while talking. Every request carries
//! `Require: www.onvif.org/ver20/backchannel`; the SDP's `sendonly` audio track is set up as
//! interleaved RTP over the same TCP connection (the channel the camera's SETUP reply names),
//! G.711 packets of 20 ms go out on it, and TEARDOWN ends it. Digest or Basic auth through
//! `http-auth`. A camera answering `551 Option not supported` has no backchannel.

use std::time::{Duration, Instant};

use rtsp_types::{Message, Method, Response, StatusCode, headers};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::rtp::{Offered, Packetizer};
use super::rtsp::{Reader, Requester, exchange, header};
use super::{TalkCodec, TalkError};
use crate::config::CameraConfig;
use crate::secret;

/// The option tag of the ONVIF backchannel.
pub const REQUIRE: &str = "www.onvif.org/ver20/backchannel";

/// Where and as whom to talk.
#[derive(Clone)]
pub struct Target {
    pub camera: String,
    /// Without credentials.
    pub url: url::Url,
    pub creds: Option<(String, String)>,
}

impl Target {
    /// The camera's main RTSP URL, with the credentials of its fields (or its URL).
    pub fn of(cam: &CameraConfig) -> Result<Self, TalkError> {
        let url = url::Url::parse(&cam.url).map_err(|e| TalkError::Failed {
            camera: cam.name.clone(),
            what: format!("bad URL {}: {e}", secret::redact_url(&cam.url)),
        })?;
        let (bare, in_url) = secret::split_credentials(&url);
        let creds = match &cam.username {
            Some(u) => Some((u.clone(), cam.password.clone().unwrap_or_default())),
            None => in_url,
        };
        Ok(Self {
            camera: cam.name.clone(),
            url: bare,
            creds,
        })
    }

    pub(super) fn failed(&self, what: impl Into<String>) -> TalkError {
        TalkError::Failed {
            camera: self.camera.clone(),
            what: what.into(),
        }
    }
}

/// What the SDP offers for talk: the control URL and the encodings, in the camera's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub control: String,
    pub codecs: Vec<Offered>,
    /// Encodings offered that we cannot send (G.726 …), for the error message.
    pub other: Vec<String>,
}

/// Finds the `sendonly` audio track of `sdp`. `base` resolves a relative control URL.
pub fn parse_offer(sdp: &[u8], base: &str) -> Result<Option<Offer>, String> {
    let session = sdp_types::Session::parse(sdp).map_err(|e| format!("bad SDP: {e}"))?;
    let Some(media) = session
        .medias
        .iter()
        .find(|m| m.media == "audio" && m.has_attribute("sendonly"))
    else {
        return Ok(None);
    };
    let control = media
        .get_first_attribute_value("control")
        .ok()
        .flatten()
        .unwrap_or("");
    let control = if control.starts_with("rtsp://") || control.starts_with("rtsps://") {
        control.to_owned()
    } else if control.is_empty() || control == "*" {
        base.to_owned()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), control)
    };
    // `a=rtpmap:PT …` and `a=fmtp:PT …` of one payload type.
    let of = |attribute: &str, pt: u8| {
        media.attributes.iter().find_map(|a| {
            let v = a.value.as_deref()?;
            (a.attribute == attribute)
                .then(|| v.split_once(' '))
                .flatten()
                .filter(|(p, _)| p.trim().parse::<u8>().ok() == Some(pt))
                .map(|(_, rest)| rest.trim())
        })
    };
    let mut codecs = Vec::new();
    let mut other = Vec::new();
    for pt in media
        .fmt
        .split_whitespace()
        .filter_map(|p| p.parse::<u8>().ok())
    {
        let rtpmap = of("rtpmap", pt);
        match Offered::parse(pt, rtpmap, of("fmtp", pt)) {
            Some(c) => codecs.push(c),
            None => other.push(rtpmap.map_or(format!("payload type {pt}"), str::to_owned)),
        }
    }
    Ok(Some(Offer {
        control,
        codecs,
        other,
    }))
}

/// An open backchannel session.
pub struct Backchannel {
    target: Target,
    req: Requester,
    packets: Packetizer,
    channel: u8,
    aggregate: url::Url,
    keepalive: Duration,
    last_request: Instant,
    dropped: watch::Receiver<bool>,
    responses: mpsc::Receiver<Response<Vec<u8>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Backchannel {
    /// DESCRIBE, SETUP and PLAY of the camera's backchannel. `prefer` picks an offered codec.
    pub async fn open(target: &Target, prefer: Option<TalkCodec>) -> Result<Self, TalkError> {
        let (mut req, mut rd) = connect(target).await?;
        let (offer, base) = describe(target, &mut req, &mut rd).await?;
        let offered = pick(target, &offer, prefer)?;
        let packets = Packetizer::new(offered).map_err(|e| target.failed(e))?;
        let setup = exchange(
            target,
            &mut req,
            &mut rd,
            Method::Setup,
            &offer.control,
            &[(
                headers::TRANSPORT,
                "RTP/AVP/TCP;unicast;interleaved=0-1".into(),
            )],
        )
        .await?;
        if setup.status() != StatusCode::Ok {
            return Err(target.failed(format!("SETUP answered {}", u16::from(setup.status()))));
        }
        let (channel, session, keepalive) = setup_answer(&setup).map_err(|e| target.failed(e))?;
        req.session = Some(session);
        let aggregate =
            url::Url::parse(&base).map_err(|e| target.failed(format!("bad Content-Base: {e}")))?;
        let play = exchange(
            target,
            &mut req,
            &mut rd,
            Method::Play,
            aggregate.as_str(),
            &[(headers::RANGE, "npt=0.000-".into())],
        )
        .await?;
        if play.status() != StatusCode::Ok {
            return Err(target.failed(format!("PLAY answered {}", u16::from(play.status()))));
        }
        let (dropped, responses, reader) = read_on(rd);
        tracing::info!(
            camera = %target.camera,
            "talk: ONVIF backchannel open ({}, interleaved channel {channel})",
            offered.describe()
        );
        Ok(Self {
            target: target.clone(),
            req,
            packets,
            channel,
            aggregate,
            keepalive,
            last_request: Instant::now(),
            dropped,
            responses,
            reader,
        })
    }

    pub fn codec(&self) -> TalkCodec {
        self.packets.offered().codec
    }

    /// Sends one 20 ms frame at [`crate::media::pcm::RATE`] (G.711: one packet; AAC: a packet per
    /// access unit it completes).
    pub async fn send(&mut self, frame: &[f32]) -> Result<(), TalkError> {
        if *self.dropped.borrow() {
            return Err(TalkError::Dropped {
                camera: self.target.camera.clone(),
            });
        }
        let packets = self
            .packets
            .push(frame)
            .map_err(|e| self.target.failed(e))?;
        let mut out = interleaved(self.channel, packets);
        if self.last_request.elapsed() >= self.keepalive {
            self.last_request = Instant::now();
            let url = self.aggregate.clone();
            out.extend(self.req.build(Method::GetParameter, &url, &[]));
        }
        match tokio::time::timeout(super::SEND_TIMEOUT, self.req.wr.write_all(&out)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(TalkError::Dropped {
                camera: self.target.camera.clone(),
            }),
            Err(_) => Err(self.target.failed(format!(
                "the camera took no talk audio for {} s",
                super::SEND_TIMEOUT.as_secs()
            ))),
        }
    }

    /// TEARDOWN, waiting up to a second for its answer, then closes the connection.
    pub async fn close(mut self) {
        let url = self.aggregate.clone();
        // What the encoder still holds goes out before the TEARDOWN.
        let mut bytes = interleaved(self.channel, self.packets.flush().unwrap_or_default());
        bytes.extend(self.req.build(Method::Teardown, &url, &[]));
        let sent = tokio::time::timeout(Duration::from_secs(1), self.req.wr.write_all(&bytes));
        if !*self.dropped.borrow() && matches!(sent.await, Ok(Ok(()))) {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.responses.recv()).await;
        }
        let _ = self.req.wr.shutdown().await;
        self.reader.abort();
        tracing::info!(camera = %self.target.camera, "talk: backchannel closed");
    }
}

/// What a SETUP answer says: the interleaved channel to send on, the session, and how often to
/// keep it alive (half its timeout, at least 5 s; 30 s when it names none).
pub(crate) fn setup_answer(setup: &Response<Vec<u8>>) -> Result<(u8, String, Duration), String> {
    let transport = header(setup, &headers::TRANSPORT).unwrap_or_default();
    let channel = transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix("interleaved="))
        .and_then(|v| v.split('-').next()?.trim().parse::<u8>().ok())
        .unwrap_or(0);
    let session_header =
        header(setup, &headers::SESSION).ok_or("SETUP answered without a Session")?;
    let mut parts = session_header.split(';');
    let session = parts.next().unwrap_or("").trim().to_owned();
    let keepalive = parts
        .find_map(|p| p.trim().strip_prefix("timeout=")?.parse::<u64>().ok())
        .map_or(Duration::from_secs(30), |t| {
            Duration::from_secs((t / 2).max(5))
        });
    Ok((channel, session, keepalive))
}

/// RTP packets framed for `channel` of the RTSP connection (RFC 2326 10.12).
fn interleaved(channel: u8, packets: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for packet in packets {
        out.extend([b'$', channel]);
        out.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        out.extend_from_slice(&packet);
    }
    out
}

fn offer_text(offer: &Offer) -> String {
    let all: Vec<String> = offer
        .codecs
        .iter()
        .map(Offered::describe)
        .chain(offer.other.iter().cloned())
        .collect();
    if all.is_empty() {
        "nothing".into()
    } else {
        all.join(", ")
    }
}

/// The TCP connection to the camera's RTSP port, as a requester and a reader.
async fn connect(target: &Target) -> Result<(Requester, Reader), TalkError> {
    let host = target
        .url
        .host_str()
        .ok_or_else(|| target.failed("the URL has no host"))?;
    let port = target.url.port().unwrap_or(554);
    let stream = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| target.failed(format!("cannot connect to {host}:{port}: {e}")))?;
    super::talk_socket(&stream);
    let (rd, wr) = stream.into_split();
    let req = Requester {
        wr,
        cseq: 0,
        creds: target.creds.clone(),
        auth: None,
        session: None,
    };
    Ok((
        req,
        Reader {
            rd,
            buf: Vec::new(),
        },
    ))
}

/// DESCRIBE with the backchannel required: the camera's sendonly audio track and the base
/// URL its controls are relative to.
async fn describe(
    target: &Target,
    req: &mut Requester,
    rd: &mut Reader,
) -> Result<(Offer, String), TalkError> {
    let url = target.url.as_str().to_owned();
    let accept = [(headers::ACCEPT, "application/sdp".into())];
    let describe = exchange(target, req, rd, Method::Describe, &url, &accept).await?;
    match describe.status() {
        StatusCode::Ok => {}
        StatusCode::OptionNotSupported => {
            return Err(cannot(target, "no ONVIF backchannel".into()));
        }
        s => return Err(target.failed(format!("DESCRIBE answered {}", u16::from(s)))),
    }
    let base = header(&describe, &headers::CONTENT_BASE)
        .or_else(|| header(&describe, &headers::CONTENT_LOCATION))
        .unwrap_or(url);
    let offer = parse_offer(describe.body(), &base)
        .map_err(|e| target.failed(e))?
        .ok_or_else(|| {
            cannot(
                target,
                "no ONVIF backchannel: no sendonly audio track".into(),
            )
        })?;
    Ok((offer, base))
}

/// The codec to send: `prefer` if offered, else the camera's first.
fn pick(target: &Target, offer: &Offer, prefer: Option<TalkCodec>) -> Result<Offered, TalkError> {
    let mut codecs = offer.codecs.iter().copied();
    match prefer {
        Some(want) => codecs.find(|c| c.codec == want).ok_or_else(|| {
            cannot(
                target,
                format!(
                    "it does not take {}; it offers {}",
                    want.as_str(),
                    offer_text(offer)
                ),
            )
        }),
        None => codecs
            .next()
            .ok_or_else(|| cannot(target, format!("it offers only {}", offer_text(offer)))),
    }
}

/// The camera cannot be talked to, and why.
fn cannot(target: &Target, why: String) -> TalkError {
    TalkError::CannotTalk {
        camera: target.camera.clone(),
        why,
    }
}

/// After PLAY the camera's messages (RTCP, keep-alive answers, TEARDOWN's answer) are read by
/// a task: its responses, and whether the connection ended (the camera dropped the session).
fn read_on(
    mut rd: Reader,
) -> (
    watch::Receiver<bool>,
    mpsc::Receiver<Response<Vec<u8>>>,
    tokio::task::JoinHandle<()>,
) {
    let (dropped_tx, dropped) = watch::channel(false);
    let (resp_tx, responses) = mpsc::channel(8);
    let reader = tokio::spawn(async move {
        while let Ok(Some(msg)) = rd.next().await {
            if let Message::Response(r) = msg {
                let _ = resp_tx.try_send(r);
            }
        }
        let _ = dropped_tx.send(true);
    });
    (dropped, responses, reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sendonly_audio_track_is_the_offer() {
        let sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
            m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n\
            m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\na=control:trackID=1\r\na=recvonly\r\n\
            m=audio 0 RTP/AVP 8 0 97\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\n\
            a=control:trackID=2\r\na=sendonly\r\n";
        let offer = parse_offer(sdp, "rtsp://h/cam1/").unwrap().unwrap();
        assert_eq!(offer.control, "rtsp://h/cam1/trackID=2");
        assert_eq!(
            offer.codecs,
            vec![
                Offered::g711(TalkCodec::Pcma, 8),
                Offered::g711(TalkCodec::Pcmu, 0)
            ]
        );
        // AAC without its fmtp (sizelength) cannot be packetized.
        assert_eq!(offer.other, vec!["MPEG4-GENERIC/16000/1".to_string()]);
        let absolute = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\n\
            m=audio 0 RTP/AVP 0\r\na=control:rtsp://h/back\r\na=sendonly\r\n";
        let offer = parse_offer(absolute, "rtsp://h/x/").unwrap().unwrap();
        assert_eq!(offer.control, "rtsp://h/back");
        assert_eq!(offer.codecs, vec![Offered::g711(TalkCodec::Pcmu, 0)]);
        let aac = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\n\
            m=audio 0 RTP/AVP 96 97\r\na=rtpmap:96 MPEG4-GENERIC/16000/1\r\n\
            a=fmtp:96 streamtype=5;mode=AAC-hbr;config=1408;sizelength=13;indexlength=3\r\n\
            a=rtpmap:97 G726-32/8000\r\na=sendonly\r\n";
        let offer = parse_offer(aac, "rtsp://h/x/").unwrap().unwrap();
        assert_eq!(offer.codecs.len(), 1);
        assert_eq!(offer.codecs[0].describe(), "AAC 16 kHz");
        assert_eq!(offer.other, vec!["G726-32/8000".to_string()]);
        let none = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(parse_offer(none, "rtsp://h/").unwrap(), None);
        assert!(parse_offer(b"garbage", "rtsp://h/").is_err());
    }
}

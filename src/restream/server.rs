//! The restream's RTSP requests: `rtsp://HOST:PORT/<camera>/main|sub` answered from the
//! camera's feed (DESCRIBE from its description, SETUP over TCP interleaved only, PLAY starts
//! a sender), behind the access token and the camera's view lock (see `gate`).

use std::sync::Arc;
use std::time::Duration;

use rtsp_types::{Method, Request, StatusCode, headers};

use super::conn::{self, Conn, Flow, Reply, header, param};
use super::feed::{Client as FeedClient, Feed};
use super::gate::{Gate, Verdict};
use super::send::{self, Track, first_video_time};
use super::{Catalog, StreamPath};

/// The `Server` header.
const SERVER: &str = concat!("OpticLink/", env!("CARGO_PKG_VERSION"));
/// How long DESCRIBE waits for a stream that is not running yet (it starts for the client).
const DESCRIBE_WAIT: Duration = Duration::from_secs(10);

/// What every connection shares.
pub struct Shared {
    pub catalog: Catalog,
    pub gate: Gate,
}

/// One client connection.
pub struct Connection {
    shared: Arc<Shared>,
    nonce: String,
    /// The unlock key given as `?key=`, kept for the requests after DESCRIBE, whose URLs
    /// come from Content-Base without it.
    key: Option<String>,
    session: Option<Session>,
}

/// A set-up session: one stream of one camera.
struct Session {
    id: String,
    path: StreamPath,
    feed: Arc<Feed>,
    /// Keeps the camera's session up from SETUP until PLAY takes it over.
    client: Option<FeedClient>,
    /// The unlock key that opened the camera's lock (checked again while it plays).
    key: Option<String>,
    video: Option<Track>,
    audio: Option<Track>,
    sender: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(s) = self.sender.take() {
            s.abort();
        }
    }
}

impl Connection {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            nonce: super::digest::random_hex(),
            key: None,
            session: None,
        }
    }
}

/// A response to `req`.
struct Answer<'r> {
    cseq: &'r str,
}

impl Answer<'_> {
    fn reply(&self, status: StatusCode, extra: &[(headers::HeaderName, String)]) -> Vec<u8> {
        conn::response(SERVER, status, self.cseq, extra, b"")
    }
}

impl conn::Handler for Connection {
    async fn request(&mut self, req: &Request<Vec<u8>>, conn: &Conn) -> Reply {
        let answer = Answer {
            cseq: conn::cseq(req),
        };
        let method = req.method().clone();
        if matches!(method, Method::Options) {
            let public = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, SET_PARAMETER, TEARDOWN";
            return answer
                .reply(StatusCode::Ok, &[(headers::PUBLIC, public.into())])
                .into();
        }
        let uri = req.request_uri();
        if let Some(key) = uri.and_then(|u| crate::serve::access::query_param(u.query(), "key")) {
            self.key = Some(key);
        }
        let named = uri.and_then(|u| StreamPath::parse(u.path()));
        // Requests of an established session ride on the authority SETUP checked (their URL
        // may be `*` or the aggregate one); any other stream is checked on its own.
        let session = self.session.as_ref().filter(|s| {
            header(req, &headers::SESSION).is_some_and(|h| h.split(';').next() == Some(&*s.id))
        });
        let (path, key) = match (session, named) {
            (Some(s), None) => (s.path.clone(), s.key.clone()),
            (Some(s), Some(p)) if p.camera == s.path.camera && p.sub == s.path.sub => {
                (p, s.key.clone())
            }
            (_, None) => return answer.reply(StatusCode::NotFound, &[]).into(),
            (_, Some(path)) => {
                let verdict = self.shared.gate.check(
                    header(req, &headers::AUTHORIZATION),
                    (&method).into(),
                    &path.camera,
                    self.key.as_deref(),
                    &self.nonce,
                );
                let Verdict::Pass(key) = verdict else {
                    self.nonce = super::digest::random_hex();
                    let challenge = super::digest::challenge(super::gate::REALM, &self.nonce);
                    return answer
                        .reply(
                            StatusCode::Unauthorized,
                            &[(headers::WWW_AUTHENTICATE, challenge)],
                        )
                        .into();
                };
                (path, key)
            }
        };
        let Some(feed) = self.shared.catalog.feed(&path) else {
            return answer.reply(StatusCode::NotFound, &[]).into();
        };
        match method {
            Method::Describe => self.describe(req, conn, &answer, &path, &feed).await,
            Method::Setup => self.setup(req, &answer, (path, key), feed),
            Method::Play => self.play(req, conn, &answer),
            Method::Teardown => {
                self.session = None;
                answer.reply(StatusCode::Ok, &[]).into()
            }
            Method::GetParameter | Method::SetParameter => {
                let extra: Vec<_> = self
                    .session
                    .iter()
                    .map(|s| (headers::SESSION, s.id.clone()))
                    .collect();
                answer.reply(StatusCode::Ok, &extra).into()
            }
            _ => answer.reply(StatusCode::MethodNotAllowed, &[]).into(),
        }
    }

    fn data(&mut self, _channel: u8, _data: &[u8]) -> Flow {
        Flow::Go // receiver reports: nothing to act on
    }

    fn playing(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.sender.is_some())
    }

    fn server(&self) -> &str {
        SERVER
    }
}

impl Connection {
    async fn describe(
        &mut self,
        req: &Request<Vec<u8>>,
        conn: &Conn,
        answer: &Answer<'_>,
        path: &StreamPath,
        feed: &Arc<Feed>,
    ) -> Reply {
        // Counts as a client while it waits: a stream on standby connects for it.
        let _client = feed.client();
        let Some(d) = feed.describe(DESCRIBE_WAIT).await else {
            return answer.reply(StatusCode::ServiceUnavailable, &[]).into();
        };
        let mut sdp = super::sdp::sdp(&path.camera, d.codec, &d.params, None, conn.local);
        if let Some(track) = &d.audio {
            sdp.push_str(&super::sdp::audio_sdp(track));
        }
        let base = req.request_uri().map_or_else(String::new, |u| {
            let mut u = u.clone();
            u.set_query(None);
            format!("{}/", u.as_str().trim_end_matches('/'))
        });
        let extra = [
            (headers::CONTENT_TYPE, "application/sdp".to_owned()),
            (headers::CONTENT_BASE, base),
        ];
        conn::response(SERVER, StatusCode::Ok, answer.cseq, &extra, sdp.as_bytes()).into()
    }

    fn setup(
        &mut self,
        req: &Request<Vec<u8>>,
        answer: &Answer<'_>,
        (path, key): (StreamPath, Option<String>),
        feed: Arc<Feed>,
    ) -> Reply {
        let transport = header(req, &headers::TRANSPORT).unwrap_or("");
        if !transport.contains("TCP") {
            // Interleaved only: no UDP ports to open towards anyone who asks.
            return answer.reply(StatusCode::UnsupportedTransport, &[]).into();
        }
        let audio = path.track == Some(1);
        if path.track.is_some_and(|t| t > 1) {
            return answer.reply(StatusCode::NotFound, &[]).into();
        }
        let session = self.session.get_or_insert_with(|| Session {
            id: format!("{:016X}", rand::random::<u64>()),
            path: path.clone(),
            client: Some(feed.client()),
            key,
            feed: feed.clone(),
            video: None,
            audio: None,
            sender: None,
        });
        let slot = if audio {
            &mut session.audio
        } else {
            &mut session.video
        };
        let other = (&session.path.camera, session.path.sub) != (&path.camera, path.sub);
        if other || slot.is_some() || session.sender.is_some() {
            // Each track once, all of one stream, before PLAY.
            return answer
                .reply(StatusCode::AggregateOperationNotAllowed, &[])
                .into();
        }
        let channel = param(transport, "interleaved")
            .and_then(|v| v.split('-').next()?.parse::<u8>().ok())
            .filter(|c| *c < 254)
            .unwrap_or(if audio { 2 } else { 0 });
        let track = slot.insert(Track::new(channel));
        let transport = format!(
            "RTP/AVP/TCP;unicast;interleaved={channel}-{};ssrc={:08X}",
            channel + 1,
            track.rtp.ssrc
        );
        let id = session.id.clone();
        answer
            .reply(
                StatusCode::Ok,
                &[
                    (headers::TRANSPORT, transport),
                    (headers::SESSION, format!("{id};timeout=60")),
                ],
            )
            .into()
    }

    fn play(&mut self, req: &Request<Vec<u8>>, conn: &Conn, answer: &Answer<'_>) -> Reply {
        let Some(s) = self.session.as_mut() else {
            return answer.reply(StatusCode::SessionNotFound, &[]).into();
        };
        let reply_ok = |s: &Session, rtp_info: String| {
            let mut extra = vec![
                (headers::SESSION, s.id.clone()),
                (headers::RANGE, "npt=0.000-".to_owned()),
            ];
            if !rtp_info.is_empty() {
                extra.push((headers::RTP_INFO, rtp_info));
            }
            answer.reply(StatusCode::Ok, &extra).into()
        };
        if s.sender.is_some() {
            return reply_ok(s, String::new());
        }
        let Some(client) = s.client.take() else {
            return answer.reply(StatusCode::ServiceUnavailable, &[]).into();
        };
        let sub = match s.feed.subscribe(client) {
            Ok(sub) => sub,
            Err(client) => {
                s.client = Some(client);
                return answer.reply(StatusCode::ServiceUnavailable, &[]).into();
            }
        };
        let base = req.request_uri().map_or_else(String::new, |u| {
            let mut u = u.clone();
            u.set_query(None);
            u.as_str().trim_end_matches('/').to_owned()
        });
        let mut info = Vec::new();
        if let Some(t) = &s.video {
            let time = first_video_time(t, &sub);
            info.push(format!(
                "url={base}/trackID=0;seq={};rtptime={time}",
                t.rtp.seq
            ));
        }
        if let Some(t) = &s.audio {
            info.push(format!(
                "url={base}/trackID=1;seq={};rtptime={}",
                t.rtp.seq, t.base
            ));
        }
        let client = send::Client {
            video: s.video.clone(),
            audio: s.audio.clone(),
            out: conn.out.clone(),
            close: conn.closer(),
            cname: format!("opticlink@{}", conn.local.map_or(0, |a| a.port())),
            allowed: {
                let (shared, camera, key) =
                    (self.shared.clone(), s.path.camera.clone(), s.key.clone());
                Box::new(move || shared.gate.still_open(&camera, key.as_deref()))
            },
        };
        s.sender = Some(tokio::spawn(send::run(s.feed.clone(), sub, client)));
        tracing::info!(
            camera = %s.path.camera,
            "restream: {} plays {}",
            conn.peer,
            s.path.stream()
        );
        reply_ok(s, info.join(","))
    }
}

/// The handler fed any bytes as requests, for the fuzz target.
#[cfg(test)]
pub(crate) mod fuzzing {
    use super::*;
    use crate::media::MediaSink;
    use conn::Handler;

    /// A restream of one camera `cam` whose main stream is described, open to all (so
    /// inputs reach every method).
    pub(crate) fn shared() -> Arc<Shared> {
        let catalog = Catalog::default();
        let feed = Feed::new();
        let session = crate::restream::feed::tests::session(1);
        feed.video(&session, &crate::restream::feed::tests::unit(0, true, 640));
        catalog.insert("cam", feed);
        Arc::new(Shared {
            catalog,
            gate: Gate::default(),
        })
    }

    /// Every message `bytes` holds, to one connection's handler.
    pub(crate) async fn requests(shared: Arc<Shared>, bytes: &[u8]) {
        let (conn, _sent) = Conn::detached();
        let mut handler = Connection::new(shared);
        let mut rest = bytes;
        while let Ok((message, used)) = rtsp_types::Message::<Vec<u8>>::parse(rest) {
            match message {
                rtsp_types::Message::Request(req) => {
                    let _ = handler.request(&req, &conn).await;
                }
                rtsp_types::Message::Data(d) => {
                    handler.data(d.channel_id(), d.as_slice());
                }
                rtsp_types::Message::Response(_) => {}
            }
            rest = &rest[used.max(1).min(rest.len())..];
            if rest.is_empty() {
                break;
            }
        }
    }
}

//! Hikvision ISAPI two-way audio, for Hikvision cameras without an ONVIF backchannel:
//! `GET /ISAPI/System/TwoWayAudio/channels` (which channel, which G.711), `PUT …/{id}/open`,
//! one long `PUT …/{id}/audioData` whose body is raw G.711 as it is spoken, `PUT …/{id}/close`.
//! HTTP/1.1 through hyper, Digest or Basic through `http-auth` (the challenge of the first
//! request signs the rest).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::{TalkCodec, TalkError};
use crate::config::CameraConfig;
use crate::onvif::xml;
use crate::secret;

const CHANNELS: &str = "/ISAPI/System/TwoWayAudio/channels";

/// Where the camera's ISAPI is: `isapi_url`, else `http://HOST` of its RTSP URL.
pub fn base_url(cam: &CameraConfig) -> Result<url::Url, TalkError> {
    let failed = |what: String| TalkError::Failed {
        camera: cam.name.clone(),
        what,
    };
    if let Some(u) = &cam.isapi_url {
        let url = url::Url::parse(u)
            .map_err(|e| failed(format!("bad isapi_url {}: {e}", secret::redact_url(u))))?;
        return Ok(secret::split_credentials(&url).0);
    }
    let rtsp = url::Url::parse(&cam.url)
        .map_err(|e| failed(format!("bad URL {}: {e}", secret::redact_url(&cam.url))))?;
    let host = rtsp
        .host_str()
        .ok_or_else(|| failed("the URL has no host".into()))?;
    url::Url::parse(&format!("http://{host}/")).map_err(|e| failed(e.to_string()))
}

/// The first two-way audio channel and its codec, from the channel list.
pub fn parse_channels(text: &str) -> Result<Option<(String, Option<TalkCodec>, String)>, String> {
    let root = xml::parse(text)?;
    let mut channels = Vec::new();
    root.find_all("TwoWayAudioChannel", &mut channels);
    Ok(channels.first().map(|c| {
        let id = c.text_at(&["id"]).unwrap_or("1").trim().to_string();
        let kind = c
            .text_at(&["audioCompressionType"])
            .unwrap_or("")
            .trim()
            .to_string();
        let g711 = TalkCodec::from_name(&kind).filter(|c| c.g711().is_some());
        (id, g711, kind)
    }))
}

struct Http {
    camera: String,
    base: url::Url,
    creds: Option<(String, String)>,
    auth: Option<http_auth::PasswordClient>,
}

type Sender<B> = hyper::client::conn::http1::SendRequest<B>;

impl Http {
    fn failed(&self, what: impl Into<String>) -> TalkError {
        TalkError::Failed {
            camera: self.camera.clone(),
            what: what.into(),
        }
    }

    async fn connect<B>(&self) -> Result<Sender<B>, TalkError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (sender, _driver) = crate::http1::connect(&self.base, super::talk_socket)
            .await
            .map_err(|e| self.failed(format!("ISAPI: {e}")))?;
        Ok(sender)
    }

    fn request<B>(
        &mut self,
        method: &str,
        path: &str,
        body: B,
    ) -> Result<hyper::Request<B>, TalkError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| self.failed(e.to_string()))?;
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, crate::http1::authority(&url))
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream");
        if let Some(v) =
            crate::http1::authorization(&mut self.auth, self.creds.as_ref(), method, path)
        {
            b = b.header(hyper::header::AUTHORIZATION, v);
        }
        b.body(body).map_err(|e| self.failed(e.to_string()))
    }

    /// A request without a body; answers one authentication challenge.
    async fn call(&mut self, method: &str, path: &str) -> Result<(u16, String), TalkError> {
        for attempt in 0..2 {
            let mut sender = self.connect::<Empty<Bytes>>().await?;
            let req = self.request(method, path, Empty::new())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| self.failed(format!("ISAPI {method} {path}: {e}")))?;
            let status = resp.status().as_u16();
            let challenge = crate::http1::challenge(resp.headers());
            let body = Limited::new(resp.into_body(), 256 * 1024)
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            if status != 401 {
                return Ok((status, body));
            }
            if attempt == 1 || self.creds.is_none() || challenge.is_empty() {
                return Err(TalkError::Auth {
                    camera: self.camera.clone(),
                    url: secret::redact_url(self.base.as_str()),
                });
            }
            self.auth = Some(
                http_auth::PasswordClient::try_from(challenge.as_str())
                    .map_err(|e| self.failed(format!("ISAPI: unusable challenge: {e}")))?,
            );
        }
        unreachable!("two attempts return")
    }
}

type AudioBody =
    StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>>;

/// An open ISAPI talk session.
pub struct Isapi {
    http: Http,
    channel: String,
    codec: TalkCodec,
    law: fn(i16) -> u8,
    audio: Option<mpsc::Sender<Bytes>>,
    upload: tokio::task::JoinHandle<Result<u16, String>>,
}

impl Isapi {
    /// Finds the channel, opens it, and starts the audio upload.
    pub async fn open(cam: &CameraConfig) -> Result<Self, TalkError> {
        let base = base_url(cam)?;
        let target = super::backchannel::Target::of(cam)?;
        let mut http = Http {
            camera: cam.name.clone(),
            base,
            creds: target.creds,
            auth: None,
        };
        let cannot = |why: String| TalkError::CannotTalk {
            camera: cam.name.clone(),
            why,
        };
        let (status, text) = http.call("GET", CHANNELS).await?;
        if status != 200 {
            return Err(cannot(format!(
                "no ISAPI two-way audio: {CHANNELS} answered {status}"
            )));
        }
        let (channel, codec, kind) = parse_channels(&text)
            .map_err(|e| http.failed(format!("ISAPI channel list: {e}")))?
            .ok_or_else(|| cannot("no ISAPI two-way audio channel".into()))?;
        let (codec, law) = codec
            .and_then(|c| Some((c, c.g711()?)))
            .ok_or_else(|| cannot(format!("its ISAPI two-way audio is {kind:?}, not G.711")))?;
        let (status, _) = http
            .call("PUT", &format!("{CHANNELS}/{channel}/open"))
            .await?;
        if status != 200 {
            return Err(http.failed(format!("ISAPI open answered {status}")));
        }
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let stream = futures::StreamExt::boxed(futures::StreamExt::map(tokio_stream(rx), |b| {
            Ok::<_, std::io::Error>(Frame::data(b))
        }));
        let mut sender = http.connect::<AudioBody>().await?;
        let req = http.request(
            "PUT",
            &format!("{CHANNELS}/{channel}/audioData"),
            StreamBody::new(stream),
        )?;
        let upload = tokio::spawn(async move {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            Ok(resp.status().as_u16())
        });
        tracing::info!(camera = %cam.name, "talk: ISAPI two-way audio open (channel {channel}, {})", codec.as_str());
        Ok(Self {
            http,
            channel,
            codec,
            law,
            audio: Some(tx),
            upload,
        })
    }

    pub fn codec(&self) -> TalkCodec {
        self.codec
    }

    /// Sends one frame of samples.
    pub async fn send(&mut self, frame: &[f32]) -> Result<(), TalkError> {
        let dropped = || TalkError::Dropped {
            camera: self.http.camera.clone(),
        };
        let Some(tx) = &self.audio else {
            return Err(dropped());
        };
        if self.upload.is_finished() {
            return Err(dropped());
        }
        let g711: Vec<u8> = crate::media::pcm::to_i16(frame).map(self.law).collect();
        match tokio::time::timeout(super::SEND_TIMEOUT, tx.send(Bytes::from(g711))).await {
            Ok(sent) => sent.map_err(|_| dropped()),
            Err(_) => Err(self.http.failed(format!(
                "the camera took no talk audio for {} s",
                super::SEND_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Ends the upload and closes the channel.
    pub async fn close(mut self) {
        self.audio = None; // the body ends
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.upload).await;
        self.upload.abort();
        let path = format!("{CHANNELS}/{}/close", self.channel);
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            self.http.call("PUT", &path),
        )
        .await;
        tracing::info!(camera = %self.http.camera, "talk: ISAPI two-way audio closed");
    }
}

/// An mpsc receiver as a stream.
fn tokio_stream(mut rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_list_names_the_channel_and_its_g711() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<TwoWayAudioChannelList version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<TwoWayAudioChannel version="2.0"><id>1</id><enabled>false</enabled>
<audioCompressionType>G.711ulaw</audioCompressionType><audioInputType>MicIn</audioInputType>
</TwoWayAudioChannel></TwoWayAudioChannelList>"#;
        assert_eq!(
            parse_channels(text).unwrap(),
            Some(("1".into(), Some(TalkCodec::Pcmu), "G.711ulaw".into()))
        );
        let aac = text.replace("G.711ulaw", "G.726");
        assert_eq!(parse_channels(&aac).unwrap().unwrap().1, None);
        assert_eq!(parse_channels("<TwoWayAudioChannelList/>").unwrap(), None);
        assert!(parse_channels("not xml <").is_err());
    }
}

//! The RTSP plumbing of the talk client: requests built with `rtsp-types` (CSeq, the
//! backchannel's `Require`, the session, Digest or Basic through `http-auth`), messages read
//! off the connection (responses and interleaved data alike), and one request/answer exchange
//! that answers one authentication challenge.

use rtsp_types::{Message, Method, Request, Response, StatusCode, Version, headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::TalkError;
use super::backchannel::{REQUIRE, Target};
use crate::secret;

/// The request side of the connection, with authentication.
pub(super) struct Requester {
    pub(super) wr: OwnedWriteHalf,
    pub(super) cseq: u32,
    pub(super) creds: Option<(String, String)>,
    pub(super) auth: Option<http_auth::PasswordClient>,
    pub(super) session: Option<String>,
}

impl Requester {
    pub(super) fn build(
        &mut self,
        method: Method,
        url: &url::Url,
        extra: &[(headers::HeaderName, String)],
    ) -> Vec<u8> {
        self.cseq += 1;
        let mut b = Request::builder(method.clone(), Version::V1_0)
            .request_uri(url.clone())
            .header(headers::CSEQ, self.cseq.to_string())
            .header(
                headers::USER_AGENT,
                concat!("OpticLink/", env!("CARGO_PKG_VERSION")),
            )
            .header(headers::REQUIRE, REQUIRE);
        if let Some(s) = &self.session {
            b = b.header(headers::SESSION, s.as_str());
        }
        if let (Some(client), Some((user, pass))) = (&mut self.auth, &self.creds) {
            let m: &str = (&method).into();
            if let Ok(v) = client.respond(&http_auth::PasswordParams {
                username: user,
                password: pass,
                uri: url.as_str(),
                method: m,
                body: None,
            }) {
                b = b.header(headers::AUTHORIZATION, v);
            }
        }
        for (name, value) in extra {
            b = b.header(name.clone(), value.as_str());
        }
        let mut out = Vec::new();
        b.empty().write(&mut out).expect("writing to a Vec");
        out
    }
}

/// Reads RTSP messages off the connection.
pub(super) struct Reader {
    pub(super) rd: OwnedReadHalf,
    pub(super) buf: Vec<u8>,
}

impl Reader {
    /// The next message (responses and interleaved data alike); `None` at EOF.
    pub(super) async fn next(&mut self) -> std::io::Result<Option<Message<Vec<u8>>>> {
        loop {
            match Message::<Vec<u8>>::parse(&self.buf) {
                Ok((msg, used)) => {
                    self.buf.drain(..used);
                    return Ok(Some(msg));
                }
                Err(rtsp_types::ParseError::Incomplete(_)) => {}
                Err(rtsp_types::ParseError::Error) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not RTSP",
                    ));
                }
            }
            if self.buf.len() > 1 << 20 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "an RTSP message over 1 MiB",
                ));
            }
            let mut chunk = [0u8; 4096];
            let n = self.rd.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next response, skipping interleaved data and requests from the server.
    pub(super) async fn response(&mut self) -> std::io::Result<Response<Vec<u8>>> {
        loop {
            match self.next().await? {
                Some(Message::Response(r)) => return Ok(r),
                Some(_) => continue,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the camera closed the connection",
                    ));
                }
            }
        }
    }
}

pub(super) fn header(r: &Response<Vec<u8>>, name: &headers::HeaderName) -> Option<String> {
    r.header(name).map(|v| v.as_str().to_owned())
}

/// One request and its answer, answering one authentication challenge.
pub(super) async fn exchange(
    target: &Target,
    req: &mut Requester,
    rd: &mut Reader,
    method: Method,
    url: &str,
    extra: &[(headers::HeaderName, String)],
) -> Result<Response<Vec<u8>>, TalkError> {
    let name: &str = (&method).into();
    let name = name.to_owned();
    let url = url::Url::parse(url)
        .map_err(|e| target.failed(format!("{name}: bad URL {}: {e}", secret::redact_url(url))))?;
    let url = &url;
    for attempt in 0..2 {
        let bytes = req.build(method.clone(), url, extra);
        req.wr
            .write_all(&bytes)
            .await
            .map_err(|e| target.failed(format!("{name}: {e}")))?;
        let resp = rd
            .response()
            .await
            .map_err(|e| target.failed(format!("{name}: {e}")))?;
        if resp.status() != StatusCode::Unauthorized {
            return Ok(resp);
        }
        let challenge = header(&resp, &headers::WWW_AUTHENTICATE);
        if attempt == 1 || req.creds.is_none() || challenge.is_none() {
            return Err(TalkError::Auth {
                camera: target.camera.clone(),
                url: secret::redact_url(target.url.as_str()),
            });
        }
        let client = http_auth::PasswordClient::try_from(challenge.as_deref().unwrap_or(""))
            .map_err(|e| target.failed(format!("{name}: unusable challenge: {e}")))?;
        req.auth = Some(client);
    }
    unreachable!("two attempts return")
}

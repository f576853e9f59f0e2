//! Talk over Hikvision ISAPI two-way audio, against a fake camera in the test: a hyper server
//! that demands HTTP Digest (qop=auth, checked here with its own MD5), lists one G.711 µ-law
//! channel, and records the `audioData` upload. A camera whose ONVIF backchannel is refused
//! (`551`) falls back to it under `talk: Auto`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use md5::{Digest, Md5};

use crate::common;

const REALM: &str = "IP Camera(fake)";
const NONCE: &str = "4e6f6e63652d666f722d74657374";

#[derive(Default)]
struct Seen {
    /// `METHOD path` of every authorised request, in order.
    requests: Vec<String>,
    audio: Vec<u8>,
    unauthorised: usize,
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 2617 Digest with qop=auth, as Hikvision cameras ask for it.
fn digest_ok(auth: Option<&str>, method: &str, user: &str, pass: &str) -> bool {
    let Some(rest) = auth.and_then(|a| a.strip_prefix("Digest ")) else {
        return false;
    };
    let field = |k: &str| {
        rest.split(',').find_map(|kv| {
            let (key, v) = kv.trim().split_once('=')?;
            (key.trim() == k).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    let (Some(u), Some(uri), Some(nc), Some(cnonce), Some(resp)) = (
        field("username"),
        field("uri"),
        field("nc"),
        field("cnonce"),
        field("response"),
    ) else {
        return false;
    };
    let ha1 = md5_hex(&format!("{user}:{REALM}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    u == user
        && field("nonce").as_deref() == Some(NONCE)
        && resp == md5_hex(&format!("{ha1}:{NONCE}:{nc}:{cnonce}:auth:{ha2}"))
}

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Seen>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    if !digest_ok(auth.as_deref(), &method, "admin", "hik-pass") {
        seen.lock().unwrap().unauthorised += 1;
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::UNAUTHORIZED;
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            format!("Digest realm=\"{REALM}\", nonce=\"{NONCE}\", qop=\"auth\"")
                .parse()
                .unwrap(),
        );
        return Ok(r);
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut s = seen.lock().unwrap();
    s.requests.push(format!("{method} {path}"));
    let text = match (method.as_str(), path.as_str()) {
        ("GET", "/ISAPI/System/TwoWayAudio/channels") => {
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TwoWayAudioChannelList version=\"2.0\" \
             xmlns=\"http://www.hikvision.com/ver20/XMLSchema\"><TwoWayAudioChannel version=\"2.0\">\
             <id>1</id><enabled>false</enabled><audioCompressionType>G.711ulaw</audioCompressionType>\
             </TwoWayAudioChannel></TwoWayAudioChannelList>"
        }
        ("PUT", "/ISAPI/System/TwoWayAudio/channels/1/open") => {
            "<TwoWayAudioSession><sessionId>1</sessionId></TwoWayAudioSession>"
        }
        ("PUT", "/ISAPI/System/TwoWayAudio/channels/1/audioData") => {
            s.audio.extend_from_slice(&body);
            ""
        }
        ("PUT", "/ISAPI/System/TwoWayAudio/channels/1/close") => "<ResponseStatus/>",
        _ => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
            return Ok(r);
        }
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

fn fake_camera(rt: &tokio::runtime::Runtime, seen: Arc<Mutex<Seen>>) -> SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(req, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[test]
fn isapi_gets_the_tone_as_g711_and_auto_falls_back_to_it() {
    let _g = common::heavy();
    let rt = common::runtime();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = fake_camera(&rt, seen.clone());
    // The RTSP side: a simulated camera that refuses the ONVIF backchannel (551).
    let sim = common::sim(&rt, common::small(0));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hik.ron");
    std::fs::write(
        &config,
        format!(
            "(cameras: [(name: \"Hik\", url: \"{}\", username: Some(\"admin\"), \
             password: Some(\"hik-pass\"), isapi_url: Some(\"http://{addr}\"))])",
            sim.url(1)
        ),
    )
    .unwrap();
    let wav = crate::talk::tone_wav_at(dir.path(), 8000, 1.5);
    let (ok, text) = crate::talk::talk(&config, "Hik", &wav, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("as PCMU"), "{text}");
    let s = common::wait_for(Duration::from_secs(5), "the close request", || {
        let s = seen.lock().unwrap();
        s.requests
            .iter()
            .any(|r| r.ends_with("/close"))
            .then(|| (s.requests.clone(), s.audio.clone(), s.unauthorised))
    });
    let (requests, audio, unauthorised) = s;
    assert_eq!(
        requests,
        [
            "GET /ISAPI/System/TwoWayAudio/channels",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/open",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/audioData",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/close",
        ]
    );
    assert_eq!(unauthorised, 1, "one challenge, then every request signed");
    let samples: Vec<f32> = audio
        .iter()
        .map(|&c| f32::from(opticlink::media::g711::ulaw_decode(c)) / 32768.0)
        .collect();
    let secs = samples.len() as f32 / 8000.0;
    assert!((secs - 1.5).abs() < 0.1, "{secs} s of audio");
    let f = opticlink::media::pcm::dominant_frequency(&samples[1000..11000], 8000, 500, 2000);
    assert!((f - 1000.0).abs() <= 20.0, "dominant {f} Hz");
    assert!(!text.contains("hik-pass"));
}

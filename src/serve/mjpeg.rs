//! One camera's MJPEG server: `GET /video.mjpeg` (multipart/x-mixed-replace JPEG) on a port
//! chosen by the fallback policy. JPEG is encoded once per picture on the camera's own thread
//! and only while at least one client watches; every client gets the newest JPEG through a
//! `watch` channel, so a slow client skips pictures and never delays another or the camera.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ffmpeg_next as ffmpeg;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;

use super::Server;
use crate::stream::{FrameReceiver, StreamStats, VideoFrame};

/// Rate and quality caps of a camera's MJPEG stream, and who may watch it.
#[derive(Clone)]
pub struct MjpegSettings {
    pub fps: u32,
    /// 1 (smallest) to 100 (best).
    pub quality: u8,
    pub access: super::Access,
}

const BOUNDARY: &str = "opticlinkframe";

/// One camera's newest JPEG and its counters: what a watching client needs.
#[derive(Clone)]
pub struct MjpegFeed {
    pub jpegs: watch::Receiver<Option<Bytes>>,
    pub stats: Arc<StreamStats>,
}

/// Binds `preferred` (or a fallback) and serves camera `camera`'s MJPEG stream; logs one
/// `listening on` line per bind. Returns the server and the feed (for the API port).
pub fn start(
    runtime: &tokio::runtime::Handle,
    preferred: SocketAddr,
    camera: &str,
    frames: FrameReceiver,
    stats: Arc<StreamStats>,
    settings: MjpegSettings,
) -> std::io::Result<(Server, MjpegFeed)> {
    let (jpeg_tx, jpeg_rx) = watch::channel::<Option<Bytes>>(None);
    let feed = MjpegFeed {
        jpegs: jpeg_rx,
        stats,
    };
    let name = camera.to_owned();
    let access = settings.access.clone();
    std::thread::Builder::new()
        .name(format!("jpeg {camera}"))
        .spawn(move || {
            let span = tracing::info_span!("jpeg", camera = %name);
            let _guard = span.enter();
            encode_loop(&frames, &jpeg_tx, &settings);
        })?;
    let on_bound = super::camera_server_log(camera, "MJPEG", "/video.mjpeg");
    let served = feed.clone();
    let handle = move |req: Request<hyper::body::Incoming>| {
        let response = route(&req, &served);
        async move { response }
    };
    let server = super::start_server(
        runtime,
        preferred,
        format!("MJPEG server of {camera:?}"),
        access,
        on_bound,
        handle,
    )?;
    Ok((server, feed))
}

/// Counts a watching client for as long as its response body lives.
struct Watcher(Arc<StreamStats>);

impl Watcher {
    fn new(stats: Arc<StreamStats>) -> Self {
        stats.mjpeg_clients.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.mjpeg_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn route(
    req: &Request<hyper::body::Incoming>,
    feed: &MjpegFeed,
) -> Response<BoxBody<Bytes, Infallible>> {
    if (req.method(), req.uri().path()) != (&Method::GET, "/video.mjpeg") {
        let mut r =
            Response::new(Full::new(Bytes::from_static(b"not found: try /video.mjpeg\n")).boxed());
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    }
    stream_response(feed)
}

/// A multipart JPEG response that follows `feed` for as long as the client stays.
pub fn stream_response(feed: &MjpegFeed) -> Response<BoxBody<Bytes, Infallible>> {
    let jpeg_rx = feed.jpegs.clone();
    let watcher = Watcher::new(feed.stats.clone());
    let parts = futures::stream::unfold((jpeg_rx, watcher), |(mut rx, watcher)| async move {
        loop {
            rx.changed().await.ok()?;
            let Some(jpeg) = rx.borrow_and_update().clone() else {
                continue;
            };
            let head = format!(
                "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            );
            let mut part = BytesMut::with_capacity(head.len() + jpeg.len() + 2);
            part.extend_from_slice(head.as_bytes());
            part.extend_from_slice(&jpeg);
            part.extend_from_slice(b"\r\n");
            return Some((
                Ok::<_, Infallible>(Frame::data(part.freeze())),
                (rx, watcher),
            ));
        }
    });
    let mut r = Response::new(StreamBody::new(parts).boxed());
    let headers = r.headers_mut();
    if let Ok(v) = format!("multipart/x-mixed-replace; boundary={BOUNDARY}").parse() {
        headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, no-store"),
    );
    r
}

/// Encodes pictures from the decoder (which sends them only while clients watch) at most
/// `fps` times a second; ends when the decoder does.
fn encode_loop(
    frames: &FrameReceiver,
    out: &watch::Sender<Option<Bytes>>,
    settings: &MjpegSettings,
) {
    crate::stream::decode::init_ffmpeg();
    let period = Duration::from_secs_f64(1.0 / f64::from(settings.fps.max(1)));
    let mut encoder = JpegEncoder {
        open: None,
        qscale: qscale(settings.quality),
    };
    let mut last: Option<Instant> = None;
    for frame in frames.iter() {
        if last.is_some_and(|t| t.elapsed() < period) {
            continue;
        }
        last = Some(Instant::now());
        match encoder.encode(&frame) {
            Ok(jpeg) => {
                let _ = out.send(Some(jpeg));
            }
            Err(e) => tracing::warn!("JPEG encoding failed: {e}"),
        }
    }
}

/// Quality 1..=100 to the MJPEG encoder's qscale (31 worst .. 2 best).
pub fn qscale(quality: u8) -> i32 {
    let q = i32::from(quality.clamp(1, 100));
    2 + (100 - q) * 29 / 99
}

struct JpegEncoder {
    open: Option<((u32, u32), ffmpeg::encoder::Video)>,
    qscale: i32,
}

impl JpegEncoder {
    fn encode(&mut self, f: &VideoFrame) -> Result<Bytes, ffmpeg::Error> {
        let lambda = self.qscale * ffmpeg::ffi::FF_QP2LAMBDA;
        if self
            .open
            .as_ref()
            .is_none_or(|(size, _)| *size != (f.width, f.height))
        {
            let codec = ffmpeg::encoder::find(ffmpeg::codec::Id::MJPEG)
                .ok_or(ffmpeg::Error::EncoderNotFound)?;
            let mut enc = ffmpeg::codec::Context::new_with_codec(codec)
                .encoder()
                .video()?;
            enc.set_width(f.width);
            enc.set_height(f.height);
            enc.set_format(ffmpeg::format::Pixel::YUVJ420P);
            enc.set_time_base((1, 25));
            enc.set_flags(ffmpeg::codec::Flags::QSCALE);
            enc.set_global_quality(lambda);
            self.open = Some((
                (f.width, f.height),
                enc.open_with(ffmpeg::Dictionary::new())?,
            ));
        }
        let Some((_, enc)) = self.open.as_mut() else {
            return Err(ffmpeg::Error::Bug);
        };
        let mut picture =
            ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUVJ420P, f.width, f.height);
        for (i, plane) in f.planes.iter().enumerate() {
            let stride = picture.stride(i);
            let dst = picture.data_mut(i);
            let row = plane.width as usize;
            for y in 0..plane.height as usize {
                let src = &plane.data[y * plane.stride as usize..][..row];
                dst[y * stride..y * stride + row].copy_from_slice(src);
            }
        }
        // SAFETY: `picture` owns a valid AVFrame; `quality` is a plain field the MJPEG
        // encoder reads when the QSCALE flag is set.
        unsafe {
            (*picture.as_mut_ptr()).quality = lambda;
        }
        enc.send_frame(&picture)?;
        let mut packet = ffmpeg::Packet::empty();
        enc.receive_packet(&mut packet)?;
        Ok(Bytes::copy_from_slice(packet.data().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_maps_to_qscale() {
        assert_eq!(qscale(100), 2);
        assert_eq!(qscale(1), 31);
        assert_eq!(qscale(0), 31);
        assert_eq!(qscale(80), 7);
    }
}

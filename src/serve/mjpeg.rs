//! One camera's MJPEG server: `GET /video.mjpeg` (multipart/x-mixed-replace JPEG) on a port
//! chosen by the fallback policy. JPEG is encoded once per picture on the camera's own thread
//! and only while at least one client watches, paced to `mjpeg_fps` on average (`Pacer`), so a
//! camera at or below the cap reaches viewers at its full rate and a faster one is thinned
//! evenly. Every client gets the newest JPEG through a `watch` channel, so a slow client skips
//! pictures and never delays another or the camera.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;

use super::Server;
use crate::media::encode::JpegEncoder;
use crate::stream::{FrameReceiver, Viewers};

/// Rate and quality caps of a camera's MJPEG stream, and who may watch it.
#[derive(Clone)]
pub struct MjpegSettings {
    pub fps: u32,
    /// 1 (smallest) to 100 (best).
    pub quality: u8,
    pub access: super::Access,
}

const BOUNDARY: &str = "opticlinkframe";

/// One camera's newest JPEG and its count of viewers: what a watching client needs.
#[derive(Clone)]
pub struct MjpegFeed {
    pub jpegs: watch::Receiver<Option<Bytes>>,
    pub viewers: Arc<Viewers>,
}

/// Binds `preferred` (or a fallback) and serves camera `camera`'s MJPEG stream; logs one
/// `listening on` line per bind. Returns the server and the feed (for the API port).
pub fn start(
    runtime: &tokio::runtime::Handle,
    preferred: SocketAddr,
    camera: &str,
    frames: FrameReceiver,
    viewers: Arc<Viewers>,
    settings: MjpegSettings,
) -> std::io::Result<(Server, MjpegFeed)> {
    let (jpeg_tx, jpeg_rx) = watch::channel::<Option<Bytes>>(None);
    let feed = MjpegFeed {
        jpegs: jpeg_rx,
        viewers,
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

/// Counts a watching client (or a snapshot waiting for its picture) for as long as it lives:
/// while any is counted, the camera decodes and JPEG is encoded.
pub(super) struct Watcher(Arc<Viewers>);

impl Watcher {
    pub(super) fn new(viewers: Arc<Viewers>) -> Self {
        viewers.arrive();
        Self(viewers)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.leave();
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

/// How long a snapshot waits for a picture (a camera that is not decoding starts at its next
/// keyframe: within a GOP).
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// `GET …/snapshot.jpg`: the camera's next picture as one JPEG (a fresh one, never the one a
/// past client left behind), or 503 with `Retry-After` if none comes within
/// [`SNAPSHOT_WAIT`].
pub async fn snapshot_response(
    camera: &str,
    feed: &MjpegFeed,
) -> Response<BoxBody<Bytes, Infallible>> {
    let mut rx = feed.jpegs.clone();
    rx.borrow_and_update();
    let _watching = Watcher::new(feed.viewers.clone());
    let next = async {
        loop {
            rx.changed().await.ok()?;
            if let Some(jpeg) = rx.borrow_and_update().clone() {
                return Some(jpeg);
            }
        }
    };
    let mut r = match tokio::time::timeout(SNAPSHOT_WAIT, next).await {
        Ok(Some(jpeg)) => {
            let mut r = Response::new(Full::new(jpeg).boxed());
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("image/jpeg"),
            );
            r
        }
        _ => {
            let mut r = super::http::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "no picture from camera {camera:?} within {} s",
                    SNAPSHOT_WAIT.as_secs()
                ),
            );
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("5"),
            );
            r
        }
    };
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// A multipart JPEG response that follows `feed` for as long as the client stays.
pub fn stream_response(feed: &MjpegFeed) -> Response<BoxBody<Bytes, Infallible>> {
    let jpeg_rx = feed.jpegs.clone();
    let watcher = Watcher::new(feed.viewers.clone());
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

/// Encodes pictures from the decoder (which sends them only while clients watch) at
/// `fps` a second on average; ends when the decoder does.
fn encode_loop(
    frames: &FrameReceiver,
    out: &watch::Sender<Option<Bytes>>,
    settings: &MjpegSettings,
) {
    let period = Duration::from_secs_f64(1.0 / f64::from(settings.fps.max(1)));
    let mut encoder = JpegEncoder::new(settings.quality);
    let mut pacer = Pacer::new(period);
    let start = Instant::now();
    for frame in frames.iter() {
        // Pace by when the picture arrived from the camera, not when it reached us: the
        // decoder's own jitter must not cost pictures either.
        if !pacer.admit(frame.arrival.saturating_duration_since(start)) {
            continue;
        }
        match encoder.encode(&frame) {
            Ok(jpeg) => {
                let _ = out.send(Some(jpeg));
            }
            Err(e) => tracing::warn!("JPEG encoding failed: {e}"),
        }
    }
}

/// Average-rate pacing: a picture is due every `period`; one that comes up to a quarter period
/// early still passes, and a late one may be followed quickly by the next (up to one period of
/// credit), so jitter around the period costs nothing while the long-run rate never exceeds
/// one per period. Pure: times are offsets from any fixed instant.
#[derive(Debug, Clone)]
pub struct Pacer {
    period: Duration,
    due: Option<Duration>,
}

impl Pacer {
    /// How early a picture may come and still count as on time.
    const EARLY: f64 = 0.25;

    pub fn new(period: Duration) -> Self {
        Self { period, due: None }
    }

    /// Whether the picture that arrived at `t` goes out.
    pub fn admit(&mut self, t: Duration) -> bool {
        let tolerance = self.period.mul_f64(Self::EARLY);
        match self.due {
            Some(due) if t + tolerance < due => false,
            Some(due) => {
                // At most one period of credit: after a pause, no burst to catch up.
                self.due = Some(due.max(t.saturating_sub(self.period)) + self.period);
                true
            }
            None => {
                self.due = Some(t + self.period);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrival times of `n` frames at `fps` with up to ±`jitter` of a period around each.
    fn arrivals(fps: f64, jitter: f64, n: usize, seed: u64) -> Vec<Duration> {
        let mut state = seed;
        let mut unit = || {
            // xorshift64*: a fixed, repeatable sequence.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|k| {
                let t = (k as f64 + 1.0 + jitter * (2.0 * unit() - 1.0)) / fps;
                Duration::from_secs_f64(t)
            })
            .collect()
    }

    fn passed(cap: f64, times: &[Duration]) -> Vec<Duration> {
        let mut p = Pacer::new(Duration::from_secs_f64(1.0 / cap));
        times.iter().copied().filter(|t| p.admit(*t)).collect()
    }

    #[test]
    fn a_jittery_camera_at_or_below_the_cap_keeps_every_picture() {
        for (fps, cap) in [(15.0, 15.0), (14.9, 15.0), (10.0, 15.0), (25.0, 25.0)] {
            let times = arrivals(fps, 0.3, 3000, 7);
            let got = passed(cap, &times).len();
            assert!(
                got as f64 >= 0.99 * times.len() as f64,
                "{fps} fps at cap {cap}: {got} of {}",
                times.len()
            );
        }
    }

    #[test]
    fn a_faster_camera_is_thinned_to_the_cap_evenly() {
        for fps in [15.1, 25.0, 30.0, 60.0] {
            let times = arrivals(fps, 0.3, 6000, 11);
            let secs = times.last().unwrap().as_secs_f64();
            let got = passed(15.0, &times);
            let rate = got.len() as f64 / secs;
            assert!((14.5..=15.05).contains(&rate), "{fps} fps → {rate:.2}");
            // Evenly: no gap longer than two periods plus the camera's own worst gap.
            let worst = 1.6 / fps + 2.0 / 15.0;
            for w in got.windows(2) {
                let gap = (w[1] - w[0]).as_secs_f64();
                assert!(gap <= worst, "{fps} fps: gap {gap:.3}");
            }
        }
    }

    #[test]
    fn after_a_pause_there_is_no_burst() {
        let mut p = Pacer::new(Duration::from_millis(100));
        assert!(p.admit(Duration::from_millis(0)));
        // Five seconds of nothing, then a 25 fps burst: one period of credit at most.
        let burst: Vec<bool> = (0..10)
            .map(|i| p.admit(Duration::from_millis(5000 + 40 * i)))
            .collect();
        assert!(burst.iter().filter(|b| **b).count() <= 5, "{burst:?}");
    }
}

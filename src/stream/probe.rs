//! Waiting out a reconnect delay without missing the camera's return: while a worker backs off
//! (up to 30 s after a long outage), a plain TCP connect to the camera's RTSP port every 2 s
//! (no RTSP request, no session, so never a storm) ends the wait as soon as a camera that did
//! not answer answers again. A camera that accepts connections all along (its RTSP fails for
//! another reason) waits the whole delay.

use std::time::Duration;

/// How often the camera is knocked on while waiting.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long one knock may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The whole delay passed.
    Elapsed,
    /// The camera did not answer, and now does.
    CameraBack,
}

/// Waits `delay`, or less if the camera at `url` comes back (see the module's text).
pub async fn wait(url: &url::Url, delay: Duration) -> Woken {
    let deadline = tokio::time::Instant::now() + delay;
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_owned())
    else {
        tokio::time::sleep_until(deadline).await;
        return Woken::Elapsed;
    };
    let port = url.port().unwrap_or(554);
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_down = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Woken::Elapsed,
            _ = tick.tick() => {
                let knock = tokio::net::TcpStream::connect((host.as_str(), port));
                let up = matches!(tokio::time::timeout(PROBE_TIMEOUT, knock).await, Ok(Ok(_)));
                match (up, was_down) {
                    (true, true) => return Woken::CameraBack,
                    (false, _) => was_down = true,
                    (true, false) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A free loopback port (bound and let go).
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn a_camera_that_comes_back_ends_the_wait() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let port = free_port();
        let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/live")).unwrap();
        let started = std::time::Instant::now();
        let woken = rt.block_on(async {
            let back = tokio::spawn(async move {
                // Down for the first knock, up from the second.
                tokio::time::sleep(Duration::from_millis(500)).await;
                tokio::net::TcpListener::bind(("127.0.0.1", port)).await
            });
            let woken = wait(&url, Duration::from_secs(30)).await;
            drop(back.await);
            woken
        });
        assert_eq!(woken, Woken::CameraBack);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn a_camera_that_answers_all_along_waits_the_delay() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/live")).unwrap();
        let woken = rt.block_on(wait(&url, Duration::from_millis(4500)));
        assert_eq!(
            woken,
            Woken::Elapsed,
            "no storm against an answering camera"
        );
    }
}

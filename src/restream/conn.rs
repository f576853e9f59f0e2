//! One RTSP server connection, whoever serves it (the restream, the simulated camera): message
//! framing with `rtsp-types` under a size cap, the head and idle deadlines, one writer task
//! that responses and interleaved media share (bounded, and dropped when a write cannot make
//! progress), and the response format. What a request means is the [`Handler`]'s.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rtsp_types::{Message, Request, Response, StatusCode, Version, headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How much one connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request (head and body); a bigger one gets 413 and the connection ends.
    pub max_message: usize,
    /// A request must arrive whole within this of its first byte, and a connection that
    /// plays nothing is closed after this long without a request.
    pub idle: Duration,
    /// A write that makes no progress for this long drops the client.
    pub write_stall: Duration,
    /// Messages (responses, access units) waiting for the writer.
    pub queue: usize,
    /// Bytes waiting for the writer.
    pub queue_bytes: usize,
}

/// The queue to a connection's writer, bounded in messages and in bytes.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Vec<u8>>,
    bytes: Arc<Queued>,
}

/// Bytes waiting in a queue, and a wake-up when the writer takes some.
struct Queued {
    now: AtomicUsize,
    max: usize,
    taken: tokio::sync::Notify,
}

/// The reading end of an [`Outbox`].
pub struct Inbox {
    rx: mpsc::Receiver<Vec<u8>>,
    bytes: Arc<Queued>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // A sender waiting for room learns the connection is gone.
        self.rx.close();
        self.bytes.taken.notify_waiters();
    }
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let message = self.rx.recv().await?;
        Some(self.taken(message))
    }

    pub fn try_recv(&mut self) -> Option<Vec<u8>> {
        let message = self.rx.try_recv().ok()?;
        Some(self.taken(message))
    }

    /// `message` leaves the queue: its bytes no longer count, and a waiting sender may go on.
    fn taken(&self, message: Vec<u8>) -> Vec<u8> {
        self.bytes.now.fetch_sub(message.len(), Ordering::Relaxed);
        self.bytes.taken.notify_waiters();
        message
    }
}

/// Why [`Outbox::offer`] did not queue a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The client is behind: the queue is full.
    Full,
    /// The connection is gone.
    Closed,
}

impl Outbox {
    /// A queue of `capacity` messages and at most `max_bytes` (one bigger message passes when
    /// the queue is empty), and its reading end.
    pub fn channel(capacity: usize, max_bytes: usize) -> (Self, Inbox) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let bytes = Arc::new(Queued {
            now: AtomicUsize::new(0),
            max: max_bytes,
            taken: tokio::sync::Notify::new(),
        });
        (
            Self {
                tx,
                bytes: bytes.clone(),
            },
            Inbox { rx, bytes },
        )
    }

    fn room_for(&self, len: usize) -> bool {
        let now = self.bytes.now.load(Ordering::Relaxed);
        now == 0 || now + len <= self.bytes.max
    }

    /// Queues `bytes`, waiting for room; `false` once the connection is gone.
    pub async fn send(&self, bytes: Vec<u8>) -> bool {
        loop {
            let taken = self.bytes.taken.notified();
            if self.room_for(bytes.len()) || self.tx.is_closed() {
                break;
            }
            taken.await;
        }
        self.bytes.now.fetch_add(bytes.len(), Ordering::Relaxed);
        let len = bytes.len();
        let sent = self.tx.send(bytes).await.is_ok();
        if !sent {
            self.bytes.now.fetch_sub(len, Ordering::Relaxed);
        }
        sent
    }

    /// Queues `bytes` if there is room now.
    pub fn offer(&self, bytes: Vec<u8>) -> Result<(), Refused> {
        if !self.room_for(bytes.len()) {
            return Err(if self.tx.is_closed() {
                Refused::Closed
            } else {
                Refused::Full
            });
        }
        let len = bytes.len();
        self.bytes.now.fetch_add(len, Ordering::Relaxed);
        self.tx.try_send(bytes).map_err(|e| {
            self.bytes.now.fetch_sub(len, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => Refused::Full,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }
}

/// `packet` framed for interleaved delivery on `channel` (RFC 2326 §10.12), appended to `out`.
pub fn interleave(channel: u8, packet: &[u8], out: &mut Vec<u8>) {
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&(packet.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(&packet[..packet.len().min(usize::from(u16::MAX))]);
}

/// What a handler sees of its connection.
pub struct Conn {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub out: Outbox,
    close: mpsc::Sender<()>,
}

impl Conn {
    /// A connection with no socket (fuzzing the handlers): what it sends comes out of the
    /// receiver.
    #[cfg(test)]
    pub fn detached() -> (Self, Inbox) {
        let (out, rx) = Outbox::channel(1 << 16, usize::MAX / 2);
        let conn = Self {
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            local: None,
            out,
            close: mpsc::channel(1).0,
        };
        (conn, rx)
    }

    /// A handle that ends the connection when sent to (a sender task that is done).
    pub fn closer(&self) -> mpsc::Sender<()> {
        self.close.clone()
    }
}

/// What to do after interleaved data from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Go,
    /// Read nothing more, keeping the connection open (a simulated fault).
    Deaf,
}

/// A response, and whether the connection ends after it.
pub struct Reply {
    pub bytes: Vec<u8>,
    pub close: bool,
}

impl From<Vec<u8>> for Reply {
    fn from(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            close: false,
        }
    }
}

/// The requests of one connection.
pub trait Handler: Send {
    fn request(
        &mut self,
        req: &Request<Vec<u8>>,
        conn: &Conn,
    ) -> impl Future<Output = Reply> + Send;
    /// Interleaved data the client sent (RTCP receiver reports, a backchannel).
    fn data(&mut self, channel: u8, data: &[u8]) -> Flow;
    /// Whether media flows: a playing connection may be quiet.
    fn playing(&self) -> bool;
    /// The `Server` header.
    fn server(&self) -> &str;
}

/// A response to the request numbered `cseq`.
pub fn response(
    server: &str,
    status: StatusCode,
    cseq: &str,
    extra: &[(headers::HeaderName, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut b = Response::builder(Version::V1_0, status)
        .header(headers::CSEQ, cseq)
        .header(headers::SERVER, server);
    for (name, value) in extra {
        b = b.header(name.clone(), value.as_str());
    }
    let mut out = Vec::new();
    b.build(body.to_vec())
        .write(&mut out)
        .expect("writing to a Vec");
    out
}

/// The request's CSeq to echo: digits only (anything else would be echoed into our
/// response's head), else `0`.
pub fn cseq(req: &Request<Vec<u8>>) -> &str {
    header(req, &headers::CSEQ)
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() <= 10 && c.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("0")
}

/// A request header's value.
pub fn header<'r>(req: &'r Request<Vec<u8>>, name: &headers::HeaderName) -> Option<&'r str> {
    req.header(name).map(|v| v.as_str())
}

/// A `key=value` parameter of a Transport header.
pub fn param<'t>(transport: &'t str, key: &str) -> Option<&'t str> {
    transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix(key)?.strip_prefix('='))
}

/// Serves `stream` with `handler` until either side ends it.
pub async fn serve<H: Handler>(stream: TcpStream, mut handler: H, limits: Limits) {
    let _ = stream.set_nodelay(true);
    let (Ok(peer), local) = (stream.peer_addr(), stream.local_addr().ok()) else {
        return;
    };
    let (mut rd, wr) = stream.into_split();
    let (out, out_rx) = Outbox::channel(limits.queue, limits.queue_bytes);
    let (close, mut close_rx) = mpsc::channel::<()>(1);
    let mut writer = tokio::spawn(write_out(wr, out_rx, limits.write_stall));
    let mut writer_done = false;
    let conn = Conn {
        peer,
        local,
        out,
        close,
    };
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 4096];
    // Since when the connection idles, or a request has been arriving.
    let mut since = Instant::now();
    // A connection that never plays (requests that never pass the gate, OPTIONS to hold a
    // slot) is closed after this, however busy.
    let not_playing_until = since + limits.idle * 4;
    let mut framing = Framing::default();
    'conn: loop {
        let deadline = if handler.playing() {
            (!buf.is_empty()).then(|| since + limits.idle)
        } else {
            Some((since + limits.idle).min(not_playing_until))
        };
        let read = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, rd.read(&mut chunk))
                    .await
                    .unwrap_or(Ok(0)),
                None => rd.read(&mut chunk).await,
            }
        };
        let n = tokio::select! {
            n = read => match n { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = close_rx.recv() => break,
            _ = &mut writer => { writer_done = true; break }
        };
        if buf.is_empty() {
            since = Instant::now();
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            if !framing.worth_parsing(&buf) {
                if buf.len() > limits.max_message {
                    let too_big = StatusCode::RequestMessageBodyTooLarge;
                    let _ = conn
                        .out
                        .send(response(handler.server(), too_big, "0", &[], b""))
                        .await;
                    break 'conn;
                }
                break;
            }
            let (msg, used) = match Message::<Vec<u8>>::parse(&buf) {
                Ok(parsed) => parsed,
                Err(rtsp_types::ParseError::Incomplete(more))
                    if buf.len() <= limits.max_message =>
                {
                    framing.wait(&buf, more);
                    break;
                }
                Err(e) => {
                    let status = match e {
                        rtsp_types::ParseError::Incomplete(_) => {
                            StatusCode::RequestMessageBodyTooLarge
                        }
                        rtsp_types::ParseError::Error => StatusCode::BadRequest,
                    };
                    let _ = conn
                        .out
                        .send(response(handler.server(), status, "0", &[], b""))
                        .await;
                    break 'conn;
                }
            };
            buf.drain(..used);
            framing = Framing::default();
            match msg {
                Message::Request(req) => {
                    let reply = handler.request(&req, &conn).await;
                    if !conn.out.send(reply.bytes).await || reply.close {
                        break 'conn;
                    }
                }
                Message::Data(d) => {
                    if handler.data(d.channel_id(), d.as_slice()) == Flow::Deaf {
                        // A small receive buffer fills and the window shuts, with the
                        // connection left open.
                        let _ = socket2::SockRef::from(rd.as_ref()).set_recv_buffer_size(4096);
                        std::future::pending::<()>().await;
                    }
                }
                Message::Response(_) => {}
            }
            since = Instant::now();
        }
    }
    // The handler's senders hold the other queue handles: dropping it lets the writer drain
    // and end.
    drop(handler);
    drop(conn);
    if !writer_done {
        let _ = writer.await;
    }
}

/// When the buffer is worth parsing again: re-parsing a request that arrives a byte at a time
/// on every byte would cost the square of its length.
#[derive(Default)]
struct Framing {
    /// Bytes already searched for the end of a head.
    scanned: usize,
    /// The parser said it needs this many bytes in all.
    need: usize,
}

impl Framing {
    fn worth_parsing(&mut self, buf: &[u8]) -> bool {
        if buf.len() < self.need {
            return false;
        }
        if buf.first() == Some(&b'$') || self.need > 0 {
            return true;
        }
        let from = self.scanned.saturating_sub(3);
        self.scanned = buf.len();
        memchr::memmem::find(&buf[from..], b"\r\n\r\n").is_some()
            || memchr::memmem::find(&buf[from..], b"\n\n").is_some()
    }

    /// The parser wants more: `more` bytes, when it knows.
    fn wait(&mut self, buf: &[u8], more: Option<std::num::NonZeroUsize>) {
        self.need = more.map_or(buf.len() + 1, |m| buf.len() + m.get());
    }
}

/// Writes what is queued until the queue closes or a write stalls.
async fn write_out(mut wr: OwnedWriteHalf, mut queue: Inbox, stall: Duration) {
    while let Some(bytes) = queue.recv().await {
        match tokio::time::timeout(stall, wr.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::info!(
                    "RTSP client dropped: nothing written for {}s",
                    stall.as_secs()
                );
                return;
            }
        }
    }
    let _ = wr.shutdown().await;
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

    /// Answers every request 200.
    struct Ok200;

    impl Handler for Ok200 {
        async fn request(&mut self, _: &Request<Vec<u8>>, _: &Conn) -> Reply {
            response("t", StatusCode::Ok, "1", &[], b"").into()
        }
        fn data(&mut self, _: u8, _: &[u8]) -> Flow {
            Flow::Go
        }
        fn playing(&self) -> bool {
            false
        }
        fn server(&self) -> &str {
            "t"
        }
    }

    /// What the server answers to `sent` before it closes the connection.
    async fn answer(addr: SocketAddr, sent: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(sent).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
            .await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn a_request_too_big_or_too_slow_ends_the_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_message: 1024,
            idle: Duration::from_millis(300),
            write_stall: Duration::from_secs(1),
            queue: 4,
            queue_bytes: 1 << 20,
        };
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, Ok200, limits));
            }
        });
        let mut big = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ".to_vec();
        big.extend([b'a'; 2000]);
        let got = answer(addr, &big).await;
        assert!(got.starts_with("RTSP/1.0 413"), "{got}");
        // Half a request, then nothing: closed after the idle time, unanswered.
        assert_eq!(answer(addr, b"OPTIONS * RTSP/1.0\r\n").await, "");
        // Whole requests are answered; a quiet connection that plays nothing is closed.
        let got = answer(addr, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n").await;
        assert!(got.starts_with("RTSP/1.0 200"), "{got}");
        assert_eq!(
            answer(addr, b"garbage\r\n\r\n").await.get(..12),
            Some("RTSP/1.0 400")
        );
        // A request a byte at a time is still read (once whole).
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        for b in b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n" {
            c.write_all(&[*b]).await.unwrap();
        }
        let mut got = [0u8; 12];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"RTSP/1.0 200");
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_but_takes_one_big_message() {
        let (out, mut inbox) = Outbox::channel(10, 100);
        assert_eq!(out.offer(vec![0; 60]), Ok(()));
        assert_eq!(out.offer(vec![0; 60]), Err(Refused::Full));
        assert_eq!(inbox.recv().await.map(|m| m.len()), Some(60));
        assert_eq!(
            out.offer(vec![0; 500]),
            Ok(()),
            "alone, a keyframe of any size"
        );
        let waiting = tokio::spawn({
            let out = out.clone();
            async move { out.send(vec![0; 10]).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits for room");
        assert_eq!(inbox.recv().await.map(|m| m.len()), Some(500));
        assert!(waiting.await.unwrap());
        drop(inbox);
        assert_eq!(out.offer(vec![0; 1]), Err(Refused::Closed));
    }

    #[test]
    fn interleaved_frames_carry_channel_and_length() {
        let mut out = Vec::new();
        interleave(3, &[1, 2, 3], &mut out);
        assert_eq!(out, [b'$', 3, 0, 3, 1, 2, 3]);
    }
}

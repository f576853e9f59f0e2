//! A headless process as a node: `GET /api/node` (a stable id kept in the state folder, name,
//! version, ports) and the node's news on the live feed: camera states, segments closed, the
//! node stopping.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, Proc, http_get};

/// A headless node named `Floor 2` with camera `Gate` at `url`, recording 2 s segments, its
/// state in `state`.
fn start_node(url: &str, state: &std::path::Path, work: &std::path::Path) -> Proc {
    let config = work.join("node.ron");
    std::fs::write(
        &config,
        format!(
            "(name: Some(\"Floor 2\"), cameras: [(name: \"Gate\", url: \"{url}\", record: true)],\n \
             headless_decode: false, recording: (dir: \"{}\", segment_secs: 2),\n \
             servers: (api_port: 0, rtsp_port: 0))",
            work.join("rec").display()
        ),
    )
    .unwrap();
    let state = state.to_str().unwrap();
    Proc::start(
        &["--headless", "--config", config.to_str().unwrap()],
        &[("OPTICLINK_STATE_DIR", state)],
    )
}

/// The live feed's messages as (event name, data), read as they come.
struct Feed(BufReader<TcpStream>);

impl Feed {
    fn open(port: u16) -> Self {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Self(BufReader::new(s))
    }

    /// The next message, or `None` at the end of the stream.
    fn next(&mut self) -> Option<(String, serde_json::Value)> {
        let mut name = String::new();
        loop {
            let mut line = String::new();
            if self.0.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data: ")
                && !name.is_empty()
            {
                let data = serde_json::from_str(data.trim()).unwrap_or_default();
                return Some((name, data));
            }
        }
    }

    /// Reads until a message `name` that `pick` accepts (within 30 s).
    fn until(
        &mut self,
        name: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.next() {
                Some((n, data)) if n == name && pick(&data) => return data,
                Some(_) => {}
                None => break,
            }
        }
        panic!("no {name} message on the live feed");
    }
}

#[test]
fn a_node_tells_who_it_is_and_what_happens_there() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(&rt, common::small(0));
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut app = start_node(&sim.url(1), state.path(), work.path());
    let port = app.api_port();
    let mut feed = Feed::open(port);

    let live = feed.until("state", |d| d["state"] == "live");
    assert_eq!(live["camera"], "Gate", "{live}");
    let segment = feed.until("segment", |d| d["camera"] == "Gate");
    let file = segment["file"].as_str().unwrap();
    let on_disk = work.path().join("rec").join("Gate").join(file);
    assert!(on_disk.is_file(), "{segment} names no file");
    assert!(
        segment["end_ms"].as_i64() > segment["start_ms"].as_i64(),
        "{segment}"
    );

    let (code, body) = http_get(port, "/api/node");
    assert_eq!(code, 200, "{body}");
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["name"], "Floor 2");
    assert_eq!(node["version"], env!("CARGO_PKG_VERSION"));
    let id = node["id"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(node["ports"]["api"], port);
    let status = app.status();
    assert_eq!(node["ports"]["rtsp"], status["rtsp_port"]);
    assert!(status["rtsp_port"].as_u64() > Some(0));

    assert!(app.stop().success());
    feed.until("stopping", |_| true);

    // The same state folder: the same node.
    let again = start_node(&sim.url(1), state.path(), work.path());
    let (_, body) = http_get(again.api_port(), "/api/node");
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["id"], id.as_str());
}

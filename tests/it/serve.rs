//! Per-camera MJPEG servers: a taken preferred port falls back and is reported; a client reads
//! valid JPEG pictures of the camera's size from the reported port; pictures are decoded and
//! encoded only while someone watches.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{self, Proc, sim, small};

/// Reads `n` JPEG parts from a multipart MJPEG stream; returns them.
fn read_jpegs(port: u16, n: usize) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut jpegs = Vec::new();
    let mut chunk = [0u8; 65536];
    while jpegs.len() < n {
        let got = s.read(&mut chunk).expect("MJPEG data");
        assert!(got > 0, "stream ended after {} pictures", jpegs.len());
        buf.extend_from_slice(&chunk[..got]);
        let head = String::from_utf8_lossy(&buf[..buf.len().min(300)]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.contains("multipart/x-mixed-replace; boundary="),
            "{head}"
        );
        jpegs = split_jpegs(&buf);
    }
    jpegs
}

fn split_jpegs(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&buf[at..], b"\xff\xd8\xff").map(|i| i + at) {
        let Some(end) = find(&buf[start..], b"\xff\xd9").map(|i| i + start + 2) else {
            break;
        };
        out.push(buf[start..end].to_vec());
        at = end;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Width and height from a baseline JPEG's SOF0 segment.
fn jpeg_size(jpeg: &[u8]) -> (u16, u16) {
    let sof = find(jpeg, b"\xff\xc0").expect("SOF0");
    let h = u16::from_be_bytes([jpeg[sof + 5], jpeg[sof + 6]]);
    let w = u16::from_be_bytes([jpeg[sof + 7], jpeg[sof + 8]]);
    (w, h)
}

#[test]
fn taken_mjpeg_port_falls_back_and_serves_jpegs_on_demand() {
    let _g = common::heavy();
    let rt = common::runtime();
    let camera = sim(&rt, small(0));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let preferred = taken.local_addr().unwrap().port();
    // A recording box that decodes nothing until someone watches.
    let app = Proc::headless(&format!(
        "(cameras: [(name: \"Cam\", url: \"{}\", mjpeg_port: Some({preferred}))],
          headless_decode: false, servers: (api_port: 0, mjpeg_fps: 25))",
        camera.url(1)
    ));
    let c = app.wait_state("Cam", "live", Duration::from_secs(20));
    let port = c["ports"]["mjpeg"].as_u64().expect("bound port reported") as u16;
    assert_ne!(port, preferred, "the taken port was not used");
    let log = app.log();
    assert!(
        log.contains(&format!(
            "MJPEG listening on http://127.0.0.1:{port}/video.mjpeg"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("MJPEG port {preferred} unavailable")),
        "{log}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        app.camera("Cam")["decoded"],
        0,
        "nothing decodes while nobody watches"
    );
    let jpegs = read_jpegs(port, 5);
    for j in &jpegs {
        assert_eq!(jpeg_size(j), (320, 180));
    }
    assert!(jpegs.windows(2).any(|w| w[0] != w[1]), "the pictures move");
    assert!(app.camera("Cam")["decoded"].as_u64().unwrap() >= 5);
    let (code, _) = common::http_get(port, "/nope");
    assert_eq!(code, 404);
    drop(taken);
}

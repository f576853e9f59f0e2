//! Interop with an independent RTSP server: GStreamer's rtsp-server (Debian
//! `gir1.2-gst-rtsp-server-1.0`), H.264 and H.265, RTSP Basic auth.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{self, Proc};

pub(crate) struct Gst(pub(crate) Child);

impl Drop for Gst {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn gst_server() -> (Gst, u16) {
    // Debian's python3: the one that can import `gi`.
    let mut child = Command::new("/usr/bin/python3")
        .arg(common::test_file("peers/gst_rtsp_server.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("/usr/bin/python3 (Debian python3-gi, gir1.2-gst-rtsp-server-1.0)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("GStreamer RTSP server did not start: {line:?}"));
    (Gst(child), port)
}

#[test]
fn worker_goes_live_against_gstreamer_h264_and_h265() {
    let _g = common::heavy();
    let (_gst, port) = gst_server();
    let ron = format!(
        "(cameras: [
            (name: \"GstH264\", url: \"rtsp://127.0.0.1:{port}/h264\", username: Some(\"viewer\"), password: Some(\"gst-pass\")),
            (name: \"GstH265\", url: \"rtsp://127.0.0.1:{port}/h265\", username: Some(\"viewer\"), password: Some(\"gst-pass\")),
            (name: \"GstNoAuth\", url: \"rtsp://127.0.0.1:{port}/h264\"),
        ], servers: (api_port: 0))"
    );
    let app = Proc::headless(&ron);
    for (name, codec) in [("GstH264", "H.264"), ("GstH265", "H.265")] {
        let c = app.wait_state(name, "live", Duration::from_secs(30));
        assert_eq!(c["codec"], codec, "{c}");
        assert_eq!(
            (c["width"].as_u64(), c["height"].as_u64()),
            (Some(640), Some(360)),
            "{c}"
        );
        common::wait_for(Duration::from_secs(15), "decoded pictures", || {
            (app.camera(name)["decoded"].as_u64()? > 10).then_some(())
        });
    }
    app.wait_state("GstNoAuth", "auth_failed", Duration::from_secs(20));
}

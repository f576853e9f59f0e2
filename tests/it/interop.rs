//! Interop with an independent RTSP server: GStreamer's rtsp-server (Debian
//! `gir1.2-gst-rtsp-server-1.0`), H.264 and H.265, RTSP Basic auth.

use std::time::Duration;

use crate::common::{self, Proc};

/// GStreamer's RTSP server (`tests/peers/gst_rtsp_server.py`) and its port.
pub(crate) fn gst_server() -> (common::Owned, u16) {
    common::python_peer("peers/gst_rtsp_server.py", &[])
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

//! Prometheus text exposition of the status snapshot (`GET /metrics`): per-camera gauges and
//! counters and a 0/1 gauge per state.

use std::fmt::Write as _;

use super::StatusSnapshot;

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition of the snapshot.
pub fn metrics(s: &StatusSnapshot) -> String {
    let mut out = String::new();
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&super::CameraStatus) -> f64,
    );
    let families: [Family; 6] = [
        (
            "opticlink_camera_fps",
            "gauge",
            "Frames received per second",
            |c| c.fps,
        ),
        (
            "opticlink_camera_bitrate_bps",
            "gauge",
            "Video bits received per second",
            |c| c.bitrate_bps,
        ),
        (
            "opticlink_camera_frames_total",
            "counter",
            "Video frames received",
            |c| c.frames as f64,
        ),
        (
            "opticlink_camera_decoded_total",
            "counter",
            "Video frames decoded",
            |c| c.decoded as f64,
        ),
        (
            "opticlink_camera_reconnects_total",
            "counter",
            "Times the camera came back after a drop",
            |c| f64::from(c.reconnects),
        ),
        (
            "opticlink_camera_recorded_bytes_total",
            "counter",
            "Bytes recorded",
            |c| c.recording.bytes as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        // A locked camera shows its state only: no activity metric at all.
        for c in s.cameras.iter().filter(|c| !c.locked) {
            let _ = writeln!(out, "{name}{{camera=\"{}\"}} {}", label(&c.name), value(c));
        }
    }
    let _ = writeln!(
        out,
        "# HELP opticlink_camera_state 1 for the camera's current state\n# TYPE opticlink_camera_state gauge"
    );
    for c in &s.cameras {
        for state in &s.states {
            let v = u8::from(&c.state == state);
            let _ = writeln!(
                out,
                "opticlink_camera_state{{camera=\"{}\",state=\"{}\"}} {v}",
                label(&c.name),
                label(state)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::CameraStatus;

    #[test]
    fn metrics_text() {
        let s = StatusSnapshot {
            cameras: vec![CameraStatus {
                name: "Gate \"1\"".into(),
                state: "live".into(),
                fps: 25.0,
                frames: 7,
                ..Default::default()
            }],
            api_port: 1,
            states: vec!["live".into(), "stalled".into()],
            ..Default::default()
        };
        let m = metrics(&s);
        assert!(
            m.contains("opticlink_camera_fps{camera=\"Gate \\\"1\\\"\"} 25"),
            "{m}"
        );
        assert!(
            m.contains("opticlink_camera_frames_total{camera=\"Gate \\\"1\\\"\"} 7"),
            "{m}"
        );
        assert!(m.contains("state=\"live\"} 1"), "{m}");
        assert!(m.contains("state=\"stalled\"} 0"), "{m}");
    }
}

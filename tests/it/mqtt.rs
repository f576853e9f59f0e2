//! Events over MQTT against Debian's `mosquitto`, read with `mosquitto_sub`: Home Assistant
//! discovery and `online` on connect, `ON`/`OFF` and the event JSON when the simulated camera's
//! ONVIF motion starts and stops, everything said again after the broker restarts, and the
//! last will (`offline`) when the app is killed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opticlink::simcam::SimConfig;

use crate::common::{self, Owned, Proc, wait_for};

/// A broker on `port` (mosquitto 2 without a config file listens on loopback only and lets
/// anonymous clients in).
fn broker(port: u16) -> Owned {
    let child = Command::new("mosquitto")
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (Debian package mosquitto)");
    // Up once it takes a connection.
    wait_for(Duration::from_secs(10), "mosquitto to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Owned(child)
}

/// Every message on the broker, as `topic payload` lines (retained ones first).
struct Listener {
    _child: Owned,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    fn start(port: u16) -> Self {
        let mut child = Command::new("mosquitto_sub")
            .args(["-p", &port.to_string(), "-v", "-t", "#"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (Debian package mosquitto-clients)");
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        Self {
            _child: Owned(child),
            lines,
        }
    }

    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        wait_for(Duration::from_secs(15), what, || {
            self.lines.lock().unwrap().iter().find(|l| f(l)).cloned()
        })
    }
}

#[test]
fn motion_discovery_reconnect_and_last_will_over_mqtt() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        SimConfig {
            onvif_port: Some(0),
            ..common::small(0)
        },
    );
    sim.set_motion(1, false);
    let port = common::free_port();
    let mut mosquitto = broker(port);
    let mut app = Proc::headless(&format!(
        "(cameras: [(name: \"Front Door\", url: \"{}\", onvif: Some((url: \"{}\")),
                     motion: (hold_secs: 1.0, min_secs: 0.0))],
          headless_decode: false, servers: (api_port: 0),
          mqtt: Some((url: \"mqtt://127.0.0.1:{port}\", topic: \"opticlink\")))",
        sim.url(1),
        sim.onvif_url(1).unwrap()
    ));
    let sub = Listener::start(port);
    let config = sub.wait("Home Assistant discovery", |l| {
        l.starts_with("homeassistant/binary_sensor/opticlink_front_door_799993b7/motion/config ")
    });
    let json: serde_json::Value = serde_json::from_str(config.split_once(' ').unwrap().1).unwrap();
    assert_eq!(json["device_class"], "motion");
    assert_eq!(json["state_topic"], "opticlink/Front Door/motion");
    assert_eq!(json["device"]["name"], "Front Door");
    sub.wait("online", |l| l == "opticlink/available online");
    sub.wait("OFF at start", |l| l == "opticlink/Front Door/motion OFF");
    wait_for(Duration::from_secs(20), "the event subscription", || {
        (opticlink::simcam::SimStats::get(&sim.stats().event_pulls) >= 2).then_some(())
    });

    sim.set_motion(1, true);
    sub.wait("ON", |l| l == "opticlink/Front Door/motion ON");
    let event = sub.wait("the event", |l| l.starts_with("opticlink/events "));
    let e: serde_json::Value = serde_json::from_str(event.split_once(' ').unwrap().1).unwrap();
    assert_eq!(
        (e["camera"].as_str(), e["source"].as_str()),
        (Some("Front Door"), Some("onvif"))
    );
    sim.set_motion(1, false);
    let n = sub.lines.lock().unwrap().len();
    wait_for(Duration::from_secs(10), "OFF after the hold-off", || {
        sub.lines.lock().unwrap()[n..]
            .iter()
            .any(|l| l == "opticlink/Front Door/motion OFF")
            .then_some(())
    });

    // The broker restarts empty: the app reconnects and says everything again.
    drop(sub);
    let _ = mosquitto.0.kill();
    let _ = mosquitto.0.wait();
    mosquitto = broker(port);
    let sub = Listener::start(port);
    sub.wait("online again", |l| l == "opticlink/available online");
    sub.wait("discovery again", |l| {
        l.starts_with("homeassistant/binary_sensor/opticlink_front_door_799993b7/motion/config ")
    });
    assert!(app.log().contains("MQTT broker lost"), "{}", app.log());

    // Killed: the broker says it for the app.
    app.stop_with("KILL");
    sub.wait("the last will", |l| l == "opticlink/available offline");
    drop(mosquitto);
}

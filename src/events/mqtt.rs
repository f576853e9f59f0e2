//! Events over MQTT (rumqttc), with no Bevy: a task on the shared runtime follows the event
//! log's live feed and publishes `TOPIC/<camera>/motion` `ON`/`OFF` (retained), each event's
//! start and end as JSON on `TOPIC/events`, `TOPIC/available` `online` (retained, with
//! `offline` as the last will), and Home Assistant discovery (`homeassistant/binary_sensor/
//! opticlink_<camera>/motion/config`, retained, one device per camera). On every (re)connect
//! it says all of it again, so a broker that restarted without persistence is whole again. A
//! broker that is away is retried with a growing wait; publishing never waits for it (a full
//! queue drops, and the ECS never touches this task).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::broadcast::error::RecvError;

use super::log::{Event as Logged, EventLog};
use crate::config::MqttConfig;

/// Messages waiting for the broker; beyond this new ones are dropped.
const QUEUE: usize = 256;
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A name made safe as one topic level and as a Home Assistant object id.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A camera name as one topic level: `/`, `+` and `#` (which would change the topic's
/// meaning) and `%` percent-encoded, so two names never share a topic (`Floor 2/Gate` is
/// `Floor 2%2FGate`).
fn level(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '/' | '+' | '#' | '%' => out += &format!("%{:02X}", c as u32),
            c => out.push(c),
        }
    }
    out
}

/// Camera `name`'s id under `base` for Home Assistant: readable, and unique however names
/// and bases differ (`Gate 1`, `gate_1` and `Gate/1` slug alike, so a hash of the exact base
/// and name follows).
fn device_id(base: &str, name: &str) -> String {
    // FNV-1a: stable across builds and versions, as an id kept by Home Assistant must be.
    let key = format!("{base}\0{name}");
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{}_{}_{hash:08x}", slug(base), slug(name))
}

/// What to publish, pure: topic, payload, retained.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// The messages of one deployment under `topic`.
pub struct Topics {
    pub base: String,
}

impl Topics {
    pub fn available(&self) -> String {
        format!("{}/available", self.base)
    }

    pub fn motion(&self, camera: &str) -> String {
        format!("{}/{}/motion", self.base, level(camera))
    }

    /// Camera `camera`'s motion state (retained).
    pub fn state(&self, camera: &str, on: bool) -> Message {
        Message {
            topic: self.motion(camera),
            payload: if on { "ON" } else { "OFF" }.into(),
            retain: true,
        }
    }

    /// An event's start or end on `TOPIC/events`.
    pub fn event(&self, e: &Logged) -> Message {
        Message {
            topic: format!("{}/events", self.base),
            payload: serde_json::to_string(e).unwrap_or_default(),
            retain: false,
        }
    }

    /// Home Assistant's discovery of camera `camera`'s motion sensor (retained).
    pub fn discovery(&self, camera: &str) -> Message {
        let id = device_id(&self.base, camera);
        let config = serde_json::json!({
            "name": "Motion",
            "unique_id": format!("{id}_motion"),
            // Home Assistant's entity id: readable (it numbers any that clash itself).
            "object_id": format!("{}_{}_motion", slug(&self.base), slug(camera)),
            "state_topic": self.motion(camera),
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "motion",
            "availability_topic": self.available(),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {
                "identifiers": [id],
                "name": camera,
                "manufacturer": "OpticLink",
                "model": "camera",
            },
        });
        Message {
            topic: format!("homeassistant/binary_sensor/{id}/motion/config"),
            payload: config.to_string(),
            retain: true,
        }
    }

    /// Everything said on every connect: online, each camera's discovery and state (on while
    /// any of its events goes on).
    pub fn hello(&self, states: &BTreeMap<String, BTreeSet<u64>>) -> Vec<Message> {
        let mut out = vec![Message {
            topic: self.available(),
            payload: "online".into(),
            retain: true,
        }];
        for (camera, open) in states {
            out.push(self.discovery(camera));
            out.push(self.state(camera, !open.is_empty()));
        }
        out
    }
}

/// Starts publishing `log`'s events for `cameras` to the broker of `config` on `rt`.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    config: &MqttConfig,
    cameras: Vec<String>,
    log: &EventLog,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let (host, port) = config.broker()?;
    let topics = Topics {
        base: config.topic.clone(),
    };
    let mut options = MqttOptions::new(format!("opticlink-{}", std::process::id()), host, port);
    options.set_keep_alive(Duration::from_secs(15));
    options.set_last_will(LastWill::new(
        topics.available(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &config.username {
        let password = match &config.password_env {
            Some(var) => std::env::var(var).map_err(|_| {
                format!("mqtt.password_env: the environment variable {var} is not set")
            })?,
            None => String::new(),
        };
        crate::secret::remember(&password);
        options.set_credentials(user, password);
    }
    let states = cameras.into_iter().map(|c| (c, BTreeSet::new())).collect();
    let live = log.subscribe();
    let url = crate::secret::redact_url(&config.url);
    let task = rt.spawn(tracing::Instrument::instrument(
        run(options, topics, states, live),
        tracing::info_span!("mqtt", broker = %url),
    ));
    Ok(task)
}

async fn run(
    options: MqttOptions,
    topics: Topics,
    mut states: BTreeMap<String, BTreeSet<u64>>,
    mut live: tokio::sync::broadcast::Receiver<Logged>,
) {
    let (client, mut eventloop) = AsyncClient::new(options, QUEUE);
    let publish = |m: Message| {
        let qos = if m.retain {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        if client
            .try_publish(m.topic, qos, m.retain, m.payload)
            .is_err()
        {
            tracing::debug!("MQTT queue full: a message was dropped");
        }
    };
    let mut retry = RETRY_MIN;
    let mut connected = false;
    loop {
        tokio::select! {
            polled = eventloop.poll() => match polled {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("connected to the MQTT broker");
                    connected = true;
                    retry = RETRY_MIN;
                    for m in topics.hello(&states) {
                        publish(m);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if connected {
                        tracing::warn!("MQTT broker lost ({e}); reconnecting");
                    } else {
                        tracing::debug!("MQTT broker unreachable ({e}); again in {retry:?}");
                    }
                    connected = false;
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            },
            event = live.recv() => match event {
                Ok(e) => {
                    if !states.contains_key(&e.camera) && connected {
                        publish(topics.discovery(&e.camera));
                    }
                    // ON while any of the camera's events goes on (motion and a line crossing
                    // may overlap).
                    let open = states.entry(e.camera.clone()).or_default();
                    if e.end.is_none() {
                        open.insert(e.id);
                    } else {
                        open.remove(&e.id);
                    }
                    publish(topics.state(&e.camera, !open.is_empty()));
                    publish(topics.event(&e));
                }
                Err(RecvError::Lagged(n)) => tracing::warn!("MQTT fell {n} events behind"),
                Err(RecvError::Closed) => break,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_discovery_and_hello() {
        let t = Topics {
            base: "opticlink".into(),
        };
        assert_eq!(t.motion("Front Door"), "opticlink/Front Door/motion");
        assert_eq!(t.motion("a+b#c%"), "opticlink/a%2Bb%23c%25/motion");
        assert_eq!(t.motion("Floor 2/Gate"), "opticlink/Floor 2%2FGate/motion");
        assert_ne!(t.motion("a/b"), t.motion("a_b"));
        let d = t.discovery("Front Door");
        assert_eq!(
            d.topic,
            "homeassistant/binary_sensor/opticlink_front_door_799993b7/motion/config"
        );
        // Names that slug alike still get their own device.
        let ids: BTreeSet<String> = ["Gate 1", "gate_1", "Gate/1", "Gate 1"]
            .iter()
            .map(|n| t.discovery(n).topic)
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(d.retain);
        let v: serde_json::Value = serde_json::from_str(&d.payload).unwrap();
        assert_eq!(v["device_class"], "motion");
        assert_eq!(v["state_topic"], "opticlink/Front Door/motion");
        assert_eq!(v["availability_topic"], "opticlink/available");
        assert_eq!(v["device"]["name"], "Front Door");
        let states = BTreeMap::from([("Gate".to_string(), BTreeSet::from([7]))]);
        let hello = t.hello(&states);
        assert_eq!(hello[0].payload, "online");
        assert!(hello.contains(&t.state("Gate", true)));
        assert_eq!(t.state("Gate", false).payload, "OFF");
    }
}

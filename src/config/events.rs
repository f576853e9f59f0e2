//! A camera's `events:` (where its motion events come from) and `motion:` (where and how
//! hard the picture is looked at, and how edges become events: hold-off, minimum length,
//! cooldown).

use serde::{Deserialize, Serialize};

/// Where a camera's events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EventsMode {
    /// The camera's ONVIF event service when it has `onvif:`; otherwise motion in the
    /// picture.
    #[default]
    Auto,
    /// The ONVIF event service (PullPoint); needs `onvif:`.
    Onvif,
    /// Hikvision's ISAPI alert stream (`isapi_url`, else `http://HOST` of `url`).
    Isapi,
    /// Dahua's event manager (`http://HOST` of `url`).
    Dahua,
    /// Motion in the decoded picture (the sub stream's, when there is one).
    Local,
    /// No events.
    Off,
}

/// How a camera's motion edges become events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotionConfig {
    /// Picture motion counts only inside these polygons (`[(x, y), …]`, `0..1` from the
    /// top left). Default: the whole picture.
    #[serde(default)]
    pub zones: Vec<Vec<(f32, f32)>>,
    /// Picture motion never counts inside these (a clock burned in, a road, a tree).
    #[serde(default)]
    pub masks: Vec<Vec<(f32, f32)>>,
    /// 0 (only strong changes) … 1 (the faintest). Default 0.5.
    #[serde(default = "default_sensitivity")]
    pub sensitivity: f32,
    /// The share of the counted picture that must change. Default 0.01.
    #[serde(default = "default_min_area")]
    pub min_area: f32,
    /// An event ends this long after the last motion reported (cameras often never say
    /// stop). Default 10.
    #[serde(default = "default_hold_secs")]
    pub hold_secs: f64,
    /// An event lasts at least this long. Default 1.
    #[serde(default = "default_min_secs")]
    pub min_secs: f64,
    /// After an event, no new one starts for this long. Default 0.
    #[serde(default)]
    pub cooldown_secs: f64,
    /// A camera that said motion and then nothing more: its event ends this long after.
    /// Default 120.
    #[serde(default = "default_max_secs")]
    pub max_secs: f64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            masks: Vec::new(),
            sensitivity: default_sensitivity(),
            min_area: default_min_area(),
            hold_secs: default_hold_secs(),
            min_secs: default_min_secs(),
            cooldown_secs: 0.0,
            max_secs: default_max_secs(),
        }
    }
}

fn default_sensitivity() -> f32 {
    0.5
}
fn default_min_area() -> f32 {
    0.01
}
fn default_hold_secs() -> f64 {
    10.0
}
fn default_min_secs() -> f64 {
    1.0
}
fn default_max_secs() -> f64 {
    120.0
}

impl MotionConfig {
    /// The rules for `events::debounce` (values were range-checked with the config).
    pub fn rules(&self) -> crate::events::debounce::Rules {
        let d = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
        crate::events::debounce::Rules {
            hold: d(self.hold_secs),
            min_len: d(self.min_secs),
            cooldown: d(self.cooldown_secs),
            max_on: d(self.max_secs),
        }
    }

    /// The picture detector's settings.
    pub fn detector(&self) -> crate::events::picture::Settings {
        crate::events::picture::Settings {
            zones: self.zones.clone(),
            masks: self.masks.clone(),
            sensitivity: self.sensitivity,
            min_area: self.min_area,
        }
    }

    /// Fields out of range: `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, list) in [("zones", &self.zones), ("masks", &self.masks)] {
            for (i, poly) in list.iter().enumerate() {
                if poly.len() < 3 {
                    out.push((
                        field,
                        format!(
                            "motion.{field}[{i}] has {} points; a polygon needs at least 3",
                            poly.len()
                        ),
                    ));
                }
                if let Some((x, y)) = poly
                    .iter()
                    .find(|(x, y)| !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y))
                {
                    out.push((
                        field,
                        format!("motion.{field}[{i}] has the point ({x}, {y}); points are 0..1 from the top left"),
                    ));
                }
            }
        }
        for (field, v) in [
            ("sensitivity", self.sensitivity),
            ("min_area", self.min_area),
        ] {
            if !(0.0..=1.0).contains(&v) {
                out.push((field, format!("motion.{field} {v} must be between 0 and 1")));
            }
        }
        for (field, v, lo, hi) in [
            ("hold_secs", self.hold_secs, 0.0, 3600.0),
            ("min_secs", self.min_secs, 0.0, 3600.0),
            ("cooldown_secs", self.cooldown_secs, 0.0, 86_400.0),
            ("max_secs", self.max_secs, 1.0, 86_400.0),
        ] {
            if !(lo..=hi).contains(&v) {
                out.push((
                    field,
                    format!("motion.{field} {v} must be between {lo} and {hi}"),
                ));
            }
        }
        out
    }
}

/// Where events are published over MQTT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]` (1883 by default). TLS (`mqtts://`) is not supported.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The password from this environment variable.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Topics start with this. Default `opticlink`.
    #[serde(default = "default_topic")]
    pub topic: String,
}

fn default_topic() -> String {
    "opticlink".into()
}

impl MqttConfig {
    /// The broker's host and port, or what is wrong with the URL.
    pub fn broker(&self) -> Result<(String, u16), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("mqtt.url: {e}"))?;
        if url.scheme() != "mqtt" {
            return Err(format!(
                "mqtt.url: {}:// is not supported; use mqtt://HOST:PORT",
                url.scheme()
            ));
        }
        let host = url.host_str().ok_or("mqtt.url has no host")?.to_string();
        Ok((host, url.port().unwrap_or(1883)))
    }

    /// Fields that are wrong: `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(why) = self.broker() {
            out.push(("url", why));
        }
        if self.topic.is_empty() || self.topic.contains(['+', '#']) || self.topic.ends_with('/') {
            out.push((
                "topic",
                format!(
                    "mqtt.topic {:?} must be non-empty, without + or #, not ending in /",
                    self.topic
                ),
            ));
        }
        out
    }
}

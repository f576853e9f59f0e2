//! The checks serde cannot express: unique camera names, well-formed URLs, value ranges, a
//! token for network-facing servers. Each problem comes with the path of the value it concerns
//! (for `locate`) and a message with credentials redacted.

use super::{CameraConfig, Config, PathSeg};
use crate::record::names::{folder_name, same_folder};

impl Config {
    /// Every problem serde cannot see, with the path of the value it concerns.
    pub fn problems(&self) -> Vec<(Vec<PathSeg>, String)> {
        use PathSeg::{Index, Key};
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, cam) in self.cameras.iter().enumerate() {
            for (field, message) in cam.problems() {
                out.push((vec![Key("cameras"), Index(i), Key(field)], message));
            }
            let at = vec![Key("cameras"), Index(i), Key("name")];
            if seen.contains(&cam.name.as_str()) {
                out.push((
                    at,
                    format!("duplicate camera name {:?}: names must be unique", cam.name),
                ));
            } else if let Some(other) = seen.iter().find(|s| same_folder(s, &cam.name)) {
                out.push((
                    at,
                    format!(
                        "camera name {:?} would record into the same folder {:?} as {other:?} \
                         (folder names are made valid on Windows and compared without case)",
                        cam.name,
                        folder_name(&cam.name)
                    ),
                ));
            }
            seen.push(&cam.name);
        }
        if let Some(sim) = &self.simulated {
            let at = |field| vec![Key("simulated"), Key(field)];
            if sim.cameras == 0 || sim.cameras > 64 {
                out.push((
                    at("cameras"),
                    "simulated.cameras must be between 1 and 64".into(),
                ));
            }
            for (field, v) in [("width", sim.width), ("height", sim.height)] {
                if v < 16 || v % 2 == 1 {
                    out.push((
                        at(field),
                        format!("simulated.{field} {v} must be even and at least 16"),
                    ));
                }
            }
            if sim.fps == 0 || sim.fps > 120 {
                out.push((at("fps"), "simulated.fps must be between 1 and 120".into()));
            }
            if let Some(n) = sim
                .picture_motion
                .iter()
                .find(|n| **n == 0 || **n > sim.cameras)
            {
                out.push((
                    at("picture_motion"),
                    format!(
                        "simulated.picture_motion names camera {n}; there are cameras 1 to {}",
                        sim.cameras
                    ),
                ));
            }
        }
        if !self.servers.bind.is_loopback()
            && self.servers.token.as_deref().is_none_or(str::is_empty)
        {
            out.push((
                vec![Key("servers"), Key("bind")],
                format!(
                    "servers.bind {} is reachable from the network: set servers.token (every request must then carry it)",
                    self.servers.bind
                ),
            ));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            for (field, message) in node.problems() {
                out.push((vec![Key("nodes"), Index(i), Key(field)], message));
            }
            let at = vec![Key("nodes"), Index(i), Key("name")];
            if self.nodes[..i].iter().any(|n| n.name == node.name) {
                out.push((at, format!("duplicate node name {:?}", node.name)));
            } else if let Some(cam) = self
                .cameras
                .iter()
                .find(|c| c.name.starts_with(&format!("{}/", node.name)))
            {
                out.push((
                    at,
                    format!(
                        "camera {:?} would be taken for one of node {:?}'s cameras",
                        cam.name, node.name
                    ),
                ));
            }
        }
        if let Some(mqtt) = &self.mqtt {
            for (field, message) in mqtt.problems() {
                out.push((vec![Key("mqtt"), Key(field)], message));
            }
        }
        out.extend(self.ranges());
        out.extend(self.controls.problems());
        let mut names = self.camera_names();
        names.extend(self.nodes.iter().map(|n| format!("{}/", n.name)));
        out.extend(super::layouts::problems(
            &self.layouts,
            &self.windows,
            &names,
        ));
        out
    }
}

/// Ranges of the numbers that size timers, durations and allocations: past them arithmetic
/// overflows, divides by zero or waits for centuries. (path, value, lowest, highest)
type Range = (&'static [&'static str], u64, u64, u64);

impl Config {
    fn ranges(&self) -> Vec<(Vec<PathSeg>, String)> {
        let table: [Range; 8] = [
            (&["grace_secs"], self.grace_secs, 1, 3600),
            (&["stall_secs"], self.stall_secs, 1, 3600),
            (
                &["recording", "segment_secs"],
                self.recording.segment_secs,
                1,
                1_000_000_000,
            ),
            (
                &["recording", "retain_days"],
                self.recording.retain_days.unwrap_or(1),
                1,
                36_500,
            ),
            (
                &["locks", "remember_hours"],
                self.locks.remember_hours,
                0,
                87_600,
            ),
            (
                &["servers", "header_timeout_secs"],
                self.servers.header_timeout_secs,
                1,
                30,
            ),
            (
                &["servers", "max_connections"],
                u64::from(self.servers.max_connections),
                16,
                65_536,
            ),
            (
                &["servers", "mjpeg_fps"],
                u64::from(self.servers.mjpeg_fps),
                1,
                60,
            ),
        ];
        table
            .into_iter()
            .filter(|(_, v, lo, hi)| !(lo..=hi).contains(&v))
            .map(|(path, v, lo, hi)| {
                (
                    path.iter().map(|k| PathSeg::Key(k)).collect(),
                    format!("{} {v} must be between {lo} and {hi}", path.join(".")),
                )
            })
            .collect()
    }
}

impl crate::config::ControlsConfig {
    /// Unknown key or button names, speeds out of range.
    fn problems(&self) -> Vec<(Vec<PathSeg>, String)> {
        use PathSeg::{Index, Key};
        let mut out = Vec::new();
        let c = self;
        for (field, keys) in [
            ("pan_left", &c.pan_left),
            ("pan_right", &c.pan_right),
            ("tilt_up", &c.tilt_up),
            ("tilt_down", &c.tilt_down),
            ("zoom_in", &c.zoom_in),
            ("zoom_out", &c.zoom_out),
            ("brightness_down", &c.brightness_down),
            ("brightness_up", &c.brightness_up),
            ("home", &c.home),
            ("talk", &c.talk),
        ] {
            for (i, name) in keys.iter().enumerate() {
                if super::keys::key(name).is_none() {
                    out.push((
                        vec![Key("controls"), Key(field), Index(i)],
                        format!(
                            "controls.{field}: unknown key {name:?} (names as Bevy's KeyCode: ArrowLeft, KeyA, Digit1, Equal, BracketLeft, Home, F5 …)"
                        ),
                    ));
                }
            }
        }
        for (field, name) in [
            ("pad_previous", &c.pad_previous),
            ("pad_next", &c.pad_next),
            ("pad_preset", &c.pad_preset),
            ("pad_talk", &c.pad_talk),
        ] {
            if super::keys::pad_button(name).is_none() {
                out.push((
                    vec![Key("controls"), Key(field)],
                    format!(
                        "controls.{field}: unknown gamepad button {name:?} (South, East, North, West, LeftTrigger, RightTrigger, LeftTrigger2, RightTrigger2, Select, Start, DPadUp …)"
                    ),
                ));
            }
        }
        for (field, v, lo, hi) in [
            ("key_speed", c.key_speed, 0.01, 1.0),
            ("dead_zone", c.dead_zone, 0.0, 0.9),
            ("brightness_step", c.brightness_step, 0.5, 50.0),
            ("drag_full_speed", c.drag_full_speed, 10.0, 4000.0),
        ] {
            if !(lo..=hi).contains(&v) {
                out.push((
                    vec![Key("controls"), Key(field)],
                    format!("controls.{field} {v} must be between {lo} and {hi}"),
                ));
            }
        }
        out
    }
}

impl CameraConfig {
    /// Camera `name` at `url` with every other setting at its default (as the config file's
    /// defaults are).
    pub fn minimal(name: &str, url: &str) -> Self {
        let mut c: Self = ron::from_str(r#"(name: "", url: "")"#).expect("the defaults parse");
        c.name = name.to_owned();
        c.url = url.to_owned();
        c
    }

    /// What is wrong with this camera on its own (not counting other cameras): each problem
    /// with the field it concerns and the message (credentials redacted).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let quoted = format!("{:?}", self.name);
        if self.name.trim().is_empty() {
            out.push(("name", "camera name is empty".into()));
        } else if self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            out.push((
                "name",
                format!(
                    "camera name {quoted} cannot contain '/' or '\\' or start with '.' (it names a directory)"
                ),
            ));
        } else if self.name.chars().any(char::is_control) {
            out.push((
                "name",
                format!("camera name {quoted} cannot contain control characters"),
            ));
        }
        for (field, url) in std::iter::once(("url", Some(&self.url)))
            .chain(std::iter::once(("sub_url", self.sub_url.as_ref())))
        {
            let Some(url) = url else { continue };
            if let Err(why) = check_rtsp_url(url) {
                out.push((
                    field,
                    format!(
                        "camera {quoted}: {field} {:?} is not a valid RTSP URL: {why}",
                        crate::secret::redact_url(url)
                    ),
                ));
            }
        }
        if let Some(onvif) = &self.onvif {
            if let Err(why) = check_url(&onvif.url, &["http"]) {
                out.push((
                    "onvif",
                    format!(
                        "camera {quoted}: onvif.url is not a valid http:// URL (https is not supported): {why}"
                    ),
                ));
            }
            if !(onvif.timeout_secs > 0.0 && onvif.timeout_secs <= 60.0) {
                out.push((
                    "onvif",
                    format!("camera {quoted}: onvif.timeout_secs must be between 0 and 60"),
                ));
            }
        }
        if self.events == super::EventsMode::Onvif && self.onvif.is_none() {
            out.push((
                "events",
                format!("camera {quoted}: events: Onvif needs the camera's onvif: entry"),
            ));
        }
        for (_, why) in self.motion.problems() {
            out.push(("motion", format!("camera {quoted}: {why}")));
        }
        out
    }
}

fn check_rtsp_url(url: &str) -> Result<(), String> {
    check_url(url, &["rtsp", "rtsps"])
}

fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(format!("scheme must be one of {schemes:?}"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigErrors};

    fn err(text: &str) -> ConfigErrors {
        Config::parse(text, "t.ron").expect_err("should be rejected")
    }

    #[test]
    fn duplicate_names_point_at_the_second() {
        let text = "(cameras: [\n (name: \"Gate\", url: \"rtsp://a/1\"),\n (name: \"Gate\", url: \"rtsp://b/1\"),\n])";
        let e = err(text);
        assert_eq!(e.0.len(), 1);
        assert_eq!((e.0[0].line, e.0[0].col), (3, 9), "{e}");
        assert!(e.0[0].message.contains("duplicate camera name \"Gate\""));
    }

    #[test]
    fn names_that_share_a_folder_are_refused() {
        let text = "(cameras: [\n (name: \"Gate\", url: \"rtsp://a/1\"),\n (name: \"GATE\", url: \"rtsp://b/1\"),\n (name: \"Hall:1\", url: \"rtsp://c/1\"),\n (name: \"hall|1\", url: \"rtsp://d/1\"),\n])";
        let e = err(text);
        assert_eq!(e.0.len(), 2, "{e}");
        assert_eq!((e.0[0].line, e.0[0].col), (3, 9), "{e}");
        assert!(
            e.0[0].message.contains("same folder \"GATE\" as \"Gate\""),
            "{e}"
        );
        assert_eq!(e.0[1].line, 5, "{e}");
        assert!(e.0[1].message.contains("\"hall_1\" as \"Hall:1\""), "{e}");
    }

    #[test]
    fn malformed_url_is_located_and_redacted() {
        let text = "(cameras: [\n (name: \"A\",\n  url: \"http://admin:hunter2@cam/1\"),\n])";
        let e = err(text);
        assert_eq!(e.0[0].line, 3, "{e}");
        let s = e.to_string();
        assert!(s.contains("scheme"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
        let e = err("(cameras: [(name: \"A\", url: \"rtsp://\")])");
        assert!(e.to_string().contains("not a valid RTSP URL"), "{e}");
    }

    #[test]
    fn positions_come_from_the_parser_not_a_text_search() {
        // Generic names appear in comments, other fields and other cameras before the value
        // that is wrong; the error must point at the value itself.
        let text = "(\n  // fps, width, cameras and bind are explained below\n  cameras: [\n    (name: \"fps\", url: \"rtsp://h/width\"),\n    (name: \"B\", url: \"rtsp://h/b\", sub_url: Some(\"nope\")),\n  ],\n  simulated: Some((cameras: 2, /* fps */ width: 31, fps: 0)),\n  servers: (api_port: 1, bind: \"0.0.0.0\"),\n)";
        let e = err(text);
        let at: Vec<(usize, usize, &str)> =
            e.0.iter()
                .map(|e| (e.line, e.col, e.message.as_str()))
                .collect();
        let find = |what: &str| {
            at.iter()
                .find(|(_, _, m)| m.contains(what))
                .map(|(l, c, _)| (*l, *c))
                .unwrap_or_else(|| panic!("no {what:?} in {e}"))
        };
        assert_eq!(find("sub_url"), (5, 50), "{e}");
        assert_eq!(find("simulated.width"), (7, 49), "{e}");
        assert_eq!(find("simulated.fps"), (7, 58), "{e}");
        assert_eq!(find("servers.bind"), (8, 32), "{e}");
        assert_eq!(e.0.len(), 4, "{e}");
    }

    #[test]
    fn a_camera_name_has_no_control_characters() {
        let e = err("(cameras: [(name: \"Gate\\u{0}\", url: \"rtsp://h/1\")])");
        assert!(e.to_string().contains("control characters"), "{e}");
    }

    #[test]
    fn picture_motion_names_a_simulated_camera() {
        let e = err("(simulated: Some((cameras: 2,\n  picture_motion: [1, 3])))");
        assert_eq!((e.0[0].line, e.0[0].col), (2, 19), "{e}");
        assert!(e.to_string().contains("cameras 1 to 2"), "{e}");
    }

    #[test]
    fn controls_and_onvif_are_checked_where_they_are_written() {
        let text = "(\n  cameras: [(name: \"A\", url: \"rtsp://h/1\",\n    onvif: Some((url: \"https://h/onvif\")))],\n  controls: (pan_left: [\"ArrowLeft\", \"LeftArrow\"], dead_zone: 2.0,\n    pad_preset: \"Triangle\"),\n)";
        let e = err(text);
        let s = e.to_string();
        let at = |what: &str| {
            e.0.iter()
                .find(|e| e.message.contains(what))
                .map(|e| (e.line, e.col))
                .unwrap_or_else(|| panic!("no {what:?} in {s}"))
        };
        assert_eq!(at("unknown key \"LeftArrow\""), (4, 38), "{s}");
        assert_eq!(at("controls.dead_zone"), (4, 63), "{s}");
        assert_eq!(at("unknown gamepad button \"Triangle\""), (5, 17), "{s}");
        assert!(at("https is not supported").0 >= 2, "{s}");
        assert_eq!(e.0.len(), 4, "{s}");
    }
}

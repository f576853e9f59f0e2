//! The wall's configuration: the RON schema with every default, parsing with `line:col` errors,
//! and the checks serde cannot do (unique names, well-formed URLs, ranges). Every position comes
//! from RON's own parser: a check names the path of the value it objects to
//! (`cameras[2].name`), and `locate` walks the text with RON's deserializer to that value.
//! No I/O beyond reading the file.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The demo configuration compiled into the binary; `config/wall.ron` is the same file.
pub const DEMO_RON: &str = include_str!("../config/wall.ron");

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Real cameras, shown in this order after the simulated ones.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// Built-in simulated cameras started in this process (`None`: none).
    #[serde(default)]
    pub simulated: Option<SimulatedConfig>,
    /// Startup grace: a feed that has not delivered its first frame yet is `connecting`,
    /// never dropped, for this long. Default 10.
    #[serde(default = "default_grace_secs")]
    pub grace_secs: u64,
    /// A live feed with no frame for this long is `stalled` and reconnected. Default 5.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: u64,
    /// In `--headless`, decode every stream anyway (proves each stream decodes, `decoded` in
    /// the API). `false` makes a recording box remux only, at a fraction of the CPU. Default true.
    #[serde(default = "yes")]
    pub headless_decode: bool,
    /// Where and how cameras record.
    #[serde(default)]
    pub recording: RecordingConfig,
    /// Local HTTP servers (status API, per-camera streams).
    #[serde(default)]
    pub servers: ServersConfig,
}

/// One camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Unique; used in paths, logs and the API.
    pub name: String,
    /// `rtsp://host[:port]/path`; credentials may be embedded but are better in the fields below.
    pub url: String,
    /// Optional low-resolution stream for small tiles.
    #[serde(default)]
    pub sub_url: Option<String>,
    /// RTSP user (Basic or Digest, whichever the camera asks for).
    #[serde(default)]
    pub username: Option<String>,
    /// RTSP password. Never logged, never served.
    #[serde(default)]
    pub password: Option<String>,
    /// RTP transport. Default `Tcp` (interleaved); `Udp` for cameras that need it.
    #[serde(default)]
    pub transport: Transport,
    /// Record continuously. Default false.
    #[serde(default)]
    pub record: bool,
    /// `false` keeps the camera on the wall as `offline` without connecting. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// ONVIF device service, for PTZ and imaging.
    #[serde(default)]
    pub onvif: Option<OnvifConfig>,
    /// Preferred MJPEG port (`None`: `servers.mjpeg_base_port` + index).
    #[serde(default)]
    pub mjpeg_port: Option<u16>,
    /// Preferred audio port (`None`: `servers.audio_base_port` + index).
    #[serde(default)]
    pub audio_port: Option<u16>,
    /// Keep this camera's recordings under this many bytes, oldest first. Default `None`.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// RTP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

/// ONVIF endpoint of a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnvifConfig {
    /// `http://host/onvif/device_service`.
    pub url: String,
}

/// Video codec of the simulated cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SimCodec {
    #[default]
    H264,
    H265,
}

/// Built-in simulated cameras (real RTSP on loopback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedConfig {
    /// How many. Named "Sim 1" … "Sim N", served as `/cam1` … `/camN`.
    pub cameras: u32,
    /// Picture width. Default 960.
    #[serde(default = "default_sim_width")]
    pub width: u32,
    /// Picture height. Default 540.
    #[serde(default = "default_sim_height")]
    pub height: u32,
    /// Frames per second. Default 25.
    #[serde(default = "default_sim_fps")]
    pub fps: u32,
    /// Default `H264`.
    #[serde(default)]
    pub codec: SimCodec,
    /// RTSP port on 127.0.0.1; 0 (default) picks a free one.
    #[serde(default)]
    pub port: u16,
    /// Cameras also send sound (AAC 16 kHz mono, a beep every second). Default false.
    #[serde(default)]
    pub audio: bool,
}

/// Container of recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecordFormat {
    /// Fragmented MP4. Default.
    #[default]
    Mp4,
    Mkv,
}

/// Recording store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// Default `recordings` (relative to the working directory).
    #[serde(default = "default_record_dir")]
    pub dir: PathBuf,
    /// Default `Mp4`.
    #[serde(default)]
    pub format: RecordFormat,
    /// Segment length. Default 60.
    #[serde(default = "default_segment_secs")]
    pub segment_secs: u64,
    /// Delete segments older than this many days. Default `None` (keep).
    #[serde(default)]
    pub retain_days: Option<u64>,
    /// Keep the whole store under this many bytes, oldest segments first. Default `None`.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            dir: default_record_dir(),
            format: RecordFormat::default(),
            segment_secs: default_segment_secs(),
            retain_days: None,
            max_bytes: None,
        }
    }
}

/// Local HTTP servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServersConfig {
    /// Address every server binds. Default `127.0.0.1`.
    #[serde(default = "default_bind")]
    pub bind: IpAddr,
    /// Status/control API; falls back to the next ports, then an ephemeral one. Default 8555.
    #[serde(default = "default_api_port")]
    pub api_port: u16,
    /// MJPEG port of camera i is this + i. Default 555.
    #[serde(default = "default_mjpeg_base_port")]
    pub mjpeg_base_port: u16,
    /// Audio port of camera i is this + i. Default 50545.
    #[serde(default = "default_audio_base_port")]
    pub audio_base_port: u16,
    /// Most JPEG pictures per second on a camera's MJPEG stream. Default 15.
    #[serde(default = "default_mjpeg_fps")]
    pub mjpeg_fps: u32,
    /// JPEG quality, 1 (smallest) to 100 (best). Default 80.
    #[serde(default = "default_mjpeg_quality")]
    pub mjpeg_quality: u8,
    /// Access token every request must carry (`Authorization: Bearer …` or `?token=…`).
    /// Required when `bind` is not a loopback address. Default `None`.
    #[serde(default)]
    pub token: Option<String>,
}

impl Default for ServersConfig {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            api_port: default_api_port(),
            mjpeg_base_port: default_mjpeg_base_port(),
            audio_base_port: default_audio_base_port(),
            mjpeg_fps: default_mjpeg_fps(),
            mjpeg_quality: default_mjpeg_quality(),
            token: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_grace_secs() -> u64 {
    10
}
fn default_stall_secs() -> u64 {
    5
}
fn default_sim_width() -> u32 {
    960
}
fn default_sim_height() -> u32 {
    540
}
fn default_sim_fps() -> u32 {
    25
}
fn default_record_dir() -> PathBuf {
    PathBuf::from("recordings")
}
fn default_segment_secs() -> u64 {
    60
}
fn default_bind() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_api_port() -> u16 {
    8555
}
fn default_mjpeg_base_port() -> u16 {
    555
}
fn default_audio_base_port() -> u16 {
    50545
}
fn default_mjpeg_fps() -> u32 {
    15
}
fn default_mjpeg_quality() -> u8 {
    80
}

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file (or `<built-in demo>`).
    pub file: String,
    /// 1-based line and column, when the problem has a place.
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Several problems at once; `check-config` prints them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Config {
    /// The embedded demo (4 simulated cameras).
    pub fn demo() -> Self {
        Self::parse(DEMO_RON, "<built-in demo>").expect("the embedded demo config is valid")
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                line: 0,
                col: 0,
                message: format!("cannot read: {e}"),
            }])
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and validates RON text; `file` only names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigErrors> {
        let config: Config = ron::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.to_owned(),
                line: e.span.start.line,
                col: e.span.start.col,
                message: e.code.to_string(),
            }])
        })?;
        let errors = config.validate(text, file);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Checks serde cannot express, each located at the value it concerns.
    fn validate(&self, text: &str, file: &str) -> Vec<ConfigError> {
        self.problems()
            .into_iter()
            .map(|(path, message)| {
                let (line, col) = locate(text, &path).unwrap_or((0, 0));
                ConfigError {
                    file: file.to_owned(),
                    line,
                    col,
                    message,
                }
            })
            .collect()
    }

    /// Every problem serde cannot see, with the path of the value it concerns.
    pub fn problems(&self) -> Vec<(Vec<PathSeg>, String)> {
        use PathSeg::{Index, Key};
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, cam) in self.cameras.iter().enumerate() {
            for (field, message) in cam.problems() {
                out.push((vec![Key("cameras"), Index(i), Key(field)], message));
            }
            if seen.contains(&cam.name.as_str()) {
                out.push((
                    vec![Key("cameras"), Index(i), Key("name")],
                    format!("duplicate camera name {:?}: names must be unique", cam.name),
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
        for (field, v, what) in [
            ("grace_secs", self.grace_secs, "grace_secs"),
            ("stall_secs", self.stall_secs, "stall_secs"),
        ] {
            if v == 0 {
                out.push((vec![Key(field)], format!("{what} must be at least 1")));
            }
        }
        if self.recording.segment_secs == 0 {
            out.push((
                vec![Key("recording"), Key("segment_secs")],
                "recording.segment_secs must be at least 1".into(),
            ));
        }
        out
    }
}

impl CameraConfig {
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
        if let Some(onvif) = &self.onvif
            && let Err(why) = check_url(&onvif.url, &["http", "https"])
        {
            out.push((
                "onvif",
                format!("camera {quoted}: onvif.url is not a valid http URL: {why}"),
            ));
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

/// One step of the path to a value in the config: a field or a list position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg {
    Key(&'static str),
    Index(usize),
}

/// 1-based line and column of the value at `path` in `text`, as RON's parser sees it: the
/// text is deserialized again with a visitor that follows the path and stops with an error
/// at the value, and the error's span is the answer. A value the text does not contain
/// (a default) is located at the nearest enclosing one that it does.
fn locate(text: &str, path: &[PathSeg]) -> Option<(usize, usize)> {
    (0..=path.len()).rev().find_map(|len| {
        let mut de = ron::Deserializer::from_str(text).ok()?;
        let err = serde::de::DeserializeSeed::deserialize(locator::Locate(&path[..len]), &mut de)
            .err()?;
        let spanned = de.span_error(err);
        let (line, col) = (spanned.span.start.line, spanned.span.start.col);
        // RON's span of a string starts inside its opening quote: point at the quote.
        let quoted = text
            .lines()
            .nth(line.checked_sub(1)?)
            .and_then(|l| l.chars().nth(col.checked_sub(2)?))
            == Some('"');
        (spanned.code.to_string().contains(locator::FOUND))
            .then_some((line, if quoted { col - 1 } else { col }))
    })
}

/// The path-following visitor behind [`locate`].
mod locator {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess};

    use super::PathSeg;

    /// The error text that means "the value is here" (no config can contain a NUL).
    pub const FOUND: &str = "\u{0}found";

    pub struct Locate<'p>(pub &'p [PathSeg]);

    fn found<E: de::Error>() -> E {
        E::custom(FOUND)
    }

    impl<'de> DeserializeSeed<'de> for Locate<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> de::Visitor<'de> for Locate<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Some((first, rest)) = self.0.split_first() else {
                return Err(found());
            };
            while let Some(key) = map.next_key::<String>()? {
                match first {
                    PathSeg::Key(want) if *want == key => map.next_value_seed(Locate(rest))?,
                    _ => map.next_value::<IgnoredAny>().map(drop)?,
                }
            }
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let Some((first, rest)) = self.0.split_first() else {
                return Err(found());
            };
            let mut i = 0;
            loop {
                let more = match first {
                    PathSeg::Index(want) if *want == i => {
                        seq.next_element_seed(Locate(rest))?.is_some()
                    }
                    _ => seq.next_element::<IgnoredAny>()?.is_some(),
                };
                if !more {
                    return Ok(());
                }
                i += 1;
            }
        }

        // `Some(x)` is looked through: the value is `x`.
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Err(found())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Err(found())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Err(found())
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
            Err(found())
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
            Err(found())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Err(found())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Err(found())
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
            Err(found())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Err(found())
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Err(found())
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(found())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigErrors {
        Config::parse(text, "t.ron").expect_err("should be rejected")
    }

    #[test]
    fn demo_is_valid_and_simulated() {
        let c = Config::demo();
        assert_eq!(c.simulated.as_ref().map(|s| s.cameras), Some(4));
        assert_eq!(c.grace_secs, 10);
    }

    #[test]
    fn defaults_fill_everything() {
        let c = Config::parse("(cameras: [(name: \"a\", url: \"rtsp://h/x\")])", "t").unwrap();
        let cam = &c.cameras[0];
        assert_eq!(cam.transport, Transport::Tcp);
        assert!(cam.enabled && !cam.record);
        assert_eq!(c.servers.api_port, 8555);
        assert_eq!(c.servers.mjpeg_base_port, 555);
        assert_eq!(c.stall_secs, 5);
        assert_eq!(c.recording.format, RecordFormat::Mp4);
    }

    #[test]
    fn unknown_field_has_line_and_col() {
        let e = err("(\n  cameras: [],\n  grace_sec: 3,\n)");
        assert_eq!((e.0[0].line, e.0[0].col), (3, 3), "{e}");
        assert!(e.to_string().starts_with("t.ron:3:3:"), "{e}");
        assert!(e.to_string().contains("grace_sec"), "{e}");
    }

    #[test]
    fn wrong_type_has_line() {
        let e = err("(\n  grace_secs: \"ten\",\n)");
        assert_eq!(e.0[0].line, 2, "{e}");
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
    fn a_default_is_located_at_its_enclosing_value() {
        assert_eq!(
            locate(
                "(\n  servers: (),\n)",
                &[PathSeg::Key("servers"), PathSeg::Key("bind")]
            ),
            Some((2, 12))
        );
        assert_eq!(locate("()", &[PathSeg::Key("grace_secs")]), Some((1, 1)));
    }
}

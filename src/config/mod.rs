//! The wall's configuration: the RON schema with every default, and loading it with
//! `file:line:col` errors. The checks serde cannot do live in `check` (each names the path of
//! the value it objects to), and `locate` finds that value's position with RON's own parser.
//! No I/O beyond reading the file.

mod check;
mod controls;
mod events;
pub mod keys;
mod layouts;
mod locate;
mod nodes;
mod simulated;

pub use controls::{ControlsConfig, LocksConfig, SecretsBackend, SoundConfig};
pub use events::{EventsMode, MotionConfig, MqttConfig};
pub use layouts::{
    FOLLOW_CELL, FollowConfig, GridSpec, LayoutConfig, MonitorConfig, Span, TourConfig,
    WindowConfig, WindowModeConfig, builtin_layouts,
};
pub use locate::PathSeg;
pub use nodes::NodeConfig;
pub use simulated::{SimCodec, SimulatedConfig, sim_name};

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The demo configuration compiled into the binary; `config/wall.ron` is the same file.
pub const DEMO_RON: &str = include_str!("../../config/wall.ron");

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Real cameras, shown in this order after the simulated ones.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// This process's name as a node (`GET /api/node`); default the host's name.
    #[serde(default)]
    pub name: Option<String>,
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
    /// Where `S` on the wall saves the selected camera's picture (`DIR/CAMERA/…jpg`). Default
    /// `snapshots`.
    #[serde(default = "default_snapshot_dir")]
    pub snapshot_dir: PathBuf,
    /// The frame and badge of a tile with an event going on, `(r, g, b)`. Drawn over a dark
    /// edge so it reads on any picture. Default `(255, 40, 200)` (magenta: no sky, grass or
    /// night picture has it).
    #[serde(default = "default_event_colour")]
    pub event_colour: (u8, u8, u8),
    /// Other OpticLink processes whose cameras this one shows as its own (`NODE/CAMERA`).
    #[serde(default)]
    pub nodes: Vec<NodeConfig>,
    /// Publish events over MQTT (with Home Assistant discovery). Default `None`.
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// Local HTTP servers (status API, per-camera streams).
    #[serde(default)]
    pub servers: ServersConfig,
    /// Keyboard and gamepad bindings for PTZ and brightness.
    #[serde(default)]
    pub controls: ControlsConfig,
    /// Which camera the wall's speaker plays.
    #[serde(default)]
    pub sound: SoundConfig,
    /// Named arrangements of tiles (`F1`…`F12`, `PageUp`/`PageDown` switch). Default: one
    /// automatic grid of every camera, `All`.
    #[serde(default)]
    pub layouts: Vec<LayoutConfig>,
    /// One window per monitor. Default: one window with the first layout.
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
    /// View locks.
    #[serde(default)]
    pub locks: LocksConfig,
    /// Where `set-credentials` and `set-view-password` store: `File` (default) or `Os`.
    #[serde(default)]
    pub secrets: SecretsBackend,
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
    /// `true`: record continuously; `Events`: record continuously but keep only the segments
    /// that overlap an event with its pre- and post-roll; `false` (default): do not record.
    #[serde(default)]
    pub record: Record,
    /// `false` keeps the camera on the wall as `offline` without connecting. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// ONVIF device service, for PTZ and imaging.
    #[serde(default)]
    pub onvif: Option<OnvifConfig>,
    /// How to talk to the camera: `Auto` (default: ONVIF backchannel, then Hikvision
    /// ISAPI), `Onvif`, `Isapi`, `Off`.
    #[serde(default)]
    pub talk: TalkMode,
    /// Hikvision ISAPI base for talk (default `http://HOST` of `url`).
    #[serde(default)]
    pub isapi_url: Option<String>,
    /// Preferred MJPEG port (`None`: `servers.mjpeg_base_port` + index).
    #[serde(default)]
    pub mjpeg_port: Option<u16>,
    /// Preferred audio port (`None`: `servers.audio_base_port` + index).
    #[serde(default)]
    pub audio_port: Option<u16>,
    /// Keep this camera's recordings under this many bytes, oldest first. Default `None`.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Read the password from this environment variable (when `password` is not given).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Where motion events come from: `Auto` (default: the ONVIF event service when the
    /// camera has `onvif:`), `Onvif`, `Off`.
    #[serde(default)]
    pub events: EventsMode,
    /// How motion becomes events (hold-off, minimum length, cooldown).
    #[serde(default)]
    pub motion: MotionConfig,
    /// The view password's argon2id hash, from the local secrets file (never in the config).
    #[serde(skip)]
    pub view_lock: Option<String>,
    /// A node's camera (`nodes:`): its control goes through the node (never in the config).
    #[serde(skip)]
    pub via_node: Option<crate::node::control::NodeRoute>,
}

/// What a camera records. Written `true`, `false` or `Events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Record {
    #[default]
    Off,
    Continuous,
    /// The writer records continuously (so the pre-roll costs nothing); retention keeps only
    /// what overlaps events.
    Events,
}

impl Record {
    /// Whether the camera records at all.
    pub fn on(self) -> bool {
        self != Self::Off
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Off => s.serialize_bool(false),
            Self::Continuous => s.serialize_bool(true),
            Self::Events => s.serialize_unit_variant("Record", 2, "Events"),
        }
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Untagged, so RON's bare `Events` and JSON's `"Events"` both reach `Mode` (RON hands
        // serde's buffered content the identifier's name).
        #[derive(Deserialize)]
        enum Mode {
            Events,
        }
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "true, false or Events")]
        enum Repr {
            Bool(bool),
            Mode(Mode),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Bool(true) => Record::Continuous,
            Repr::Bool(false) => Record::Off,
            Repr::Mode(Mode::Events) => Record::Events,
        })
    }
}

/// RTP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

/// How OpticLink talks to a camera (two-way audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TalkMode {
    /// Whatever the camera has: its ONVIF backchannel, else Hikvision ISAPI; what worked is
    /// remembered.
    #[default]
    Auto,
    /// The ONVIF backchannel (Profile T, RTSP `Require: www.onvif.org/ver20/backchannel`).
    Onvif,
    /// Hikvision ISAPI two-way audio (`/ISAPI/System/TwoWayAudio/channels`).
    Isapi,
    /// Never.
    Off,
}

/// ONVIF endpoint of a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnvifConfig {
    /// `http://host/onvif/device_service`.
    pub url: String,
    /// ONVIF user; default: the camera's RTSP user.
    #[serde(default)]
    pub username: Option<String>,
    /// ONVIF password; default: the camera's RTSP password. Never logged, never served.
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds one ONVIF call may take. Default 5.
    #[serde(default = "default_onvif_timeout")]
    pub timeout_secs: f64,
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
    /// Segments that overlap an event are kept this many days instead (`None`: as the rest).
    #[serde(default)]
    pub events_retain_days: Option<u64>,
    /// Footage kept before an event starts (`record: Events`, export `--event`, playing an
    /// alarm). Default 5.
    #[serde(default = "default_pre_roll")]
    pub pre_roll_secs: u64,
    /// Footage kept after an event ends. Default 10.
    #[serde(default = "default_post_roll")]
    pub post_roll_secs: u64,
}

fn default_pre_roll() -> u64 {
    5
}
fn default_post_roll() -> u64 {
    10
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            dir: default_record_dir(),
            format: RecordFormat::default(),
            segment_secs: default_segment_secs(),
            retain_days: None,
            max_bytes: None,
            events_retain_days: None,
            pre_roll_secs: default_pre_roll(),
            post_roll_secs: default_post_roll(),
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
    /// The RTSP restream (`rtsp://HOST:PORT/<camera>/main` and `/sub`); falls back to the
    /// next ports, then an ephemeral one. Default 8554.
    #[serde(default = "default_rtsp_port")]
    pub rtsp_port: u16,
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
    /// Host names (besides IP addresses and `localhost`) the servers answer to, e.g.
    /// `["nvr.lan", "*.example.org"]`; a request naming another host gets 421 (DNS rebinding).
    /// Default none.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Origins (besides the servers' own) whose pages may change anything here, e.g.
    /// `["https://wall.example.org"]`; other origins get 403. Default none.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A request's head must arrive within this many seconds, and an idle connection is closed
    /// after them (1–30). Default 15.
    #[serde(default = "default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// Connections each server serves at once (16–65536); more are closed at accept.
    /// Default 4096.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

impl Default for ServersConfig {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            api_port: default_api_port(),
            rtsp_port: default_rtsp_port(),
            mjpeg_base_port: default_mjpeg_base_port(),
            audio_base_port: default_audio_base_port(),
            mjpeg_fps: default_mjpeg_fps(),
            mjpeg_quality: default_mjpeg_quality(),
            token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            header_timeout_secs: default_header_timeout_secs(),
            max_connections: default_max_connections(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_onvif_timeout() -> f64 {
    5.0
}
fn default_event_colour() -> (u8, u8, u8) {
    (255, 40, 200)
}

fn default_grace_secs() -> u64 {
    10
}
fn default_stall_secs() -> u64 {
    5
}
fn default_record_dir() -> PathBuf {
    PathBuf::from("recordings")
}
fn default_snapshot_dir() -> PathBuf {
    PathBuf::from("snapshots")
}
fn default_segment_secs() -> u64 {
    60
}
fn default_header_timeout_secs() -> u64 {
    15
}
fn default_max_connections() -> u32 {
    4096
}
fn default_bind() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_api_port() -> u16 {
    8555
}
fn default_rtsp_port() -> u16 {
    8554
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
    /// Every camera name the config defines: the simulated ones (`Sim 1` …) first.
    pub fn camera_names(&self) -> Vec<String> {
        let sims = self.simulated.as_ref().map_or(0, |s| s.cameras);
        (1..=sims)
            .map(sim_name)
            .chain(self.cameras.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// The layouts windows choose from: the config's, or the built-in `All`.
    pub fn layouts(&self) -> Vec<LayoutConfig> {
        if self.layouts.is_empty() {
            layouts::builtin_layouts()
        } else {
            self.layouts.clone()
        }
    }

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
                let (line, col) = locate::locate(text, &path).unwrap_or((0, 0));
                ConfigError {
                    file: file.to_owned(),
                    line,
                    col,
                    message,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigErrors {
        Config::parse(text, "t.ron").expect_err("should be rejected")
    }

    #[test]
    fn record_is_true_false_or_events_in_ron_and_json() {
        let cam = |v: &str| {
            Config::parse(
                &format!("(cameras: [(name: \"a\", url: \"rtsp://h/x\", record: {v})])"),
                "t",
            )
            .map(|c| c.cameras[0].record)
        };
        assert_eq!(cam("true").unwrap(), Record::Continuous);
        assert_eq!(cam("false").unwrap(), Record::Off);
        assert_eq!(cam("Events").unwrap(), Record::Events);
        assert!(cam("Sometimes").is_err());
        let json = |v: &str| {
            serde_json::from_str::<CameraConfig>(&format!(
                r#"{{"name":"a","url":"rtsp://h/x","record":{v}}}"#
            ))
            .map(|c| c.record)
        };
        assert_eq!(json("true").unwrap(), Record::Continuous);
        assert_eq!(json("\"Events\"").unwrap(), Record::Events);
        assert!(json("1").is_err());
        assert_eq!(
            serde_json::to_string(&Record::Events).unwrap(),
            "\"Events\""
        );
        assert_eq!(serde_json::to_string(&Record::Continuous).unwrap(), "true");
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
        assert!(cam.enabled && !cam.record.on());
        assert_eq!(c.servers.api_port, 8555);
        assert_eq!(c.servers.rtsp_port, 8554);
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
}

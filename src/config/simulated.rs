//! The config's `simulated:` section: built-in simulated cameras started in this process
//! (their size, rate, codec, port, sound, ONVIF, backchannel, sub stream and session limit),
//! and the names they go by (`Sim 1` …).

use serde::{Deserialize, Serialize};

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
    /// Each camera is also an ONVIF device (PTZ moves its view, brightness shifts its
    /// picture), on a free port of 127.0.0.1. Default false.
    #[serde(default)]
    pub onvif: bool,
    /// Cameras accept talk: an ONVIF backchannel track (PCMU/PCMA) on request. Default false.
    #[serde(default)]
    pub backchannel: bool,
    /// Where the simulated cameras write what they hear (`camN-K.wav`); none: only logged.
    #[serde(default)]
    pub talk_out: Option<std::path::PathBuf>,
    /// Each camera also has a sub stream of `(width, height)` (its `sub_url`). Default `None`.
    #[serde(default)]
    pub sub: Option<(u32, u32)>,
    /// At most this many sessions per camera, main and sub together, as cheap cameras allow;
    /// one more is refused. Default `None` (no limit).
    #[serde(default)]
    pub max_sessions: Option<u32>,
    /// Seconds: the moving box moves for 4 s this often (cameras staggered), and with
    /// `onvif` each camera's ONVIF event service reports it as motion. `None` (default): the
    /// box always moves and no motion is reported.
    #[serde(default)]
    pub motion_every: Option<u32>,
    /// These cameras (by number, 1-based) look for motion in their own pictures
    /// (`events: Local`) instead of hearing it from their ONVIF event service. Default none.
    #[serde(default)]
    pub picture_motion: Vec<u32>,
    /// `(camera name, view password hash)` from the local secrets file.
    #[serde(skip)]
    pub view_locks: Vec<(String, String)>,
}

/// The name of built-in simulated camera `i` (1-based).
pub fn sim_name(i: u32) -> String {
    format!("Sim {i}")
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

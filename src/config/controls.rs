//! The config's operator-side sections: `controls:` (keys and gamepad buttons that steer the
//! selected camera, with their documented defaults), `sound:` (which camera the wall's speaker
//! plays), `locks:` (view-lock settings) and `secrets:` (where `set-credentials` and
//! `set-view-password` keep what they store).

use serde::{Deserialize, Serialize};

/// Keys and gamepad buttons that steer the selected camera. Key names are Bevy's `KeyCode`
/// names (`ArrowLeft`, `KeyA`, `Equal`, `NumpadAdd`, `BracketLeft`, `Home` …); gamepad buttons
/// are `GamepadButton` names (`South`, `East`, `LeftTrigger`, `RightTrigger` …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlsConfig {
    pub pan_left: Vec<String>,
    pub pan_right: Vec<String>,
    pub tilt_up: Vec<String>,
    pub tilt_down: Vec<String>,
    pub zoom_in: Vec<String>,
    pub zoom_out: Vec<String>,
    pub brightness_down: Vec<String>,
    pub brightness_up: Vec<String>,
    pub home: Vec<String>,
    /// Pan/tilt/zoom speed of a held key, 0..1. Default 0.5.
    pub key_speed: f32,
    /// Brightness change per press, percent. Default 10.
    pub brightness_step: f32,
    /// Stick deflection ignored around the centre, 0..1. Default 0.15.
    pub dead_zone: f32,
    /// Mouse drag (logical pixels) that means full speed. Default 200.
    pub drag_full_speed: f32,
    /// Gamepad: previous and next tile.
    pub pad_previous: String,
    pub pad_next: String,
    /// Gamepad: recall preset 1.
    pub pad_preset: String,
    /// Talk to the selected camera while held. Default `KeyT`.
    pub talk: Vec<String>,
    /// Gamepad: talk while held. Default `North`.
    pub pad_talk: String,
    /// A press starts talk and the next press ends it (hands-free), instead of talking only
    /// while held. Default false.
    pub talk_toggle: bool,
}

impl Default for ControlsConfig {
    fn default() -> Self {
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect();
        Self {
            pan_left: keys(&["ArrowLeft", "KeyA"]),
            pan_right: keys(&["ArrowRight", "KeyD"]),
            tilt_up: keys(&["ArrowUp", "KeyW"]),
            tilt_down: keys(&["ArrowDown", "KeyS"]),
            zoom_in: keys(&["Equal", "NumpadAdd"]),
            zoom_out: keys(&["Minus", "NumpadSubtract"]),
            brightness_down: keys(&["BracketLeft"]),
            brightness_up: keys(&["BracketRight"]),
            home: keys(&["Home"]),
            key_speed: 0.5,
            brightness_step: 10.0,
            dead_zone: 0.15,
            drag_full_speed: 200.0,
            pad_previous: "LeftTrigger".into(),
            pad_next: "RightTrigger".into(),
            pad_preset: "South".into(),
            talk: keys(&["KeyT"]),
            pad_talk: "North".into(),
            talk_toggle: false,
        }
    }
}

/// The wall's speaker: one camera is heard at a time, the maximised one, else the selected one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoundConfig {
    /// The camera last maximised keeps the sound after the view returns to the grid, while the
    /// selection moves on (listen to the door while steering another camera); maximising
    /// another camera moves it. Default false: the sound follows the selection.
    pub keep_maximised: bool,
    /// Start with the sound muted (`M` unmutes). Default false.
    pub muted: bool,
}

/// View locks (`opticlink set-view-password`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocksConfig {
    /// An unlocked camera address stays unlocked on this machine this long. Default 12.
    #[serde(default = "default_remember_hours")]
    pub remember_hours: u64,
}

impl Default for LocksConfig {
    fn default() -> Self {
        Self {
            remember_hours: default_remember_hours(),
        }
    }
}

fn default_remember_hours() -> u64 {
    12
}

/// Where stored credentials and view-password hashes live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretsBackend {
    /// `NAME.secrets.ron` beside the config `NAME.ron`, mode 0600 (the default).
    #[default]
    File,
    /// The OS credential store: Windows Credential Manager, macOS Keychain, Secret Service.
    Os,
}

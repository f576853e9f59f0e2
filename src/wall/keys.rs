//! The bindings resolved from `controls:` (the key and button names are the config's,
//! `config::keys`).

use bevy::prelude::*;

use crate::config::ControlsConfig;

pub use crate::config::keys::{key, pad_button};

/// `controls:` resolved (names the config check let through).
#[derive(Resource, Debug, Clone)]
pub struct Bindings {
    pub pan_left: Vec<KeyCode>,
    pub pan_right: Vec<KeyCode>,
    pub tilt_up: Vec<KeyCode>,
    pub tilt_down: Vec<KeyCode>,
    pub zoom_in: Vec<KeyCode>,
    pub zoom_out: Vec<KeyCode>,
    pub brightness_down: Vec<KeyCode>,
    pub brightness_up: Vec<KeyCode>,
    pub home: Vec<KeyCode>,
    pub key_speed: f32,
    pub brightness_step: f32,
    pub dead_zone: f32,
    pub drag_full_speed: f32,
    pub pad_previous: GamepadButton,
    pub pad_next: GamepadButton,
    pub pad_preset: GamepadButton,
    pub talk: Vec<KeyCode>,
    pub pad_talk: GamepadButton,
    pub talk_toggle: bool,
}

impl Default for Bindings {
    fn default() -> Self {
        Self::from_config(&ControlsConfig::default())
    }
}

impl Bindings {
    pub fn from_config(c: &ControlsConfig) -> Self {
        let keys = |names: &[String]| names.iter().filter_map(|n| key(n)).collect();
        let pad = |name: &str, default| pad_button(name).unwrap_or(default);
        Self {
            pan_left: keys(&c.pan_left),
            pan_right: keys(&c.pan_right),
            tilt_up: keys(&c.tilt_up),
            tilt_down: keys(&c.tilt_down),
            zoom_in: keys(&c.zoom_in),
            zoom_out: keys(&c.zoom_out),
            brightness_down: keys(&c.brightness_down),
            brightness_up: keys(&c.brightness_up),
            home: keys(&c.home),
            key_speed: c.key_speed,
            brightness_step: c.brightness_step,
            dead_zone: c.dead_zone,
            drag_full_speed: c.drag_full_speed,
            pad_previous: pad(&c.pad_previous, GamepadButton::LeftTrigger),
            pad_next: pad(&c.pad_next, GamepadButton::RightTrigger),
            pad_preset: pad(&c.pad_preset, GamepadButton::South),
            talk: keys(&c.talk),
            pad_talk: pad(&c.pad_talk, GamepadButton::North),
            talk_toggle: c.talk_toggle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_defaults_are_valid() {
        assert_eq!(key("BracketLeft"), Some(KeyCode::BracketLeft));
        assert_eq!(key("bracketleft"), None);
        assert_eq!(
            pad_button("RightTrigger2"),
            Some(GamepadButton::RightTrigger2)
        );
        let d = ControlsConfig::default();
        for name in d.pan_left.iter().chain(&d.zoom_in).chain(&d.home) {
            assert!(key(name).is_some(), "{name}");
        }
        let b = Bindings::default();
        assert_eq!(b.pan_left, vec![KeyCode::ArrowLeft, KeyCode::KeyA]);
        assert_eq!(b.pad_preset, GamepadButton::South);
    }
}

//! The simulated camera's mechanics, pure: a viewport over a scene twice the picture's size
//! in each direction, moved by continuous pan/tilt/zoom velocities (with the ONVIF move
//! timeout), stopped, stored in and recalled from presets, sent home; and the brightness the
//! picture's luma is shifted by. Time comes in as an argument.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Where the camera looks: the view's centre in scene units (`0..1` both ways) and the zoom
/// (1 = widest: half the scene's width and height; at most [`MAX_ZOOM`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub x: f64,
    pub y: f64,
    pub zoom: f64,
}

pub const HOME: View = View {
    x: 0.5,
    y: 0.5,
    zoom: 1.0,
};
pub const MAX_ZOOM: f64 = 4.0;
/// Scene widths per second at pan speed 1 and zoom 1 (slower when zoomed in, as real PTZ
/// heads are).
pub const PAN_SPEED: f64 = 0.1;
/// Zoom doubles per second at zoom speed 1.
pub const ZOOM_SPEED: f64 = 1.0;

impl View {
    /// The view's size in scene units.
    pub fn size(&self) -> f64 {
        0.5 / self.zoom
    }

    /// Zoom and centre kept where the view stays inside the scene.
    fn clamped(self) -> Self {
        let zoom = self.zoom.clamp(1.0, MAX_ZOOM);
        let half = 0.25 / zoom;
        Self {
            x: self.x.clamp(half, 1.0 - half),
            y: self.y.clamp(half, 1.0 - half),
            zoom,
        }
    }
}

#[derive(Debug, Clone)]
struct State {
    view: View,
    /// Pan (+ right), tilt (+ up), zoom (+ in).
    velocity: (f64, f64, f64),
    /// When the current move times out.
    until: Option<Instant>,
    at: Instant,
    brightness: f32,
    presets: Vec<(String, String, View)>,
}

/// One camera's head. Shared by the encoder (which reads the view every frame) and the ONVIF
/// service (which moves it).
#[derive(Debug)]
pub struct Head {
    state: Mutex<State>,
    /// PTZ and imaging commands received (tests check where commands went).
    pub commands: AtomicU64,
}

impl Default for Head {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl Head {
    pub fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                view: HOME,
                velocity: (0.0, 0.0, 0.0),
                until: None,
                at: now,
                brightness: 50.0,
                presets: Vec::new(),
            }),
            commands: AtomicU64::new(0),
        }
    }

    fn lock(&self, now: Instant) -> std::sync::MutexGuard<'_, State> {
        let mut s = self.state.lock().expect("ptz lock");
        // Integrate the motion up to `now` (or to the move's timeout).
        let end = s.until.map_or(now, |u| u.min(now));
        if end > s.at {
            let dt = (end - s.at).as_secs_f64();
            let (p, t, z) = s.velocity;
            let speed = PAN_SPEED / s.view.zoom;
            s.view = View {
                x: s.view.x + p * speed * dt,
                y: s.view.y - t * speed * dt,
                zoom: s.view.zoom * (z * ZOOM_SPEED * dt).exp2(),
            }
            .clamped();
        }
        if s.until.is_some_and(|u| u <= now) {
            s.velocity = (0.0, 0.0, 0.0);
            s.until = None;
        }
        if now > s.at {
            s.at = now;
        }
        s
    }

    /// The view and brightness now.
    pub fn sample(&self, now: Instant) -> (View, f32) {
        let s = self.lock(now);
        (s.view, s.brightness)
    }

    /// Starts moving at these speeds (each clamped to `-1..=1`) for at most `timeout`.
    pub fn continuous_move(&self, now: Instant, pan: f64, tilt: f64, zoom: f64, timeout: Duration) {
        let mut s = self.lock(now);
        let c = |v: f64| {
            if v.is_finite() {
                v.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        };
        s.velocity = (c(pan), c(tilt), c(zoom));
        s.until = Some(now + timeout);
    }

    pub fn stop(&self, now: Instant) {
        let mut s = self.lock(now);
        s.velocity = (0.0, 0.0, 0.0);
        s.until = None;
    }

    pub fn moving(&self, now: Instant) -> bool {
        self.lock(now).velocity != (0.0, 0.0, 0.0)
    }

    pub fn home(&self, now: Instant) {
        let mut s = self.lock(now);
        s.velocity = (0.0, 0.0, 0.0);
        s.until = None;
        s.view = HOME;
    }

    /// Stores the view as preset `name` (replacing the preset `token` when given); its token.
    pub fn set_preset(&self, now: Instant, name: &str, token: Option<&str>) -> String {
        let mut s = self.lock(now);
        let view = s.view;
        if let Some(t) = token
            && let Some(p) = s.presets.iter_mut().find(|p| p.0 == t)
        {
            p.1 = name.to_string();
            p.2 = view;
            return t.to_string();
        }
        let token = format!("preset{}", s.presets.len() + 1);
        s.presets.push((token.clone(), name.to_string(), view));
        token
    }

    /// Goes to preset `token` at once (`false`: no such preset).
    pub fn goto_preset(&self, now: Instant, token: &str) -> bool {
        let mut s = self.lock(now);
        let Some(view) = s.presets.iter().find(|p| p.0 == token).map(|p| p.2) else {
            return false;
        };
        s.velocity = (0.0, 0.0, 0.0);
        s.until = None;
        s.view = view;
        true
    }

    /// `(token, name)` of every preset.
    pub fn presets(&self) -> Vec<(String, String)> {
        let s = self.state.lock().expect("ptz lock");
        s.presets
            .iter()
            .map(|p| (p.0.clone(), p.1.clone()))
            .collect()
    }

    pub fn brightness(&self) -> f32 {
        self.state.lock().expect("ptz lock").brightness
    }

    pub fn set_brightness(&self, value: f32) {
        self.state.lock().expect("ptz lock").brightness = value.clamp(0.0, 100.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_at_the_commanded_speed_until_stopped_or_timed_out() {
        let t0 = Instant::now();
        let head = Head::new(t0);
        let s = Duration::from_secs(1);
        head.continuous_move(t0, 1.0, 0.0, 0.0, Duration::from_secs(10));
        let (v, _) = head.sample(t0 + s);
        assert!((v.x - 0.6).abs() < 1e-9, "{v:?}");
        head.stop(t0 + s);
        assert_eq!(head.sample(t0 + 3 * s).0.x, v.x, "stopped");
        // Tilt up moves the view up (smaller y); the timeout stops it after 1 s.
        head.continuous_move(t0 + 3 * s, 0.0, 0.5, 0.0, s);
        let (v, _) = head.sample(t0 + 10 * s);
        assert!((v.y - 0.45).abs() < 1e-9, "{v:?}");
        assert!(!head.moving(t0 + 10 * s));
        // Zoom doubles per second; the view never leaves the scene.
        head.continuous_move(t0 + 10 * s, 0.0, 0.0, 1.0, Duration::from_secs(60));
        assert!((head.sample(t0 + 11 * s).0.zoom - 2.0).abs() < 1e-9);
        assert_eq!(head.sample(t0 + 20 * s).0.zoom, MAX_ZOOM);
        head.continuous_move(t0 + 20 * s, -1.0, 0.0, 0.0, Duration::from_secs(600));
        let v = head.sample(t0 + 500 * s).0;
        assert!((v.x - v.size() / 2.0).abs() < 1e-9, "{v:?}");
    }

    #[test]
    fn presets_and_home() {
        let t0 = Instant::now();
        let head = Head::new(t0);
        head.continuous_move(t0, 1.0, 1.0, 0.0, Duration::from_secs(60));
        let t1 = t0 + Duration::from_secs(1);
        let token = head.set_preset(t1, "1", None);
        let stored = head.sample(t1).0;
        head.home(t1);
        assert_eq!(head.sample(t1).0, HOME);
        assert!(head.goto_preset(t1, &token));
        assert_eq!(head.sample(t1).0, stored);
        assert!(!head.goto_preset(t1, "nope"));
        assert_eq!(head.set_preset(t1, "one", Some(&token)), token);
        assert_eq!(head.presets(), vec![(token, "one".to_string())]);
        head.set_brightness(120.0);
        assert_eq!(head.brightness(), 100.0);
    }
}

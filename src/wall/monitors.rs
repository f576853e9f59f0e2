//! Which monitor each window goes on: matching a window's `monitor:` against the monitors the
//! system reports (pure: by name first, then by position in the list, numbered left to right
//! then top to bottom; a missing monitor means the primary one, with a warning), and placing
//! each window there in its mode when monitors appear — and again when its monitor is
//! unplugged, so the window moves rather than being lost.

use bevy::prelude::*;
use bevy::window::{
    Monitor, MonitorSelection, PrimaryMonitor, VideoModeSelection, WindowMode, WindowPosition,
};

use crate::config::{MonitorConfig, WindowModeConfig};

/// What the system reports of one monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorInfo {
    pub name: Option<String>,
    pub primary: bool,
}

/// The monitor (an index into `monitors`) for `want`, and a warning when it is not the one
/// asked for. `None` only when there are no monitors at all.
pub fn pick(want: &MonitorConfig, monitors: &[MonitorInfo]) -> (Option<usize>, Option<String>) {
    let primary = monitors.iter().position(|m| m.primary).or_else(|| {
        // No monitor is marked primary: the first one is.
        (!monitors.is_empty()).then_some(0)
    });
    let by_name = |name: &str| {
        monitors
            .iter()
            .position(|m| m.name.as_deref() == Some(name))
    };
    let by_index = |i: usize| (i < monitors.len()).then_some(i);
    let names = || {
        let list: Vec<&str> = monitors
            .iter()
            .map(|m| m.name.as_deref().unwrap_or("?"))
            .collect();
        format!("{} monitor(s): {}", monitors.len(), list.join(", "))
    };
    let (found, asked) = match want {
        MonitorConfig::Primary => return (primary, None),
        MonitorConfig::Index(i) => (by_index(*i), format!("monitor {i}")),
        MonitorConfig::Name(n) => (by_name(n), format!("monitor {n:?}")),
        MonitorConfig::NameOrIndex(n, i) => (
            by_name(n).or_else(|| by_index(*i)),
            format!("monitor {n:?} (or {i})"),
        ),
    };
    match found {
        Some(i) => (Some(i), None),
        None => (
            primary,
            Some(format!(
                "{asked} not found among {}: using the primary one",
                names()
            )),
        ),
    }
}

/// The OS window for a `windows:` entry (`None`: the default window), on the primary
/// monitor until the monitors are known and [`place_windows`] moves it.
pub fn os_window(want: Option<&crate::config::WindowConfig>) -> Window {
    Window {
        title: want.map_or("OpticLink".into(), |w| format!("OpticLink — {}", w.name)),
        resolution: want.map_or((1600, 900), |w| w.size).into(),
        mode: want.map_or(WindowMode::Windowed, |w| {
            window_mode(w.mode, MonitorSelection::Primary)
        }),
        // Vsync: a frame never waits in a queue of frames, and never outruns the display.
        present_mode: bevy::window::PresentMode::AutoVsync,
        ..default()
    }
}

/// The window mode for `mode` on `monitor`.
pub fn window_mode(mode: WindowModeConfig, monitor: MonitorSelection) -> WindowMode {
    match mode {
        WindowModeConfig::Windowed => WindowMode::Windowed,
        WindowModeConfig::Borderless => WindowMode::BorderlessFullscreen(monitor),
        WindowModeConfig::Fullscreen => {
            WindowMode::Fullscreen(monitor, VideoModeSelection::Current)
        }
    }
}

/// Where each window was put: the monitor entity, so its unplugging can be noticed.
#[derive(Default)]
pub(super) struct Placed(std::collections::HashMap<Entity, Entity>);

/// Places each wall window on its configured monitor when the monitors change (winit
/// reports them after its first loop; they come and go with hot-plugging), and again when a
/// window's monitor is unplugged.
pub(super) fn place_windows(
    config: Option<Res<crate::camera::WallConfig>>,
    added: Query<(), Added<Monitor>>,
    new_windows: Query<(), Added<super::view::WindowIndex>>,
    mut removed: RemovedComponents<Monitor>,
    monitors: Query<(Entity, &Monitor, Has<PrimaryMonitor>)>,
    mut windows: Query<(Entity, &mut Window, &super::view::WindowIndex)>,
    mut placed: Local<Placed>,
) {
    let gone: Vec<Entity> = removed.read().collect();
    let unplugged: Vec<Entity> = placed
        .0
        .iter()
        .filter(|(_, m)| gone.contains(m))
        .map(|(w, _)| *w)
        .collect();
    let all = !added.is_empty() || !new_windows.is_empty();
    if !all && unplugged.is_empty() {
        return;
    }
    let Some(config) = config else { return };
    // Left to right, then top to bottom: how people number their monitors.
    let mut list: Vec<(Entity, &Monitor, bool)> = monitors.iter().collect();
    list.sort_by_key(|(_, m, _)| (m.physical_position.x, m.physical_position.y));
    let infos: Vec<MonitorInfo> = list
        .iter()
        .map(|(_, m, primary)| MonitorInfo {
            name: m.name.clone(),
            primary: *primary,
        })
        .collect();
    for (entity, mut window, index) in &mut windows {
        let was_unplugged = unplugged.contains(&entity);
        if !all && !was_unplugged {
            continue;
        }
        let Some(want) = config.0.windows.get(index.0) else {
            continue;
        };
        let (at, warning) = pick(&want.monitor, &infos);
        let Some((monitor_entity, monitor, _)) = at.and_then(|i| list.get(i)) else {
            continue;
        };
        if let Some(w) = warning {
            warn!("window {:?}: {w}", want.name);
        }
        if was_unplugged {
            warn!(
                "window {:?}: its monitor was unplugged; moved to {}",
                want.name,
                monitor.name.as_deref().unwrap_or("another monitor")
            );
        }
        let selection = MonitorSelection::Entity(*monitor_entity);
        window.mode = window_mode(want.mode, selection);
        if want.mode == WindowModeConfig::Windowed {
            window.position = WindowPosition::Centered(selection);
        }
        placed.0.insert(entity, *monitor_entity);
        info!(
            "window {:?} on monitor {} ({}×{})",
            want.name,
            monitor.name.as_deref().unwrap_or("?"),
            monitor.physical_width,
            monitor.physical_height
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitors() -> Vec<MonitorInfo> {
        [("DP-1", false), ("HDMI-A-1", true), ("DP-2", false)]
            .map(|(n, p)| MonitorInfo {
                name: Some(n.into()),
                primary: p,
            })
            .to_vec()
    }

    #[test]
    fn monitors_match_by_name_then_index_else_the_primary() {
        let m = monitors();
        let table = [
            (MonitorConfig::Primary, Some(1), false),
            (MonitorConfig::Index(2), Some(2), false),
            (MonitorConfig::Index(3), Some(1), true),
            (MonitorConfig::Name("DP-2".into()), Some(2), false),
            (MonitorConfig::Name("DP-9".into()), Some(1), true),
            (MonitorConfig::NameOrIndex("DP-1".into(), 2), Some(0), false),
            (MonitorConfig::NameOrIndex("gone".into(), 2), Some(2), false),
            (MonitorConfig::NameOrIndex("gone".into(), 7), Some(1), true),
        ];
        for (want, at, warned) in table {
            let (got, warning) = pick(&want, &m);
            assert_eq!(got, at, "{want:?}");
            assert_eq!(warning.is_some(), warned, "{want:?}: {warning:?}");
        }
        let (_, w) = pick(&MonitorConfig::Name("DP-9".into()), &m);
        assert_eq!(
            w.unwrap(),
            "monitor \"DP-9\" not found among 3 monitor(s): DP-1, HDMI-A-1, DP-2: using the primary one"
        );
        // Unplugged down to one unnamed monitor, none marked primary: that one.
        let one = [MonitorInfo {
            name: None,
            primary: false,
        }];
        assert_eq!(pick(&MonitorConfig::Index(1), &one).0, Some(0));
        assert_eq!(pick(&MonitorConfig::Primary, &[]), (None, None));
    }

    #[test]
    fn modes_take_the_monitor() {
        let at = MonitorSelection::Index(1);
        assert_eq!(
            window_mode(WindowModeConfig::Borderless, at),
            WindowMode::BorderlessFullscreen(at)
        );
        assert_eq!(
            window_mode(WindowModeConfig::Fullscreen, at),
            WindowMode::Fullscreen(at, VideoModeSelection::Current)
        );
        assert_eq!(
            window_mode(WindowModeConfig::Windowed, at),
            WindowMode::Windowed
        );
    }
}

//! The follow-activity cell: a layout's `"*"` cell shows the camera with the newest event
//! going on, keeps each camera at least `follow.hold_secs`, and shows `follow.fallback` once
//! all is quiet (after the hold). The choice is pure (`choose`); the system feeds it the
//! cameras' open events and the time.

use std::time::Duration;

use bevy::prelude::*;

use super::WallView;
use super::view::Layouts;
use crate::camera::IpCamera;
use crate::camera::motion::Motion;
use crate::config::{FOLLOW_CELL, FollowConfig};

/// What a follow cell shows and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct Following {
    pub camera: Option<String>,
    pub since: Duration,
    /// Shown because all is quiet (the fallback), not for an event: it yields at once.
    pub quiet: bool,
}

/// What the cell should show at `now`, given the camera with the newest event going on.
pub fn choose(
    now: Duration,
    current: Option<&Following>,
    newest: Option<&str>,
    rules: &FollowConfig,
) -> Following {
    let hold = Duration::from_secs_f64(rules.hold_secs.clamp(0.0, 3600.0));
    let quiet = newest.is_none();
    let want = newest.map(str::to_owned).or_else(|| rules.fallback.clone());
    match current {
        // The same camera: its hold starts anew when its own event takes over from quiet.
        Some(c) if c.camera == want => Following {
            since: if c.quiet && !quiet { now } else { c.since },
            quiet,
            camera: want,
        },
        // A camera keeps the cell for its hold (the quiet fallback yields at once).
        Some(c) if now < c.since + hold && !c.quiet => c.clone(),
        _ => Following {
            camera: want,
            since: now,
            quiet,
        },
    }
}

/// Each window whose layout has a follow cell: the camera it shows.
pub(super) fn follow_activity(
    time: Res<Time<Real>>,
    layouts: Res<Layouts>,
    mut views: Query<&mut WallView>,
    cameras: Query<(&IpCamera, &Motion)>,
) {
    let newest = cameras
        .iter()
        .filter_map(|(c, m)| Some((m.newest()?.id, c.name.as_str())))
        .max()
        .map(|(_, name)| name);
    let now = time.elapsed();
    for mut view in &mut views {
        let Some(layout) = layouts.0.get(view.layout) else {
            continue;
        };
        if !layout.cameras.iter().any(|c| c == FOLLOW_CELL) {
            if view.following.is_some() {
                view.following = None;
            }
            continue;
        }
        let next = choose(now, view.following.as_ref(), newest, &layout.follow);
        if view.following.as_ref() != Some(&next) {
            if view.following.as_ref().map(|f| &f.camera) != Some(&next.camera) {
                info!(window = %view.window, "follow cell: {}", next.camera.as_deref().unwrap_or("empty"));
            }
            view.following = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_newest_holds_and_falls_back_when_quiet() {
        let rules = FollowConfig {
            fallback: Some("Gate".into()),
            hold_secs: 10.0,
        };
        let s = Duration::from_secs;
        let f = choose(s(0), None, None, &rules);
        assert_eq!(f.camera.as_deref(), Some("Gate"));
        // Activity takes the quiet fallback's place at once.
        let f = choose(s(1), Some(&f), Some("Yard"), &rules);
        assert_eq!((f.camera.as_deref(), f.since), (Some("Yard"), s(1)));
        // A newer camera waits for the hold.
        let g = choose(s(5), Some(&f), Some("Door"), &rules);
        assert_eq!(g, f);
        let g = choose(s(11), Some(&f), Some("Door"), &rules);
        assert_eq!(g.camera.as_deref(), Some("Door"));
        // Quiet: back to the fallback after the hold.
        assert_eq!(choose(s(15), Some(&g), None, &rules), g);
        let quiet = choose(s(21), Some(&g), None, &rules);
        assert_eq!(quiet.camera.as_deref(), Some("Gate"));
        // The fallback camera's own event holds the cell like any other's.
        let own = choose(s(30), Some(&quiet), Some("Gate"), &rules);
        assert_eq!((own.camera.as_deref(), own.quiet), (Some("Gate"), false));
        assert_eq!(choose(s(31), Some(&own), Some("Yard"), &rules), own);
        assert_eq!(
            choose(s(41), Some(&own), Some("Yard"), &rules)
                .camera
                .as_deref(),
            Some("Yard")
        );
    }
}

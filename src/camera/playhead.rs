//! The playhead: where playback is and how it moves (speed, paused, reverse), read at any real
//! time of the app, and the moves the wall asks of it (seek, skip, frame steps, speeds). Pure:
//! the time is an argument; the wall clock only bounds it (no playing the future).

use std::time::Duration;

use bevy::prelude::*;

use super::replay::{ReplayAction, ReplayShown};
use crate::playback::player::{Motion, Want};

/// Playback speeds, slowest reverse to fastest forward; reverse shows keyframes only.
pub const SPEEDS: [f32; 12] = [
    -16.0, -8.0, -4.0, -2.0, -1.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0,
];
/// ×1 in [`SPEEDS`].
const NORMAL: usize = 7;
/// Playback starts this long before now (the "what just happened" look).
pub const START_BEFORE_MS: i64 = 30_000;
/// A frame step with no next picture known moves this far (a 25 fps camera's frame).
const FRAME_MS: i64 = 40;

/// The wall clock (ms since the Unix epoch).
pub(super) fn now_ms() -> i64 {
    crate::media::unix_ms()
}

/// Where playback is and how it moves; cameras following it carry a `Replay` naming it.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Playhead {
    /// The instant at `anchor` (real time of the app).
    anchor_ms: i64,
    anchor: Duration,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    pub paused: bool,
    /// One end of the clip to export (the playhead is the other).
    pub mark: Option<i64>,
    /// Changes whenever the instant or the motion does.
    seq: u64,
    last: Option<(i64, Motion)>,
}

impl Playhead {
    pub fn new(at_ms: i64, now: Duration) -> Self {
        Self {
            anchor_ms: at_ms,
            anchor: now,
            speed: NORMAL,
            paused: false,
            mark: None,
            seq: 0,
            last: None,
        }
    }

    /// The instant at real time `now`, never later than the wall clock.
    pub fn at(&self, now: Duration) -> i64 {
        let moved = if self.paused {
            0.0
        } else {
            now.saturating_sub(self.anchor).as_secs_f64() * 1000.0 * f64::from(SPEEDS[self.speed])
        };
        (self.anchor_ms + moved.round() as i64).min(now_ms())
    }

    pub fn motion(&self) -> Motion {
        if !self.paused && SPEEDS[self.speed] < 0.0 {
            Motion::Reverse
        } else {
            Motion::Forward
        }
    }

    /// Reads the playhead for this frame at real time `now`: a new want (seq) when its instant
    /// or its motion changed.
    pub(super) fn tick(&mut self, now: Duration) {
        let current = (self.at(now), self.motion());
        if self.last != Some(current) {
            self.last = Some(current);
            self.seq += 1;
        }
    }

    /// What this frame's [`Self::tick`] asks of the players that follow the playhead.
    pub(super) fn want(&self) -> Option<Want> {
        let (at_ms, motion) = self.last?;
        Some(Want {
            at_ms,
            motion,
            seq: self.seq,
        })
    }

    /// Moves the playhead to `at_ms` from `now` on.
    pub fn set(&mut self, at_ms: i64, now: Duration) {
        self.anchor_ms = at_ms.min(now_ms());
        self.anchor = now;
    }

    /// The speed as a label ("×¼", "×2", "◀ ×4").
    pub fn speed_label(&self) -> String {
        let s = SPEEDS[self.speed];
        let v = match s.abs() {
            0.25 => "¼".to_owned(),
            0.5 => "½".to_owned(),
            x => format!("{x:.0}"),
        };
        if s < 0.0 {
            format!("◀ ×{v}")
        } else {
            format!("×{v}")
        }
    }
}

/// Carries out a move of the playhead.
pub(super) fn move_head(
    head: &mut Playhead,
    action: &ReplayAction,
    shown: &ReplayShown,
    now: Duration,
) {
    let at = head.at(now);
    let picture = match shown {
        ReplayShown::Picture { at_ms, next_ms, .. } => Some((*at_ms, *next_ms)),
        _ => None,
    };
    match action {
        ReplayAction::Seek(t) => head.set(*t, now),
        ReplayAction::Skip(d) => head.set(at + d, now),
        ReplayAction::Frame(step) => {
            head.paused = true;
            let to = match (step.signum(), picture) {
                (1, Some((_, Some(next)))) => next,
                (1, _) => at + FRAME_MS,
                (_, Some((shown_at, _))) => shown_at - 1,
                _ => at - FRAME_MS,
            };
            head.set(to, now);
        }
        ReplayAction::Speed(step) => {
            let i = (head.speed as i64 + i64::from(*step)).clamp(0, SPEEDS.len() as i64 - 1);
            head.set(at, now);
            head.speed = i as usize;
            head.paused = false;
        }
        ReplayAction::Mark => head.mark = Some(at),
        ReplayAction::SetPaused(p) => {
            head.set(at, now);
            head.paused = *p;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_playhead_moves_with_real_time_at_its_speed_and_stops_at_now() {
        let mut h = Playhead::new(T, secs(10.0));
        assert_eq!(h.at(secs(11.0)), T + 1000);
        move_head(
            &mut h,
            &ReplayAction::Speed(2),
            &ReplayShown::Waiting,
            secs(11.0),
        );
        assert_eq!((h.speed_label(), h.at(secs(12.0))), ("×4".into(), T + 5000));
        // Down through ×¼ into reverse, by keyframes.
        for _ in 0..5 {
            move_head(
                &mut h,
                &ReplayAction::Speed(-1),
                &ReplayShown::Waiting,
                secs(12.0),
            );
        }
        assert_eq!(h.speed_label(), "◀ ×1");
        assert_eq!(h.motion(), Motion::Reverse);
        assert_eq!(h.at(secs(14.0)), T + 3000);
        move_head(
            &mut h,
            &ReplayAction::SetPaused(true),
            &ReplayShown::Waiting,
            secs(14.0),
        );
        assert_eq!((h.at(secs(99.0)), h.motion()), (T + 3000, Motion::Forward));
        // Never later than the wall clock.
        let mut late = Playhead::new(now_ms() - 1000, secs(0.0));
        late.speed = SPEEDS.len() - 1;
        assert!(late.at(secs(10.0)) <= now_ms());
    }

    #[test]
    fn frame_steps_go_to_the_pictures_shown_and_pause() {
        let mut h = Playhead::new(T, secs(0.0));
        let shown = ReplayShown::Picture {
            at_ms: T - 12,
            next_ms: Some(T + 28),
            capture_ms: None,
        };
        move_head(&mut h, &ReplayAction::Frame(1), &shown, secs(0.0));
        assert_eq!((h.at(secs(5.0)), h.paused), (T + 28, true));
        move_head(&mut h, &ReplayAction::Frame(-1), &shown, secs(5.0));
        assert_eq!(h.at(secs(5.0)), T - 13);
        // Nothing shown: a frame interval.
        move_head(
            &mut h,
            &ReplayAction::Frame(1),
            &ReplayShown::Waiting,
            secs(5.0),
        );
        assert_eq!(h.at(secs(5.0)), T - 13 + FRAME_MS);
        move_head(
            &mut h,
            &ReplayAction::Skip(-10_000),
            &ReplayShown::Waiting,
            secs(5.0),
        );
        assert_eq!(h.at(secs(5.0)), T - 13 + FRAME_MS - 10_000);
        move_head(
            &mut h,
            &ReplayAction::Seek(T),
            &ReplayShown::Waiting,
            secs(5.0),
        );
        assert_eq!(h.at(secs(6.0)), T);
    }
}

//! When the wall draws: on change, not as fast as it can. The window's event loop sleeps
//! (Bevy's reactive update mode, vsync present mode) until input, a window change, the
//! overlay tick (≈ 1 Hz, for the figures) or the bell wakes it. The bell rings for a picture
//! for a shown tile, a worker's event or an API command; the pacer thread here turns rings
//! into wake-ups no more often than the fastest shown camera sends pictures, so the pictures
//! of many cameras arriving at staggered times share frames. Also counts the frames drawn
//! (`/api/status` → `wall`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bevy::input::gamepad::Gamepad;
use bevy::prelude::*;
use bevy::winit::{EventLoopProxyWrapper, UpdateMode, WinitSettings, WinitUserEvent};
use bevy_egui::{EguiInput, EguiPreUpdateSet, egui};

use super::TileRect;
use crate::camera::Rates;
use crate::camera::{Replay, Streams, ViewLocked, WallBell};

/// The overlay tick: how often an unchanged wall draws (clocks, rates, grace countdowns).
pub const TICK: Duration = Duration::from_secs(1);
/// The tick while something moves without telling the window: a key or button held (steering
/// repeats), a gamepad in use (a button held, a stick or trigger off its rest), talk (its level
/// meter), a screenshot being read back.
pub const BUSY_TICK: Duration = Duration::from_millis(100);
/// Pictures wake the window at most this much faster than the fastest shown camera sends them
/// (its measured rate jitters), so 25 fps cameras draw at most ≈ 28 frames a second with the tick.
const RATE_MARGIN: f64 = 1.1;
/// The shortest gap between picture wake-ups (a 120 Hz display's frame); the present mode's
/// vsync holds frames to the display's own refresh as well.
const FASTEST: Duration = Duration::from_nanos(8_333_333);
/// The gap while no shown camera's rate is known yet, or a tile plays a recording.
const UNKNOWN_RATE: Duration = Duration::from_nanos(33_333_333);
/// The tick while a playhead plays: its instant moves with time, and only a frame asks the
/// players for the next picture (so their pictures cannot be what wakes the window).
pub const PLAYING_TICK: Duration = UNKNOWN_RATE;

/// What the pacer thread and the frames share: when the last frame began and the shortest gap
/// before the next picture wake-up (nanoseconds since `base`).
#[derive(Debug)]
pub struct Pace {
    base: Instant,
    last_frame: AtomicU64,
    gap: AtomicU64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last_frame: AtomicU64::new(0),
            gap: AtomicU64::new(UNKNOWN_RATE.as_nanos() as u64),
        }
    }
}

impl Pace {
    fn since_base(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// A frame begins at `at`.
    pub fn frame_began(&self, at: Instant) {
        self.last_frame
            .store(self.since_base(at), Ordering::Relaxed);
    }

    pub fn set_gap(&self, gap: Duration) {
        self.gap.store(gap.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn gap(&self) -> Duration {
        Duration::from_nanos(self.gap.load(Ordering::Relaxed))
    }

    /// When a picture that rang at `now` may wake the window: at once if the last frame began
    /// a gap ago, else when that gap is over.
    pub fn wake_at(&self, now: Instant) -> Instant {
        let last = self.last_frame.load(Ordering::Relaxed);
        let allowed = self.base + Duration::from_nanos(last) + self.gap();
        allowed.max(now)
    }
}

/// The gap between picture wake-ups for the fastest shown camera's rate (`None`: none known).
pub fn gap_for(fastest_fps: Option<f64>) -> Duration {
    match fastest_fps {
        Some(fps) if fps > 0.0 => Duration::try_from_secs_f64(1.0 / (fps * RATE_MARGIN))
            .map_or(TICK, |gap| gap.clamp(FASTEST, TICK)),
        _ => UNKNOWN_RATE,
    }
}

/// Listens to `bell` and calls `wake` (the event loop's wake-up) for its rings, paced by
/// `pace`; returns when the bell or the event loop is gone (`wake` returns false).
pub fn run_pacer(bell: crossbeam_channel::Receiver<()>, pace: Arc<Pace>, wake: impl Fn() -> bool) {
    while bell.recv().is_ok() {
        let now = Instant::now();
        let at = pace.wake_at(now);
        if at > now {
            std::thread::sleep(at - now);
        }
        // Rings heard while waiting are answered by the frame this wake-up starts.
        while bell.try_recv().is_ok() {}
        if !wake() {
            return;
        }
    }
}

/// Frames drawn since start, and the rate over the last published second.
#[derive(Resource, Debug, Default)]
pub struct FramesDrawn {
    pub count: u64,
    published: Option<(Duration, u64)>,
}

pub(super) fn plugin(app: &mut App) {
    let pace = Arc::new(Pace::default());
    let proxy = app
        .world()
        .get_resource::<EventLoopProxyWrapper>()
        .map(|p| (**p).clone());
    let bell = app.world().get_resource::<WallBell>().cloned();
    if let Some(bell) = &bell {
        app.insert_resource(watch_gamepads(bell.0.clone()));
    }
    if let (Some(proxy), Some(bell)) = (proxy, bell) {
        let (listener, thread_pace) = (bell.0.listener(), pace.clone());
        let started = std::thread::Builder::new()
            .name("wall pacer".into())
            .spawn(move || {
                run_pacer(listener, thread_pace, || {
                    proxy.send_event(WinitUserEvent::WakeUp).is_ok()
                })
            });
        if let Err(e) = started {
            error!("the wall's pacer cannot start ({e}): pictures show at the overlay tick");
        }
    }
    app.insert_resource(WinitSettings {
        focused_mode: UpdateMode::reactive_low_power(TICK),
        unfocused_mode: UpdateMode::reactive_low_power(TICK),
    })
    .insert_resource(PaceShared(pace))
    .init_resource::<FramesDrawn>()
    .add_systems(First, frame_began)
    .add_systems(
        PreUpdate,
        quiet_modifiers
            .after(EguiPreUpdateSet::ProcessInput)
            .before(EguiPreUpdateSet::BeginPass),
    )
    .add_systems(
        Update,
        (picture_gap, tick_rate, publish_frames).after(crate::WallSystems::Present),
    );
}

/// Keeps the gamepad watch running; the thread ends within a second of the app dropping it.
#[derive(Resource)]
pub struct GamepadWatch {
    _alive: Arc<()>,
}

/// Starts the `gamepad watch` thread: its own handle on the gamepads (Bevy polls its own only
/// in a frame) blocks until one is connected, pressed or moved, and rings `bell`, so a
/// sleeping wall draws — and Bevy reads the gamepad — as soon as one is used, instead of on a
/// fast tick for as long as one is plugged in.
fn watch_gamepads(bell: crate::stream::Bell) -> GamepadWatch {
    let alive = Arc::new(());
    let running = Arc::downgrade(&alive);
    let started = std::thread::Builder::new()
        .name("gamepad watch".into())
        .spawn(move || {
            let mut gilrs = match gilrs::Gilrs::new() {
                Ok(g) => g,
                Err(gilrs::Error::NotImplemented(g)) => g,
                Err(e) => {
                    debug!("no gamepad watch: {e}");
                    return;
                }
            };
            while running.strong_count() > 0 {
                if gilrs
                    .next_event_blocking(Some(Duration::from_secs(1)))
                    .is_some()
                {
                    bell.ring();
                }
            }
        });
    if let Err(e) = started {
        warn!("the gamepad watch cannot start ({e}): a gamepad wakes the wall at the tick");
    }
    GamepadWatch { _alive: alive }
}

/// Whether a gamepad is in use: a button held, or a stick or trigger beyond the dead zone.
fn in_use(pad: &Gamepad, dead_zone: f32) -> bool {
    let trigger = |b| pad.get(b).unwrap_or(0.0) > dead_zone;
    pad.get_pressed().next().is_some()
        || pad.left_stick().length() > dead_zone
        || pad.right_stick().length() > dead_zone
        || trigger(GamepadButton::LeftTrigger2)
        || trigger(GamepadButton::RightTrigger2)
}

/// The ECS's handle on the pacer's [`Pace`].
#[derive(Resource, Clone)]
pub struct PaceShared(pub Arc<Pace>);

fn frame_began(pace: Res<PaceShared>, mut drawn: ResMut<FramesDrawn>) {
    pace.0.frame_began(Instant::now());
    drawn.count += 1;
}

/// bevy_egui tells egui the modifier keys' state as an event every frame, and egui asks for
/// another frame after any event: the wall would never sleep. The event is kept only when the
/// state changed (or focus moved, after which egui forgets the modifiers).
fn quiet_modifiers(
    mut inputs: Query<(Entity, &mut EguiInput)>,
    mut last: Local<std::collections::HashMap<Entity, egui::Modifiers>>,
) {
    for (entity, mut input) in &mut inputs {
        let mut known = last.remove(&entity);
        input.0.events.retain(|e| match e {
            egui::Event::WindowFocused(_) => {
                known = None;
                true
            }
            egui::Event::ModifiersChanged(m) => known.replace(*m) != Some(*m),
            _ => true,
        });
        if let Some(m) = known {
            last.insert(entity, m);
        }
    }
}

/// What [`picture_gap`] reads of a camera: where it is shown and its streams.
type Shown = (
    &'static TileRect,
    &'static ViewLocked,
    Option<&'static Streams>,
    Has<Replay>,
);

/// The gap between picture wake-ups, from the fastest camera some window shows.
fn picture_gap(pace: Res<PaceShared>, cameras: Query<Shown>, rates: Query<&Rates>) {
    let mut fastest: Option<f64> = None;
    let mut replay_shown = false;
    for (rect, locked, streams, replay) in &cameras {
        if !rect.visible || locked.0 {
            continue;
        }
        replay_shown |= replay;
        let streams = streams.into_iter().flat_map(|s| s.iter());
        for fps in streams.filter_map(|e| rates.get(e).ok()).map(|r| r.fps) {
            if fps > 0.0 {
                fastest = Some(fastest.map_or(fps, |f: f64| f.max(fps)));
            }
        }
    }
    let gap = if replay_shown {
        gap_for(fastest).min(UNKNOWN_RATE)
    } else {
        gap_for(fastest)
    };
    if gap != pace.0.gap() {
        pace.0.set_gap(gap);
    }
}

/// The overlay tick: [`PLAYING_TICK`] while a playhead plays, [`BUSY_TICK`] while something
/// else changes without waking the window, else [`TICK`]. Written only when it changes (a
/// change makes the loop draw once at once).
#[allow(clippy::too_many_arguments)]
fn tick_rate(
    settings: Option<ResMut<WinitSettings>>,
    heads: Query<&crate::camera::Playhead>,
    keys: Res<ButtonInput<KeyCode>>,
    mouse: Res<ButtonInput<MouseButton>>,
    (gamepads, bindings): (Query<&Gamepad>, Option<Res<super::keys::Bindings>>),
    talker: Option<Res<super::talk::Talker>>,
    shot: Option<Res<super::ScreenshotPlan>>,
) {
    let Some(mut settings) = settings else { return };
    let busy = keys.get_pressed().next().is_some()
        || mouse.get_pressed().next().is_some()
        || gamepads
            .iter()
            .any(|g| in_use(g, bindings.as_ref().map_or(0.2, |b| b.dead_zone)))
        || talker.is_some_and(|t| t.live().is_some())
        || shot.is_some_and(|s| s.taken && s.pending > 0);
    let playing = heads.iter().any(|h| !h.paused);
    let wait = match (playing, busy) {
        (true, _) => PLAYING_TICK,
        (false, true) => BUSY_TICK,
        (false, false) => TICK,
    };
    let mode = UpdateMode::reactive_low_power(wait);
    if settings.focused_mode != mode {
        settings.focused_mode = mode;
        settings.unfocused_mode = mode;
    }
}

/// Frames drawn, into the status snapshot once a second.
fn publish_frames(
    time: Res<Time<Real>>,
    mut drawn: ResMut<FramesDrawn>,
    board: Option<Res<crate::camera::Board>>,
) {
    let now = time.elapsed();
    let count = drawn.count;
    let (since, before) = *drawn.published.get_or_insert((now, count));
    let span = now.saturating_sub(since);
    if span < Duration::from_secs(1) {
        return;
    }
    drawn.published = Some((now, count));
    let fps = (count - before) as f64 / span.as_secs_f64();
    if let Some(board) = board
        && let Ok(mut snapshot) = board.write()
    {
        snapshot.wall = Some(crate::serve::WallStatus {
            frames: count,
            fps: (fps * 10.0).round() / 10.0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gamepad merely plugged in is not in use (the wall keeps its 1 Hz tick); a held
    /// button, a stick or a trigger off its rest is.
    #[test]
    fn a_gamepad_is_in_use_only_while_it_is_held_off_its_rest() {
        let mut pad = Gamepad::default();
        assert!(!in_use(&pad, 0.2));
        pad.analog_mut().set(GamepadAxis::LeftStickX, 0.1);
        assert!(!in_use(&pad, 0.2), "inside the dead zone");
        pad.analog_mut().set(GamepadAxis::LeftStickX, 0.5);
        assert!(in_use(&pad, 0.2));
        pad.analog_mut().set(GamepadAxis::LeftStickX, 0.0);
        pad.analog_mut().set(GamepadButton::RightTrigger2, 0.6);
        assert!(in_use(&pad, 0.2));
        pad.analog_mut().set(GamepadButton::RightTrigger2, 0.0);
        pad.digital_mut().press(GamepadButton::South);
        assert!(in_use(&pad, 0.2));
        pad.digital_mut().release(GamepadButton::South);
        assert!(!in_use(&pad, 0.2));
    }

    #[test]
    fn gaps_follow_the_fastest_camera_within_bounds() {
        assert_eq!(gap_for(None), UNKNOWN_RATE);
        assert_eq!(gap_for(Some(0.0)), UNKNOWN_RATE);
        let g25 = gap_for(Some(25.0));
        assert!(
            g25 > Duration::from_millis(35) && g25 < Duration::from_millis(37),
            "{g25:?}"
        );
        assert_eq!(gap_for(Some(1000.0)), FASTEST);
        assert_eq!(gap_for(Some(0.1)), TICK);
    }

    #[test]
    fn a_ring_wakes_at_once_after_a_gap_and_waits_out_a_short_one() {
        let pace = Pace::default();
        pace.set_gap(Duration::from_millis(40));
        let t0 = pace.base + Duration::from_secs(10);
        pace.frame_began(t0);
        assert_eq!(
            pace.wake_at(t0 + Duration::from_millis(50)),
            t0 + Duration::from_millis(50)
        );
        assert_eq!(
            pace.wake_at(t0 + Duration::from_millis(10)),
            t0 + Duration::from_millis(40)
        );
    }

    /// The whole loop on a virtual clock: a 5 fps camera alone draws its 5 pictures a second
    /// and the overlay tick; staggered pictures of 16 cameras at 25 fps share frames (≤ 30 a
    /// second); a frozen wall draws at the tick.
    #[test]
    fn frames_follow_pictures_coalesce_and_drop_to_the_tick() {
        let one = simulate(&[5.0], 10);
        assert!((50..=60).contains(&one), "{one} frames in 10 s");
        let many = simulate(&[25.0; 16], 10);
        assert!((240..=300).contains(&many), "{many} frames in 10 s");
        assert_eq!(simulate(&[], 10), 10);
    }

    /// Frames a reactive loop draws in `secs` for cameras at `rates` (pictures staggered across
    /// the period) with the pacer between them, on a clock of 1 ms steps: the loop's tick
    /// comes every [`TICK`] whatever else woke it, as Bevy's reactive wait does.
    fn simulate(rates: &[f64], secs: u64) -> u64 {
        let pace = Pace::default();
        pace.set_gap(gap_for(rates.iter().copied().reduce(f64::max)));
        let at = |n: u64| pace.base + Duration::from_millis(n);
        pace.frame_began(at(0));
        // A ring not yet heard (the bell's memory of one), the pacer's pending wake-up.
        let (mut ring, mut wake) = (false, None::<u64>);
        let mut frames = 0;
        for t in 1..=secs * 1000 {
            for (i, fps) in rates.iter().enumerate() {
                let period = (1000.0 / fps) as u64;
                ring |= t % period == (i as u64 * 7) % period;
            }
            if ring && wake.is_none() {
                ring = false;
                let when = pace.wake_at(at(t));
                wake = Some(when.duration_since(pace.base).as_millis() as u64);
            }
            let tick = t % TICK.as_millis() as u64 == 0;
            if wake.is_some_and(|w| t >= w) {
                // Rings heard while waiting are answered by this frame.
                (ring, wake) = (false, None);
            } else if !tick {
                continue;
            }
            frames += 1;
            pace.frame_began(at(t));
        }
        frames
    }
}

//! Playback keys in the operator's window, for the selected camera: Space into playback (then
//! play/pause), Shift+Space every camera the window shows into playback in sync with it, Esc
//! back to live; while it plays recordings, ←/→ 10 s back/on (Shift: a minute), ↑/↓ faster and
//! slower (down through ×¼ into reverse), `,`/`.` one picture back/on, `[`/`]` the previous and
//! next event (less the pre-roll), I marks the instant and E exports the clip from the mark to
//! the playhead (`camera::clips`). None while typing into
//! a field. The requests go to `camera::replay`, which does the same for the timeline's clicks.

use bevy::prelude::*;

use super::WallView;
use super::input::InputWindows;
use crate::camera::{IpCamera, Replay, ReplayAction, ReplayRequest};

/// A skip with ←/→, and with Shift held.
const SKIP_MS: i64 = 10_000;
const SKIP_LONG_MS: i64 = 60_000;

/// The playback a key asks for, if any (`replaying`: whether the selected camera plays
/// recordings; `shown`: the cameras the window shows, asked for only by Shift+Space).
pub(super) fn key_action(
    keys: &ButtonInput<KeyCode>,
    replaying: bool,
    shown: impl FnOnce() -> Vec<Entity>,
) -> Option<ReplayAction> {
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if keys.just_pressed(KeyCode::Space) {
        return Some(if shift {
            ReplayAction::Join {
                cameras: shown(),
                at: None,
            }
        } else {
            ReplayAction::StartOrPause
        });
    }
    if !replaying {
        return None;
    }
    let skip = if shift { SKIP_LONG_MS } else { SKIP_MS };
    [
        (KeyCode::Escape, ReplayAction::Live),
        (KeyCode::ArrowLeft, ReplayAction::Skip(-skip)),
        (KeyCode::ArrowRight, ReplayAction::Skip(skip)),
        (KeyCode::ArrowUp, ReplayAction::Speed(1)),
        (KeyCode::ArrowDown, ReplayAction::Speed(-1)),
        (KeyCode::Comma, ReplayAction::Frame(-1)),
        (KeyCode::Period, ReplayAction::Frame(1)),
        (KeyCode::KeyI, ReplayAction::Mark),
        (KeyCode::KeyE, ReplayAction::Export),
        (KeyCode::BracketLeft, ReplayAction::Event(-1)),
        (KeyCode::BracketRight, ReplayAction::Event(1)),
    ]
    .into_iter()
    .find(|(k, _)| keys.just_pressed(*k))
    .map(|(_, a)| a)
}

/// Playback keys for the selected camera of the operator's window.
pub(super) fn keys(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<super::focus::EguiTyping>>,
    windows: InputWindows<&WallView>,
    cameras: Query<(Entity, &IpCamera, Has<Replay>)>,
    mut out: MessageWriter<ReplayRequest>,
) {
    if super::focus::EguiTyping::now(egui) {
        return;
    }
    let Some(at) = super::operator_window(windows.iter().map(|(e, w, _, _, p)| (e, w.focused, p)))
    else {
        return;
    };
    let Ok((_, _, view, shown, _)) = windows.get(at) else {
        return;
    };
    let index = view.maximised.unwrap_or(view.selected);
    let Some((camera, _, replaying)) = cameras.iter().find(|(_, c, _)| c.index == index) else {
        return;
    };
    let order = shown.order();
    let on_screen = || {
        cameras
            .iter()
            .filter(|(_, c, _)| order.contains(&c.index))
            .map(|(e, ..)| e)
            .collect()
    };
    if let Some(action) = key_action(&keys, replaying, on_screen) {
        out.write(ReplayRequest { camera, action });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pressed(keys: &[KeyCode]) -> ButtonInput<KeyCode> {
        let mut input = ButtonInput::default();
        for k in keys {
            input.press(*k);
        }
        input
    }

    #[test]
    fn keys_move_playback_only_while_the_selected_camera_plays_recordings() {
        let all = vec![Entity::from_raw_u32(7).unwrap()];
        let act =
            |keys: &[KeyCode], replaying| key_action(&pressed(keys), replaying, || all.clone());
        assert_eq!(
            act(&[KeyCode::Space], false),
            Some(ReplayAction::StartOrPause)
        );
        assert_eq!(
            act(&[KeyCode::ShiftLeft, KeyCode::Space], false),
            Some(ReplayAction::Join {
                cameras: all.clone(),
                at: None
            })
        );
        // Live: arrows, Esc and , . are the wall's (selection, PTZ, un-maximise).
        for k in [KeyCode::ArrowLeft, KeyCode::Escape, KeyCode::Period] {
            assert_eq!(act(&[k], false), None);
        }
        assert_eq!(
            act(&[KeyCode::ArrowLeft], true),
            Some(ReplayAction::Skip(-10_000))
        );
        assert_eq!(
            act(&[KeyCode::ShiftRight, KeyCode::ArrowRight], true),
            Some(ReplayAction::Skip(60_000))
        );
        assert_eq!(
            act(&[KeyCode::ArrowDown], true),
            Some(ReplayAction::Speed(-1))
        );
        assert_eq!(act(&[KeyCode::Comma], true), Some(ReplayAction::Frame(-1)));
        assert_eq!(act(&[KeyCode::Escape], true), Some(ReplayAction::Live));
    }
}

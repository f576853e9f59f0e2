//! Talk on the wall: hold the talk key (`T`), the gamepad's talk button or the overlay's talk
//! button to speak to the camera on screen (the maximised one, else the selected one; never a
//! locked one) through the microphone, opened only while talking; `talk_toggle` makes a press
//! start and the next end it. Talk stops on release, when the selection moves, when the
//! window loses focus and on exit (the session's TEARDOWN is waited for). The overlay shows
//! whether the camera can talk, the live microphone level while talking, and why talk ended.

use std::collections::HashMap;
use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;

use super::keys::Bindings;
use crate::camera::{IpCamera, Talkable, ViewLocked};
use crate::runtime::Runtime;
use crate::sound::mic::{Capture, Microphone};
use crate::talk::live::{Live, LiveState};
use crate::talk::{Floor, TalkError};

pub fn plugin(app: &mut App) {
    app.init_resource::<TalkButton>()
        .add_systems(
            Update,
            talk_input
                .after(super::input::select)
                .in_set(crate::WallSystems::Present),
        )
        .add_systems(Last, stop_on_exit.before(crate::camera::shutdown_on_exit));
}

/// The wall's talker: the microphone to open, the process's talk floor (shared with the API),
/// the talk in progress and, per camera, why the last talk ended or could not start.
#[derive(Resource)]
pub struct Talker {
    mic: Arc<dyn Microphone>,
    floor: Floor,
    live: Option<(Live, Capture)>,
    notices: HashMap<String, String>,
}

impl Talker {
    pub fn new(floor: Floor, mic: Arc<dyn Microphone>) -> Self {
        Self {
            mic,
            floor,
            live: None,
            notices: HashMap::new(),
        }
    }

    /// The camera being talked to from the wall, and how far it got.
    pub fn live(&self) -> Option<(&str, LiveState)> {
        self.live.as_ref().map(|(l, _)| (l.camera(), l.state()))
    }

    /// Why the last talk to `camera` ended or could not start.
    pub fn notice(&self, camera: &str) -> Option<&str> {
        self.notices.get(camera).map(String::as_str)
    }

    /// Capture → sent per frame of the talk in progress.
    pub fn delays(&self) -> Option<Vec<std::time::Duration>> {
        self.live.as_ref().map(|(l, _)| l.delays())
    }

    /// The live microphone level, dBFS, while talking.
    pub fn mic_level(&self) -> Option<f32> {
        self.live.as_ref().map(|(_, c)| c.level_dbfs())
    }

    fn start(&mut self, runtime: &Runtime, camera: &Talkable) {
        self.stop();
        self.notices.remove(&camera.0.name);
        let (capture, frames) = self.mic.open();
        let (live, task) = Live::start(runtime.handle(), &self.floor, camera.0.clone(), frames);
        runtime.track_agent(task);
        info!(camera = %camera.0.name, "talk: starting");
        self.live = Some((live, capture));
    }

    /// Ends the talk in progress; the microphone closes now, the session in the background.
    fn stop(&mut self) {
        if let Some((mut live, capture)) = self.live.take() {
            drop(capture);
            live.stop();
        }
    }

    /// Notes how the talk in progress ended, if it has.
    fn reap(&mut self) {
        let Some((live, _)) = &self.live else { return };
        if let LiveState::Ended(why) = live.state() {
            if let Some(e) = why {
                let text = match &e {
                    TalkError::CannotTalk { why, .. } => format!("cannot talk: {why}"),
                    other => format!("talk ended: {other}"),
                };
                self.notices.insert(live.camera().to_string(), text);
            }
            self.live = None;
        }
    }
}

/// The overlay's talk button, as last drawn: held down, and pressed (toggle mode).
#[derive(Resource, Default, Debug)]
pub struct TalkButton {
    pub held: bool,
    pub was_held: bool,
    pub clicked: bool,
}

#[allow(clippy::too_many_arguments)]
fn talk_input(
    keys: Res<ButtonInput<KeyCode>>,
    pads: Query<&Gamepad>,
    bindings: Res<Bindings>,
    egui: Option<Res<super::focus::EguiTyping>>,
    mut button: ResMut<TalkButton>,
    windows: super::ViewWindows,
    cameras: Query<(&IpCamera, &ViewLocked, Option<&Talkable>)>,
    runtime: Option<Res<Runtime>>,
    talker: Option<ResMut<Talker>>,
) {
    let (Some(mut talker), Some(runtime)) = (talker, runtime) else {
        return;
    };
    talker.reap();
    let typing = super::focus::EguiTyping::now(egui);
    let key_held = !typing && bindings.talk.iter().any(|k| keys.pressed(*k));
    let key_pressed = !typing && bindings.talk.iter().any(|k| keys.just_pressed(*k));
    let pad_held = pads.iter().any(|p| p.pressed(bindings.pad_talk));
    let pad_pressed = pads.iter().any(|p| p.just_pressed(bindings.pad_talk));
    let held = key_held || pad_held || button.held;
    let pressed = key_pressed
        || pad_pressed
        || (button.held && !button.was_held)
        || std::mem::take(&mut button.clicked);
    button.was_held = button.held;
    // Focus moving between the wall's windows is not a loss of focus; leaving the wall is.
    let focused = windows.is_empty() || windows.iter().any(|(_, w, ..)| w.focused);
    let Some(view) = super::operator_view(&windows) else {
        return;
    };
    let index = view.maximised.unwrap_or(view.selected);
    let target = cameras
        .iter()
        .find(|(c, _, _)| c.index == index)
        .map(|(c, locked, talk)| (c.name.as_str(), locked.0, talk));
    let talking_to = talker.live.as_ref().map(|(l, _)| l.camera().to_string());

    // Talk stops when the window loses focus or the camera on screen changes.
    if talking_to.is_some() && (!focused || target.map(|t| t.0) != talking_to.as_deref()) {
        info!(
            "talk: stopped ({})",
            if focused {
                "selection moved"
            } else {
                "focus lost"
            }
        );
        talker.stop();
        return;
    }
    let start = if bindings.talk_toggle {
        if pressed && talking_to.is_some() {
            talker.stop();
            return;
        }
        pressed
    } else {
        if talking_to.is_some() && !held {
            talker.stop();
            return;
        }
        pressed && talking_to.is_none()
    };
    if !start || !focused {
        return;
    }
    match target {
        None => {}
        Some((name, true, _)) => {
            talker
                .notices
                .insert(name.to_string(), "locked: unlock to talk".into());
        }
        Some((name, false, None)) => {
            talker
                .notices
                .insert(name.to_string(), "cannot talk (talk: Off)".into());
        }
        Some((_, false, Some(talkable))) => talker.start(&runtime, talkable),
    }
}

fn stop_on_exit(mut exits: MessageReader<AppExit>, talker: Option<ResMut<Talker>>) {
    if exits.read().next().is_none() {
        return;
    }
    if let Some(mut talker) = talker {
        talker.stop();
    }
}

/// The talk line of the camera on screen: a hold-to-talk button (or toggle), and while
/// talking the microphone's level; or why the camera cannot talk or the last talk ended.
pub(super) fn badge(
    ui: &mut egui::Ui,
    talker: &Talker,
    bindings: &Bindings,
    button: &mut TalkButton,
    camera: &str,
    talkable: bool,
) {
    ui.horizontal(|ui| {
        if !talkable {
            ui.label(
                egui::RichText::new("🎤 no talk (talk: Off)")
                    .size(13.0)
                    .color(egui::Color32::from_gray(150)),
            );
            return;
        }
        let live = talker.live().filter(|(c, _)| *c == camera).map(|(_, s)| s);
        let key = bindings
            .talk
            .first()
            .map(|k| format!("{k:?}").trim_start_matches("Key").to_string())
            .unwrap_or_default();
        let (text, fill) = match &live {
            Some(LiveState::Talking(_)) => ("🎙 talking", egui::Color32::from_rgb(200, 40, 40)),
            Some(_) => ("🎙 connecting…", egui::Color32::from_rgb(140, 90, 30)),
            None if bindings.talk_toggle => ("🎤 talk", egui::Color32::from_gray(60)),
            None => ("🎤 hold to talk", egui::Color32::from_gray(60)),
        };
        let response = ui
            .add(
                egui::Button::new(
                    egui::RichText::new(text)
                        .size(13.0)
                        .color(egui::Color32::WHITE),
                )
                .fill(fill)
                .sense(egui::Sense::click_and_drag()),
            )
            .on_hover_text(if bindings.talk_toggle {
                format!("press {key} (or click) to start talking, again to stop")
            } else {
                format!("hold {key} (or this button) to talk to this camera")
            });
        if bindings.talk_toggle {
            button.clicked |= response.clicked();
        } else {
            button.held |= response.is_pointer_button_down_on();
        }
        if let (Some(LiveState::Talking(codec)), Some(level)) = (&live, talker.mic_level()) {
            super::sound::meter(ui, level, egui::Color32::from_rgb(230, 80, 60));
            ui.label(
                egui::RichText::new(codec.as_str())
                    .size(12.0)
                    .color(egui::Color32::from_gray(190)),
            );
        } else if let Some(notice) = talker.notice(camera) {
            ui.label(
                egui::RichText::new(notice)
                    .size(13.0)
                    .color(egui::Color32::from_rgb(250, 170, 40)),
            );
        } else if let Some(mode) = talker.floor.learned(camera) {
            ui.label(
                egui::RichText::new(format!("{mode:?}"))
                    .size(12.0)
                    .color(egui::Color32::from_gray(170)),
            );
        }
    });
}

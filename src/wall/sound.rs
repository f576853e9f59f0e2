//! Sound on the wall: the audible camera follows the selection and the maximised tile (a
//! view-locked camera is never heard), `M` mutes and unmutes,
//! and the audible tile's overlay shows a speaker with a level meter and a volume slider, or
//! why there is no sound.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::camera::{IpCamera, Sound, ViewLocked};
use crate::sound::{Speaker, SpeakerStatus};

pub fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (mute_key, follow_selection)
            .chain()
            .after(super::input::select)
            .in_set(crate::WallSystems::Present),
    );
}

/// The camera that should be heard: the maximised one, else the selected one; with
/// `sound.keep_maximised`, the camera last maximised until another is; never a locked one.
fn follow_selection(
    windows: super::ViewWindows,
    sound: Option<Res<Sound>>,
    config: Option<Res<crate::camera::WallConfig>>,
    cameras: Query<(&IpCamera, &ViewLocked)>,
    mut kept: Local<Option<String>>,
) {
    let Some(sound) = sound else { return };
    let Some(view) = super::operator_view(&windows) else {
        return;
    };
    let keep = config.is_some_and(|c| c.0.sound.keep_maximised);
    let at = |index: usize| cameras.iter().find(|(c, _)| c.index == index);
    let chosen = match view.maximised.and_then(at) {
        Some(maximised) => {
            if keep {
                *kept = Some(maximised.0.name.clone());
            }
            Some(maximised)
        }
        None => kept
            .as_deref()
            .filter(|_| keep)
            .and_then(|name| cameras.iter().find(|(c, _)| c.name == name))
            .or_else(|| at(view.selected)),
    };
    let audible = chosen
        .filter(|(_, locked)| !locked.0)
        .map(|(c, _)| c.name.as_str());
    sound.0.set_audible(audible);
}

fn mute_key(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<super::focus::EguiTyping>>,
    sound: Option<Res<Sound>>,
) {
    let Some(sound) = sound else { return };
    if super::focus::EguiTyping::now(egui) {
        return;
    }
    if keys.just_pressed(KeyCode::KeyM) {
        let muted = !sound.0.muted();
        sound.0.set_muted(muted);
        info!("sound {}", if muted { "muted" } else { "on" });
    }
}

/// The audible tile's speaker line: icon, meter, volume; or why there is no sound.
pub(super) fn badge(ui: &mut egui::Ui, speaker: &Speaker, camera: &str) {
    if let SpeakerStatus::NoSound(why) = speaker.status() {
        // The device's own words can be long: wrapped within the tile.
        ui.add(
            egui::Label::new(
                egui::RichText::new(format!("no sound: {why}"))
                    .size(13.0)
                    .color(egui::Color32::from_rgb(250, 170, 40)),
            )
            .wrap(),
        );
        return;
    }
    ui.horizontal(|ui| {
        let muted = speaker.muted();
        let (icon, color) = if muted {
            ("🔇 muted (M)", egui::Color32::from_gray(170))
        } else {
            ("🔊", egui::Color32::from_rgb(120, 220, 240))
        };
        ui.label(egui::RichText::new(icon).size(14.0).color(color))
            .on_hover_text("this camera is heard; M mutes");
        meter(
            ui,
            speaker.level_dbfs(),
            egui::Color32::from_rgb(60, 200, 90),
        );
        let mut volume = speaker.volume(camera) * 100.0;
        let slider = egui::Slider::new(&mut volume, 0.0..=100.0)
            .show_value(false)
            .trailing_fill(true);
        if ui
            .add_sized([70.0, 12.0], slider)
            .on_hover_text("volume")
            .changed()
        {
            speaker.set_volume(camera, volume / 100.0);
        }
    });
}

/// A level meter: −60 … 0 dBFS over 60 px.
pub(super) fn meter(ui: &mut egui::Ui, dbfs: f32, color: egui::Color32) {
    let level = ((dbfs + 60.0) / 60.0).clamp(0.0, 1.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(60.0, 8.0), egui::Sense::hover());
    ui.painter()
        .rect_filled(rect, 2.0, egui::Color32::from_gray(50));
    let mut lit = rect;
    lit.set_width(rect.width() * level);
    ui.painter().rect_filled(lit, 2.0, color);
}

//! A locked tile's form: no picture, a lock, the camera's name and a password field. A right
//! password unlocks the camera's address for `locks.remember_hours`; a wrong one waits longer
//! each time (the wait is the `Locks`', shown here).

use bevy::prelude::*;
use bevy_egui::egui;

/// What a locked tile's password field holds, and the answer to the last attempt.
#[derive(Default)]
pub(super) struct LockFields(std::collections::HashMap<Entity, (String, Option<String>)>);

/// A locked tile: no picture, a lock, the password field. A right password unlocks the
/// camera's address for `locks.remember_hours`; a wrong one waits longer each time.
pub(super) fn lock_ui(
    ctx: &egui::Context,
    cell: egui::Rect,
    entity: Entity,
    name: &str,
    locks: &crate::locks::Locks,
    fields: &mut LockFields,
) {
    let (text, message) = fields.0.entry(entity).or_default();
    egui::Area::new(egui::Id::new(("lock", entity)))
        .pivot(egui::Align2::CENTER_CENTER)
        .fixed_pos(cell.center())
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            ui.vertical_centered(|ui| {
                ui.label(
                    egui::RichText::new("LOCKED")
                        .size(22.0)
                        .strong()
                        .color(egui::Color32::from_rgb(250, 200, 80)),
                );
                ui.label(
                    egui::RichText::new(name)
                        .size(15.0)
                        .color(egui::Color32::WHITE),
                );
                let field = ui.add(
                    egui::TextEdit::singleline(text)
                        .password(true)
                        .hint_text("view password")
                        .desired_width(180.0),
                );
                let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("Unlock").clicked() || enter) && !text.is_empty() {
                    let now = std::time::Instant::now();
                    let wait = locks.wait_before_attempt(name, now);
                    *message = if !wait.is_zero() {
                        Some(format!("wait {:.0} s", wait.as_secs_f64().ceil()))
                    } else {
                        match locks.unlock(name, text, true, now) {
                            Ok(_) => None,
                            Err(crate::locks::Refused::Wrong { retry_after }) => Some(format!(
                                "wrong password; next try in {:.0} s",
                                retry_after.as_secs_f64().ceil()
                            )),
                            Err(crate::locks::Refused::NotLocked) => None,
                        }
                    };
                    text.clear();
                }
                if let Some(m) = message {
                    ui.label(
                        egui::RichText::new(m.as_str())
                            .size(13.0)
                            .color(egui::Color32::from_rgb(255, 150, 60)),
                    );
                }
            });
        });
}

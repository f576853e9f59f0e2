//! A locked tile's form: no picture, a lock, the camera's name and a password field. A right
//! password unlocks the camera's address for `locks.remember_hours`; a wrong one waits longer
//! each time (the wait is the `Locks`', shown here). The password is checked on a thread of
//! its own (argon2 takes a good part of a second), never in the frame.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;

use crate::locks::{Client, Locks, Refused};

/// What a locked tile's password field holds, the answer to the last attempt, and the attempt
/// being checked.
#[derive(Default)]
pub(super) struct LockFields {
    fields: std::collections::HashMap<Entity, Field>,
    /// Rung when a check ends, so a sleeping window shows its answer at once.
    pub(super) bell: Option<crate::stream::Bell>,
}

type Checked = crossbeam_channel::Receiver<Result<Option<String>, Refused>>;

#[derive(Default)]
pub(super) struct Field {
    text: String,
    message: Option<String>,
    /// The answer to come, and when the check starts.
    checking: Option<(Checked, std::time::Instant)>,
}

impl Field {
    /// Starts checking `password` on a thread, after the wait the wall's last wrong attempts
    /// on this camera earned.
    fn submit(
        &mut self,
        locks: &Arc<Locks>,
        name: &str,
        password: String,
        bell: Option<crate::stream::Bell>,
    ) {
        let turn = match locks.reserve(name, Client::Wall, std::time::Instant::now()) {
            Ok(turn) => turn,
            Err(refused) => {
                self.message = message(refused);
                return;
            }
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (locks, name) = (locks.clone(), name.to_owned());
        let started = std::thread::Builder::new()
            .name("unlock".into())
            .spawn(move || {
                std::thread::sleep(turn.saturating_duration_since(std::time::Instant::now()));
                let _ = tx.send(locks.unlock(&name, Client::Wall, &password, turn));
                if let Some(bell) = bell {
                    bell.ring();
                }
            });
        self.checking = started.is_ok().then_some((rx, turn));
    }

    /// The answer of the attempt being checked, once there is one.
    fn poll(&mut self) {
        let Some(answer) = self
            .checking
            .as_ref()
            .and_then(|(rx, _)| rx.try_recv().ok())
        else {
            return;
        };
        self.checking = None;
        self.message = answer.err().and_then(message);
    }
}

/// What the form says of a refused attempt.
fn message(refused: Refused) -> Option<String> {
    match refused {
        Refused::Wrong { retry_after } | Refused::Busy { retry_after } => Some(format!(
            "wrong password; next try in {:.0} s",
            retry_after.as_secs_f64().ceil()
        )),
        Refused::NotLocked => None,
        Refused::Elsewhere(why) => Some(format!("cannot check it at the node: {why}")),
    }
}

/// A locked tile: no picture, a lock, the password field. A right password unlocks the
/// camera's address for `locks.remember_hours`; a wrong one waits longer each time.
pub(super) fn lock_ui(
    ctx: &egui::Context,
    cell: egui::Rect,
    entity: Entity,
    name: &str,
    locks: &Arc<Locks>,
    fields: &mut LockFields,
) {
    let bell = fields.bell.clone();
    let field = fields.fields.entry(entity).or_default();
    field.poll();
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
                let input = ui.add(
                    egui::TextEdit::singleline(&mut field.text)
                        .password(true)
                        .hint_text("view password")
                        .desired_width(180.0),
                );
                let enter = input.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                let idle = field.checking.is_none();
                if (ui.button("Unlock").clicked() || enter) && !field.text.is_empty() && idle {
                    let password = std::mem::take(&mut field.text);
                    field.submit(locks, name, password, bell);
                }
                let message = match &field.checking {
                    Some((_, turn)) => {
                        let wait = turn.saturating_duration_since(std::time::Instant::now());
                        Some(match wait.as_secs_f64() {
                            w if w >= 1.0 => format!("checking in {:.0} s…", w.ceil()),
                            _ => "checking…".to_owned(),
                        })
                    }
                    None => field.message.clone(),
                };
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

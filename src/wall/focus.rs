//! Who owns the keyboard: the wall (selection, steering, playback keys) unless a text field
//! of the overlays (a locked tile's password field) has egui's focus. egui gives focus to
//! buttons too — on a click, and on Tab, which the wall uses to move the selection — and its
//! "wants keyboard input" then holds every key back from the wall until a tile is clicked.
//! So Tab reaches egui only from a text field, focus that is not a text field is dropped after
//! each pass, and the wall's systems ask [`EguiTyping`] (set after that) rather than egui's
//! own flags.

use bevy::prelude::*;
use bevy_egui::{EguiContext, EguiInput, EguiPostUpdateSet, EguiPreUpdateSet, egui};

/// egui has the keyboard: a text field has focus or a popup is open. Keys are then the
/// field's, not the wall's.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EguiTyping(pub bool);

impl EguiTyping {
    /// For the wall's systems: whether keys are egui's (false where there is no egui).
    pub fn now(typing: Option<Res<EguiTyping>>) -> bool {
        typing.is_some_and(|t| t.0)
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<EguiTyping>()
        .add_systems(
            PreUpdate,
            tab_only_from_text
                .after(EguiPreUpdateSet::ProcessInput)
                .before(EguiPreUpdateSet::BeginPass),
        )
        .add_systems(
            PostUpdate,
            keys_to_the_wall.after(EguiPostUpdateSet::EndPass),
        );
}

fn is_tab(e: &egui::Event) -> bool {
    matches!(
        e,
        egui::Event::Key {
            key: egui::Key::Tab,
            ..
        }
    )
}

/// Tab moves egui's focus only out of a text field (to its button); otherwise it is the
/// wall's key alone.
fn tab_only_from_text(mut contexts: Query<(&mut EguiContext, &mut EguiInput)>) {
    for (mut ctx, mut input) in &mut contexts {
        if input.0.events.iter().any(is_tab) && !ctx.get_mut().text_edit_focused() {
            input.0.events.retain(|e| !is_tab(e));
        }
    }
}

/// After each pass: focus on anything but a text field is dropped, and [`EguiTyping`] says
/// whether egui still has the keyboard.
fn keys_to_the_wall(mut contexts: Query<&mut EguiContext>, mut typing: ResMut<EguiTyping>) {
    let mut keyboard = false;
    for mut ctx in &mut contexts {
        let ctx = ctx.get_mut();
        if !ctx.text_edit_focused()
            && let Some(id) = ctx.memory(|m| m.focused())
        {
            ctx.memory_mut(|m| m.surrender_focus(id));
        }
        keyboard |= ctx.text_edit_focused() || ctx.any_popup_open();
    }
    typing.set_if_neq(EguiTyping(keyboard));
}

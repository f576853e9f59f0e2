//! The alarm list (N toggles it per window): the recent events of the cameras the window
//! shows, newest first, each with its time, camera, what and from where, and how long it
//! lasted. Play puts the camera into playback from the event's start less the recording's
//! pre-roll;
//! acknowledging clears its tile's highlight. A locked camera's events are listed, never
//! played.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::WallView;
use crate::camera::motion::{Acknowledge, Alarm, AlarmFeed};
use crate::camera::{ReplayAction, ReplayRequest, ViewLocked};

/// Rows the list shows.
const ROWS: usize = 100;

/// What clicking "play" on `alarm` asks: its camera into playback at the event's start less
/// `pre_roll_ms` (the recording's pre-roll: `record: Events` keeps that much).
pub fn play(alarm: &Alarm, pre_roll_ms: i64) -> [ReplayRequest; 2] {
    let at = alarm.start.timestamp_millis() - pre_roll_ms;
    [
        ReplayRequest {
            camera: alarm.camera,
            action: ReplayAction::Join {
                cameras: Vec::new(),
                at: Some(at),
            },
        },
        // Already in playback: the join leaves the playhead where it is; this moves it.
        ReplayRequest {
            camera: alarm.camera,
            action: ReplayAction::Seek(at),
        },
    ]
}

/// The rows of a window's list: events of the cameras `shown`, newest first.
pub fn rows(feed: &AlarmFeed, shown: impl Fn(Entity) -> bool) -> Vec<&Alarm> {
    feed.entries
        .iter()
        .rev()
        .filter(|a| shown(a.camera))
        .take(ROWS)
        .collect()
}

/// What a row's buttons asked.
enum Clicked {
    Play,
    Ack,
}

fn row(ui: &mut egui::Ui, a: &Alarm, locked: bool, colour: egui::Color32) -> Option<Clicked> {
    let mut clicked = None;
    let when = a.start.with_timezone(&chrono::Local).format("%H:%M:%S");
    let length = match a.end {
        Some(end) => format!("{:.0} s", (end - a.start).as_seconds_f64()),
        None => "now".into(),
    };
    ui.horizontal(|ui| {
        let live = a.end.is_none() && !a.acked;
        let text = egui::RichText::new(format!(
            "{when}  {}  {} · {}  {length}",
            a.name,
            a.kind.as_str(),
            a.source.label()
        ))
        .size(13.0);
        ui.label(if live {
            text.color(colour).strong()
        } else if a.acked {
            text.color(egui::Color32::from_gray(140))
        } else {
            text.color(egui::Color32::from_gray(220))
        });
        if !locked
            && ui
                .small_button("play")
                .on_hover_text("play from just before it")
                .clicked()
        {
            clicked = Some(Clicked::Play);
        }
        if !a.acked
            && ui
                .small_button("ack")
                .on_hover_text("acknowledge: clear the highlight")
                .clicked()
        {
            clicked = Some(Clicked::Ack);
        }
    });
    clicked
}

/// Draws the open alarm list of the window this egui pass is for.
pub(super) fn alarms_ui(
    mut contexts: EguiContexts,
    pass: Res<super::OverlayPass>,
    windows: Query<(
        Entity,
        &WallView,
        &super::view::Shown,
        &super::view::WindowIndex,
    )>,
    wall_cameras: Query<(Entity, &super::WallCamera)>,
    (feed, colour, config): (
        Res<AlarmFeed>,
        Res<super::EventColour>,
        Option<Res<crate::camera::WallConfig>>,
    ),
    locked: Query<&ViewLocked>,
    (mut replay, mut acks): (MessageWriter<ReplayRequest>, MessageWriter<Acknowledge>),
) -> Result {
    let Some((window, view, shown, _)) = windows.iter().find(|w| w.3.0 == pass.0) else {
        return Ok(());
    };
    if !view.alarms {
        return Ok(());
    }
    let Some((camera, _)) = wall_cameras.iter().find(|(_, c)| c.0 == window) else {
        return Ok(());
    };
    let ctx = contexts.ctx_for_entity_mut(camera)?;
    let list = rows(&feed, |e| shown.tile(e).is_some());
    let pre_roll_ms = config
        .as_deref()
        .map_or(5_000, |c| c.recording.pre_roll_secs.min(3600) as i64 * 1000);
    egui::Window::new("Alarms")
        .id(egui::Id::new(("alarms", pass.0)))
        .anchor(egui::Align2::RIGHT_TOP, egui::vec2(-8.0, 8.0))
        .default_width(380.0)
        .collapsible(false)
        .resizable(false)
        .frame(egui::Frame::window(&ctx.global_style()).fill(egui::Color32::from_black_alpha(215)))
        .show(ctx, |ui| {
            if list.is_empty() {
                ui.label("no events yet (N closes)");
            }
            egui::ScrollArea::vertical()
                .max_height(600.0)
                .show(ui, |ui| {
                    for a in &list {
                        let is_locked = locked.get(a.camera).is_ok_and(|l| l.0);
                        match row(ui, a, is_locked, colour.0) {
                            Some(Clicked::Play) => {
                                info!(camera = %a.name, "playing event {} from its pre-roll", a.id);
                                replay.write_batch(play(a, pre_roll_ms));
                            }
                            Some(Clicked::Ack) => {
                                acks.write(Acknowledge { id: a.id });
                            }
                            None => {}
                        }
                    }
                });
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Kind, Source};

    fn alarm(id: u64, camera: Entity) -> Alarm {
        Alarm {
            id,
            camera,
            name: "Gate".into(),
            source: Source::Onvif,
            kind: Kind::Motion,
            start: chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + id as i64).unwrap(),
            end: None,
            acked: false,
        }
    }

    #[test]
    fn rows_are_newest_first_and_only_of_shown_cameras_and_play_starts_before() {
        let (shown, hidden) = (
            Entity::from_raw_u32(1).unwrap(),
            Entity::from_raw_u32(2).unwrap(),
        );
        let mut feed = AlarmFeed::default();
        feed.entries
            .extend([alarm(1, shown), alarm(2, hidden), alarm(3, shown)]);
        let ids: Vec<u64> = rows(&feed, |e| e == shown).iter().map(|a| a.id).collect();
        assert_eq!(ids, [3, 1]);
        let [join, seek] = play(&feed.entries[0], 5_000);
        let at = 1_800_000_000_001 - 5_000;
        assert!(matches!(join.action, ReplayAction::Join { at: Some(t), .. } if t == at));
        assert!(matches!(seek.action, ReplayAction::Seek(t) if t == at));
    }
}

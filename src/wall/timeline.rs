//! The playback strip of a tile in playback, drawn with egui in each window's pass: camera,
//! the playhead's date and time, speed, buttons (10 s back, play/pause, 10 s on, slower,
//! faster, mark, export clip, sync all, live) and what came of the last clip, the day's timeline (recorded spans, gaps, unreadable files in red,
//! hours, events along the top in the event colour) and a ten-minute close-up around the
//! playhead; a click or drag on either seeks.
//! Over the picture: "NO RECORDING" (and why) where nothing was recorded at the playhead.

use std::collections::HashMap;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use chrono::TimeZone;

use super::WallView;
use crate::camera::clips::ClipState;
use crate::camera::motion::AlarmFeed;
use crate::camera::replay::ReplayShown;
use crate::camera::{AwaitLive, IpCamera, Playhead, Replay, ReplayAction, ReplayRequest};

/// The close-up's width (ms).
const CLOSE_UP_MS: i64 = 10 * 60 * 1000;

/// A local time as the strip shows it.
pub fn local_time(ms: i64, format: &str) -> String {
    chrono::Local
        .timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |t| t.format(format).to_string())
}

/// The local day around `ms`: its midnight and the next (23 or 25 h apart on DST days).
pub fn local_day(ms: i64) -> (i64, i64) {
    let midnight = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| chrono::Local.from_local_datetime(&t).earliest())
            .map(|t| t.timestamp_millis())
    };
    let day = chrono::Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive());
    match day.and_then(|d| Some((midnight(d)?, midnight(d.succ_opt()?)?))) {
        Some(r) => r,
        None => {
            let start = ms - ms.rem_euclid(86_400_000);
            (start, start + 86_400_000)
        }
    }
}

/// Spans, gaps and events of one camera over a day (and an hour either side, for the
/// close-up), kept until its index, the day or the wall's events change.
#[derive(Default)]
pub(super) struct Cached {
    key: (u64, i64, (usize, u64, usize)),
    spans: Vec<(i64, i64)>,
    gaps: Vec<(i64, i64, Option<String>)>,
    /// Event starts and ends (`i64::MAX` while one lasts).
    events: Vec<(i64, i64)>,
}

/// Where a camera's events come from: the store beside the recordings and the wall's feed.
type EventSources<'a> = (Option<&'a std::path::Path>, Option<&'a AlarmFeed>);

/// A summary of the feed that changes when an event starts or ends.
fn feed_key(feed: Option<&AlarmFeed>) -> (usize, u64, usize) {
    feed.map_or((0, 0, 0), |f| {
        (
            f.entries.len(),
            f.entries.back().map_or(0, |a| a.id),
            f.entries.iter().filter(|a| a.end.is_some()).count(),
        )
    })
}

fn cached<'a>(
    cache: &'a mut HashMap<Entity, Cached>,
    (camera, name): (Entity, &str),
    replay: &Replay,
    day: (i64, i64),
    (store, feed): EventSources,
) -> &'a Cached {
    let (version, index) = replay.index();
    let c = cache.entry(camera).or_default();
    let key = (version, day.0, feed_key(feed));
    if c.key != key {
        let (from, to) = (day.0 - 3_600_000, day.1 + 3_600_000);
        c.key = key;
        c.events = crate::camera::motion::camera_events(store, feed, name, (day.0 + day.1) / 2);
        c.spans = index
            .spans(from, to)
            .into_iter()
            .map(|s| (s.start_ms, s.end_ms))
            .collect();
        c.gaps = index
            .gaps(from, to)
            .into_iter()
            .filter(|g| g.reason.is_some())
            .map(|g| (g.start_ms, g.end_ms, g.reason))
            .collect();
    }
    c
}

/// One timeline bar over `[from, to]`; the instant clicked or dragged to, and whether a drag
/// goes on.
fn bar(
    ui: &mut egui::Ui,
    (from, to): (i64, i64),
    (data, colour): (&Cached, egui::Color32),
    (at, mark): (i64, Option<i64>),
    ticks: &[(i64, String)],
) -> (Option<i64>, bool) {
    let size = egui::vec2(ui.available_width(), 16.0);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click_and_drag());
    let response = response.on_hover_text("click or drag to play from there");
    let span = (to - from).max(1) as f32;
    let x = |t: i64| rect.left() + ((t - from) as f32 / span).clamp(0.0, 1.0) * rect.width();
    let p = ui.painter_at(rect.expand(1.0));
    p.rect_filled(rect, 2.0, egui::Color32::from_gray(45));
    for &(s, e) in &data.spans {
        if e > from && s < to {
            let r = egui::Rect::from_x_y_ranges(x(s)..=x(e).max(x(s) + 1.0), rect.y_range());
            p.rect_filled(r, 0.0, egui::Color32::from_rgb(60, 150, 90));
        }
    }
    for (s, e, _) in &data.gaps {
        if *e > from && *s < to {
            let r = egui::Rect::from_x_y_ranges(x(*s)..=x(*e).max(x(*s) + 2.0), rect.y_range());
            p.rect_filled(r, 0.0, egui::Color32::from_rgb(190, 60, 50));
        }
    }
    // Events: a band along the top in the event colour, from start to end (or now).
    for &(s, e) in &data.events {
        if e > from && s < to {
            let top = rect.top()..=rect.top() + 5.0;
            let r = egui::Rect::from_x_y_ranges(x(s)..=x(e.min(to)).max(x(s) + 3.0), top);
            p.rect_filled(r, 0.0, colour);
        }
    }
    for (t, label) in ticks {
        let tx = x(*t);
        p.line_segment(
            [
                egui::pos2(tx, rect.bottom() - 5.0),
                egui::pos2(tx, rect.bottom()),
            ],
            egui::Stroke::new(1.0, egui::Color32::from_gray(200)),
        );
        p.text(
            egui::pos2(tx + 2.0, rect.top()),
            egui::Align2::LEFT_TOP,
            label,
            egui::FontId::proportional(10.0),
            egui::Color32::from_gray(220),
        );
    }
    // The clip to export: from the mark to the playhead.
    if let Some(m) = mark {
        let r = egui::Rect::from_x_y_ranges(x(m.min(at))..=x(m.max(at)), rect.y_range());
        p.rect_filled(
            r,
            0.0,
            egui::Color32::from_rgba_unmultiplied(90, 150, 255, 90),
        );
        p.line_segment(
            [
                egui::pos2(x(m), rect.top() - 1.0),
                egui::pos2(x(m), rect.bottom() + 1.0),
            ],
            egui::Stroke::new(2.0, egui::Color32::from_rgb(90, 150, 255)),
        );
    }
    let ax = x(at);
    p.line_segment(
        [
            egui::pos2(ax, rect.top() - 1.0),
            egui::pos2(ax, rect.bottom() + 1.0),
        ],
        egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 210, 60)),
    );
    let dragging = response.dragged();
    if (response.clicked() || dragging)
        && let Some(pos) = response.interact_pointer_pos()
    {
        let f = ((pos.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
        return (
            Some(from + (f64::from(f) * (to - from) as f64) as i64),
            dragging,
        );
    }
    (None, dragging)
}

/// Hour marks of a day bar (every 3 h; every 6 h on narrow tiles).
fn hour_ticks((from, to): (i64, i64), width: f32) -> Vec<(i64, String)> {
    let every = if width < 360.0 { 6 } else { 3 };
    (0..=24)
        .step_by(every)
        .filter_map(|h| {
            let t = from + h * 3_600_000;
            (t < to).then(|| (t, format!("{h:02}")))
        })
        .collect()
}

/// Minute marks of the close-up (every 2 min).
fn minute_ticks((from, to): (i64, i64)) -> Vec<(i64, String)> {
    let step = 120_000;
    let first = from + (step - from.rem_euclid(step)) % step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t < to)
        .map(|t| (t, local_time(t, "%H:%M")))
        .collect()
}

/// Each camera's spans and gaps.
type Spans = HashMap<Entity, Cached>;
/// The close-up's range while it is dragged, per camera.
type Frozen = HashMap<Entity, (i64, i64)>;

type StripCamera = (
    Entity,
    &'static IpCamera,
    Option<&'static Replay>,
    Has<AwaitLive>,
);

/// The strips of this pass's window.
#[allow(clippy::too_many_arguments)]
pub(super) fn timeline_ui(
    mut contexts: EguiContexts,
    pass: Res<super::OverlayPass>,
    windows: Query<(&super::view::Shown, &super::view::WindowIndex), With<WallView>>,
    wall_cameras: Query<(Entity, &super::WallCamera)>,
    window_entities: Query<(Entity, &super::view::WindowIndex)>,
    time: Res<Time<Real>>,
    cameras: Query<StripCamera>,
    (heads, clips): (Query<&Playhead>, Res<crate::camera::clips::Clips>),
    (config, feed, colour): (
        Option<Res<crate::camera::WallConfig>>,
        Option<Res<AlarmFeed>>,
        Res<super::EventColour>,
    ),
    (mut cache, mut frozen): (Local<Spans>, Local<Frozen>),
    mut out: MessageWriter<ReplayRequest>,
) -> Result {
    let Some((shown, _)) = windows.iter().find(|w| w.1.0 == pass.0) else {
        return Ok(());
    };
    let Some(window) = window_entities
        .iter()
        .find(|w| w.1.0 == pass.0)
        .map(|w| w.0)
    else {
        return Ok(());
    };
    let Some((egui_camera, _)) = wall_cameras.iter().find(|(_, c)| c.0 == window) else {
        return Ok(());
    };
    let ctx = contexts.ctx_for_entity_mut(egui_camera)?;
    cache.retain(|e, _| cameras.get(*e).is_ok_and(|c| c.2.is_some()));
    let now = time.elapsed();
    let order = shown.order();
    for (entity, cam, replay, await_live) in &cameras {
        let Some(rect) = shown.tile(entity).filter(|r| r.visible) else {
            continue;
        };
        let cell = egui::Rect::from_min_size(
            egui::pos2(rect.cell.x, rect.cell.y),
            egui::vec2(rect.cell.w, rect.cell.h),
        );
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Background,
            egui::Id::new(("strip-bg", pass.0, cam.index)),
        ));
        if await_live && replay.is_none() {
            painter.text(
                cell.center(),
                egui::Align2::CENTER_CENTER,
                "LIVE…",
                egui::FontId::proportional(22.0),
                egui::Color32::from_gray(130),
            );
        }
        let (Some(replay), true) = (replay, order.contains(&cam.index)) else {
            continue;
        };
        let Ok(head) = heads.get(replay.head) else {
            continue;
        };
        backdrop(&painter, cell, &replay.shown);
        let at = head.at(now);
        let day = local_day(at);
        let synced = cameras
            .iter()
            .filter(|c| c.2.is_some_and(|r| r.head == replay.head))
            .count();
        let here = || {
            cameras
                .iter()
                .filter(|c| order.contains(&c.1.index))
                .map(|c| c.0)
                .collect()
        };
        let strip = Strip {
            camera: entity,
            name: &cam.name,
            head,
            at,
            synced,
            data: cached(
                &mut cache,
                (entity, &cam.name),
                replay,
                day,
                (
                    config.as_deref().map(|c| c.recording.dir.as_path()),
                    feed.as_deref(),
                ),
            ),
            day,
            colour: colour.0,
        };
        let id = egui::Id::new(("strip", pass.0, cam.index));
        for action in strip.show(ctx, id, cell, (&clips, &mut frozen), here) {
            out.write(ReplayRequest {
                camera: entity,
                action,
            });
        }
    }
    Ok(())
}

/// Under a playback tile's strip: what stands in for a picture there is none of.
fn backdrop(painter: &egui::Painter, cell: egui::Rect, shown: &ReplayShown) {
    match shown {
        ReplayShown::Nothing { reason, .. } => {
            painter.rect_filled(cell.shrink(2.0), 0.0, egui::Color32::from_gray(20));
            painter.text(
                cell.center(),
                egui::Align2::CENTER_BOTTOM,
                "NO RECORDING",
                egui::FontId::proportional(22.0),
                egui::Color32::from_gray(150),
            );
            let why: String = reason
                .trim_start_matches("no recording")
                .trim_start_matches(": ")
                .chars()
                .take(90)
                .collect();
            painter.text(
                cell.center() + egui::vec2(0.0, 6.0),
                egui::Align2::CENTER_TOP,
                why,
                egui::FontId::proportional(13.0),
                egui::Color32::from_rgb(230, 140, 120),
            );
        }
        ReplayShown::Waiting => {
            painter.rect_filled(cell.shrink(2.0), 0.0, egui::Color32::from_gray(20));
        }
        ReplayShown::Picture { .. } => {}
    }
}

/// One camera's playback strip.
struct Strip<'a> {
    camera: Entity,
    name: &'a str,
    head: &'a Playhead,
    /// The playhead's instant (Unix ms).
    at: i64,
    /// Cameras on this playhead.
    synced: usize,
    data: &'a Cached,
    /// The local day shown by the day bar.
    day: (i64, i64),
    /// Events are marked in it.
    colour: egui::Color32,
}

impl Strip<'_> {
    /// Draws the strip at the bottom of `cell`: title, buttons, the clip's notice, the day bar
    /// and (on tiles tall enough) the close-up. Returns what the operator asked for; `here`
    /// lists the cameras of the window for "sync all".
    fn show(
        &self,
        ctx: &egui::Context,
        id: egui::Id,
        cell: egui::Rect,
        (clips, frozen): (&crate::camera::clips::Clips, &mut Frozen),
        here: impl FnOnce() -> Vec<Entity>,
    ) -> Vec<ReplayAction> {
        let mut actions = Vec::new();
        egui::Area::new(id)
            .pivot(egui::Align2::LEFT_BOTTOM)
            .fixed_pos(egui::pos2(cell.left() + 4.0, cell.bottom() - 4.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                ui.set_width((cell.width() - 8.0).max(60.0));
                egui::Frame::new()
                    .fill(egui::Color32::from_black_alpha(180))
                    .inner_margin(egui::Margin::same(5))
                    .corner_radius(4)
                    .show(ui, |ui| {
                        self.title(ui);
                        actions = self.buttons(ui, here);
                        clip_notice(ui, clips, self.name);
                        actions.extend(self.bars(ui, cell.height() >= 200.0, frozen));
                    });
            });
        actions
    }

    /// Name, PLAYBACK (and how many in sync), the instant, paused or the speed.
    fn title(&self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label(
                egui::RichText::new(self.name)
                    .size(15.0)
                    .strong()
                    .color(egui::Color32::WHITE),
            );
            let mode = if self.synced > 1 {
                format!("PLAYBACK · {} IN SYNC", self.synced)
            } else {
                "PLAYBACK".into()
            };
            ui.label(
                egui::RichText::new(mode)
                    .size(13.0)
                    .strong()
                    .color(egui::Color32::from_rgb(255, 190, 80)),
            );
            ui.label(
                egui::RichText::new(local_time(self.at, "%Y-%m-%d %H:%M:%S%.3f"))
                    .size(14.0)
                    .monospace()
                    .color(egui::Color32::WHITE),
            );
            let state = if self.head.paused {
                "⏸".to_owned()
            } else {
                self.head.speed_label()
            };
            ui.label(
                egui::RichText::new(state)
                    .size(14.0)
                    .color(egui::Color32::from_rgb(150, 200, 255)),
            );
        });
    }

    /// Skips, play/pause, speeds, mark, export, sync all, live.
    fn buttons(&self, ui: &mut egui::Ui, here: impl FnOnce() -> Vec<Entity>) -> Vec<ReplayAction> {
        let paused = self.head.paused;
        let buttons: [(&str, &str, ReplayAction); 7] = [
            ("⏪ 10 s", "10 s back (←)", ReplayAction::Skip(-10_000)),
            (
                if paused { "▶" } else { "⏸" },
                "play/pause (Space)",
                ReplayAction::SetPaused(!paused),
            ),
            ("10 s ⏩", "10 s on (→)", ReplayAction::Skip(10_000)),
            (
                "slower",
                "slower; below ×¼ plays backwards by keyframes (↓)",
                ReplayAction::Speed(-1),
            ),
            ("faster", "faster, up to ×16 (↑)", ReplayAction::Speed(1)),
            (
                "mark",
                "mark this instant: one end of the clip (I)",
                ReplayAction::Mark,
            ),
            (
                "export clip",
                "the clip from the mark to the playhead (else the minute around it) of every camera in sync, as MP4 beside the snapshots (E)",
                ReplayAction::Export,
            ),
        ];
        let mut actions = Vec::new();
        ui.horizontal_wrapped(|ui| {
            for (label, hint, action) in buttons {
                if ui.small_button(label).on_hover_text(hint).clicked() {
                    actions.push(action);
                }
            }
            if ui
                .small_button("sync all")
                .on_hover_text("every camera here plays this instant (Shift+Space)")
                .clicked()
            {
                actions.push(ReplayAction::Join {
                    cameras: here(),
                    at: None,
                });
            }
            if ui
                .small_button("live")
                .on_hover_text("back to live (Esc)")
                .clicked()
            {
                actions.push(ReplayAction::Live);
            }
        });
        actions
    }

    /// The day bar and, when `close_up`, the ten minutes around the playhead: a click or drag
    /// on either seeks.
    fn bars(&self, ui: &mut egui::Ui, close_up: bool, frozen: &mut Frozen) -> Vec<ReplayAction> {
        let (at, mark) = (self.at, self.head.mark);
        let width = ui.available_width();
        let mut seeks = Vec::new();
        if let (Some(t), _) = bar(
            ui,
            self.day,
            (self.data, self.colour),
            (at, mark),
            &hour_ticks(self.day, width),
        ) {
            seeks.push(ReplayAction::Seek(t));
        }
        if close_up {
            // Centred on the playhead, but held still while it is dragged (else it would run
            // away under the pointer).
            let close = frozen
                .get(&self.camera)
                .copied()
                .unwrap_or((at - CLOSE_UP_MS / 2, at + CLOSE_UP_MS / 2));
            let (t, dragging) = bar(
                ui,
                close,
                (self.data, self.colour),
                (at, mark),
                &minute_ticks(close),
            );
            if dragging {
                frozen.insert(self.camera, close);
            } else {
                frozen.remove(&self.camera);
            }
            seeks.extend(t.map(ReplayAction::Seek));
        }
        seeks
    }
}

/// The last clip export's state for camera `name`, while it is news.
fn clip_notice(ui: &mut egui::Ui, clips: &crate::camera::clips::Clips, name: &str) {
    let Some(state) = clips.notice(name) else {
        return;
    };
    let (text, color) = match state {
        ClipState::Writing => (
            "writing the clip…".to_owned(),
            egui::Color32::from_gray(200),
        ),
        ClipState::Saved(p) => (
            format!("clip saved: {}", p.display()),
            egui::Color32::from_rgb(140, 220, 140),
        ),
        ClipState::Failed(e) => (
            format!("no clip: {e}"),
            egui::Color32::from_rgb(250, 170, 40),
        ),
    };
    ui.add(egui::Label::new(egui::RichText::new(text).size(13.0).color(color)).wrap());
}

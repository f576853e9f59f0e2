//! Per-tile overlays drawn with egui: name, state, and what matters in that state (resolution,
//! fps, bitrate and latency while live; grace left while connecting; reconnects and the last
//! error after failures), REC and bound ports, the PTZ badge (moving or not), the brightness
//! while it changes and the last control error; the audible camera's speaker, meter and
//! volume (`sound`); the talk button and microphone level of the camera on screen (`talk`);
//! where the last snapshot went (`snapshot`); a locked tile's lock and password field
//! (`lock_form`, no picture); empty cells, the selection frame and a placeholder for tiles
//! without a picture; one pass per window. Text only from components: URLs are already
//! redacted.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::WallView;
use crate::camera::state::StreamState;
use crate::camera::{
    CameraView, Latency, Ptz, Rates, Recording, SetRecording, StreamKind, StreamStatus, ViewLocked,
};

fn state_color(state: StreamState) -> egui::Color32 {
    match state {
        StreamState::Live => egui::Color32::from_rgb(60, 200, 90),
        StreamState::Connecting => egui::Color32::from_rgb(90, 160, 255),
        StreamState::Stalled | StreamState::Reconnecting => egui::Color32::from_rgb(250, 170, 40),
        StreamState::AuthFailed => egui::Color32::from_rgb(240, 70, 70),
        StreamState::Offline | StreamState::Standby => egui::Color32::GRAY,
    }
}

/// Tiles lower than this (logical pixels) get the compact overlay.
const COMPACT_BELOW: f32 = 260.0;

fn to_egui(r: &super::layout::Rect) -> egui::Rect {
    egui::Rect::from_min_size(egui::pos2(r.x, r.y), egui::vec2(r.w, r.h))
}

/// "latency 31 ms (p99 48)  glass 84 ms (p99 120)": what we add, and capture to screen for
/// cameras that burn their clock in.
pub(super) fn latency_line(latency: &Latency) -> Option<String> {
    let part = |what: &str, p: Option<crate::stream::Percentiles>| {
        p.map(|p| format!("{what} {:.0} ms (p99 {:.0})", p.p50, p.p99))
    };
    let parts: Vec<String> = [
        part("latency", latency.0.added),
        part("glass", latency.0.glass),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("  "))
}

/// The detail line under the name, by state.
fn detail(
    status: &StreamStatus,
    grace_left: Option<f64>,
    rates: &Rates,
    latency: &Latency,
) -> Vec<String> {
    let m = &status.machine;
    let mut lines = Vec::new();
    match m.state {
        StreamState::Live => {
            let codec = status.codec.map_or("", |c| c.as_str());
            lines.push(format!(
                "{}×{}  {:.1} fps  {:.2} Mbit/s  {codec}",
                status.width,
                status.height,
                rates.fps,
                rates.bitrate_bps / 1e6
            ));
            lines.extend(latency_line(latency));
        }
        StreamState::Connecting => {
            if let Some(left) = grace_left {
                lines.push(format!("connecting… {:.0} s grace left", left.ceil()));
            } else {
                lines.push("connecting…".into());
            }
        }
        _ => {}
    }
    if m.reconnects > 0 || (m.state != StreamState::Live && m.last_error.is_some()) {
        lines.push(format!("reconnects: {}", m.reconnects));
    }
    if m.state != StreamState::Live
        && let Some(e) = &m.last_error
    {
        let short: String = e.chars().take(90).collect();
        lines.push(if short.len() < e.len() {
            format!("{short}…")
        } else {
            short
        });
    }
    lines
}

/// "REC 01:23 · 14.2 MB" while a segment is open; the reason while recording fails.
fn recording_line(rec: &Recording) -> Option<String> {
    if !rec.active {
        return None;
    }
    if let Some(e) = &rec.error {
        let short: String = e.chars().take(80).collect();
        return Some(format!("recording failed: {short}"));
    }
    let since = rec.current_since_ms?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let age = (now - since).max(0) / 1000;
    Some(format!(
        "segment {:02}:{:02}  {:.1} MB recorded",
        age / 60,
        age % 60,
        rec.bytes as f64 / 1e6
    ))
}

/// The REC control: a filled red dot while a segment is being written, a red ring while
/// waiting for a keyframe, orange on errors, grey when off. A click toggles recording.
fn rec_control_ui(ui: &mut egui::Ui, rec: &Recording) -> egui::Response {
    let (color, filled, text) = match (rec.active, &rec.error, &rec.current) {
        (true, Some(_), _) => (egui::Color32::from_rgb(255, 150, 40), true, "REC !"),
        (true, None, Some(_)) => (egui::Color32::from_rgb(240, 60, 60), true, "REC"),
        (true, None, None) => (egui::Color32::from_rgb(240, 60, 60), false, "REC"),
        (false, ..) => (egui::Color32::from_gray(150), false, "rec"),
    };
    let galley =
        ui.painter()
            .layout_no_wrap(text.to_owned(), egui::FontId::proportional(14.0), color);
    let size = egui::vec2(16.0 + galley.size().x, galley.size().y.max(14.0));
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let center = egui::pos2(rect.left() + 6.0, rect.center().y);
    if filled {
        ui.painter().circle_filled(center, 5.0, color);
    } else {
        ui.painter()
            .circle_stroke(center, 4.5, egui::Stroke::new(1.5, color));
    }
    ui.painter().galley(
        egui::pos2(rect.left() + 16.0, rect.center().y - galley.size().y / 2.0),
        galley,
        color,
    );
    response.on_hover_text("toggle recording (R)")
}

/// "PTZ" on cameras that can move (cyan; white on blue while moving), "ONVIF" on ones that
/// only have imaging, nothing while the device has not answered.
fn ptz_badge(ui: &mut egui::Ui, ptz: &Ptz) {
    let st = &ptz.status;
    let (text, fg, bg) = match (st.ptz, st.moving, st.imaging) {
        (true, true, _) => (
            "PTZ MOVING",
            egui::Color32::WHITE,
            egui::Color32::from_rgb(40, 110, 220),
        ),
        (true, false, _) => (
            "PTZ",
            egui::Color32::from_rgb(120, 220, 240),
            egui::Color32::from_black_alpha(0),
        ),
        (false, _, true) => (
            "ONVIF",
            egui::Color32::from_gray(190),
            egui::Color32::from_black_alpha(0),
        ),
        (false, _, false) => return,
    };
    egui::Frame::new()
        .fill(bg)
        .stroke(egui::Stroke::new(1.0, fg))
        .inner_margin(egui::Margin::symmetric(4, 0))
        .corner_radius(3)
        .show(ui, |ui| {
            ui.label(egui::RichText::new(text).size(12.0).strong().color(fg));
        })
        .response
        .on_hover_text(
            "arrows/WASD pan and tilt, +/- zoom, [ ] brightness, 1-9 presets (Ctrl stores), Home",
        );
}

/// The brightness while it changes, and the last control error.
fn ptz_lines(ptz: &Ptz, now: std::time::Duration) -> Vec<(String, egui::Color32)> {
    let mut out = Vec::new();
    if ptz.brightness_shown(now)
        && let Some(b) = ptz.status.brightness
    {
        out.push((
            format!("brightness {b:.0} %"),
            egui::Color32::from_rgb(255, 230, 140),
        ));
    }
    if let Some(e) = &ptz.status.last_error {
        let short: String = e.chars().take(90).collect();
        let ell = if short.len() < e.len() { "…" } else { "" };
        out.push((
            format!("control: {short}{ell}"),
            egui::Color32::from_rgb(255, 150, 60),
        ));
    }
    out
}

/// What an overlay pass needs of each window.
type OverlayWindow = (
    Entity,
    &'static Window,
    &'static WallView,
    &'static super::view::Shown,
    &'static super::view::WindowIndex,
    Has<bevy::window::PrimaryWindow>,
);

/// What the overlays read of each camera.
type OverlayCamera = (
    Entity,
    CameraView,
    &'static ViewLocked,
    Has<crate::camera::Replay>,
);

/// The talk button's parts, for the card of the camera on the operator's screen.
type TalkParts<'a> = (
    &'a super::talk::Talker,
    &'a mut super::talk::TalkButton,
    &'a super::keys::Bindings,
);

/// What a tile's card shows besides the camera's own components.
struct Extras<'a> {
    sound: Option<&'a crate::sound::Speaker>,
    /// Only on the card of the camera the operator has on screen.
    talk: Option<TalkParts<'a>>,
    snapshots: Option<&'a super::snapshot::Snapshots>,
    locks: Option<&'a crate::locks::Locks>,
}

/// What the operator clicked on a tile's card.
#[derive(Default)]
struct Clicked {
    recording: bool,
    playback: bool,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn overlays_ui(
    mut contexts: EguiContexts,
    (pass, windows, wall_cameras): (
        Res<super::OverlayPass>,
        Query<OverlayWindow>,
        Query<(Entity, &super::WallCamera)>,
    ),
    (time, colour): (Res<Time<Real>>, Res<EventColour>),
    (cameras, streams): (Query<OverlayCamera>, crate::camera::StreamsOf),
    locks: Option<Res<crate::camera::ViewLocks>>,
    sound: Option<Res<crate::camera::Sound>>,
    talk: (
        Option<Res<super::talk::Talker>>,
        Option<ResMut<super::talk::TalkButton>>,
        Res<super::keys::Bindings>,
    ),
    (snapshots, bell): (
        Option<Res<super::snapshot::Snapshots>>,
        Option<Res<crate::camera::WallBell>>,
    ),
    mut fields: Local<super::lock_form::LockFields>,
    (mut set_recording, mut replay_out): (
        MessageWriter<SetRecording>,
        MessageWriter<crate::camera::ReplayRequest>,
    ),
) -> Result {
    // The window this pass draws, and whether it is the one the operator works in (only
    // there are the talk button and its state).
    let Some((window, _, view, layout, _, _)) = windows.iter().find(|w| w.4.0 == pass.0) else {
        return Ok(());
    };
    let operator = super::operator_window(windows.iter().map(|(e, w, .., p)| (e, w.focused, p)))
        == Some(window);
    let (talker, mut button, bindings) = talk;
    if operator && let Some(b) = &mut button {
        b.held = false;
    }
    let Some((camera, _)) = wall_cameras.iter().find(|(_, c)| c.0 == window) else {
        return Ok(());
    };
    let ctx = contexts.ctx_for_entity_mut(camera)?;
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Background,
        egui::Id::new("tiles"),
    ));
    let now = time.elapsed();
    if fields.bell.is_none() {
        fields.bell = bell.as_ref().map(|b| b.0.clone());
    }
    empty_cells(&painter, view, layout);
    for (entity, v, locked, replay) in &cameras {
        let Some(rect) = layout.tile(entity).filter(|r| r.visible) else {
            continue;
        };
        let stream = v.shown(&streams);
        let cell = to_egui(&rect.cell);
        if locked.0 {
            painter.rect_filled(cell, 0.0, egui::Color32::from_gray(18));
            if let Some(locks) = &locks {
                let name = &v.camera.name;
                super::lock_form::lock_ui(ctx, cell, entity, name, &locks.0, &mut fields);
            }
        } else if !replay && (stream.status.width == 0 || stream.rates.decoded == 0) {
            let text = match (v.node_down.is_some(), stream.status.machine.state) {
                (true, _) => "NODE UNREACHABLE",
                (false, StreamState::Connecting) => "CONNECTING",
                _ => "NO PICTURE",
            };
            no_picture(&painter, cell, text);
        }
        if view.selected == v.camera.index {
            painter.rect_stroke(
                cell,
                0.0,
                egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 210, 60)),
                egui::StrokeKind::Inside,
            );
        }
        if let Some(event) = v.motion.and_then(|m| m.highlighted()) {
            event_frame(&painter, cell, event, colour.0);
        }
        // A tile in playback has its playback strip instead (`timeline`).
        if !view.overlays || replay {
            continue;
        }
        let on_screen =
            operator && !locked.0 && view.maximised.unwrap_or(view.selected) == v.camera.index;
        let mut extras = Extras {
            sound: sound.as_ref().map(|s| &*s.0),
            talk: match (&talker, &mut button) {
                (Some(t), Some(b)) if on_screen => Some((&**t, &mut **b, &*bindings)),
                _ => None,
            },
            snapshots: snapshots.as_deref(),
            locks: locks.as_ref().map(|l| &*l.0),
        };
        let has_sub = streams.of(v.streams, StreamKind::Sub).is_some();
        let clicked = card(ctx, cell, (&v, stream, has_sub, locked.0), &mut extras, now);
        if clicked.recording {
            set_recording.write(SetRecording {
                camera: entity,
                active: None,
            });
        }
        if clicked.playback {
            replay_out.write(crate::camera::ReplayRequest {
                camera: entity,
                action: crate::camera::ReplayAction::StartOrPause,
            });
        }
    }
    Ok(())
}

/// The colour of event frames and badges (the config's `event_colour`).
#[derive(Resource, Clone, Copy)]
pub struct EventColour(pub egui::Color32);

impl Default for EventColour {
    fn default() -> Self {
        Self(egui::Color32::from_rgb(255, 40, 200))
    }
}

/// A tile with an event going on: a thick frame in the event colour on a dark edge (so it
/// reads on a bright picture and a dark one alike) and a badge naming what and from where,
/// top right. Drawn for locked cameras too: they show that something happened, not what.
fn event_frame(
    painter: &egui::Painter,
    cell: egui::Rect,
    event: &crate::camera::motion::OpenEvent,
    colour: egui::Color32,
) {
    let dark = egui::Color32::from_black_alpha(200);
    painter.rect_stroke(
        cell,
        0.0,
        egui::Stroke::new(8.0, dark),
        egui::StrokeKind::Inside,
    );
    painter.rect_stroke(
        cell.shrink(1.5),
        0.0,
        egui::Stroke::new(5.0, colour),
        egui::StrokeKind::Inside,
    );
    let text = format!(
        "{} · {}",
        event.kind.as_str().to_uppercase(),
        event.source.label()
    );
    let font = egui::FontId::proportional(15.0);
    let galley = painter.layout_no_wrap(text, font, egui::Color32::WHITE);
    let size = galley.size() + egui::vec2(16.0, 8.0);
    let badge = egui::Rect::from_min_size(
        egui::pos2(cell.right() - 10.0 - size.x, cell.top() + 10.0),
        size,
    );
    painter.rect_filled(badge, 4.0, colour);
    painter.galley(
        badge.min + egui::vec2(8.0, 4.0),
        galley,
        egui::Color32::WHITE,
    );
}

/// Empty cells of the layout: a dim frame, so the layout reads as the operator set it up; a
/// cell whose camera shows in the follow-activity cell says so.
fn empty_cells(painter: &egui::Painter, view: &WallView, layout: &super::view::Shown) {
    let Some(solved) = layout.solved.as_ref().filter(|_| view.maximised.is_none()) else {
        return;
    };
    let empty = layout
        .rects
        .iter()
        .zip(&solved.cells)
        .enumerate()
        .filter(|(_, (_, (_, cam)))| cam.is_none());
    let followed = view.following.as_ref().and_then(|f| f.camera.as_deref());
    for (i, (r, _)) in empty {
        let label = match followed {
            Some(name) if solved.vacated == Some(i) => format!("{name} · in the activity cell"),
            _ => "empty".into(),
        };
        let cell = to_egui(r);
        painter.rect_filled(cell, 0.0, egui::Color32::from_gray(16));
        painter.rect_stroke(
            cell,
            0.0,
            egui::Stroke::new(1.0, egui::Color32::from_gray(40)),
            egui::StrokeKind::Inside,
        );
        painter.text(
            cell.center(),
            egui::Align2::CENTER_CENTER,
            label,
            egui::FontId::proportional(14.0),
            egui::Color32::from_gray(90),
        );
    }
}

/// A tile without a picture yet: what it is waiting for.
fn no_picture(painter: &egui::Painter, cell: egui::Rect, text: &str) {
    painter.rect_filled(cell, 0.0, egui::Color32::from_gray(24));
    painter.text(
        cell.center(),
        egui::Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(22.0),
        egui::Color32::from_gray(120),
    );
}

/// The camera a card is about: its components, the stream that describes it, whether it has
/// a sub stream and whether it is locked.
type CardCamera<'a, 'w, 's> = (
    &'a crate::camera::CameraViewItem<'w, 's>,
    crate::camera::Shown<'a>,
    bool,
    bool,
);

/// A tile's card, bottom-left (cameras burn their own OSD, name and clock, into the
/// top-left): the title row, then what matters now. Small tiles (a 4×4 wall on one monitor)
/// keep their picture: name, state and stream, and the detail only when something is wrong.
fn card(
    ctx: &egui::Context,
    cell: egui::Rect,
    camera: CardCamera<'_, '_, '_>,
    extras: &mut Extras<'_>,
    now: std::time::Duration,
) -> Clicked {
    let (v, stream, _, _) = camera;
    let compact = cell.height() < COMPACT_BELOW;
    let state = stream.status.machine.state;
    let grace_left = stream
        .status
        .machine
        .grace_left(stream.grace, now)
        .map(|d| d.as_secs_f64());
    let mut lines = match (v.node_down, v.at_node) {
        // The node's reason, not the camera's: the camera may be fine behind it.
        (Some(why), _) => vec![format!("node: {}", why.0)],
        // What the node says of the camera, not what its empty restream told the wall.
        (None, Some(says)) if state != StreamState::Live => {
            vec![format!("at the node: {}", says.0)]
        }
        _ => detail(stream.status, grace_left, stream.rates, stream.latency),
    };
    if compact && state == StreamState::Live {
        lines.clear();
    }
    let mut clicked = Clicked::default();
    egui::Area::new(egui::Id::new(("tile", v.camera.index)))
        .pivot(egui::Align2::LEFT_BOTTOM)
        .fixed_pos(egui::pos2(cell.left() + 6.0, cell.bottom() - 6.0))
        .order(egui::Order::Foreground)
        .interactable(true)
        .show(ctx, |ui| {
            ui.set_max_width((cell.width() - 12.0).max(40.0));
            egui::Frame::new()
                .fill(egui::Color32::from_black_alpha(160))
                .inner_margin(egui::Margin::same(6))
                .corner_radius(4)
                .show(ui, |ui| {
                    clicked = title_row(ui, camera, extras.locks);
                    notes(ui, v, extras, now);
                    for line in &lines {
                        ui.label(
                            egui::RichText::new(line)
                                .size(13.0)
                                .color(egui::Color32::from_gray(225)),
                        );
                    }
                    if !compact {
                        ports_line(ui, v);
                    }
                });
        });
    clicked
}

/// Name, state, the stream shown (for cameras that have two), REC, PTZ, playback and lock.
fn title_row(
    ui: &mut egui::Ui,
    (v, stream, has_sub, locked): CardCamera<'_, '_, '_>,
    locks: Option<&crate::locks::Locks>,
) -> Clicked {
    let state = stream.status.machine.state;
    let mut clicked = Clicked::default();
    ui.horizontal(|ui| {
        ui.label(
            egui::RichText::new(&v.camera.name)
                .size(16.0)
                .strong()
                .color(egui::Color32::WHITE),
        );
        let (label, colour) = match v.node_down {
            Some(_) => (
                "NODE UNREACHABLE".to_owned(),
                egui::Color32::from_rgb(230, 150, 60),
            ),
            None => (state.as_str().to_uppercase(), state_color(state)),
        };
        ui.label(egui::RichText::new(label).size(14.0).color(colour).strong());
        if has_sub {
            ui.label(
                egui::RichText::new(v.display.current.as_str().to_uppercase())
                    .size(12.0)
                    .color(egui::Color32::from_rgb(150, 190, 230)),
            )
            .on_hover_text("the stream this tile shows (sub on small tiles)");
        }
        clicked.recording = rec_control_ui(ui, v.recording).clicked();
        if let Some(ptz) = v.ptz {
            ptz_badge(ui, ptz);
        }
        clicked.playback = !locked
            && ui
                .small_button("⏪ playback")
                .on_hover_text(
                    "play what was recorded (Space; Shift+Space: every camera here in sync)",
                )
                .clicked();
        // An unlocked camera with a view password can be locked again.
        if let Some(locks) = locks
            && !locked
            && locks.has_lock(&v.camera.name)
            && ui
                .small_button("lock")
                .on_hover_text("lock every camera again (L)")
                .clicked()
        {
            locks.lock_all();
        }
    });
    clicked
}

/// The speaker and talk badges, the last snapshot's outcome, PTZ and recording notes.
fn notes(
    ui: &mut egui::Ui,
    v: &crate::camera::CameraViewItem,
    extras: &mut Extras<'_>,
    now: std::time::Duration,
) {
    let name = &v.camera.name;
    if let Some(sound) = extras.sound
        && sound.is_audible(name)
    {
        super::sound::badge(ui, sound, name);
    }
    if let Some((talker, button, bindings)) = &mut extras.talk {
        super::talk::badge(ui, talker, bindings, button, name, v.talkable);
    }
    if let Some(outcome) = extras.snapshots.and_then(|s| s.notice(name, now)) {
        let (text, color) = match outcome {
            Ok(path) => (
                format!("snapshot saved: {}", path.display()),
                egui::Color32::from_rgb(140, 220, 140),
            ),
            Err(e) => (
                format!("no snapshot: {e}"),
                egui::Color32::from_rgb(250, 170, 40),
            ),
        };
        ui.add(egui::Label::new(egui::RichText::new(text).size(13.0).color(color)).wrap());
    }
    for (line, color) in v.ptz.map(|p| ptz_lines(p, now)).unwrap_or_default() {
        ui.label(egui::RichText::new(line).size(13.0).color(color));
    }
    if let Some(line) = recording_line(v.recording) {
        ui.label(
            egui::RichText::new(line)
                .size(13.0)
                .color(egui::Color32::from_rgb(250, 160, 150)),
        );
    }
}

/// "mjpeg :8081  audio :8181 (AAC)": the camera's ports and the codec its camera sends.
fn ports_line(ui: &mut egui::Ui, v: &crate::camera::CameraViewItem) {
    if v.ports.mjpeg.is_none() && v.ports.audio.is_none() {
        return;
    }
    let p = |v: Option<u16>| v.map_or("-".to_owned(), |p| p.to_string());
    let sound = v
        .audio
        .codec
        .map_or(String::new(), |c| format!(" ({})", c.as_str()));
    ui.label(
        egui::RichText::new(format!(
            "mjpeg :{}  audio :{}{sound}",
            p(v.ports.mjpeg),
            p(v.ports.audio)
        ))
        .size(13.0)
        .color(egui::Color32::from_gray(190)),
    );
}

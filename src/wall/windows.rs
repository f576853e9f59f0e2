//! The windows over the API: `POST /api/windows/{name}` requests carried out on the window
//! they name (answered with the window afterwards), and every window and layout published
//! for `GET /api/windows`.

use bevy::prelude::*;

use super::WallView;
use super::layout;
use super::view::{Layouts, WindowIndex, set_tour, switch_layout};
use crate::camera::IpCamera;
use crate::config::LayoutConfig;
use crate::serve::api::{Refusal, WindowChange};
use crate::serve::{LayoutStatus, TourStatus, WindowStatus};

/// Window changes asked for over the API, answered with the window afterwards.
#[derive(Message)]
pub struct WindowRequest {
    pub window: String,
    pub change: WindowChange,
    pub reply: tokio::sync::oneshot::Sender<Result<WindowStatus, Refusal>>,
}

pub(super) fn window_requests(
    mut requests: ResMut<Messages<WindowRequest>>,
    layouts: Res<Layouts>,
    mut windows: Query<(&Window, &mut WallView)>,
    cameras: Query<&IpCamera>,
    time: Res<Time>,
) {
    for request in requests.drain() {
        let Some((window, mut view)) = windows.iter_mut().find(|(_, v)| v.window == request.window)
        else {
            let _ = request.reply.send(Err(Refusal::NotFound(format!(
                "no window {:?}",
                request.window
            ))));
            continue;
        };
        if let Some(name) = &request.change.layout {
            match layouts.0.iter().position(|l| &l.name == name) {
                Some(i) => switch_layout(&mut view, i, time.elapsed()),
                None => {
                    let _ = request
                        .reply
                        .send(Err(Refusal::NotFound(format!("no layout {name:?}"))));
                    continue;
                }
            }
        }
        if let Some(running) = request.change.tour {
            set_tour(&mut view, running, time.elapsed());
        }
        let status = window_status(&view, &layouts.0, Some(window), &cameras);
        let _ = request.reply.send(Ok(status));
    }
}

fn window_status(
    view: &WallView,
    layouts: &[LayoutConfig],
    window: Option<&Window>,
    cameras: &Query<&IpCamera>,
) -> WindowStatus {
    WindowStatus {
        name: view.window.clone(),
        layout: layouts
            .get(view.layout)
            .map(|l| l.name.clone())
            .unwrap_or_default(),
        maximised: view
            .maximised
            .and_then(|m| cameras.iter().find(|c| c.index == m))
            .map(|c| c.name.clone()),
        width: window.map_or(0, |w| w.physical_width()),
        height: window.map_or(0, |w| w.physical_height()),
        tour: view.tour.as_ref().map(|t| TourStatus {
            paused: t.paused,
            secs: t.every.as_secs(),
            steps: t.names(layouts),
        }),
    }
}

/// What `/api/windows` shows changed: a window (its size, view, tour), a camera, the layouts.
type WindowsChanged = Or<(Changed<Window>, Changed<WallView>, Changed<WindowIndex>)>;

/// Publishes the window and the layouts for `/api/windows` when they change (the layouts'
/// cells are solved again only when the cameras change).
#[allow(clippy::too_many_arguments)]
pub(super) fn publish_windows(
    board: Option<Res<crate::camera::Board>>,
    layouts: Res<Layouts>,
    windows: Query<(&Window, &WallView, &WindowIndex)>,
    cameras: Query<&IpCamera>,
    (changed, cameras_changed): (Query<(), WindowsChanged>, Query<(), Changed<IpCamera>>),
    (mut gone_cameras, mut gone_windows): (
        RemovedComponents<IpCamera>,
        RemovedComponents<WallView>,
    ),
    mut cache: Local<(Vec<String>, Vec<LayoutStatus>)>,
) {
    let Some(board) = board else { return };
    let gone = gone_cameras.read().count() + gone_windows.read().count() > 0;
    if changed.is_empty() && cameras_changed.is_empty() && !gone && !layouts.is_changed() {
        return;
    }
    let mut order: Vec<(usize, &str)> =
        cameras.iter().map(|c| (c.index, c.name.as_str())).collect();
    order.sort_unstable();
    let names: Vec<&str> = order.iter().map(|(_, n)| *n).collect();
    if cache.0 != names || cache.1.len() != layouts.0.len() {
        cache.0 = names.iter().map(|n| n.to_string()).collect();
        cache.1 = layout_statuses(&layouts.0, &names);
    }
    let mut list: Vec<(usize, WindowStatus)> = windows
        .iter()
        .map(|(w, v, i)| (i.0, window_status(v, &layouts.0, Some(w), &cameras)))
        .collect();
    list.sort_unstable_by_key(|(i, _)| *i);
    if let Ok(mut snapshot) = board.write() {
        snapshot.windows = list.into_iter().map(|(_, s)| s).collect();
        snapshot.layouts.clone_from(&cache.1);
    }
}

fn layout_statuses(layouts: &[LayoutConfig], names: &[&str]) -> Vec<LayoutStatus> {
    layouts
        .iter()
        .map(|l| LayoutStatus {
            name: l.name.clone(),
            grid: match l.grid.fixed() {
                None => "Auto".into(),
                Some((c, r, _)) => format!("{c}x{r}"),
            },
            cells: layout::solve(l, names)
                .cells
                .iter()
                .map(|(_, c)| c.map(|i| names[i].to_owned()))
                .collect(),
        })
        .collect()
}

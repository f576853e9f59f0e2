//! The config's control-room sections: `layouts:` (named arrangements of tiles: automatic
//! grids, fixed grids, grids with big cells, and which camera goes in which cell) and
//! `windows:` (one window per monitor, each with its mode, its layout and an optional tour),
//! with the checks serde cannot express (unknown camera or layout names, cells outside the
//! grid or overlapping). Solving a layout into cells is `wall::layout`'s job.

use serde::{Deserialize, Serialize};

use super::PathSeg;

/// A named arrangement of tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    /// Unique; shown on the wall and in `/api/windows`.
    pub name: String,
    /// The cells. Default `Auto`.
    #[serde(default)]
    pub grid: GridSpec,
    /// The camera of each cell, in reading order of the cells' top-left corners; `""` leaves a
    /// cell empty. Default `[]`: every camera, in the config's order (simulated first), as many
    /// as there are cells (`Auto`: all of them). `"*"` is the follow-activity cell: it
    /// shows the camera with the newest event (see `follow`).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// How the `"*"` cell follows activity.
    #[serde(default)]
    pub follow: FollowConfig,
}

/// The cell that shows the camera with the newest event.
pub const FOLLOW_CELL: &str = "*";

/// How a follow-activity cell behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowConfig {
    /// The camera shown while all is quiet. Default none (the cell is empty).
    #[serde(default)]
    pub fallback: Option<String>,
    /// A camera stays in the cell at least this long. Default 10.
    #[serde(default = "default_follow_hold")]
    pub hold_secs: f64,
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            fallback: None,
            hold_secs: default_follow_hold(),
        }
    }
}

fn default_follow_hold() -> f64 {
    10.0
}

/// How a layout cuts the window into cells.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum GridSpec {
    /// The smallest square grid that holds the layout's cameras (1, 2×2, 3×3, 4×4 …).
    #[default]
    Auto,
    /// `Grid(columns, rows)` of equal cells.
    Grid(u8, u8),
    /// 3×3: one 2×2 cell top-left and 5 small ones.
    OnePlus5,
    /// 4×4: one 3×3 cell top-left and 7 small ones.
    OnePlus7,
    /// 4×4: one 2×2 cell in the middle and 12 small ones around it.
    OnePlus12,
    /// 4×4: two 2×2 cells along the top and 8 small ones.
    TwoPlus8,
    /// A grid of `cols × rows` with big cells `(col, row, width, height)`; every place no big
    /// cell covers is a 1×1 cell.
    Spans { cols: u8, rows: u8, big: Vec<Span> },
}

/// A big cell of a grid: column, row, width, height (in cells).
pub type Span = (u8, u8, u8, u8);

impl GridSpec {
    /// Columns, rows and big cells of a fixed grid; `None` for `Auto`.
    pub fn fixed(&self) -> Option<(u8, u8, Vec<Span>)> {
        match self {
            Self::Auto => None,
            Self::Grid(c, r) => Some((*c, *r, Vec::new())),
            Self::OnePlus5 => Some((3, 3, vec![(0, 0, 2, 2)])),
            Self::OnePlus7 => Some((4, 4, vec![(0, 0, 3, 3)])),
            Self::OnePlus12 => Some((4, 4, vec![(1, 1, 2, 2)])),
            Self::TwoPlus8 => Some((4, 4, vec![(0, 0, 2, 2), (2, 0, 2, 2)])),
            Self::Spans { cols, rows, big } => Some((*cols, *rows, big.clone())),
        }
    }
}

/// Which monitor a window goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitorConfig {
    /// The primary monitor.
    #[default]
    Primary,
    /// The monitor at this position in the system's list (0 is the first).
    Index(usize),
    /// The monitor with this name (as the system names it, e.g. `DP-1`, `HDMI-A-1`); a name
    /// that is not found falls back to the index, if given, then to the primary monitor.
    Name(String),
    /// A name first, then an index.
    NameOrIndex(String, usize),
}

/// How a window covers its monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowModeConfig {
    /// A normal window (1280×720 to start).
    #[default]
    Windowed,
    /// The whole monitor, without a frame, without changing its video mode.
    Borderless,
    /// Exclusive fullscreen on the monitor.
    Fullscreen,
}

/// One window of the wall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Unique; the window's title and its name in `/api/windows`.
    pub name: String,
    #[serde(default)]
    pub monitor: MonitorConfig,
    #[serde(default)]
    pub mode: WindowModeConfig,
    /// The size of a `Windowed` window in logical pixels. Default `(1600, 900)`.
    #[serde(default = "default_window_size")]
    pub size: (u32, u32),
    /// The layout it starts with (the last one shown is restored at the next start). Default:
    /// the first of `layouts:`.
    #[serde(default)]
    pub layout: Option<String>,
    /// Cycles layouts or cameras on this window. Default none.
    #[serde(default)]
    pub tour: Option<TourConfig>,
    /// The alarm list is open at start (N toggles it). Default false.
    #[serde(default)]
    pub alarms: bool,
}

/// A tour: the window shows each of `layouts` (or each of `cameras`, full window) for `secs`,
/// in turn, until paused (`P`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TourConfig {
    /// Seconds each step is shown. Default 30.
    #[serde(default = "default_tour_secs")]
    pub secs: u64,
    #[serde(default)]
    pub layouts: Vec<String>,
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_window_size() -> (u32, u32) {
    (1600, 900)
}

fn default_tour_secs() -> u64 {
    30
}

/// The layout every wall has when the config names none: every camera, automatic grid.
pub fn builtin_layouts() -> Vec<LayoutConfig> {
    vec![LayoutConfig {
        name: "All".into(),
        grid: GridSpec::Auto,
        cameras: Vec::new(),
        follow: FollowConfig::default(),
    }]
}

/// Most columns or rows of a fixed grid.
pub const MAX_GRID: u8 = 8;

/// Problems of `layouts` and `windows`, given every camera name the config defines.
pub(super) fn problems(
    layouts: &[LayoutConfig],
    windows: &[WindowConfig],
    cameras: &[String],
) -> Vec<(Vec<PathSeg>, String)> {
    use PathSeg::{Index, Key};
    let mut out = Vec::new();
    // A name ending in '/' stands for a node's cameras (known only when the node answers).
    let known = |name: &str| {
        cameras
            .iter()
            .any(|c| c == name || (c.ends_with('/') && name.starts_with(c.as_str())))
    };
    for (i, l) in layouts.iter().enumerate() {
        let at = |rest: &[PathSeg]| [&[Key("layouts"), Index(i)][..], rest].concat();
        if l.name.trim().is_empty() {
            out.push((at(&[Key("name")]), "layout names cannot be empty".into()));
        }
        if layouts[..i].iter().any(|o| o.name == l.name) {
            out.push((
                at(&[Key("name")]),
                format!("duplicate layout name {:?}: names must be unique", l.name),
            ));
        }
        let cells = match l.grid.fixed() {
            None => None,
            Some((cols, rows, big)) => match grid_problem(cols, rows, &big) {
                Some(why) => {
                    out.push((at(&[Key("grid")]), format!("layout {:?}: {why}", l.name)));
                    None
                }
                None => Some(cell_count(cols, rows, &big)),
            },
        };
        for (j, cam) in l.cameras.iter().enumerate() {
            let here = at(&[Key("cameras"), Index(j)]);
            if cam.is_empty() {
                continue;
            }
            if cam == FOLLOW_CELL {
                if l.cameras[..j].iter().any(|c| c == FOLLOW_CELL) {
                    out.push((
                        here,
                        format!("layout {:?}: only one follow-activity cell (\"*\")", l.name),
                    ));
                }
                continue;
            }
            if !known(cam) {
                out.push((
                    here,
                    format!("layout {:?}: no camera named {cam:?}", l.name),
                ));
            } else if l.cameras[..j].contains(cam) {
                out.push((
                    here,
                    format!("layout {:?}: camera {cam:?} is listed twice", l.name),
                ));
            }
        }
        if let Some(f) = &l.follow.fallback
            && !known(f)
        {
            out.push((
                at(&[Key("follow"), Key("fallback")]),
                format!(
                    "layout {:?}: follow.fallback: no camera named {f:?}",
                    l.name
                ),
            ));
        }
        if !(0.0..=3600.0).contains(&l.follow.hold_secs) {
            out.push((
                at(&[Key("follow"), Key("hold_secs")]),
                format!(
                    "layout {:?}: follow.hold_secs must be between 0 and 3600",
                    l.name
                ),
            ));
        }
        if let Some(n) = cells
            && l.cameras.len() > n
        {
            out.push((
                at(&[Key("cameras"), Index(n)]),
                format!(
                    "layout {:?} has {n} cells but lists {} cameras",
                    l.name,
                    l.cameras.len()
                ),
            ));
        }
    }
    let layout_known = |name: &str| {
        layouts.iter().any(|l| l.name == name)
            || (layouts.is_empty() && builtin_layouts().iter().any(|l| l.name == name))
    };
    for (i, w) in windows.iter().enumerate() {
        let at = |rest: &[PathSeg]| [&[Key("windows"), Index(i)][..], rest].concat();
        if w.name.trim().is_empty() {
            out.push((at(&[Key("name")]), "window names cannot be empty".into()));
        }
        if windows[..i].iter().any(|o| o.name == w.name) {
            out.push((
                at(&[Key("name")]),
                format!("duplicate window name {:?}: names must be unique", w.name),
            ));
        }
        if !(160..=16384).contains(&w.size.0) || !(90..=16384).contains(&w.size.1) {
            out.push((
                at(&[Key("size")]),
                format!(
                    "window {:?}: size {}×{} is not a window size",
                    w.name, w.size.0, w.size.1
                ),
            ));
        }
        if let Some(l) = &w.layout
            && !layout_known(l)
        {
            out.push((
                at(&[Key("layout")]),
                format!("window {:?}: no layout named {l:?}", w.name),
            ));
        }
        let Some(tour) = &w.tour else { continue };
        let tour_at = |rest: &[PathSeg]| at(&[&[Key("tour")][..], rest].concat());
        if tour.secs == 0 {
            out.push((
                tour_at(&[Key("secs")]),
                format!("window {:?}: tour.secs must be at least 1", w.name),
            ));
        }
        if tour.layouts.is_empty() == tour.cameras.is_empty() {
            out.push((
                tour_at(&[]),
                format!(
                    "window {:?}: a tour cycles either layouts or cameras: give one of the two lists",
                    w.name
                ),
            ));
        }
        for (j, l) in tour.layouts.iter().enumerate() {
            if !layout_known(l) {
                out.push((
                    tour_at(&[Key("layouts"), Index(j)]),
                    format!("window {:?}: no layout named {l:?}", w.name),
                ));
            }
        }
        for (j, c) in tour.cameras.iter().enumerate() {
            if !known(c) {
                out.push((
                    tour_at(&[Key("cameras"), Index(j)]),
                    format!("window {:?}: no camera named {c:?}", w.name),
                ));
            }
        }
    }
    out
}

/// Why a fixed grid cannot be drawn, if it cannot.
fn grid_problem(cols: u8, rows: u8, big: &[Span]) -> Option<String> {
    if !(1..=MAX_GRID).contains(&cols) || !(1..=MAX_GRID).contains(&rows) {
        return Some(format!(
            "a grid has 1 to {MAX_GRID} columns and rows, not {cols}×{rows}"
        ));
    }
    for (k, &(c, r, w, h)) in big.iter().enumerate() {
        if w == 0 || h == 0 || c + w > cols || r + h > rows {
            return Some(format!(
                "big cell ({c}, {r}, {w}, {h}) does not fit the {cols}×{rows} grid"
            ));
        }
        let overlaps =
            |&(c2, r2, w2, h2): &Span| c < c2 + w2 && c2 < c + w && r < r2 + h2 && r2 < r + h;
        if big[..k].iter().any(overlaps) {
            return Some(format!("big cell ({c}, {r}, {w}, {h}) overlaps another"));
        }
    }
    None
}

/// Cells of a valid fixed grid: the big ones and every place they leave free.
fn cell_count(cols: u8, rows: u8, big: &[Span]) -> usize {
    let covered: usize = big.iter().map(|&(_, _, w, h)| usize::from(w * h)).sum();
    usize::from(cols) * usize::from(rows) - covered + big.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(name: &str, grid: GridSpec, cameras: &[&str]) -> LayoutConfig {
        LayoutConfig {
            follow: FollowConfig::default(),
            name: name.into(),
            grid,
            cameras: cameras.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn messages(layouts: &[LayoutConfig], windows: &[WindowConfig]) -> Vec<String> {
        let cams = ["A", "B", "C"].map(String::from);
        problems(layouts, windows, &cams)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn presets_count_their_cells() {
        for (spec, cells) in [
            (GridSpec::OnePlus5, 6),
            (GridSpec::OnePlus7, 8),
            (GridSpec::OnePlus12, 13),
            (GridSpec::TwoPlus8, 10),
            (GridSpec::Grid(4, 3), 12),
        ] {
            let (c, r, big) = spec.fixed().unwrap();
            assert_eq!(grid_problem(c, r, &big), None, "{spec:?}");
            assert_eq!(cell_count(c, r, &big), cells, "{spec:?}");
        }
    }

    #[test]
    fn layout_problems_name_what_is_wrong() {
        let table: Vec<(LayoutConfig, &str)> = vec![
            (layout("x", GridSpec::Grid(0, 2), &[]), "1 to 8 columns"),
            (layout("x", GridSpec::Grid(9, 1), &[]), "not 9×1"),
            (
                layout(
                    "x",
                    GridSpec::Spans {
                        cols: 3,
                        rows: 3,
                        big: vec![(2, 2, 2, 1)],
                    },
                    &[],
                ),
                "does not fit the 3×3 grid",
            ),
            (
                layout(
                    "x",
                    GridSpec::Spans {
                        cols: 4,
                        rows: 4,
                        big: vec![(0, 0, 2, 2), (1, 1, 2, 2)],
                    },
                    &[],
                ),
                "overlaps another",
            ),
            (
                layout("x", GridSpec::Auto, &["A", "Z"]),
                "no camera named \"Z\"",
            ),
            (layout("x", GridSpec::Auto, &["A", "A"]), "listed twice"),
            (
                layout("x", GridSpec::Grid(1, 2), &["A", "", "B"]),
                "has 2 cells but lists 3 cameras",
            ),
            (layout(" ", GridSpec::Auto, &[]), "cannot be empty"),
        ];
        for (l, want) in table {
            let got = messages(std::slice::from_ref(&l), &[]);
            assert!(got.iter().any(|m| m.contains(want)), "{l:?}: {got:?}");
        }
        // Empty cells and every camera once are fine.
        let good = layout("ok", GridSpec::OnePlus5, &["C", "", "A"]);
        assert_eq!(messages(&[good], &[]), Vec::<String>::new());
    }

    #[test]
    fn window_problems_name_what_is_wrong() {
        let layouts = [layout("L", GridSpec::Auto, &[])];
        let window = |layout: Option<&str>, tour: Option<TourConfig>| WindowConfig {
            name: "W".into(),
            monitor: MonitorConfig::Primary,
            mode: WindowModeConfig::Windowed,
            size: (1600, 900),
            layout: layout.map(String::from),
            tour,
            alarms: false,
        };
        let tour = |secs, layouts: &[&str], cameras: &[&str]| TourConfig {
            secs,
            layouts: layouts.iter().map(|s| s.to_string()).collect(),
            cameras: cameras.iter().map(|s| s.to_string()).collect(),
        };
        let table = [
            (window(Some("Nope"), None), "no layout named \"Nope\""),
            (window(None, Some(tour(0, &["L"], &[]))), "at least 1"),
            (
                window(None, Some(tour(5, &[], &[]))),
                "either layouts or cameras",
            ),
            (
                window(None, Some(tour(5, &["L"], &["A"]))),
                "either layouts or cameras",
            ),
            (
                window(None, Some(tour(5, &["L", "M"], &[]))),
                "no layout named \"M\"",
            ),
            (
                window(None, Some(tour(5, &[], &["A", "Q"]))),
                "no camera named \"Q\"",
            ),
        ];
        for (w, want) in table {
            let got = messages(&layouts, std::slice::from_ref(&w));
            assert!(got.iter().any(|m| m.contains(want)), "{w:?}: {got:?}");
        }
        let twice = [window(None, None), window(Some("L"), None)];
        assert!(messages(&layouts, &twice)[0].contains("duplicate window name"));
        // Without layouts, the built-in "All" is there to name.
        assert!(messages(&[], &[window(Some("All"), None)]).is_empty());
    }
}

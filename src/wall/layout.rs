//! Layouts, pure: how many columns and rows for N cameras, a named layout's cells (fixed
//! grids with big cells) and which camera each shows, each cell's rectangle in the window, the
//! neighbouring cell in a direction, and the letterboxed picture inside a cell. Screen
//! coordinates: origin top-left, y down, logical pixels.

use crate::camera::StreamKind;
use crate::config::LayoutConfig;

/// An axis-aligned rectangle in screen coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    pub fn contains(&self, px: f32, py: f32) -> bool {
        px >= self.x && py >= self.y && px < self.x + self.w && py < self.y + self.h
    }

    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

/// Columns and rows for `n` tiles: the smallest square grid (1, 2×2, 3×3, 4×4 …), dropping
/// a row when it would stay empty (3 cameras: 2×2; 5 or 6: 3×2).
pub fn grid(n: usize) -> (usize, usize) {
    if n == 0 {
        return (1, 1);
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    (cols, rows)
}

/// A cell of a layout in grid units: column, row, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub col: u8,
    pub row: u8,
    pub w: u8,
    pub h: u8,
}

/// A layout solved for the cameras there are: the grid, and each cell with the camera it
/// shows (an index into the camera list given), in reading order of the cells' corners.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    pub cols: u8,
    pub rows: u8,
    pub cells: Vec<(Cell, Option<usize>)>,
    /// The cell left empty while its camera shows in the follow-activity cell.
    pub vacated: Option<usize>,
}

impl Solved {
    /// The cell showing camera `index`, if any.
    pub fn cell_of(&self, index: usize) -> Option<usize> {
        self.cells.iter().position(|(_, c)| *c == Some(index))
    }

    /// Each cell's rectangle in a `width × height` window with `gap` between cells.
    pub fn rects(&self, width: f32, height: f32, gap: f32) -> Vec<Rect> {
        let (cols, rows) = (f32::from(self.cols), f32::from(self.rows));
        let cw = ((width - gap * (cols + 1.0)) / cols).max(1.0);
        let ch = ((height - gap * (rows + 1.0)) / rows).max(1.0);
        self.cells
            .iter()
            .map(|(c, _)| Rect {
                x: gap + f32::from(c.col) * (cw + gap),
                y: gap + f32::from(c.row) * (ch + gap),
                w: f32::from(c.w) * cw + f32::from(c.w - 1) * gap,
                h: f32::from(c.h) * ch + f32::from(c.h - 1) * gap,
            })
            .collect()
    }
}

/// Cells of a grid of `cols × rows` with `big` cells (checked by the config): the big ones
/// and a 1×1 cell for every place they leave free, in reading order of their corners.
fn grid_cells(cols: u8, rows: u8, big: &[crate::config::Span]) -> Vec<Cell> {
    let covered = |col: u8, row: u8| {
        big.iter()
            .any(|&(c, r, w, h)| col >= c && col < c + w && row >= r && row < r + h)
    };
    let mut cells: Vec<Cell> = big
        .iter()
        .map(|&(col, row, w, h)| Cell { col, row, w, h })
        .collect();
    for row in 0..rows {
        for col in 0..cols {
            if !covered(col, row) {
                cells.push(Cell {
                    col,
                    row,
                    w: 1,
                    h: 1,
                });
            }
        }
    }
    cells.sort_by_key(|c| (c.row, c.col));
    cells
}

/// Solves `layout` for `cameras` (names, in the wall's order): `Auto` makes a square grid of
/// the cameras it shows; a fixed grid shows the listed cameras (`""`: empty cell) or, with no
/// list, the cameras in order, as many as fit. A listed camera that does not exist (removed at
/// run time) leaves its cell empty.
pub fn solve(layout: &LayoutConfig, cameras: &[&str]) -> Solved {
    solve_following(layout, cameras, None)
}

/// [`solve`] with the follow-activity cell (`"*"`) showing camera `follow` (empty for
/// `None`); that camera's own cell, if it has one, stays empty meanwhile (a camera has one
/// tile per window).
pub fn solve_following(layout: &LayoutConfig, cameras: &[&str], follow: Option<&str>) -> Solved {
    let find = |name: &str| cameras.iter().position(|c| *c == name);
    let vacated = follow
        .filter(|f| find(f).is_some())
        .and_then(|f| layout.cameras.iter().position(|n| n == f));
    let listed: Vec<Option<usize>> = if layout.cameras.is_empty() {
        (0..cameras.len()).map(Some).collect()
    } else {
        layout
            .cameras
            .iter()
            .map(|name| match (name.as_str(), follow) {
                (crate::config::FOLLOW_CELL, f) => f.and_then(find),
                (n, Some(f)) if n == f => None,
                (n, _) => find(n),
            })
            .collect()
    };
    let (cols, rows, cells) = match layout.grid.fixed() {
        Some((cols, rows, big)) => (cols.max(1), rows.max(1), grid_cells(cols, rows, &big)),
        None => {
            let (cols, rows) = grid(listed.len());
            let (cols, rows) = (clamp_u8(cols), clamp_u8(rows));
            let mut cells = grid_cells(cols, rows, &[]);
            cells.truncate(listed.len().max(1));
            (cols, rows, cells)
        }
    };
    let cells: Vec<_> = cells
        .into_iter()
        .enumerate()
        .map(|(i, cell)| (cell, listed.get(i).copied().flatten()))
        .collect();
    Solved {
        cols,
        rows,
        vacated: vacated.filter(|i| *i < cells.len()),
        cells,
    }
}

fn clamp_u8(v: usize) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// A direction to move the selection in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

/// The cell nearest to `from` in `direction`: among the cells wholly beyond that edge of
/// it, the one whose centre is closest (cells in line count double less), or `None` at the
/// edge.
pub fn neighbour(rects: &[Rect], from: usize, direction: Direction) -> Option<usize> {
    let f = *rects.get(from)?;
    let (fx, fy) = f.center();
    const EPS: f32 = 0.5;
    rects
        .iter()
        .enumerate()
        .filter(|&(i, r)| {
            i != from
                && match direction {
                    Direction::Left => r.x + r.w <= f.x + EPS,
                    Direction::Right => r.x >= f.x + f.w - EPS,
                    Direction::Up => r.y + r.h <= f.y + EPS,
                    Direction::Down => r.y >= f.y + f.h - EPS,
                }
        })
        .map(|(i, r)| {
            let (x, y) = r.center();
            let (along, across) = match direction {
                Direction::Left | Direction::Right => ((x - fx).abs(), (y - fy).abs()),
                Direction::Up | Direction::Down => ((y - fy).abs(), (x - fx).abs()),
            };
            (i, along + 2.0 * across)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// A tile this much larger than the sub stream (either way) shows the main stream.
pub const MAIN_ABOVE: f32 = 1.15;
/// A tile no larger than the sub stream (both ways) shows the sub stream again. Between the
/// two the stream stays as it is, so a resize around the boundary does not flap.
pub const SUB_AT_MOST: f32 = 1.0;

/// The stream a tile of `tile` pixels (physical) should show, given the one it shows now
/// and the sub stream's size: the sub stream while the tile is no larger than its pictures
/// (Milestone's rule), the main stream when it is clearly larger.
pub fn stream_for(now: StreamKind, tile: (f32, f32), sub: (u32, u32)) -> StreamKind {
    let (sw, sh) = (sub.0 as f32, sub.1 as f32);
    match now {
        StreamKind::Sub if tile.0 > sw * MAIN_ABOVE || tile.1 > sh * MAIN_ABOVE => StreamKind::Main,
        StreamKind::Main if tile.0 <= sw * SUB_AT_MOST && tile.1 <= sh * SUB_AT_MOST => {
            StreamKind::Sub
        }
        same => same,
    }
}

/// The largest rectangle of aspect `pic_w : pic_h` centred in `cell` (letterbox/pillarbox).
pub fn fit(cell: Rect, pic_w: u32, pic_h: u32) -> Rect {
    if pic_w == 0 || pic_h == 0 {
        return cell;
    }
    let aspect = pic_w as f32 / pic_h as f32;
    let (w, h) = if cell.w / cell.h > aspect {
        (cell.h * aspect, cell.h)
    } else {
        (cell.w, cell.w / aspect)
    };
    Rect {
        x: cell.x + (cell.w - w) / 2.0,
        y: cell.y + (cell.h - h) / 2.0,
        w,
        h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GridSpec;

    #[test]
    fn grid_sizes() {
        let table = [
            (0, (1, 1)),
            (1, (1, 1)),
            (2, (2, 1)),
            (3, (2, 2)),
            (4, (2, 2)),
            (5, (3, 2)),
            (9, (3, 3)),
            (10, (4, 3)),
            (16, (4, 4)),
            (17, (5, 4)),
        ];
        for (n, want) in table {
            assert_eq!(grid(n), want, "n = {n}");
        }
    }

    fn layout(grid: GridSpec, cameras: &[&str]) -> LayoutConfig {
        LayoutConfig {
            follow: Default::default(),
            name: "t".into(),
            grid,
            cameras: cameras.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn cell(col: u8, row: u8, w: u8, h: u8) -> Cell {
        Cell { col, row, w, h }
    }

    #[test]
    fn the_follow_cell_shows_the_followed_camera_and_its_own_cell_empties() {
        let cams = ["A", "B", "C"];
        let l = layout(GridSpec::OnePlus5, &["*", "A", "B", "C"]);
        let shown = |s: &Solved| s.cells.iter().map(|(_, c)| *c).collect::<Vec<_>>();
        assert_eq!(
            shown(&solve_following(&l, &cams, None))[..4],
            [None, Some(0), Some(1), Some(2)]
        );
        assert_eq!(
            shown(&solve_following(&l, &cams, Some("B")))[..4],
            [Some(1), Some(0), None, Some(2)]
        );
        assert_eq!(solve_following(&l, &cams, Some("B")).vacated, Some(2));
        assert_eq!(solve_following(&l, &cams, None).vacated, None);
        // A followed camera that is gone leaves the cell empty.
        assert_eq!(shown(&solve_following(&l, &cams, Some("Gone")))[0], None);
    }

    #[test]
    fn layouts_solve_into_cells_with_their_cameras() {
        let cams = ["A", "B", "C", "D", "E", "F", "G"];
        // Auto: a square grid of every camera, no empty cells.
        let auto = solve(&layout(GridSpec::Auto, &[]), &cams);
        assert_eq!((auto.cols, auto.rows, auto.cells.len()), (3, 3, 7));
        assert_eq!(auto.cells[4], (cell(1, 1, 1, 1), Some(4)));
        // One big + 5: the big cell first, then reading order; cameras in order, as many as fit.
        let big5 = solve(&layout(GridSpec::OnePlus5, &[]), &cams);
        let want = [
            (cell(0, 0, 2, 2), Some(0)),
            (cell(2, 0, 1, 1), Some(1)),
            (cell(2, 1, 1, 1), Some(2)),
            (cell(0, 2, 1, 1), Some(3)),
            (cell(1, 2, 1, 1), Some(4)),
            (cell(2, 2, 1, 1), Some(5)),
        ];
        assert_eq!(big5.cells, want);
        // Listed cameras, an empty cell, and a camera that no longer exists.
        let listed = solve(&layout(GridSpec::TwoPlus8, &["G", "", "Gone", "A"]), &cams);
        assert_eq!(listed.cells.len(), 10);
        assert_eq!(listed.cells[0], (cell(0, 0, 2, 2), Some(6)));
        assert_eq!(listed.cells[1], (cell(2, 0, 2, 2), None));
        assert_eq!(listed.cells[2], (cell(0, 2, 1, 1), None));
        assert_eq!(listed.cells[3], (cell(1, 2, 1, 1), Some(0)));
        assert!(listed.cells[4..].iter().all(|(_, c)| c.is_none()));
        assert_eq!(listed.cell_of(0), Some(3));
        assert_eq!(listed.cell_of(1), None);
        // The middle big cell of 1 + 12 comes after the first row.
        let mid = solve(&layout(GridSpec::OnePlus12, &[]), &cams);
        assert_eq!(mid.cells[4].0, cell(0, 1, 1, 1));
        assert_eq!(mid.cells[5].0, cell(1, 1, 2, 2));
        // A fixed grid with fewer cameras than cells leaves the rest empty.
        let two = solve(&layout(GridSpec::Grid(2, 2), &[]), &cams[..2]);
        assert_eq!(two.cells.iter().filter(|(_, c)| c.is_some()).count(), 2);
        assert_eq!(two.cells.len(), 4);
        // No cameras at all: one empty cell.
        let none = solve(&layout(GridSpec::Auto, &[]), &[]);
        assert_eq!(none.cells, vec![(cell(0, 0, 1, 1), None)]);
    }

    #[test]
    fn cells_become_rectangles_with_gaps() {
        let big5 = solve(&layout(GridSpec::OnePlus5, &[]), &["A"; 6]);
        let r = big5.rects(310.0, 310.0, 10.0);
        assert_eq!(
            r[0],
            Rect {
                x: 10.0,
                y: 10.0,
                w: 190.0,
                h: 190.0
            }
        );
        assert_eq!((r[1].x, r[1].w), (210.0, 90.0));
        assert_eq!((r[5].x, r[5].y), (210.0, 210.0));
    }

    #[test]
    fn the_neighbour_is_the_nearest_cell_in_that_direction() {
        let big5 = solve(&layout(GridSpec::OnePlus5, &[]), &["A"; 6]);
        let r = big5.rects(300.0, 300.0, 0.0);
        assert_eq!(neighbour(&r, 0, Direction::Right), Some(1));
        assert_eq!(neighbour(&r, 0, Direction::Down), Some(3));
        assert_eq!(neighbour(&r, 0, Direction::Left), None);
        assert_eq!(neighbour(&r, 2, Direction::Left), Some(0));
        assert_eq!(neighbour(&r, 5, Direction::Up), Some(2));
        assert_eq!(neighbour(&r, 3, Direction::Right), Some(4));
        assert_eq!(neighbour(&r, 3, Direction::Up), Some(0));
    }

    #[test]
    fn the_stream_follows_the_tiles_pixels_with_hysteresis() {
        use StreamKind::{Main, Sub};
        let sub = (320, 180);
        let table = [
            // 4×4 on 1280×720: smaller than the sub stream.
            (Sub, (311.0, 175.0), Sub),
            (Main, (311.0, 175.0), Sub),
            // Exactly the sub stream's size: sub.
            (Main, (320.0, 180.0), Sub),
            // A little larger: whichever it shows now (no flapping on a resize).
            (Sub, (360.0, 202.5), Sub),
            (Main, (360.0, 202.5), Main),
            // Clearly larger (maximised): main.
            (Sub, (1280.0, 720.0), Main),
            (Main, (1280.0, 720.0), Main),
            // Tall and narrow: larger one way is enough.
            (Sub, (300.0, 400.0), Main),
        ];
        for (now, tile, want) in table {
            assert_eq!(stream_for(now, tile, sub), want, "{now:?} at {tile:?}");
        }
    }

    #[test]
    fn fit_letterboxes_and_pillarboxes() {
        let wide = fit(
            Rect {
                x: 0.0,
                y: 0.0,
                w: 400.0,
                h: 400.0,
            },
            1920,
            1080,
        );
        assert_eq!((wide.w, wide.h, wide.y), (400.0, 225.0, 87.5));
        let tall = fit(
            Rect {
                x: 10.0,
                y: 0.0,
                w: 1600.0,
                h: 900.0,
            },
            4,
            3,
        );
        assert_eq!((tall.w, tall.h, tall.x), (1200.0, 900.0, 210.0));
        let none = Rect {
            x: 1.0,
            y: 2.0,
            w: 3.0,
            h: 4.0,
        };
        assert_eq!(fit(none, 0, 0), none);
    }
}

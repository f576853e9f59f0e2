//! Grid layout, pure: how many columns and rows for N cameras, each tile's cell in the window,
//! and the letterboxed picture inside a cell. Screen coordinates: origin top-left, y down,
//! logical pixels.

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

/// Cells of `n` tiles filling a `width × height` window with `gap` between them.
pub fn cells(n: usize, width: f32, height: f32, gap: f32) -> Vec<Rect> {
    let (cols, rows) = grid(n);
    let cw = ((width - gap * (cols as f32 + 1.0)) / cols as f32).max(1.0);
    let ch = ((height - gap * (rows as f32 + 1.0)) / rows as f32).max(1.0);
    (0..n)
        .map(|i| {
            let (c, r) = (i % cols, i / cols);
            Rect {
                x: gap + c as f32 * (cw + gap),
                y: gap + r as f32 * (ch + gap),
                w: cw,
                h: ch,
            }
        })
        .collect()
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

    #[test]
    fn cells_tile_the_window() {
        let c = cells(4, 1000.0, 500.0, 0.0);
        assert_eq!(
            c[0],
            Rect {
                x: 0.0,
                y: 0.0,
                w: 500.0,
                h: 250.0
            }
        );
        assert_eq!(
            c[3],
            Rect {
                x: 500.0,
                y: 250.0,
                w: 500.0,
                h: 250.0
            }
        );
        let g = cells(2, 1000.0, 500.0, 10.0);
        assert_eq!(g[1].x, 505.0);
        assert_eq!(g[1].w, 485.0);
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

//! The capture clock burned into a picture, machine-readable, for glass-to-glass latency:
//! a band of black and white cells along the top edge (the wall's overlays sit at the
//! bottom) carrying an 8-bit sync pattern, the capture time (Unix ms modulo 2³², big-endian)
//! and a CRC-8 of it. Simulated cameras draw it into each picture as they capture it; the
//! wall reads it back from the decoded picture.
//! Cells are large and flat (each at least 4×8 pixels) so they survive H.264/H.265 at low
//! quality; anything that does not read back cleanly (real camera content, a scaled stream)
//! reads as `None`, never as a wrong time. Pure: planes in, planes or a value out.

/// Cells across the picture: 8 sync + 32 time + 8 check bits.
pub const CELLS: usize = 48;
const SYNC: u8 = 0b1011_0010;
/// Luma of a one and of a zero cell (video range white and black).
const ONE: u8 = 235;
const ZERO: u8 = 16;
/// A read cell must be clearly one or the other: between these it is no code at all.
const LOW_MAX: u8 = 90;
const HIGH_MIN: u8 = 166;

/// Where the band lies in a picture of `width × height` luma pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// Width of one cell; the band starts at x = 0.
    pub cell: usize,
    /// First row of the band and its height.
    pub top: usize,
    pub rows: usize,
}

/// The band of a picture, if the picture is large enough to carry one (at least 192×32).
pub fn band(width: usize, height: usize) -> Option<Band> {
    let cell = (width / CELLS) & !1;
    let rows = cell.max(8) & !1;
    if cell < 4 || height < rows * 4 {
        return None;
    }
    Some(Band { cell, top: 0, rows })
}

/// CRC-8 (polynomial 0x07, initial 0), as in ATM HEC and SMBus.
fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 48 cells for `ms`, left to right.
pub fn cells(ms: u32) -> [bool; CELLS] {
    let time = ms.to_be_bytes();
    let bytes = [SYNC, time[0], time[1], time[2], time[3], crc8(&time)];
    let mut out = [false; CELLS];
    for (i, cell) in out.iter_mut().enumerate() {
        *cell = bytes[i / 8] >> (7 - i % 8) & 1 == 1;
    }
    out
}

/// Draws the code for `ms` into a luma plane (`stride` bytes per row) of `width × height`.
/// Callers make the chroma under the band neutral (see [`band`]).
pub fn draw(luma: &mut [u8], stride: usize, width: usize, height: usize, ms: u32) {
    let Some(b) = band(width, height) else { return };
    let bits = cells(ms);
    for row in b.top..b.top + b.rows {
        let Some(line) = luma.get_mut(row * stride..row * stride + width) else {
            return;
        };
        line.fill(ZERO);
        for (i, bit) in bits.iter().enumerate() {
            if *bit {
                line[i * b.cell..(i + 1) * b.cell].fill(ONE);
            }
        }
    }
}

/// Reads the code back from a decoded luma plane; `None` unless sync and check both match.
pub fn read(luma: &[u8], stride: usize, width: usize, height: usize) -> Option<u32> {
    let b = band(width, height)?;
    let mut bits = [false; CELLS];
    for (i, bit) in bits.iter_mut().enumerate() {
        // The middle 2×2 of the cell, away from edges the codec blurs.
        let (x, y) = (i * b.cell + b.cell / 2 - 1, b.top + b.rows / 2 - 1);
        let mut sum = 0u32;
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            sum += u32::from(*luma.get((y + dy) * stride + x + dx)?);
        }
        let v = (sum / 4) as u8;
        *bit = match v {
            ..=LOW_MAX => false,
            HIGH_MIN.. => true,
            _ => return None,
        };
    }
    let byte = |k: usize| (0..8).fold(0u8, |acc, j| acc << 1 | u8::from(bits[k * 8 + j]));
    if byte(0) != SYNC {
        return None;
    }
    let time = [byte(1), byte(2), byte(3), byte(4)];
    (crc8(&time) == byte(5)).then(|| u32::from_be_bytes(time))
}

/// Milliseconds from a burned capture time to `now_ms` (Unix ms), across the 2³² wrap;
/// `None` for a time in the future or absurdly old (over a minute: not this session's).
pub fn age_ms(captured: u32, now_ms: i64) -> Option<u32> {
    let age = (now_ms as u32).wrapping_sub(captured);
    (age <= 60_000).then_some(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(w: usize, h: usize, fill: u8) -> Vec<u8> {
        vec![fill; w * h]
    }

    #[test]
    fn reads_back_what_it_draws() {
        for (w, h) in [(320, 180), (640, 360), (1920, 1080), (202, 64)] {
            let mut luma = plane(w + 32, h, 128);
            for ms in [0u32, 1, 0xDEAD_BEEF, u32::MAX, 1_764_000_123] {
                draw(&mut luma, w + 32, w, h, ms);
                assert_eq!(read(&luma, w + 32, w, h), Some(ms), "{w}x{h} {ms}");
            }
        }
    }

    #[test]
    fn ordinary_pictures_read_as_nothing() {
        let (w, h) = (640, 360);
        assert_eq!(read(&plane(w, h, 16), w, w, h), None, "black");
        assert_eq!(read(&plane(w, h, 235), w, w, h), None, "white");
        assert_eq!(read(&plane(w, h, 128), w, w, h), None, "grey");
        let noise: Vec<u8> = (0..w * h).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(read(&noise, w, w, h), None, "noise");
        assert_eq!(band(100, 100), None, "too small to carry a code");
    }

    #[test]
    fn a_damaged_code_is_rejected() {
        let (w, h) = (640, 360);
        let mut luma = plane(w, h, 128);
        draw(&mut luma, w, w, h, 123_456);
        let b = band(w, h).unwrap();
        // Flip one time cell: the check byte no longer matches.
        let x = 20 * b.cell + b.cell / 2;
        for row in b.top..b.top + b.rows {
            let v = &mut luma[row * w + x - 2..row * w + x + 2];
            let flipped = if v[0] > 128 { ZERO } else { ONE };
            v.fill(flipped);
        }
        assert_eq!(read(&luma, w, w, h), None);
        // A grey cell is no code either.
        let mut luma = plane(w, h, 128);
        draw(&mut luma, w, w, h, 123_456);
        for row in b.top..b.top + b.rows {
            luma[row * w + x - 2..row * w + x + 2].fill(128);
        }
        assert_eq!(read(&luma, w, w, h), None);
    }

    #[test]
    fn ages_wrap_and_refuse_the_future() {
        assert_eq!(age_ms(1000, 1040), Some(40));
        assert_eq!(age_ms(u32::MAX - 9, (1i64 << 32) + 30), Some(40), "wrap");
        assert_eq!(age_ms(2000, 1000), None, "future");
        assert_eq!(age_ms(0, 120_000), None, "stale");
    }
}

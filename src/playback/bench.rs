//! `opticlink bench-seek`: how long wall playback takes from a seek to the first picture
//! shown, over random instants of a camera's recordings, beside a baseline run on the same
//! instants in the same process: opening the segment and decoding it from its start (what a
//! player without keyframe seeking does). Each seek is checked too: the picture shown must be
//! the last one at or before the instant.

use std::path::Path;
use std::time::{Duration, Instant};

use ffmpeg::Rescale;
use ffmpeg_next as ffmpeg;

use super::index::Index;
use super::player::{Motion, Player, Shown, Want, locate};
use crate::bench::Spread;

/// What the bench found.
pub struct SeekReport {
    pub segments: usize,
    pub footage: Duration,
    pub index_load: Duration,
    pub player: Spread,
    pub baseline: Spread,
    /// Seeks whose picture was not the last at or before the instant.
    pub wrong: Vec<String>,
}

impl std::fmt::Display for SeekReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "{} segments, {:.1} h of footage, index loaded in {:.0} ms",
            self.segments,
            self.footage.as_secs_f64() / 3600.0,
            ms(self.index_load)
        )?;
        for (what, s) in [
            ("wall playback (seek → first picture)", &self.player),
            (
                "baseline (open + decode from the segment's start)",
                &self.baseline,
            ),
        ] {
            writeln!(
                f,
                "{what}: p50 {:.1} ms, p99 {:.1} ms over {} seeks",
                ms(s.p50),
                ms(s.p99),
                s.n
            )?;
        }
        writeln!(
            f,
            "ratio (playback / baseline): p50 {:.2}, p99 {:.2}",
            ms(self.player.p50) / ms(self.baseline.p50).max(1e-9),
            ms(self.player.p99) / ms(self.baseline.p99).max(1e-9)
        )?;
        if self.wrong.is_empty() {
            writeln!(
                f,
                "every seek showed the last picture at or before its instant"
            )
        } else {
            writeln!(f, "WRONG PICTURES: {}", self.wrong.join("; "))
        }
    }
}

/// A small deterministic generator (xorshift64*), so runs seek to the same instants.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `seeks` random instants of the footage in `folder`, each shown by a [`Player`] and decoded by
/// the baseline.
/// (`record_dir`: the recording directory.)
pub fn seek(record_dir: &Path, camera: &str, seeks: usize) -> Result<SeekReport, String> {
    let folder = &super::camera_folder(record_dir, camera);
    let source = super::Source::Folder(folder.clone());
    let t = Instant::now();
    let index = Index::load(folder);
    let index_load = t.elapsed();
    if index.segments.is_empty() {
        return Err(format!("no recordings in {}", folder.display()));
    }
    let total: i64 = index.segments.iter().map(|s| s.end_ms - s.start_ms).sum();
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let instants: Vec<i64> = (0..seeks)
        .map(|_| {
            // Uniform over the footage: an offset into the segments laid end to end.
            let mut off = (rng.next() % total.max(1) as u64) as i64;
            for s in &index.segments {
                let len = s.end_ms - s.start_ms;
                if off < len {
                    return s.start_ms + off;
                }
                off -= len;
            }
            index.segments[0].start_ms
        })
        .collect();
    let player = Player::start(camera, source.clone(), None).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut wrong = Vec::new();
    for (i, &at) in instants.iter().enumerate() {
        let seq = i as u64 + 1;
        let _ = player.take_shown();
        let t = Instant::now();
        player.want(Want {
            at_ms: at,
            motion: Motion::Forward,
            seq,
        });
        let shown = loop {
            if let Some(s) = player.take_shown() {
                break Some(s);
            }
            if player.done() >= seq {
                // Carried out with nothing new to show (the same picture as before).
                break player.take_shown();
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err(format!("no picture 30 s after a seek to {at}"));
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        times.push(t.elapsed());
        match shown {
            Some(Shown::Picture { at_ms, next_ms, .. })
                if at_ms > at || next_ms.is_some_and(|n| n <= at) =>
            {
                wrong.push(format!("{at}: showed {at_ms}, next {next_ms:?}"));
            }
            Some(Shown::Nothing { reason, .. }) => wrong.push(format!("{at}: {reason}")),
            _ => {}
        }
    }
    drop(player);
    let mut base = Vec::new();
    for &at in &instants {
        let Some(seg) = locate(&index, at) else {
            continue;
        };
        let t = Instant::now();
        decode_from_start(&source, seg, at)?;
        base.push(t.elapsed());
    }
    Ok(SeekReport {
        segments: index.segments.len(),
        footage: Duration::from_millis(total.max(0) as u64),
        index_load,
        player: Spread::of(times).ok_or("no seeks")?,
        baseline: Spread::of(base).ok_or("no seeks")?,
        wrong,
    })
}

/// The baseline: opens the segment and decodes every picture up to `at_ms`.
fn decode_from_start(
    source: &super::Source,
    seg: &super::Segment,
    at_ms: i64,
) -> Result<(), String> {
    let start_ms = seg.start_ms;
    let super::reader::VideoFile {
        mut input,
        video: index,
        tb,
        mut decoder,
    } = super::reader::VideoFile::open(source, &seg.file)?;
    let mut picture = ffmpeg::frame::Video::empty();
    for (s, packet) in crate::media::packets(&mut input) {
        if s != index {
            continue;
        }
        let at = start_ms
            + packet
                .pts()
                .unwrap_or(0)
                .rescale(tb, ffmpeg::Rational(1, 1000));
        if decoder.send_packet(&packet).is_ok() {
            while decoder.receive_frame(&mut picture).is_ok() {}
        }
        if at > at_ms {
            break;
        }
    }
    Ok(())
}

//! Clip export: one MP4 remuxed (no re-encode) from a camera's segments across their
//! boundaries, from the keyframe at or before `from` to the first picture at or after `to`,
//! with wall-clock timestamps (a gap between segments stays a gap in time), strictly
//! increasing per track, and the camera's name and the clip's start in the metadata.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use super::index::{Index, rfc3339};

/// Microseconds, the clip's own time base before each track's.
const US: ffmpeg::Rational = ffmpeg::Rational(1, 1_000_000);

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Wall-clock start (the first keyframe) and end (the last picture's end), Unix ms.
    pub start_ms: i64,
    pub end_ms: i64,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Segments read.
    pub files: usize,
    /// Why the clip ends before `to`, or why it has no sound.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    BadRange(String),
    #[error("nothing recorded between {from} and {to}{}", nearest_text(*.before, *.after))]
    NoFootage {
        from: String,
        to: String,
        before: Option<i64>,
        after: Option<i64>,
    },
    #[error("{file}: {what}")]
    Media { file: String, what: String },
}

fn nearest_text(before: Option<i64>, after: Option<i64>) -> String {
    match (before, after) {
        (None, None) => " (no recordings at all)".into(),
        (b, a) => format!(
            " (nearest: {})",
            [
                b.map(|t| format!("until {}", rfc3339(t))),
                a.map(|t| format!("from {}", rfc3339(t))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        ),
    }
}

/// The segments `[from_ms, to_ms]` needs, in order; or why there are none.
pub fn plan(index: &Index, from_ms: i64, to_ms: i64) -> Result<Vec<&super::Segment>, ExportError> {
    if to_ms <= from_ms {
        return Err(ExportError::BadRange(format!(
            "the end {} is not after the start {}",
            rfc3339(to_ms),
            rfc3339(from_ms)
        )));
    }
    let segs: Vec<_> = index
        .segments
        .iter()
        .filter(|s| s.end_ms > from_ms && s.start_ms < to_ms)
        .collect();
    if segs.is_empty() {
        let (before, after) = index.nearest(from_ms);
        return Err(ExportError::NoFootage {
            from: rfc3339(from_ms),
            to: rfc3339(to_ms),
            before,
            after,
        });
    }
    Ok(segs)
}

/// How far past its listed end a segment is read (the newest one grows while exported).
const SEGMENT_MARGIN_MS: i64 = 60_000;
/// The most packets per millisecond of a segment read (one a millisecond: 40 times a 25 fps
/// camera's pictures and sound together).
const PACKETS_PER_MS: u64 = 1;

/// Writes `[from_ms, to_ms]` of the camera whose recordings are at `source` to `out` (MP4).
pub fn export(
    source: &super::Source,
    index: &Index,
    camera: &str,
    from_ms: i64,
    to_ms: i64,
    out: &Path,
) -> Result<Clip, ExportError> {
    crate::media::init_ffmpeg();
    let segs = plan(index, from_ms, to_ms)?;
    let media = |file: &str, what: String| ExportError::Media {
        file: file.to_owned(),
        what,
    };
    let first = &segs[0];
    // One read of the first segment: its tracks, and where the clip starts.
    let (start_us, video_params, audio_params) =
        first_keyframe(source, first, from_ms).map_err(|e| media(&first.file, e))?;
    let mut notes = Vec::new();
    let audio_params = match audio_params {
        Some(p) if p.id() == ffmpeg::codec::Id::AAC => Some(p),
        Some(p) => {
            notes.push(format!(
                "{:?} sound cannot be stored in MP4: the clip is silent",
                p.id()
            ));
            None
        }
        None => None,
    };

    let out_name = out.display().to_string();
    let mut octx =
        ffmpeg::format::output_as(out, "mp4").map_err(|e| media(&out_name, e.to_string()))?;
    for params in std::iter::once(&video_params).chain(audio_params.as_ref()) {
        let mut s = octx
            .add_stream(None::<ffmpeg::Codec>)
            .map_err(|e| media(&out_name, e.to_string()))?;
        s.set_parameters(params.clone());
        // SAFETY: the stream's own codecpar; a zero tag lets the MP4 muxer pick its tag
        // (a Matroska source has none that MP4 knows).
        unsafe {
            let tag = &mut (*(*s.as_mut_ptr()).codecpar).codec_tag;
            if params.id() != ffmpeg::codec::Id::HEVC {
                *tag = 0;
            } else {
                *tag = u32::from_le_bytes(*b"hvc1");
            }
        }
    }
    let mut meta = ffmpeg::Dictionary::new();
    meta.set("title", camera);
    meta.set("creation_time", &rfc3339(start_us / 1000));
    meta.set(
        "comment",
        &format!(
            "OpticLink export of {camera} from {}",
            rfc3339(start_us / 1000)
        ),
    );
    octx.set_metadata(meta);
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("movflags", "+faststart+use_metadata_tags");
    octx.write_header_with(opts)
        .map_err(|e| media(&out_name, format!("cannot write header: {e}")))?;
    let out_tb: Vec<ffmpeg::Rational> = octx.streams().map(|s| s.time_base()).collect();

    let mut clip = Clip {
        start_ms: start_us / 1000,
        end_ms: start_us / 1000,
        video_packets: 0,
        audio_packets: 0,
        files: 0,
        notes,
    };
    let mut last_dts = [i64::MIN; 2];
    let mut done = false;
    for seg in &segs {
        if done {
            break;
        }
        let mut input = source.open(&seg.file).map_err(|e| media(&seg.file, e))?;
        let Some(v) = input.streams().best(ffmpeg::media::Type::Video) else {
            clip.notes
                .push(format!("{}: no video track, skipped", seg.file));
            continue;
        };
        let vp = v.parameters();
        // SAFETY: reading plain fields of the streams' codec parameters.
        let (same, w, h) = unsafe {
            let (a, b) = (&*vp.as_ptr(), &*video_params.as_ptr());
            (
                a.codec_id == b.codec_id && a.width == b.width && a.height == b.height,
                a.width,
                a.height,
            )
        };
        if !same {
            clip.notes.push(format!(
                "{}: the picture changed to {w}x{h}; the clip ends before it",
                seg.file
            ));
            break;
        }
        let v_index = v.index();
        let a_index = input
            .streams()
            .best(ffmpeg::media::Type::Audio)
            .filter(|_| audio_params.is_some())
            .map(|s| s.index());
        clip.files += 1;
        let time_bases: Vec<ffmpeg::Rational> = input.streams().map(|s| s.time_base()).collect();
        // A segment holds what the index says and no more (a file read from a node could
        // go on for ever): its span and a margin, at a rate no camera reaches.
        let past_end_us = seg
            .end_ms
            .saturating_add(SEGMENT_MARGIN_MS)
            .saturating_mul(1000);
        let most_packets = (seg.end_ms - seg.start_ms)
            .saturating_add(SEGMENT_MARGIN_MS)
            .max(0)
            .unsigned_abs()
            .saturating_mul(PACKETS_PER_MS);
        for (n, (stream, mut packet)) in crate::media::packets(&mut input).enumerate() {
            if n as u64 > most_packets {
                clip.notes.push(format!(
                    "{}: more packets than its span holds; cut",
                    seg.file
                ));
                break;
            }
            let (out_index, is_video) = if stream == v_index {
                (0, true)
            } else if Some(stream) == a_index {
                (1, false)
            } else {
                continue;
            };
            let Some(pts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            // Wall-clock time of this packet, in µs.
            let tb = time_bases[stream];
            let wall_us = seg
                .start_ms
                .saturating_mul(1000)
                .saturating_add(rescale(pts, tb, US));
            if wall_us < start_us {
                continue;
            }
            if wall_us > past_end_us {
                break;
            }
            let dur_us = rescale(packet.duration().max(0), tb, US);
            let ts = rescale(wall_us - start_us, US, out_tb[out_index]);
            let ts = ts.max(last_dts[out_index].saturating_add(1));
            last_dts[out_index] = ts;
            packet.set_stream(out_index);
            packet.set_pts(Some(ts));
            packet.set_dts(Some(ts));
            packet.set_duration(rescale(dur_us, US, out_tb[out_index]));
            packet.set_position(-1);
            packet
                .write_interleaved(&mut octx)
                .map_err(|e| media(&out_name, format!("write failed: {e}")))?;
            if is_video {
                clip.video_packets += 1;
                clip.end_ms = clip.end_ms.max((wall_us + dur_us) / 1000);
                // The picture that reaches `to` is the last.
                if wall_us + dur_us >= to_ms * 1000 {
                    done = true;
                    break;
                }
            } else {
                clip.audio_packets += 1;
            }
        }
    }
    octx.write_trailer()
        .map_err(|e| media(&out_name, format!("cannot finish: {e}")))?;
    if clip.end_ms < to_ms {
        clip.notes
            .push(format!("the footage ends at {}", rfc3339(clip.end_ms)));
    }
    Ok(clip)
}

fn rescale(v: i64, from: ffmpeg::Rational, to: ffmpeg::Rational) -> i64 {
    use ffmpeg::Rescale;
    v.rescale(from, to)
}

/// The wall-clock time (µs) of the last keyframe at or before `at_ms` in segment `seg` (its
/// first keyframe when `at_ms` is before it), with the segment's video and audio track
/// parameters.
fn first_keyframe(
    source: &super::Source,
    seg: &super::Segment,
    at_ms: i64,
) -> Result<
    (
        i64,
        ffmpeg::codec::Parameters,
        Option<ffmpeg::codec::Parameters>,
    ),
    String,
> {
    let mut input = source.open(&seg.file)?;
    let v = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or("no video track")?;
    let (index, tb, video) = (v.index(), v.time_base(), v.parameters());
    let audio = input
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .map(|s| s.parameters());
    let mut found: Option<i64> = None;
    for (stream, packet) in crate::media::packets(&mut input) {
        if stream != index || !packet.is_key() {
            continue;
        }
        let Some(pts) = packet.pts().or(packet.dts()) else {
            continue;
        };
        let wall_us = seg
            .start_ms
            .saturating_mul(1000)
            .saturating_add(rescale(pts, tb, US));
        // The first keyframe after `at_ms` ends the search (and starts the clip if none came
        // before it).
        let after = wall_us > at_ms * 1000;
        if !(after && found.is_some()) {
            found = Some(wall_us);
        }
        if after {
            break;
        }
    }
    let start = found.ok_or("no keyframe")?;
    Ok((start, video, audio))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::Segment;

    #[test]
    fn a_range_without_footage_names_the_nearest() {
        let index = Index {
            segments: vec![Segment {
                file: "d/a.mp4".into(),
                start_ms: 1_000_000,
                end_ms: 1_060_000,
            }],
            unreadable: vec![],
        };
        let e = plan(&index, 2_000_000, 2_060_000).unwrap_err().to_string();
        assert!(
            e.contains("nothing recorded between 1970-01-01T00:33:20.000Z"),
            "{e}"
        );
        assert!(e.contains("nearest: until 1970-01-01T00:17:40.000Z"), "{e}");
        let e = plan(&index, 0, 1000).unwrap_err().to_string();
        assert!(e.contains("nearest: from 1970-01-01T00:16:40.000Z"), "{e}");
        assert!(matches!(plan(&index, 5, 5), Err(ExportError::BadRange(_))));
        assert_eq!(plan(&index, 1_059_000, 1_070_000).unwrap().len(), 1);
        let empty = Index::default();
        assert!(
            plan(&empty, 0, 1)
                .unwrap_err()
                .to_string()
                .contains("no recordings at all")
        );
    }
}

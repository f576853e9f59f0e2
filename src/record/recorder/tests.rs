//! The recorder thread against real H.264 from the simulated camera's encoder: how sessions
//! map to segments when control messages go missing.

use super::*;
use crate::media::{MediaSink, VideoCodec};
use crate::simcam::scene::{Source, SourceSpec};
use ffmpeg_next as ffmpeg;

/// `n` real H.264 access units (keyframes every 10) from the simulated camera's encoder.
fn encoded(n: usize) -> Vec<(Vec<u8>, bool)> {
    let source = Source::start(
        SourceSpec {
            name: "t".into(),
            index: 0,
            width: 320,
            height: 180,
            fps: 10,
            codec: VideoCodec::H264,
            open_gop: false,
            noise: 0,
            keyframe_secs: 1,
        },
        Default::default(),
        Default::default(),
    )
    .unwrap();
    let mut rx = source.frames.subscribe();
    let mut out: Vec<(Vec<u8>, bool)> = Vec::new();
    while out.len() < n {
        let f = rx.blocking_recv().unwrap();
        if out.is_empty() && !f.keyframe {
            continue;
        }
        out.push((f.data.clone(), f.keyframe));
    }
    source.stop();
    out
}

fn unit(data: &[u8], keyframe: bool, k: i64) -> VideoUnit {
    VideoUnit {
        codec: VideoCodec::H264,
        width: 320,
        height: 180,
        data: data.into(),
        pts: k * 9000,
        wall_ms: 1_700_000_000_000 + k * 100,
        keyframe,
        arrival: std::time::Instant::now(),
    }
}

/// Video packet timestamps (seconds) of each file.
fn packets(path: &std::path::Path) -> Vec<f64> {
    crate::media::init_ffmpeg();
    let Ok(mut input) = ffmpeg::format::input(path) else {
        return Vec::new();
    };
    let Some(tb) = input.stream(0).map(|s| s.time_base()) else {
        return Vec::new();
    };
    crate::media::packets(&mut input)
        .filter(|(s, _)| *s == 0)
        .map(|(_, p)| p.pts().unwrap_or(0) as f64 * f64::from(tb))
        .collect()
}

/// A session's end that never reaches the recorder (its control message lost) still
/// cannot put the next session's frames, whose timestamps start at 0 again, into the old
/// segment: the session id on every unit starts a new one.
#[test]
fn a_new_session_starts_a_new_segment_even_without_its_predecessors_end() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, handle, thread) = spawn_recorder(
        "Cam",
        RecordSettings {
            dir: dir.path().to_owned(),
            format: RecordFormat::Mkv,
            segment_secs: 1_000_000_000,
            active: true,
        },
    )
    .unwrap();
    let frames = encoded(40);
    let one = Arc::new(SessionInfo { id: 1, audio: None });
    let two = Arc::new(SessionInfo { id: 2, audio: None });
    for (k, (data, key)) in frames[..20].iter().enumerate() {
        sink.video(&one, &unit(data, *key, k as i64));
    }
    // No `session_ended(1)`: session 2 restarts its clock at 0, a little later.
    for (k, (data, key)) in frames[20..].iter().enumerate() {
        let mut u = unit(data, *key, k as i64);
        u.wall_ms += 5_000;
        sink.video(&two, &u);
    }
    sink.session_ended(2);
    drop(sink);
    thread.join().unwrap();
    assert_eq!(handle.status().segments, 2);
    let mut files: Vec<_> = walk(dir.path());
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let pts = packets(f);
        assert_eq!(pts.len(), 20, "{f:?}: {pts:?}");
        assert!(pts.windows(2).all(|w| w[1] > w[0]), "{f:?}: {pts:?}");
    }
}

/// A disk that fills in the middle of a fragment (MP4) or cluster (MKV) leaves no half-written
/// segment behind: whatever room the disk had, each segment left plays — cut back to its last
/// whole fragment — or is gone. The sizes step through where the first fragments end.
#[cfg(target_os = "linux")]
#[test]
fn a_disk_that_fills_mid_fragment_leaves_only_playable_segments() {
    let frames = encoded(60);
    let mut kept_after_a_failure = 0;
    for format in [RecordFormat::Mp4, RecordFormat::Mkv] {
        for kib in (8..=96).step_by(4) {
            let dir = tempfile::tempdir().unwrap();
            let disk = crate::soak::Disk::mount_sized(dir.path(), kib * 1024);
            if !disk.can_fill() {
                eprintln!("skipped: mounting a tmpfs needs root");
                return;
            }
            let (sink, handle, thread) = spawn_recorder(
                "Cam",
                RecordSettings {
                    dir: disk.path().to_owned(),
                    format,
                    segment_secs: 1_000_000_000,
                    active: true,
                },
            )
            .unwrap();
            let session = Arc::new(SessionInfo { id: 1, audio: None });
            for (k, (data, key)) in frames.iter().enumerate() {
                sink.video(&session, &unit(data, *key, k as i64));
            }
            sink.session_ended(1);
            drop(sink);
            thread.join().unwrap();
            let failed = handle.status().error.is_some();
            for f in walk(disk.path()) {
                let pictures = packets(&f).len();
                assert!(pictures > 0, "{format:?} on {kib} KiB: {f:?} plays nothing");
                let complaints = ffprobe_complaints(&f);
                assert!(
                    complaints.is_empty(),
                    "{format:?} on {kib} KiB: {f:?} ends in half a fragment: {complaints}"
                );
                if let Err(e) = whole_elements(&f) {
                    panic!("{format:?} on {kib} KiB: {f:?} ends in half a fragment: {e}");
                }
                kept_after_a_failure += usize::from(failed);
            }
        }
    }
    assert!(
        kept_after_a_failure > 0,
        "no disk filled in the middle of a segment that kept its pictures"
    );
}

/// A packet the muxer refuses (a timestamp out of order) loses nothing: the segment keeps
/// every picture before and after it, and its whole ending (MP4's fragment index, MKV's cues).
#[test]
fn a_refused_packet_cuts_nothing() {
    let frames = encoded(30);
    for format in [RecordFormat::Mp4, RecordFormat::Mkv] {
        let dir = tempfile::tempdir().unwrap();
        let first = unit(&frames[0].0, true, 0);
        let track = track_of(&first).unwrap();
        let path = dir.path().join(match format {
            RecordFormat::Mp4 => "a.mp4",
            RecordFormat::Mkv => "a.mkv",
        });
        let mut writer = SegmentWriter::create(&path, format, &track, None, first.wall_ms).unwrap();
        for (k, (data, key)) in frames.iter().enumerate() {
            writer.write(data, k as i64 * 9000, 9000, *key).unwrap();
            if k == 15 {
                let back = writer.write(data, 0, 9000, false);
                assert!(
                    back.is_err(),
                    "{format:?}: a timestamp going back is refused"
                );
            }
        }
        writer.finish().unwrap();
        assert_eq!(packets(&path).len(), 30, "{format:?}");
        whole_elements(&path).unwrap();
    }
}

/// Checks that `path` is whole top-level elements up to its last byte: MP4 boxes, or the
/// Matroska EBML header and the children of its Segment (whose own size may claim more:
/// the trailer rewrites it before a cut).
fn whole_elements(path: &std::path::Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let len = data.len() as u64;
    let mut at = 0;
    if path.extension().is_some_and(|e| e == "mp4") {
        while at < len {
            let size = data
                .get(at as usize..at as usize + 4)
                .map(|b| u64::from(u32::from_be_bytes(b.try_into().unwrap())));
            match size {
                Some(size) if size >= 8 && at + size <= len => at += size,
                _ => return Err(format!("a box at {at} of {size:?} bytes in {len}")),
            }
        }
        return Ok(());
    }
    let (header, head) = ebml_element(&data, 0)?;
    at = head + header.ok_or("an EBML header of unknown size")?;
    let (_, head) = ebml_element(&data, at)?;
    at += head;
    while at < len {
        let (size, head) = ebml_element(&data, at)?;
        match size {
            Some(size) if at + head + size <= len => at += head + size,
            _ => return Err(format!("an element at {at} of {size:?} bytes in {len}")),
        }
    }
    Ok(())
}

/// The EBML element at `at`: its data size (`None`: unknown) and the length of its ID and
/// size fields.
fn ebml_element(data: &[u8], at: u64) -> Result<(Option<u64>, u64), String> {
    let vint = |at: u64| -> Result<(u64, u64, bool), String> {
        let first = *data.get(at as usize).ok_or(format!("no element at {at}"))?;
        let n = u64::from(first.leading_zeros()) + 1;
        if n > 8 {
            return Err(format!("a bad length at {at}"));
        }
        let bytes = data
            .get(at as usize..(at + n) as usize)
            .ok_or(format!("half an element at {at}"))?;
        let value = bytes.iter().fold(0u64, |v, b| v << 8 | u64::from(*b)) & !(1 << (7 * n));
        Ok((value, n, value == (1 << (7 * n)) - 1))
    };
    let (_, id_len, _) = vint(at)?;
    let (size, size_len, unknown) = vint(at + id_len)?;
    Ok(((!unknown).then_some(size), id_len + size_len))
}

/// What ffprobe says is wrong while reading every packet of `path` (empty: nothing).
#[cfg(target_os = "linux")]
fn ffprobe_complaints(path: &std::path::Path) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-of", "csv"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

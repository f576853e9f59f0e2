//! Recorded footage from real segments: the index (spans, gaps, against ffprobe; a deleted, a
//! truncated and a corrupt file), `GET /api/cameras/{name}/recordings`, and `opticlink export`
//! of a clip across three segments (keyframe start, no gap or duplicate at the joins, clean
//! decode, metadata).

use std::path::Path;
use std::time::Duration;

use opticlink::playback::{Index, index::rfc3339};

use crate::common::{self, Proc, ffprobe, sim, small};
use crate::record::{record_config, segments, video_packets};

/// `opticlink export Rec --from FROM --to TO -o CLIP --config CFG`: (success, what it said).
fn export_cli(from: &str, to: &str, clip: &Path, cfg: &Path) -> (bool, String) {
    let (clip, cfg) = (clip.to_str().unwrap(), cfg.to_str().unwrap());
    let args = [
        "export", "Rec", "--from", from, "--to", to, "-o", clip, "--config", cfg,
    ];
    common::run_cli(&args, "", &[])
}

#[test]
fn index_api_and_export_from_real_segments() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let config = record_config(&sim.url(1), out.path(), "Mp4", 2);
    let mut app = Proc::headless(&config);
    app.wait_state("Rec", "live", Duration::from_secs(30));
    common::wait_for(Duration::from_secs(60), "five finished segments", || {
        (app.camera("Rec")["recording"]["segments"].as_u64()? >= 6).then_some(())
    });

    // The API lists what the files hold: one span (one session), every file.
    let port = app.api_port();
    let (code, body) = common::http_get(port, "/api/cameras/Rec/recordings");
    assert_eq!(code, 200, "{body}");
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listing["spans"].as_array().unwrap().len(), 1, "{listing}");
    assert!(
        listing["spans"][0]["files"].as_array().unwrap().len() >= 5,
        "{listing}"
    );
    let start = listing["spans"][0]["start"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(start).is_ok(),
        "{start}"
    );
    let (code, body) = common::http_get(port, "/api/cameras/Rec/recordings?from=noon");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("from: "), "{body}");
    let (code, _) = common::http_get(port, "/api/cameras/Nobody/recordings");
    assert_eq!(code, 404);
    assert!(app.stop().success());

    // The index against ffprobe: each segment's length within a frame.
    let folder = out.path().join("Rec");
    let index = Index::load(&folder);
    let files: Vec<_> = segments(&folder)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(index.segments.len(), files.len(), "{index:?}");
    for (seg, file) in index.segments.iter().zip(&files) {
        let packets = video_packets(file);
        let probed = packets.len() as f64 * 0.04;
        let indexed = (seg.end_ms - seg.start_ms) as f64 / 1000.0;
        assert!(
            (probed - indexed).abs() <= 0.041,
            "{}: ffprobe {probed} s, index {indexed} s",
            seg.file
        );
    }
    let spans = index.spans(i64::MIN, i64::MAX);
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert!(folder.join("index.json").is_file());

    // Export across three segments, from inside the first to inside the third.
    let (s1, s3) = (&index.segments[1], &index.segments[3]);
    let (from, to) = (s1.start_ms + 500, s3.start_ms + 1000);
    let clip = out.path().join("clip.mp4");
    let cfg = out.path().join("export.ron");
    std::fs::write(&cfg, &config).unwrap();
    let (ok, said) = export_cli(&rfc3339(from), &rfc3339(to), &clip, &cfg);
    assert!(ok, "{said}");
    assert!(said.contains("from 3 files"), "{said}");
    let packets = video_packets(&clip);
    assert!(packets[0].1, "the clip starts on a keyframe");
    for w in packets.windows(2) {
        let step = w[1].0 - w[0].0;
        assert!(step > 0.02 && step < 0.06, "a gap or duplicate at {:?}", w);
    }
    let format = ffprobe(&[
        "-show_entries",
        "format=duration:format_tags",
        clip.to_str().unwrap(),
    ]);
    let created = format["format"]["tags"]["creation_time"].as_str().unwrap();
    let start_ms = chrono::DateTime::parse_from_rfc3339(created)
        .unwrap()
        .timestamp_millis();
    assert!(
        start_ms <= from && start_ms >= from - 1100,
        "starts at {created}, asked {}",
        rfc3339(from)
    );
    let end_ms = start_ms as f64 + (packets.last().unwrap().0 + 0.04) * 1000.0;
    assert!(end_ms >= to as f64, "ends at {end_ms}, asked {to}");
    assert!(end_ms <= to as f64 + 100.0, "ends at {end_ms}, asked {to}");
    assert_eq!(format["format"]["tags"]["title"], "Rec", "{format}");
    crate::record::decodes(&clip);

    // A deleted file is a gap; a corrupt one is a gap with its reason; a truncated one is
    // shorter, never a crash.
    std::fs::remove_file(folder.join(&index.segments[2].file)).unwrap();
    let day = Path::new(&index.segments[0].file)
        .parent()
        .unwrap()
        .to_owned();
    let corrupt = folder.join(&day).join("23-59-59.mp4");
    std::fs::write(&corrupt, b"not a video").unwrap();
    // Written a minute ago: a file that new would be a segment still being opened.
    std::fs::File::options()
        .write(true)
        .open(&corrupt)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    let last = folder.join(&index.segments.last().unwrap().file);
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let again = Index::load(&folder);
    assert_eq!(again.segments.len(), index.segments.len() - 1, "{again:?}");
    assert_eq!(again.spans(i64::MIN, i64::MAX).len(), 2, "{again:?}");
    let cut = again.segments.last().unwrap();
    let before = index.segments.last().unwrap();
    assert!(
        cut.end_ms < before.end_ms && cut.start_ms == before.start_ms,
        "{cut:?} vs {before:?}"
    );
    assert_eq!(again.unreadable.len(), 1, "{again:?}");
    assert!(
        again.unreadable[0].reason.contains("unreadable"),
        "{again:?}"
    );
    let gaps = again.gaps(index.segments[0].start_ms, i64::MAX / 2);
    assert!(gaps.iter().any(|g| g.reason.is_some()), "{gaps:?}");
    // Asking outside the footage names the nearest.
    let (ok, said) = export_cli("2001-01-01 00:00:00", "2001-01-01 00:01:00", &clip, &cfg);
    assert!(!ok);
    assert!(
        said.contains("nothing recorded between") && said.contains("nearest: from"),
        "{said}"
    );
}

/// A POST with a JSON body: the response's head and body bytes.
fn post_raw(port: u16, path: &str, json: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    (
        String::from_utf8_lossy(&raw[..split]).into_owned(),
        raw[split..].to_vec(),
    )
}

#[test]
fn the_page_plays_recorded_footage_through_range_requests() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = sim(&rt, small(0));
    let out = tempfile::tempdir().unwrap();
    let app = Proc::headless(&record_config(&sim.url(1), out.path(), "Mp4", 4));
    app.wait_state("Rec", "live", Duration::from_secs(30));
    common::wait_for(Duration::from_secs(60), "two finished segments", || {
        (app.camera("Rec")["recording"]["segments"].as_u64()? >= 3).then_some(())
    });
    let port = app.api_port();
    let (_, body) = common::http_get(port, "/api/cameras/Rec/recordings");
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    let first = &listing["spans"][0]["segments"][0];
    let file = first["file"].as_str().unwrap();
    let route = format!("/api/cameras/Rec/recordings/{file}");

    // Range requests: a part with its Content-Range, the whole file, a range past the end.
    let whole = std::fs::read(out.path().join("Rec").join(file)).unwrap();
    let (code, head, part) = common::http_get_with(port, &route, "Range: bytes=100-199\r\n");
    assert_eq!(code, 206, "{head}");
    assert!(
        head.contains(&format!("content-range: bytes 100-199/{}", whole.len())),
        "{head}"
    );
    assert_eq!(part, whole[100..200]);
    let (code, head, all) = common::http_get_raw(port, &route);
    assert_eq!((code, all.len()), (200, whole.len()), "{head}");
    assert!(
        head.contains("accept-ranges: bytes") && head.contains("video/mp4"),
        "{head}"
    );
    let (code, head, _) = common::http_get_with(
        port,
        &route,
        &format!("Range: bytes={}-\r\n", whole.len() + 10),
    );
    assert_eq!(code, 416, "{head}");
    let (code, _, _) =
        common::http_get_raw(port, "/api/cameras/Rec/recordings/..%2F..%2Fetc/passwd");
    assert_eq!(code, 404);

    // A clip as a download; a range with no footage names the nearest.
    let start = chrono::DateTime::parse_from_rfc3339(first["start"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let from = rfc3339(start + 500);
    let to = rfc3339(start + 2500);
    let (head, clip) = post_raw(
        port,
        "/api/cameras/Rec/export",
        &format!("{{\"from\":\"{from}\",\"to\":\"{to}\"}}"),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("content-disposition: attachment; filename=\"Rec_"),
        "{head}"
    );
    let saved = out.path().join("download.mp4");
    std::fs::write(&saved, &clip).unwrap();
    let packets = video_packets(&saved);
    assert!(
        packets[0].1 && packets.len() >= 50,
        "{} pictures",
        packets.len()
    );
    let (head, body) = post_raw(
        port,
        "/api/cameras/Rec/export",
        "{\"from\":\"2001-01-01T00:00:00Z\",\"to\":\"2001-01-01T00:01:00Z\"}",
    );
    let body = String::from_utf8_lossy(&body);
    assert!(
        head.starts_with("HTTP/1.1 404") && body.contains("\"after\":\"20"),
        "{head}{body}"
    );

    // The page: a timeline with the span; playing from 1 s into the first segment moves the
    // video's clock and its wall-clock time.
    let profile = tempfile::tempdir().unwrap();
    let page = format!("http://127.0.0.1:{port}/");
    let (_chromium, mut cdp) = crate::web_talk::chromium_devtools(&page, &[], profile.path());
    common::wait_for(Duration::from_secs(20), "the timeline's span", || {
        (cdp.eval("document.querySelectorAll('.timeline .span').length")
            .as_u64()?
            >= 1)
            .then_some(())
    });
    cdp.eval(&format!("playAt(tiles.get('Rec'), {})", start + 1000));
    let video = "tiles.get('Rec').video";
    let t0 = common::wait_for(Duration::from_secs(20), "the recording to play", || {
        let t = cdp.eval(&format!(
            "{video}.readyState >= 2 && !{video}.paused ? {video}.currentTime : null"
        ));
        t.as_f64().filter(|t| *t >= 1.0)
    });
    common::wait_for(
        Duration::from_secs(20),
        "the video's clock to advance",
        || (cdp.eval(&format!("{video}.currentTime")).as_f64()? > t0 + 0.5).then_some(()),
    );
    let error = cdp.eval(&format!("{video}.error && {video}.error.message"));
    assert!(error.is_null() || error == false, "{error}");
    let shot = cdp.call(
        "Page.captureScreenshot",
        serde_json::json!({ "format": "png" }),
    );
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        shot["data"].as_str().unwrap(),
    )
    .unwrap();
    let path = out.path().join("page.png");
    std::fs::write(&path, &png).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut px = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut px).unwrap();
    let channels = px.len() / (info.width as usize * info.height as usize);
    // The span's green (#3c8c5a) is on screen.
    let green = px.chunks(channels).any(|p| {
        (i32::from(p[0]) - 0x3c).abs() < 12
            && (i32::from(p[1]) - 0x8c).abs() < 12
            && (i32::from(p[2]) - 0x5a).abs() < 12
    });
    if std::env::var_os("OPTICLINK_KEEP_PNG").is_some() {
        std::fs::copy(&path, "/tmp/web-playback.png").unwrap();
    }
    assert!(green, "no timeline span in the screenshot");
}

//! Fuzz targets for every parser that reads bytes from outside: ONVIF SOAP responses, the talk
//! client's RTSP answers and SDP, RTP packets and AAC configs and H.264/H.265 access units
//! from cameras, WAV and raw talk bodies, config files, HTTP request parts (Host, Origin,
//! query, Range, names, times, JSON bodies) and damaged recording files. On stable Rust with
//! bolero's random engine: `cargo test` runs each for about a second;
//! `BOLERO_RANDOM_TEST_TIME_MS` longer (`.ci/fuzz SECONDS`). Each target first replays the
//! files in `src/fuzz/__fuzz__/fuzz__<target>/{corpus,crashes}`: a crash found once stays
//! there as a regression case. Each prints how many inputs it ran. The rule for every target:
//! any input is an error or a value, never a panic, a hang or an allocation it sized.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts one target's inputs and prints the count when the target ends.
struct Runs(&'static str, AtomicU64);

impl Runs {
    fn new(target: &'static str) -> Self {
        Self(target, AtomicU64::new(0))
    }

    fn one(&self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        eprintln!("fuzz {}: {} inputs", self.0, self.1.load(Ordering::Relaxed));
    }
}

/// Text as a camera or a client may send it: bytes, read lossily.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[test]
fn fuzz_soap_responses() {
    use crate::onvif::{responses, xml};
    let runs = Runs::new("soap_responses");
    bolero::check!().for_each(|bytes: &[u8]| {
        runs.one();
        let Ok(root) = xml::parse(&text(bytes)) else {
            return;
        };
        let Ok(Ok(node)) = responses::body(&root) else {
            return;
        };
        let _ = responses::system_time(node);
        let _ = responses::capabilities(node);
        let _ = responses::services(node);
        let _ = responses::profiles(node);
        let _ = responses::stream_uri(node);
        let _ = responses::presets(node);
        let _ = responses::set_preset_token(node);
        let _ = responses::brightness_range(node);
        let _ = responses::brightness(node);
        let _ = responses::empty(node, "StopResponse");
    });
}

#[test]
fn fuzz_talk_rtsp_answers() {
    use rtsp_types::{Message, headers};
    let runs = Runs::new("talk_rtsp_answers");
    bolero::check!().for_each(|bytes: &[u8]| {
        runs.one();
        // The talk client's reader: messages off the connection, answers to DESCRIBE (the
        // SDP offer) and SETUP (channel, session, keep-alive).
        if let Ok((Message::Response(r), _)) = Message::<Vec<u8>>::parse(bytes) {
            let base = r
                .header(&headers::CONTENT_BASE)
                .map_or("rtsp://camera/", |v| v.as_str());
            let _ = crate::talk::backchannel::parse_offer(r.body(), base);
            let _ = crate::talk::backchannel::setup_answer(&r);
        }
        // A bare SDP, as the body of an answer.
        let _ = crate::talk::backchannel::parse_offer(bytes, "rtsp://camera/live");
    });
}

#[test]
fn fuzz_camera_media() {
    use crate::media::{VideoCodec, aac, nal};
    let runs = Runs::new("camera_media");
    bolero::check!().for_each(|bytes: &[u8]| {
        runs.one();
        let _ = crate::simcam::talk::rtp_payload(bytes);
        if let Ok(asc) = aac::Asc::parse(bytes)
            && let Ok(adts) = asc.adts()
        {
            let _ = adts.frame(bytes);
        }
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            let _ = nal::is_random_access(codec, bytes);
            let _ = nal::parameter_sets(codec, bytes);
            let _ = nal::annex_b_from_config(codec, bytes);
        }
    });
}

#[test]
fn fuzz_talk_bodies() {
    let runs = Runs::new("talk_bodies");
    bolero::check!().for_each(|bytes: &[u8]| {
        runs.one();
        if let Ok(clip) = crate::media::pcm::read_body(bytes, crate::media::pcm::RATE) {
            let _ = crate::media::pcm::frames_of(&clip);
        }
        let mut wav = b"RIFF".to_vec();
        wav.extend_from_slice(bytes);
        let _ = crate::media::pcm::read_wav(&wav);
    });
}

#[test]
fn fuzz_config_files() {
    let runs = Runs::new("config_files");
    bolero::check!().for_each(|bytes: &[u8]| {
        runs.one();
        let _ = crate::config::Config::parse(&text(bytes), "fuzz.ron");
    });
}

#[test]
fn fuzz_http_requests() {
    use crate::serve::guard::Guard;
    let guard = Guard::new(&["nvr.lan".into(), "*.example.org".into()], &[]);
    let runs = Runs::new("http_requests");
    bolero::check!()
        .with_type::<(u8, String, String, String, u64)>()
        .for_each(|(method, host, origin, query, size)| {
            runs.one();
            let method = [hyper::Method::GET, hyper::Method::POST, hyper::Method::PUT]
                [usize::from(*method % 3)]
            .clone();
            let mut headers = hyper::HeaderMap::new();
            for (name, value) in [(hyper::header::HOST, host), (hyper::header::ORIGIN, origin)] {
                if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            }
            let _ = guard.check(&method, &headers);
            let _ = crate::serve::query_param(Some(query), "key");
            let _ = crate::serve::recordings::range(Some(query));
            if let Some((_, first, len)) = crate::serve::recordings::part(Some(query), *size) {
                assert!(len >= 1 && first.checked_add(len).is_some_and(|end| end <= *size));
            }
            let _ = crate::record::policy::is_segment_name(host, origin);
            let _ = crate::playback::index::parse_time(query);
            if let Ok(camera) = serde_json::from_str::<crate::config::CameraConfig>(query) {
                let _ = camera.problems();
            }
            let _ = serde_json::from_str::<crate::serve::api::WindowChange>(query);
        });
}

#[test]
fn fuzz_recording_files() {
    let seed: &[u8] = include_bytes!("../../tests/data/segments/fragmented.mp4");
    crate::media::init_ffmpeg();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let day = dir.path().join("2026-01-01");
    std::fs::create_dir_all(&day).expect("a day folder");
    let runs = Runs::new("recording_files");
    // A real segment, damaged: bytes overwritten here and there, and cut short.
    bolero::check!()
        .with_type::<(Vec<(u16, u8)>, u16)>()
        .for_each(|(edits, keep)| {
            runs.one();
            let mut file = seed.to_vec();
            for (at, byte) in edits {
                let at = usize::from(*at) % file.len();
                file[at] = *byte;
            }
            file.truncate(usize::from(*keep).max(1));
            let _ = std::fs::remove_file(dir.path().join(crate::playback::index::CACHE_FILE));
            std::fs::write(day.join("00-00-00.mp4"), &file).expect("the damaged file");
            let index = crate::playback::Index::load(dir.path());
            let _ = index.gaps(i64::MIN / 2, i64::MAX / 2);
        });
}

#[test]
fn fuzz_restream_requests() {
    use crate::restream::{StreamPath, conn, digest, server};
    let runs = Runs::new("restream_requests");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = server::fuzzing::shared();
    let seed = b"DESCRIBE rtsp://h/cam/main?key=k RTSP/1.0\r\nCSeq: 1\r\n\r\n\
        SETUP rtsp://h/cam/main/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n\
        Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n\
        PLAY rtsp://h/cam/main/ RTSP/1.0\r\nCSeq: 3\r\nSession: 1\r\n\r\n$\x00\x00\x02ab";
    rt.block_on(server::fuzzing::requests(shared.clone(), seed));
    bolero::check!().for_each(|bytes: &[u8]| {
        runs.one();
        let t = text(bytes);
        let _ = StreamPath::parse(&t);
        let _ = digest::Answer::parse(Some(&t));
        let _ = conn::param(&t, "interleaved");
        rt.block_on(server::fuzzing::requests(shared.clone(), bytes));
    });
}

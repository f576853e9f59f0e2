//! Listening on the wall without a sound card: the speaker's device seam is a sink thread
//! here that pulls 10 ms at a time, as an output device would. Real workers against simulated
//! cameras with sound (AAC beeps) feed it from their own audio threads: only the audible
//! camera is heard, within 300 ms of its audio's arrival, and silence follows when it stops
//! being audible or is muted. In a headless App, the audible camera follows the selection
//! (and the maximised tile), a locked camera is never heard, and `M` mutes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use opticlink::camera::{Sound, ViewLocked};
use opticlink::config::Transport;
use opticlink::simcam::SimConfig;
use opticlink::sound::Speaker;
use opticlink::stream::{WorkerConfig, spawn_camera};
use retina::client::SessionGroup;

use crate::common;

/// Pulls 10 ms chunks in real time until stopped; returns (pull time, peak) per chunk.
fn sink(
    speaker: Arc<Speaker>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Instant, f32)>> {
    std::thread::spawn(move || {
        let rate = speaker.rate() as usize;
        let mut out = vec![0.0f32; rate / 100];
        let mut got = Vec::new();
        let start = Instant::now();
        let mut k = 0u32;
        while !stop.load(Ordering::Relaxed) {
            k += 1;
            let due = start + Duration::from_millis(10) * k;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let now = Instant::now();
            speaker.pull(&mut out, now);
            got.push((now, out.iter().fold(0.0f32, |m, v| m.max(v.abs()))));
        }
        got
    })
}

fn peak_between(got: &[(Instant, f32)], from: Instant, to: Instant) -> f32 {
    got.iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .fold(0.0, |m, (_, p)| m.max(*p))
}

#[test]
fn only_the_audible_cameras_sound_reaches_the_speaker_within_300_ms() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(
        &rt,
        SimConfig {
            cameras: 2,
            audio: true,
            ..common::small(0)
        },
    );
    let speaker = Arc::new(Speaker::new(48_000));
    let workers: Vec<_> = ["A", "B"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let cfg = WorkerConfig {
                name: (*name).into(),
                url: url::Url::parse(&sim.url(i as u32 + 1)).unwrap(),
                creds: None,
                transport: Transport::Tcp,
                grace: Duration::from_secs(10),
                stall: Duration::from_secs(5),
                speaker: Some(speaker.clone()),
                bell: None,
            };
            spawn_camera(
                rt.handle(),
                cfg,
                Arc::new(SessionGroup::default()),
                Arc::new(crate::worker::CountingSink::default()),
            )
            .unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let pulling = sink(speaker.clone(), stop.clone());
    // Nobody audible: silence, and no camera's audio thread decodes for the speaker.
    std::thread::sleep(Duration::from_millis(1500));
    let t_a = Instant::now();
    speaker.set_audible(Some("A"));
    common::wait_for(Duration::from_secs(20), "A's sound at the speaker", || {
        (speaker.delays().len() > 20).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // two beeps
    let t_b = Instant::now();
    speaker.set_audible(Some("B"));
    std::thread::sleep(Duration::from_secs(2));
    let t_mute = Instant::now();
    speaker.set_muted(true);
    std::thread::sleep(Duration::from_millis(1200));
    let t_none = Instant::now();
    speaker.set_muted(false);
    speaker.set_audible(None);
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    let got = pulling.join().unwrap();
    let settle = Duration::from_millis(50);
    assert_eq!(peak_between(&got, got[0].0, t_a), 0.0, "silent before");
    assert!(peak_between(&got, t_a, t_b) > 0.05, "A's beeps are heard");
    assert!(peak_between(&got, t_b + settle, t_mute) > 0.05, "then B's");
    assert_eq!(
        peak_between(&got, t_mute + settle, t_none),
        0.0,
        "muted is silent"
    );
    assert_eq!(
        peak_between(&got, t_none + settle, Instant::now()),
        0.0,
        "nobody audible is silent"
    );
    let mut delays: Vec<Duration> = speaker.delays();
    delays.sort();
    let p99 = delays[delays.len() * 99 / 100];
    assert!(
        p99 <= Duration::from_millis(300),
        "added delay p50 {:?} p99 {p99:?}",
        delays[delays.len() / 2]
    );
    drop(workers);
}

#[test]
fn the_audible_camera_follows_the_selection_and_m_mutes() {
    let handles = vec![
        opticlink::onvif::detached("A").0,
        opticlink::onvif::detached("B").0,
        opticlink::onvif::detached("C").0,
    ];
    let mut wall = crate::steer::Wall::new(handles);
    let speaker = Arc::new(Speaker::new(48_000));
    wall.app.insert_resource(Sound(speaker.clone()));
    wall.app.add_plugins(opticlink::wall::sound::plugin);
    wall.frames(1);
    assert_eq!(speaker.audible().as_deref(), Some("A"));
    wall.tap(KeyCode::Tab);
    assert_eq!(speaker.audible().as_deref(), Some("B"));
    // Maximised, Tab moves the maximised tile and the sound with it.
    wall.view_mut().maximised = Some(1);
    wall.tap(KeyCode::Tab);
    assert_eq!(wall.view().maximised, Some(2));
    assert_eq!(speaker.audible().as_deref(), Some("C"));
    // A locked camera is never heard.
    let c = wall
        .app
        .world_mut()
        .query::<(Entity, &opticlink::camera::IpCamera)>()
        .iter(wall.app.world())
        .find(|(_, cam)| cam.name == "C")
        .map(|(e, _)| e)
        .unwrap();
    wall.app.world_mut().entity_mut(c).insert(ViewLocked(true));
    wall.frames(1);
    assert_eq!(speaker.audible(), None);
    wall.tap(KeyCode::KeyM);
    assert!(speaker.muted());
    wall.tap(KeyCode::KeyM);
    assert!(!speaker.muted());
}

#[test]
fn with_keep_maximised_the_camera_last_maximised_keeps_the_sound() {
    let handles = ["A", "B", "C"]
        .map(|n| opticlink::onvif::detached(n).0)
        .to_vec();
    let mut wall = crate::steer::Wall::new(handles);
    let speaker = Arc::new(Speaker::new(48_000));
    let mut config = opticlink::config::Config::parse("()", "test.ron").unwrap();
    config.sound.keep_maximised = true;
    wall.app
        .insert_resource(Sound(speaker.clone()))
        .insert_resource(opticlink::camera::WallConfig(config));
    wall.app.add_plugins(opticlink::wall::sound::plugin);
    wall.frames(1);
    // Nothing maximised yet: the selection is heard.
    assert_eq!(speaker.audible().as_deref(), Some("A"));
    wall.tap(KeyCode::Tab);
    assert_eq!(speaker.audible().as_deref(), Some("B"));
    // B maximised, then back to the grid: B keeps the sound while the selection moves on.
    wall.tap(KeyCode::Enter);
    assert_eq!(speaker.audible().as_deref(), Some("B"));
    wall.tap(KeyCode::Escape);
    wall.tap(KeyCode::Tab);
    assert_eq!(wall.selected(), 2);
    assert_eq!(speaker.audible().as_deref(), Some("B"));
    // Maximising another camera moves the sound to it, and it keeps it in turn.
    wall.tap(KeyCode::Enter);
    assert_eq!(speaker.audible().as_deref(), Some("C"));
    wall.tap(KeyCode::Escape);
    wall.tap(KeyCode::Tab);
    assert_eq!(wall.selected(), 0);
    assert_eq!(speaker.audible().as_deref(), Some("C"));
}

//! Talk from the wall, in a headless App with Bevy's input resources and a tone source in place
//! of the microphone, against simulated cameras with Digest auth that write what they hear:
//! holding `T` talks to the camera on screen only and releasing it ends the session with a
//! TEARDOWN; moving the selection or losing focus ends it and does not talk to the new camera;
//! the gamepad's talk button and the toggle option work; a locked or `talk: Off` camera says
//! why; exiting closes the session; a camera that drops the session ends talk with a notice.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use opticlink::camera::{IpCamera, Talkable, ViewLocked};
use opticlink::media::pcm;
use opticlink::simcam::{SimServer, SimStats};
use opticlink::sound::mic::ToneMic;
use opticlink::talk::Floor;
use opticlink::talk::live::LiveState;
use opticlink::wall::talk::Talker;

use crate::common;
use crate::steer::Wall;

/// A wall with cameras "A" and "B" of `server`, talkable, and a 1 kHz microphone.
fn talk_wall(server: &SimServer, toggle: bool) -> Wall {
    let handles = vec![
        opticlink::onvif::detached("A").0,
        opticlink::onvif::detached("B").0,
    ];
    let mut wall = Wall::new(handles);
    let text = format!(
        "(cameras: [(name: \"A\", url: \"{}\", username: Some(\"u\"), password: Some(\"p\")), \
         (name: \"B\", url: \"{}\", username: Some(\"u\"), password: Some(\"p\"))])",
        server.url(1),
        server.url(2)
    );
    let config = opticlink::config::Config::parse(&text, "test.ron").unwrap();
    let world = wall.app.world_mut();
    let entities: Vec<(Entity, String)> = world
        .query::<(Entity, &IpCamera)>()
        .iter(world)
        .map(|(e, c)| (e, c.name.clone()))
        .collect();
    for (e, name) in entities {
        let cam = config.cameras.iter().find(|c| c.name == name).unwrap();
        world.entity_mut(e).insert(Talkable(Arc::new(cam.clone())));
    }
    world
        .resource_mut::<opticlink::wall::keys::Bindings>()
        .talk_toggle = toggle;
    let mic = ToneMic {
        freq: 1000.0,
        rate: 48_000,
        amplitude: 0.4,
    };
    wall.app
        .insert_resource(opticlink::runtime::Runtime::new().unwrap())
        .insert_resource(Talker::new(Floor::default(), Arc::new(mic)))
        .add_plugins(opticlink::wall::talk::plugin);
    wall.frames(1);
    wall
}

fn live(wall: &Wall) -> Option<(String, LiveState)> {
    wall.app
        .world()
        .resource::<Talker>()
        .live()
        .map(|(c, s)| (c.to_string(), s))
}

/// Steps the wall until `f` holds (real time: the session is real).
fn until(wall: &mut Wall, what: &str, mut f: impl FnMut(&Wall) -> bool) {
    common::wait_for(Duration::from_secs(10), what, || {
        wall.frames(1);
        std::thread::sleep(Duration::from_millis(10));
        f(wall).then_some(())
    });
}

fn talking_to(wall: &mut Wall, camera: &str) {
    until(
        wall,
        &format!("talking to {camera}"),
        |w| matches!(live(w), Some((c, LiveState::Talking(_))) if c == camera),
    );
}

/// Sends for `secs` of talk (counted in frames the session sent).
fn talk_for(wall: &mut Wall, secs: f32) {
    let frames = (secs * 50.0) as usize;
    until(wall, "frames sent", |w| {
        w.app
            .world()
            .resource::<Talker>()
            .delays()
            .is_some_and(|d| d.len() >= frames)
    });
}

/// The WAV files the simulated cameras wrote of what they heard, sorted.
pub(crate) fn heard(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".wav"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// [`heard`], once there are at least `n` files.
pub(crate) fn wait_heard(dir: &std::path::Path, n: usize) -> Vec<String> {
    common::wait_for(Duration::from_secs(10), "talk files", || {
        let h = heard(dir);
        (h.len() >= n).then_some(h)
    })
}

fn assert_tone_file(path: &std::path::Path, at_least: f32) {
    let clip = pcm::read_wav(&std::fs::read(path).unwrap()).unwrap();
    let secs = clip.samples.len() as f32 / 8000.0;
    assert!(secs >= at_least, "{}: {secs} s", path.display());
    let body = &clip.samples[800..clip.samples.len() - 800];
    let f = pcm::dominant_frequency(body, 8000, 500, 2000);
    assert!((f - 1000.0).abs() <= 20.0, "{}: {f} Hz", path.display());
}

fn sim(rt: &tokio::runtime::Runtime, out: &std::path::Path) -> SimServer {
    common::sim(
        rt,
        opticlink::simcam::SimConfig {
            cameras: 2,
            user: Some("u".into()),
            password: Some("p".into()),
            backchannel: true,
            talk_out: Some(out.to_path_buf()),
            ..common::small(0)
        },
    )
}

#[test]
fn holding_t_talks_to_the_camera_on_screen_only_until_released_or_moved_away() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("heard");
    let server = sim(&rt, &out);
    let mut wall = talk_wall(&server, false);
    let teardowns = || SimStats::get(&server.stats().teardowns);

    // Hold T on A: A hears the tone; releasing ends the session with a TEARDOWN.
    wall.hold(KeyCode::KeyT);
    talking_to(&mut wall, "A");
    talk_for(&mut wall, 1.0);
    wall.release(KeyCode::KeyT);
    until(&mut wall, "talk over", |w| live(w).is_none());
    assert_eq!(wait_heard(&out, 1), ["cam1-1.wav"]);
    assert_tone_file(&out.join("cam1-1.wav"), 0.9);
    common::wait_for(Duration::from_secs(5), "TEARDOWN", || {
        (teardowns() == 1).then_some(())
    });

    // Holding T, the selection moves to B: talk to A ends and B is not talked to.
    wall.hold(KeyCode::KeyT);
    talking_to(&mut wall, "A");
    talk_for(&mut wall, 0.5);
    wall.tap(KeyCode::Tab);
    assert_eq!(wall.selected(), 1);
    until(&mut wall, "talk over", |w| live(w).is_none());
    wall.frames(20);
    assert_eq!(live(&wall), None, "holding on does not start talk to B");
    wall.release(KeyCode::KeyT);
    assert_eq!(wait_heard(&out, 2), ["cam1-1.wav", "cam1-2.wav"]);

    // With B selected, T talks to B, never to A.
    wall.hold(KeyCode::KeyT);
    talking_to(&mut wall, "B");
    talk_for(&mut wall, 1.0);
    // Focus lost: talk ends.
    let window = wall
        .app
        .world_mut()
        .query_filtered::<Entity, With<PrimaryWindow>>()
        .single(wall.app.world())
        .unwrap();
    wall.app
        .world_mut()
        .get_mut::<Window>(window)
        .unwrap()
        .focused = false;
    until(&mut wall, "talk over", |w| live(w).is_none());
    wall.release(KeyCode::KeyT);
    let files = wait_heard(&out, 3);
    assert_eq!(files, ["cam1-1.wav", "cam1-2.wav", "cam2-3.wav"]);
    assert_tone_file(&out.join("cam2-3.wav"), 0.9);
    common::wait_for(Duration::from_secs(5), "TEARDOWNs", || {
        (teardowns() == 3).then_some(())
    });
    wall.app
        .world_mut()
        .get_mut::<Window>(window)
        .unwrap()
        .focused = true;

    // A locked camera cannot be talked to, and says so.
    let b = wall
        .app
        .world_mut()
        .query::<(Entity, &IpCamera)>()
        .iter(wall.app.world())
        .find(|(_, c)| c.name == "B")
        .map(|(e, _)| e)
        .unwrap();
    wall.app.world_mut().entity_mut(b).insert(ViewLocked(true));
    wall.tap(KeyCode::KeyT);
    wall.frames(5);
    assert_eq!(live(&wall), None);
    let notice = wall.app.world().resource::<Talker>().notice("B");
    assert_eq!(notice, Some("locked: unlock to talk"));
    // So does a camera with talk: Off (no Talkable).
    wall.app.world_mut().entity_mut(b).insert(ViewLocked(false));
    wall.app.world_mut().entity_mut(b).remove::<Talkable>();
    wall.tap(KeyCode::KeyT);
    assert_eq!(live(&wall), None);
    let notice = wall.app.world().resource::<Talker>().notice("B");
    assert_eq!(notice, Some("cannot talk (talk: Off)"));
    assert_eq!(heard(&out).len(), 3);
}

#[test]
fn the_toggle_and_gamepad_talk_exit_closes_the_session_and_a_dropped_session_is_shown() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("heard");
    let server = sim(&rt, &out);
    let mut wall = talk_wall(&server, true);

    // Toggle: a tap starts talk, which goes on after release; the next tap ends it.
    wall.tap(KeyCode::KeyT);
    talking_to(&mut wall, "A");
    talk_for(&mut wall, 0.6);
    assert!(live(&wall).is_some(), "hands-free talk goes on");
    wall.tap(KeyCode::KeyT);
    until(&mut wall, "talk over", |w| live(w).is_none());
    assert_eq!(wait_heard(&out, 1), ["cam1-1.wav"]);
    assert_tone_file(&out.join("cam1-1.wav"), 0.5);

    // Exit while talking: the session is closed (TEARDOWN) before the runtime lets go.
    wall.tap(KeyCode::KeyT);
    talking_to(&mut wall, "A");
    talk_for(&mut wall, 0.3);
    wall.app.world_mut().write_message(AppExit::Success);
    wall.frames(1);
    wall.app
        .world()
        .resource::<opticlink::runtime::Runtime>()
        .wait_for_workers(Duration::from_secs(3));
    assert_eq!(SimStats::get(&server.stats().teardowns), 2);
    assert_eq!(wait_heard(&out, 2), ["cam1-1.wav", "cam1-2.wav"]);

    // The camera drops the session: talk ends and the overlay's notice says so.
    let mut wall = talk_wall(&server, false);
    let pad = gamepad(&mut wall);
    press_pad(&mut wall, pad, true);
    talking_to(&mut wall, "A");
    talk_for(&mut wall, 0.3);
    server.stop();
    until(&mut wall, "talk over", |w| live(w).is_none());
    press_pad(&mut wall, pad, false);
    let notice = wall.app.world().resource::<Talker>().notice("A");
    assert!(
        notice.is_some_and(|n| n.contains("camera \"A\" ended the talk session")),
        "{notice:?}"
    );
}

fn gamepad(wall: &mut Wall) -> Entity {
    use bevy::input::gamepad::{GamepadConnection, GamepadConnectionEvent};
    let pad = wall.app.world_mut().spawn_empty().id();
    wall.app
        .world_mut()
        .write_message(GamepadConnectionEvent::new(
            pad,
            GamepadConnection::Connected {
                name: "pad".into(),
                vendor_id: None,
                product_id: None,
            },
        ));
    wall.frames(1);
    pad
}

fn press_pad(wall: &mut Wall, pad: Entity, down: bool) {
    use bevy::input::gamepad::{RawGamepadButtonChangedEvent, RawGamepadEvent};
    wall.app
        .world_mut()
        .write_message(RawGamepadEvent::Button(RawGamepadButtonChangedEvent::new(
            pad,
            GamepadButton::North,
            if down { 1.0 } else { 0.0 },
        )));
    wall.frames(1);
}

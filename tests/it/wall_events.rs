//! Events on a headless wall (stepped virtual time, a window entity, no renderer): motion edges
//! light a camera's highlight; the follow-activity cell shows the newest camera, holds it, and
//! falls back when all is quiet; the alarm list is newest first and acknowledging clears the
//! highlight — none of which sends a worker anything.

use std::time::Duration;

use bevy::prelude::*;
use opticlink::camera::motion::{Acknowledge, AlarmFeed, EdgeInbox, Motion, MotionTracker};
use opticlink::events::debounce::{Rules, Tracker};
use opticlink::events::{Edge, EdgeSender, Kind, Source};

use crate::wall_view::Rig;

const LAYOUT: &str = r#"layouts: [(name: "Follow", grid: OnePlus5,
    cameras: ["*", "C0", "C1", "C2", "C3"], follow: (fallback: Some("C0"), hold_secs: 3.0))]"#;

fn edge(camera: &str, active: bool) -> Edge {
    Edge {
        camera: camera.into(),
        source: Source::Local,
        kind: Kind::Motion,
        active,
        lasting: false,
    }
}

fn step(rig: &mut Rig, secs: f64) {
    for _ in 0..(secs * 10.0).round() as usize {
        rig.app.update();
    }
}

/// The camera in the big (follow) cell.
fn followed(rig: &Rig) -> Option<usize> {
    let area = |i: usize| {
        let r = rig.rect(i);
        r.cell.w * r.cell.h
    };
    let big = (0..4).max_by(|a, b| area(*a).total_cmp(&area(*b)))?;
    let others = (0..4).filter(|i| *i != big).map(area).fold(0.0, f32::max);
    (area(big) > 2.0 * others).then_some(big)
}

fn highlighted(rig: &Rig, i: usize) -> bool {
    rig.app
        .world()
        .get::<Motion>(rig.cameras[i])
        .unwrap()
        .highlighted()
        .is_some()
}

#[test]
fn the_follow_cell_follows_and_holds_and_the_alarm_list_orders_and_acknowledges() {
    let (edges, inbox) = EdgeSender::new(None);
    let ron = crate::layouts::config(LAYOUT);
    let mut rig = Rig::with(4, &ron, move |app| {
        app.insert_resource(EdgeInbox(inbox));
    });
    let rules = Rules {
        hold: Duration::from_secs(1),
        min_len: Duration::ZERO,
        ..Rules::default()
    };
    for e in rig.cameras.clone() {
        rig.app
            .world_mut()
            .entity_mut(e)
            .insert((Motion::default(), MotionTracker(Tracker::new(rules))));
    }
    step(&mut rig, 0.5);
    assert_eq!(followed(&rig), Some(0), "quiet: the fallback");
    assert!(!rig.rect(0).cell.w.is_nan());

    // C2 moves: highlighted, and in the follow cell at once (the fallback yields).
    edges.send(edge("C2", true));
    step(&mut rig, 0.2);
    assert!(highlighted(&rig, 2));
    assert_eq!(followed(&rig), Some(2));
    // C1 moves a second later (C2 still moving: a picture source repeats itself): the cell
    // holds C2 for its 3 s, then follows C1.
    for _ in 0..5 {
        edges.send(edge("C2", true));
        step(&mut rig, 0.2);
    }
    edges.send(edge("C1", true));
    step(&mut rig, 0.2);
    assert_eq!(followed(&rig), Some(2), "held");
    for _ in 0..20 {
        edges.send(edge("C1", true));
        edges.send(edge("C2", true));
        step(&mut rig, 0.2);
    }
    assert_eq!(followed(&rig), Some(1), "the newest, after the hold");

    // The alarm list: newest first; acknowledging C1's clears its highlight only.
    let (first, second) = {
        let feed = rig.app.world().resource::<AlarmFeed>();
        let names: Vec<&str> = feed.entries.iter().rev().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["C1", "C2"]);
        (feed.entries[1].id, feed.entries[0].id)
    };
    rig.app.world_mut().write_message(Acknowledge { id: first });
    step(&mut rig, 0.1);
    assert!(!highlighted(&rig, 1), "acknowledged");
    assert!(highlighted(&rig, 2));
    let feed = rig.app.world().resource::<AlarmFeed>();
    assert!(feed.entries.iter().any(|a| a.id == first && a.acked));
    assert!(feed.entries.iter().any(|a| a.id == second && !a.acked));

    // All quiet: the events end after their hold-off and the cell falls back after its own.
    step(&mut rig, 1.5);
    assert!(!highlighted(&rig, 2));
    let feed = rig.app.world().resource::<AlarmFeed>();
    assert!(feed.entries.iter().all(|a| a.end.is_some()));
    step(&mut rig, 3.0);
    assert_eq!(followed(&rig), Some(0), "back to the fallback");
    for rx in &mut rig.commands {
        assert!(rx.try_recv().is_err(), "a worker heard something");
    }
}

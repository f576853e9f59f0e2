//! View locks on a headless wall with a real state file: a locked camera's tile mesh is never
//! shown; after the right password it is; a new App on the same state directory (a restart)
//! still shows it; after `L` it is locked again, in the file too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use opticlink::camera::{ViewLocked, ViewLocks};
use opticlink::locks::{CameraLock, Client, Locks, hash};
use opticlink::wall::{TileIn, TileOf};

use crate::steer::Wall;

struct Rig {
    wall: Wall,
    meshes: Vec<Entity>,
    cameras: Vec<Entity>,
}

/// Two cameras on one address (both locked) and one without a lock.
fn rig(state: &std::path::Path, password_hash: &str) -> (Rig, Arc<Locks>) {
    let locks = Arc::new(Locks::new(
        Some(state.join("unlocks.json")),
        Duration::from_secs(3600),
    ));
    for name in ["Door", "Hall"] {
        locks.set_camera(
            name,
            CameraLock::new("10.0.0.7".into(), password_hash.to_string()),
        );
    }
    let mut wall = Wall::new(Vec::new());
    wall.app.insert_resource(ViewLocks(locks.clone()));
    let mut meshes = Vec::new();
    let mut cameras = Vec::new();
    let window = wall.window();
    for (index, name) in ["Door", "Hall", "Yard"].iter().enumerate() {
        let cam = wall
            .app
            .world_mut()
            .spawn(crate::common::tile_camera(name, index))
            .id();
        let mesh = wall
            .app
            .world_mut()
            .spawn((
                Transform::default(),
                Visibility::Hidden,
                TileOf(cam),
                TileIn(window),
            ))
            .id();
        cameras.push(cam);
        meshes.push(mesh);
    }
    wall.frames(2);
    (
        Rig {
            wall,
            meshes,
            cameras,
        },
        locks,
    )
}

impl Rig {
    /// Which tiles' pictures are drawn.
    fn shown(&self) -> Vec<bool> {
        self.meshes
            .iter()
            .map(|m| *self.wall.app.world().get::<Visibility>(*m).unwrap() == Visibility::Visible)
            .collect()
    }

    fn locked(&self) -> Vec<bool> {
        self.cameras
            .iter()
            .map(|c| self.wall.app.world().get::<ViewLocked>(*c).unwrap().0)
            .collect()
    }
}

#[test]
fn locked_tiles_stay_dark_until_unlocked_and_the_unlock_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let h = hash::hash("letmein").unwrap();
    let (mut r, locks) = rig(dir.path(), &h);
    assert_eq!(r.locked(), vec![true, true, false]);
    assert_eq!(
        r.shown(),
        vec![false, false, true],
        "no picture of a locked camera"
    );
    // The overlay's password field calls this.
    assert!(
        locks
            .unlock("Door", Client::Wall, "wrong", Instant::now())
            .is_err()
    );
    r.wall.frames(1);
    assert_eq!(r.shown(), vec![false, false, true]);
    assert_eq!(
        locks.unlock("Door", Client::Wall, "letmein", Instant::now()),
        Ok(None)
    );
    r.wall.frames(1);
    assert_eq!(
        r.shown(),
        vec![true, true, true],
        "both cameras at the address"
    );
    // Closing and reopening the app: the state file remembers.
    drop(r);
    let (mut r, _) = rig(dir.path(), &h);
    assert_eq!(
        r.shown(),
        vec![true, true, true],
        "still unlocked after a restart"
    );
    // L locks everything again, on screen and in the file.
    r.wall.tap(KeyCode::KeyL);
    assert_eq!(r.shown(), vec![false, false, true]);
    drop(r);
    let (r, _) = rig(dir.path(), &h);
    assert_eq!(
        r.locked(),
        vec![true, true, false],
        "and after the next start"
    );
}

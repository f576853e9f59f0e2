//! View locks, with no Bevy: argon2id hashes of view passwords (`hash`), the local unlock
//! state file (`store`: `unlocked_<camera ip>` entries with an expiry, written 0600), the
//! per-camera delay after wrong passwords (`attempts`), and [`Locks`], the one shared object
//! the wall and the servers ask "may this camera be shown?" and "is this key good?".

pub mod attempts;
pub mod hash;
pub mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

pub use attempts::Attempts;
pub use store::UnlockStore;

/// The address a camera is reached at (its URL's host), which unlocks are kept under.
pub fn camera_ip(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A locked camera: its view password's hash and the address its unlock is kept under.
#[derive(Debug, Clone)]
pub struct CameraLock {
    pub ip: String,
    pub hash: String,
}

/// Why an unlock was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Wrong password; the next attempt waits this long.
    Wrong { retry_after: Duration },
    /// The camera has no view password.
    NotLocked,
}

/// Every camera's lock and the unlock state, shared by the wall and the servers.
pub struct Locks {
    cameras: Mutex<HashMap<String, CameraLock>>,
    store: Mutex<UnlockStore>,
    attempts: Mutex<HashMap<String, Attempts>>,
    remember: Duration,
}

impl Locks {
    /// Locks backed by the state file at `path` (`None`: kept in memory only), unlocks lasting
    /// `remember`.
    pub fn new(path: Option<PathBuf>, remember: Duration) -> Self {
        let store = match path {
            Some(p) => UnlockStore::load(p).unwrap_or_else(|(store, e)| {
                tracing::warn!("unlock state: {e}; starting with everything locked");
                store
            }),
            None => UnlockStore::in_memory(),
        };
        Self {
            cameras: Mutex::new(HashMap::new()),
            store: Mutex::new(store),
            attempts: Mutex::new(HashMap::new()),
            remember,
        }
    }

    /// Camera `name` needs its view password (or stops needing one, with `None`).
    pub fn set_camera(&self, name: &str, lock: Option<CameraLock>) {
        let mut cams = self.cameras.lock().expect("locks lock");
        match lock {
            Some(l) => {
                cams.insert(name.to_string(), l);
            }
            None => {
                cams.remove(name);
            }
        }
    }

    fn lock_of(&self, name: &str) -> Option<CameraLock> {
        self.cameras.lock().expect("locks lock").get(name).cloned()
    }

    pub fn has_lock(&self, name: &str) -> bool {
        self.cameras.lock().expect("locks lock").contains_key(name)
    }

    /// Whether the wall may show camera `name` (no lock, or its IP unlocked on this machine).
    pub fn wall_may_show(&self, name: &str) -> bool {
        // Asked for every camera every frame: no copy of the lock.
        let cams = self.cameras.lock().expect("locks lock");
        match cams.get(name) {
            None => true,
            Some(l) => self
                .store
                .lock()
                .expect("unlock store lock")
                .wall_unlocked(&l.ip, now_unix()),
        }
    }

    /// Whether a request carrying `key` may see camera `name` (no lock, or a valid key for
    /// its IP), whatever the wall shows.
    pub fn key_allows(&self, name: &str, key: Option<&str>) -> bool {
        match (self.lock_of(name), key) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(l), Some(key)) => {
                self.store
                    .lock()
                    .expect("unlock store lock")
                    .key_valid(&l.ip, key, now_unix())
            }
        }
    }

    /// How long an attempt on camera `name` must wait (after wrong passwords).
    pub fn wait_before_attempt(&self, name: &str, now: std::time::Instant) -> Duration {
        self.attempts
            .lock()
            .expect("attempts lock")
            .get(name)
            .map_or(Duration::ZERO, |a| a.wait(now))
    }

    /// Checks `password` for camera `name` (after waiting out [`Self::wait_before_attempt`]).
    /// Right: the camera's IP is unlocked for `remember`; for the wall (`for_wall`) or with a
    /// new key for an API client, which is returned. Wrong passwords are logged with the
    /// camera's name, never the attempt.
    pub fn unlock(
        &self,
        name: &str,
        password: &str,
        for_wall: bool,
        now: std::time::Instant,
    ) -> Result<Option<String>, Refused> {
        let Some(lock) = self.lock_of(name) else {
            return Err(Refused::NotLocked);
        };
        if !hash::verify(password, &lock.hash) {
            let mut attempts = self.attempts.lock().expect("attempts lock");
            let a = attempts.entry(name.to_string()).or_default();
            a.failed(now);
            let retry_after = a.wait(now);
            tracing::warn!(
                camera = %name,
                "wrong view password ({} in a row); next attempt in {:.0} s",
                a.failures(),
                retry_after.as_secs_f64()
            );
            return Err(Refused::Wrong { retry_after });
        }
        self.attempts.lock().expect("attempts lock").remove(name);
        let until = now_unix() + self.remember.as_secs();
        let mut store = self.store.lock().expect("unlock store lock");
        let key = if for_wall {
            store.unlock_wall(&lock.ip, until);
            None
        } else {
            Some(store.add_key(&lock.ip, until))
        };
        if let Err(e) = store.save() {
            tracing::warn!("unlock state cannot be saved: {e}");
        }
        tracing::info!(camera = %name, "unlocked (camera address {})", lock.ip);
        Ok(key)
    }

    /// Locks everything again: every unlock and key forgotten, the file's entries cleared.
    pub fn lock_all(&self) {
        let mut store = self.store.lock().expect("unlock store lock");
        store.clear();
        if let Err(e) = store.save() {
            tracing::warn!("unlock state cannot be saved: {e}");
        }
        tracing::info!("every camera locked again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn locks(dir: &std::path::Path) -> Locks {
        let l = Locks::new(Some(dir.join("unlocks.json")), Duration::from_secs(3600));
        let h = hash::hash("open sesame").unwrap();
        for (name, ip) in [("A", "10.0.0.1"), ("B", "10.0.0.1"), ("C", "10.0.0.2")] {
            l.set_camera(
                name,
                Some(CameraLock {
                    ip: ip.into(),
                    hash: h.clone(),
                }),
            );
        }
        l
    }

    #[test]
    fn cameras_on_one_ip_unlock_together_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let l = locks(dir.path());
        l.set_camera("Open", None);
        assert!(l.wall_may_show("Open"), "no lock, no question");
        assert!(!l.wall_may_show("A") && !l.wall_may_show("B"));
        let now = Instant::now();
        assert!(matches!(
            l.unlock("A", "nope", true, now),
            Err(Refused::Wrong { .. })
        ));
        assert_eq!(l.unlock("A", "open sesame", true, now), Ok(None));
        assert!(l.wall_may_show("A") && l.wall_may_show("B"), "same IP");
        assert!(!l.wall_may_show("C"), "another IP stays locked");
        // A wall unlock is no key for the servers.
        assert!(!l.key_allows("A", None) && !l.key_allows("A", Some("guess")));
        let key = l.unlock("B", "open sesame", false, now).unwrap().unwrap();
        assert!(l.key_allows("A", Some(&key)) && !l.key_allows("C", Some(&key)));
        // A new process with the same state file.
        let again = locks(dir.path());
        assert!(again.wall_may_show("B") && again.key_allows("A", Some(&key)));
        again.lock_all();
        assert!(!again.wall_may_show("A") && !again.key_allows("A", Some(&key)));
        assert!(
            !locks(dir.path()).wall_may_show("A"),
            "cleared in the file too"
        );
    }

    #[test]
    fn wrong_passwords_wait_longer_each_time() {
        let l = locks(tempfile::tempdir().unwrap().path());
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..8)
            .map(|_| match l.unlock("C", "x", true, t0) {
                Err(Refused::Wrong { retry_after }) => retry_after,
                other => panic!("{other:?}"),
            })
            .collect();
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(l.wait_before_attempt("C", t0), Duration::from_secs(60));
        assert_eq!(l.wait_before_attempt("A", t0), Duration::ZERO, "per camera");
        assert_eq!(l.unlock("C", "open sesame", true, t0), Ok(None));
        assert_eq!(
            l.wait_before_attempt("C", t0),
            Duration::ZERO,
            "reset by success"
        );
        assert_eq!(l.unlock("Unknown", "x", true, t0), Err(Refused::NotLocked));
    }
}

//! View locks, with no Bevy: argon2id hashes of view passwords (`hash`), the local unlock
//! state file (`store`: `unlocked_<camera ip>#<hash fingerprint>` entries with an expiry,
//! written 0600), the delay after wrong passwords per camera and client (`attempts`), and
//! [`Locks`], the one shared object the wall and the servers ask "may this camera be shown?"
//! and "is this key good?".

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
    /// What an unlock opens: the cameras at this address with this same view password (an
    /// NVR's channels with different passwords are unlocked one password at a time).
    scope: String,
    /// A lock kept elsewhere (a node's camera, locked at its node), which checks the password
    /// there instead of `hash`.
    remote: Option<Remote>,
}

/// A lock whose password is checked where it is kept: a node's camera, locked at its node.
pub trait RemoteCheck: Send + Sync {
    /// Checks `password` there (blocking: a request to the node). Right: what it opens there
    /// is kept for use.
    fn unlock(&self, password: &str) -> Result<(), Refused>;
    /// Forgets what a right password opened (everything is locked again).
    fn forget(&self);
    /// Whether a right password was given since this process started and not forgotten:
    /// until then the lock holds whatever the unlock store remembers (what it opened there
    /// is not kept across a restart).
    fn open(&self) -> bool;
}

/// A [`RemoteCheck`] held by a lock.
#[derive(Clone)]
pub struct Remote(pub std::sync::Arc<dyn RemoteCheck>);

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Remote")
    }
}

impl CameraLock {
    pub fn new(ip: String, hash: String) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(hash.as_bytes());
        let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            scope: format!("{ip}#{short}"),
            ip,
            hash,
            remote: None,
        }
    }

    /// The lock of a camera locked at `place` (a node and its camera), checked by `check`.
    pub fn remote(place: String, check: std::sync::Arc<dyn RemoteCheck>) -> Self {
        Self {
            scope: place.clone(),
            ip: place,
            hash: String::new(),
            remote: Some(Remote(check)),
        }
    }
}

/// Who tries a password: the wall's operator, or an API client by its address. Each has its
/// own wait per lock, so an attacker's attempts never keep the operator out of a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    Wall,
    Address(std::net::IpAddr),
}

/// Why an unlock was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Wrong password; the next attempt waits this long.
    Wrong { retry_after: Duration },
    /// The place that keeps the lock (a node) could not check the password: why.
    Elsewhere(String),
    /// The camera has no view password.
    NotLocked,
    /// So many attempts are queued already that this one is not taken; try after this long.
    Busy { retry_after: Duration },
}

/// Attempt records kept at most (one per client and camera); the stalest go first.
const MAX_ATTEMPT_RECORDS: usize = 4096;

/// Every camera's lock and the unlock state, shared by the wall and the servers.
pub struct Locks {
    /// By camera name. A removed camera's lock stays, so a camera added again under its name
    /// comes up locked.
    cameras: Mutex<HashMap<String, CameraLock>>,
    store: Mutex<UnlockStore>,
    /// By lock scope (address and password) and client.
    attempts: Mutex<HashMap<(String, Client), Attempts>>,
    remember: Duration,
    /// The keys this process handed out, in the clear, by lock scope: an RTSP client proves
    /// one as its Digest password, which needs the key itself (the store keeps hashes).
    issued: Mutex<HashMap<String, Vec<String>>>,
    /// Bumped by every change of what is locked (a lock set, an unlock, locking all), so
    /// mirrors re-read only then (and as unlocks expire).
    changes: std::sync::atomic::AtomicU64,
    /// Counts "lock everything": a check at a node that began before one opens nothing.
    locked_all: std::sync::atomic::AtomicU64,
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
            issued: Mutex::new(HashMap::new()),
            changes: std::sync::atomic::AtomicU64::new(0),
            locked_all: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A number that changes whenever what is locked changes (expiring unlocks aside).
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Camera `name` needs its view password. A lock is never taken off at run time: the
    /// secrets file is where view passwords are removed.
    pub fn set_camera(&self, name: &str, lock: CameraLock) {
        self.cameras
            .lock()
            .expect("locks lock")
            .insert(name.to_string(), lock);
        self.changed();
    }

    /// The view password hash a camera added or edited at run time keeps: the one kept for
    /// its name, else that of a locked camera at the same address (`url`'s host).
    pub fn stored_hash(&self, name: &str, url: &str) -> Option<String> {
        let cams = self.cameras.lock().expect("locks lock");
        // A node's camera's lock is kept at its node: nothing to hand on.
        let cams: Vec<(&String, &CameraLock)> =
            cams.iter().filter(|(_, l)| l.remote.is_none()).collect();
        if let Some((_, l)) = cams.iter().find(|(n, _)| *n == name) {
            return Some(l.hash.clone());
        }
        // A name that records into a locked camera's folder (a removed camera's too) would
        // serve its footage: it takes that camera's lock.
        if let Some((_, l)) = cams
            .iter()
            .find(|(n, _)| crate::record::names::same_folder(n, name))
        {
            return Some(l.hash.clone());
        }
        let ip = camera_ip(url);
        // The same choice every time: the alphabetically first camera's.
        cams.iter()
            .filter(|(_, l)| l.ip == ip)
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|(_, l)| l.hash.clone())
    }

    fn lock_of(&self, name: &str) -> Option<CameraLock> {
        self.cameras.lock().expect("locks lock").get(name).cloned()
    }

    /// Whether camera `name` has no lock, or its lock's scope passes `test`.
    fn scope_passes(&self, name: &str, test: impl FnOnce(&UnlockStore, &str) -> bool) -> bool {
        // Asked for every camera every frame: no copy of the lock.
        let cams = self.cameras.lock().expect("locks lock");
        cams.get(name).is_none_or(|l| {
            l.remote.as_ref().is_none_or(|r| r.0.open())
                && test(&self.store.lock().expect("unlock store lock"), &l.scope)
        })
    }

    /// The keys handed out since start that still open camera `name` (for Digest, which
    /// needs them in the clear; keys from before a restart pass only as `?key=`).
    pub fn digest_keys(&self, name: &str) -> Vec<String> {
        let Some(lock) = self.lock_of(name) else {
            return Vec::new();
        };
        let store = self.store.lock().expect("unlock store lock");
        let now = now_unix();
        self.issued
            .lock()
            .expect("issued keys lock")
            .get(&lock.scope)
            .map(|keys| {
                keys.iter()
                    .filter(|k| store.key_valid(&lock.scope, k, now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes camera `name`'s lock off if it is kept elsewhere (a node's camera the node no
    /// longer lists, or no longer locks): the wall holds no lock of its own for it.
    pub fn remove_remote(&self, name: &str) {
        let mut cams = self.cameras.lock().expect("locks lock");
        if cams.get(name).is_some_and(|l| l.remote.is_some()) {
            cams.remove(name);
            drop(cams);
            self.changed();
        }
    }

    /// Whether camera `name`'s lock is kept elsewhere (its password checked at its node).
    pub fn is_remote(&self, name: &str) -> bool {
        self.lock_of(name).is_some_and(|l| l.remote.is_some())
    }

    pub fn has_lock(&self, name: &str) -> bool {
        self.cameras.lock().expect("locks lock").contains_key(name)
    }

    /// Whether the wall may show camera `name` (no lock, or its IP unlocked on this machine).
    pub fn wall_may_show(&self, name: &str) -> bool {
        self.scope_passes(name, |store, scope| store.wall_unlocked(scope, now_unix()))
    }

    /// Whether a request carrying `key` may see camera `name` (no lock, or a valid key for
    /// its address and password), whatever the wall shows.
    pub fn key_allows(&self, name: &str, key: Option<&str>) -> bool {
        self.scope_passes(name, |store, scope| {
            key.is_some_and(|k| store.key_valid(scope, k, now_unix()))
        })
    }

    /// Reserves `client`'s next attempt on camera `name`: the instant its password may be
    /// checked ([`Self::unlock`]). Attempts sent together queue, each after the delay the one
    /// before it earns if wrong. Attempts are counted per lock (address and password), so new
    /// cameras added at a locked address bring no fresh attempts; a client whose queue already
    /// reaches [`attempts::MAX_QUEUE`] ahead is refused at once ([`Refused::Busy`]).
    pub fn reserve(
        &self,
        name: &str,
        client: Client,
        now: std::time::Instant,
    ) -> Result<std::time::Instant, Refused> {
        let Some(lock) = self.lock_of(name) else {
            return Err(Refused::NotLocked);
        };
        let mut attempts = self.attempts.lock().expect("attempts lock");
        if attempts.len() >= MAX_ATTEMPT_RECORDS {
            attempts.retain(|_, a| !a.stale(now));
        }
        if attempts.len() >= MAX_ATTEMPT_RECORDS
            && let Some(k) = attempts
                .iter()
                .min_by_key(|(_, a)| a.wait(now))
                .map(|(k, _)| k.clone())
        {
            attempts.remove(&k);
        }
        let record = attempts.entry((lock.scope, client)).or_default();
        let queued = record.wait(now);
        if queued > attempts::MAX_QUEUE {
            return Err(Refused::Busy {
                retry_after: queued,
            });
        }
        Ok(record.reserve(now))
    }

    /// How long `client`'s next attempt on camera `name` would wait.
    pub fn wait_before_attempt(
        &self,
        name: &str,
        client: Client,
        now: std::time::Instant,
    ) -> Duration {
        let Some(lock) = self.lock_of(name) else {
            return Duration::ZERO;
        };
        self.attempts
            .lock()
            .expect("attempts lock")
            .get(&(lock.scope, client))
            .map_or(Duration::ZERO, |a| a.wait(now))
    }

    /// Checks `password` for camera `name`, at or after the instant [`Self::reserve`] gave.
    /// Slow (argon2): call it off the async runtime and off the wall's frame. Right: the
    /// camera's address is unlocked for `remember`; for the wall, or with a new key for an API
    /// client, which is returned. Wrong passwords are logged with the camera's name, never
    /// the attempt.
    pub fn unlock(
        &self,
        name: &str,
        client: Client,
        password: &str,
        now: std::time::Instant,
    ) -> Result<Option<String>, Refused> {
        let Some(lock) = self.lock_of(name) else {
            return Err(Refused::NotLocked);
        };
        let key = (lock.scope.clone(), client);
        let right = match &lock.remote {
            None => hash::verify(password, &lock.hash),
            Some(remote) => {
                use std::sync::atomic::Ordering::Acquire;
                let before = self.locked_all.load(Acquire);
                match remote.0.unlock(password) {
                    // Everything was locked while the node checked: that wins.
                    Ok(()) if self.locked_all.load(Acquire) != before => {
                        remote.0.forget();
                        return Err(Refused::Elsewhere("everything was locked meanwhile".into()));
                    }
                    Ok(()) => true,
                    Err(Refused::Wrong { .. }) => false,
                    Err(other) => return Err(other),
                }
            }
        };
        if !right {
            let attempts = self.attempts.lock().expect("attempts lock");
            let (failures, retry_after) = attempts
                .get(&key)
                .map_or((1, Duration::ZERO), |a| (a.failures(), a.wait(now)));
            let who = match client {
                Client::Wall => "at the wall".to_string(),
                Client::Address(ip) => format!("from {ip}"),
            };
            tracing::warn!(
                camera = %name,
                "wrong view password {who} ({failures} in a row); next attempt in {:.0} s",
                retry_after.as_secs_f64()
            );
            return Err(Refused::Wrong { retry_after });
        }
        if let Some(a) = self.attempts.lock().expect("attempts lock").get_mut(&key) {
            a.succeeded();
        }
        let until = now_unix().saturating_add(self.remember.as_secs());
        let scope = &lock.scope;
        let mut store = self.store.lock().expect("unlock store lock");
        let key = match client {
            Client::Wall => {
                store.unlock_wall(scope, until);
                None
            }
            Client::Address(_) => {
                let key = store.add_key(scope, until);
                let mut issued = self.issued.lock().expect("issued keys lock");
                let keys = issued.entry(scope.clone()).or_default();
                keys.push(key.clone());
                if keys.len() > 64 {
                    keys.remove(0);
                }
                Some(key)
            }
        };
        self.changed();
        if let Err(e) = store.save() {
            tracing::warn!("unlock state cannot be saved: {e}");
        }
        tracing::info!(camera = %name, "unlocked (camera address {})", lock.ip);
        Ok(key)
    }

    /// Locks everything again: every unlock and key forgotten, the file's entries cleared.
    pub fn lock_all(&self) {
        self.locked_all
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for lock in self.cameras.lock().expect("locks lock").values() {
            if let Some(remote) = &lock.remote {
                remote.0.forget();
            }
        }
        let mut store = self.store.lock().expect("unlock store lock");
        store.clear();
        self.issued.lock().expect("issued keys lock").clear();
        self.changed();
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

    const API: Client = Client::Address(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    /// The stored hashes of "open sesame" and "other" (made once: a new salt would be a new
    /// stored password).
    fn hashes() -> &'static (String, String) {
        static HASHES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        HASHES.get_or_init(|| {
            (
                hash::hash("open sesame").unwrap(),
                hash::hash("other").unwrap(),
            )
        })
    }

    fn locks(dir: &std::path::Path) -> Locks {
        let l = Locks::new(Some(dir.join("unlocks.json")), Duration::from_secs(3600));
        let (h, other) = hashes();
        for (name, ip, h) in [
            ("A", "10.0.0.1", h),
            ("B", "10.0.0.1", h),
            ("C", "10.0.0.2", h),
            ("D", "10.0.0.1", other),
        ] {
            l.set_camera(name, CameraLock::new(ip.into(), h.clone()));
        }
        l
    }

    #[test]
    fn cameras_on_one_ip_with_one_password_unlock_together_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let l = locks(dir.path());
        assert!(l.wall_may_show("Open"), "no lock, no question");
        assert!(!l.wall_may_show("A") && !l.wall_may_show("B"));
        let now = Instant::now();
        assert!(matches!(
            l.unlock("A", Client::Wall, "nope", now),
            Err(Refused::Wrong { .. })
        ));
        assert_eq!(l.unlock("A", Client::Wall, "open sesame", now), Ok(None));
        assert!(l.wall_may_show("A") && l.wall_may_show("B"), "same IP");
        assert!(!l.wall_may_show("C"), "another IP stays locked");
        assert!(!l.wall_may_show("D"), "same IP, another password");
        // A wall unlock is no key for the servers.
        assert!(!l.key_allows("A", None) && !l.key_allows("A", Some("guess")));
        let key = l.unlock("B", API, "open sesame", now).unwrap().unwrap();
        assert!(l.key_allows("A", Some(&key)) && !l.key_allows("C", Some(&key)));
        assert!(!l.key_allows("D", Some(&key)), "another password's channel");
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
    fn wrong_passwords_wait_longer_per_client_and_camera() {
        let l = locks(tempfile::tempdir().unwrap().path());
        let t0 = Instant::now();
        let mut at = t0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            at = l.reserve("C", API, at).unwrap();
            match l.unlock("C", API, "x", at) {
                Err(Refused::Wrong { retry_after }) => waits.push(retry_after.as_secs()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(l.wait_before_attempt("C", API, at), Duration::from_secs(60));
        assert_eq!(
            l.wait_before_attempt("A", API, at),
            Duration::ZERO,
            "per camera"
        );
        assert_eq!(
            l.wait_before_attempt("C", Client::Wall, at),
            Duration::ZERO,
            "the wall is not kept out by an API client"
        );
        let other = Client::Address("127.0.0.2".parse().unwrap());
        assert_eq!(l.reserve("C", other, at), Ok(at), "per client address");
        let turn = l.reserve("C", API, at).unwrap();
        assert_eq!(turn, at + Duration::from_secs(60));
        assert!(l.unlock("C", API, "open sesame", turn).unwrap().is_some());
        assert_eq!(
            l.wait_before_attempt("C", API, turn),
            Duration::ZERO,
            "reset by success"
        );
        assert_eq!(l.reserve("Unknown", API, t0), Err(Refused::NotLocked));
    }

    #[test]
    fn a_camera_added_again_or_at_a_locked_address_keeps_the_lock() {
        let l = locks(tempfile::tempdir().unwrap().path());
        let a = l.stored_hash("A", "rtsp://10.9.9.9/x").unwrap();
        assert!(hash::verify("open sesame", &a), "by name, whatever the URL");
        let at_b = l
            .stored_hash("New", "rtsp://user@10.0.0.1:554/ch9")
            .unwrap();
        assert!(hash::verify("open sesame", &at_b), "by address");
        assert_eq!(l.stored_hash("New", "rtsp://10.0.0.7/"), None);
    }

    /// A lock kept elsewhere that takes "right" and says "down" when it cannot check.
    #[derive(Default)]
    struct Elsewhere(std::sync::atomic::AtomicBool);

    impl RemoteCheck for Elsewhere {
        fn unlock(&self, password: &str) -> Result<(), Refused> {
            match password {
                "right" => {
                    self.0.store(true, std::sync::atomic::Ordering::Release);
                    Ok(())
                }
                "down" => Err(Refused::Elsewhere("no answer".into())),
                _ => Err(Refused::Wrong {
                    retry_after: Duration::from_secs(9),
                }),
            }
        }
        fn forget(&self) {
            self.0.store(false, std::sync::atomic::Ordering::Release);
        }
        fn open(&self) -> bool {
            self.0.load(std::sync::atomic::Ordering::Acquire)
        }
    }

    #[test]
    fn a_lock_kept_elsewhere_is_checked_there_and_holds_until_opened_there() {
        let locks = Locks::new(None, Duration::from_secs(3600));
        let remote = std::sync::Arc::new(Elsewhere::default());
        locks.set_camera(
            "N/Gate",
            CameraLock::remote("http://n/Gate".into(), remote.clone()),
        );
        assert!(!locks.wall_may_show("N/Gate"));
        assert_eq!(
            locks.stored_hash("N/Gate", "rtsp://n/Gate"),
            None,
            "nothing to hand on"
        );
        let now = Instant::now();
        assert!(matches!(
            locks.unlock("N/Gate", Client::Wall, "wrong", now),
            Err(Refused::Wrong { .. })
        ));
        assert_eq!(
            locks.unlock("N/Gate", Client::Wall, "down", now),
            Err(Refused::Elsewhere("no answer".into()))
        );
        assert!(!locks.wall_may_show("N/Gate"));
        assert_eq!(locks.unlock("N/Gate", Client::Wall, "right", now), Ok(None));
        assert!(locks.wall_may_show("N/Gate"));
        let key = locks.unlock("N/Gate", API, "right", now).unwrap().unwrap();
        assert!(locks.key_allows("N/Gate", Some(&key)));
        // What was opened there is gone (a restart, locking all): locked here too, whatever
        // the unlock store remembers.
        remote.forget();
        assert!(!locks.wall_may_show("N/Gate"));
        assert!(!locks.key_allows("N/Gate", Some(&key)));
        remote.0.store(true, std::sync::atomic::Ordering::Release);
        locks.lock_all();
        assert!(!remote.open(), "locking all forgets it there");
    }
}

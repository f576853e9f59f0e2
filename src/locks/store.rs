//! The local unlock state: for each camera address an entry `unlocked_<ip>` holding until
//! when the wall may show it and the hashes (SHA-256) of the random keys given to API clients,
//! each with its expiry. Kept in a JSON file written atomically with mode 0600 (never readable
//! by others, not even in between); expired entries are dropped on load and save.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// The wall shows the address's cameras until then (Unix seconds).
    #[serde(default)]
    wall_until: Option<u64>,
    /// `(sha256 hex of the key, until)`.
    #[serde(default)]
    keys: Vec<(String, u64)>,
}

/// The unlock state, in memory and (when it has a path) on disk.
#[derive(Debug, Default)]
pub struct UnlockStore {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
}

fn entry_name(ip: &str) -> String {
    format!("unlocked_{ip}")
}

fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` through a temporary file created with mode 0600 and renamed over
/// it, so the file is never readable by others and never half-written.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    #[cfg(unix)]
    {
        // An existing temporary file keeps its old mode: set it again.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

impl UnlockStore {
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Reads the file at `path` (missing: empty). A file that cannot be read gives an empty
    /// store (everything locked) and the reason.
    pub fn load(path: PathBuf) -> Result<Self, (Self, String)> {
        let mut store = Self {
            path: Some(path.clone()),
            entries: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err((store, format!("{}: {e}", path.display()))),
        };
        match serde_json::from_str(&text) {
            Ok(entries) => {
                store.entries = entries;
                store.expire(crate::locks::now_unix());
                Ok(store)
            }
            Err(e) => Err((store, format!("{}: {e}", path.display()))),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn expire(&mut self, now: u64) {
        for e in self.entries.values_mut() {
            e.keys.retain(|(_, until)| *until > now);
            if e.wall_until.is_some_and(|u| u <= now) {
                e.wall_until = None;
            }
        }
        self.entries
            .retain(|_, e| e.wall_until.is_some() || !e.keys.is_empty());
    }

    pub fn save(&mut self) -> std::io::Result<()> {
        self.expire(crate::locks::now_unix());
        let Some(path) = &self.path else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(&self.entries).expect("plain data serializes");
        write_private(path, &json)
    }

    pub fn wall_unlocked(&self, ip: &str, now: u64) -> bool {
        self.entries
            .get(&entry_name(ip))
            .and_then(|e| e.wall_until)
            .is_some_and(|u| u > now)
    }

    pub fn key_valid(&self, ip: &str, key: &str, now: u64) -> bool {
        let h = key_hash(key);
        self.entries
            .get(&entry_name(ip))
            .is_some_and(|e| e.keys.iter().any(|(k, until)| *k == h && *until > now))
    }

    pub fn unlock_wall(&mut self, ip: &str, until: u64) {
        self.entries.entry(entry_name(ip)).or_default().wall_until = Some(until);
    }

    /// A new random key for `ip`, valid until `until`; only its hash is kept.
    pub fn add_key(&mut self, ip: &str, until: u64) -> String {
        let bytes: [u8; 24] = rand::random();
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        crate::secret::remember(&key);
        let e = self.entries.entry(entry_name(ip)).or_default();
        e.keys.push((key_hash(&key), until));
        if e.keys.len() > 64 {
            e.keys.remove(0);
        }
        key
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_0600_read_back_and_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("unlocks.json");
        let mut s = UnlockStore::load(path.clone()).unwrap();
        let now = crate::locks::now_unix();
        s.unlock_wall("10.0.0.1", now + 100);
        s.unlock_wall("10.0.0.9", now - 1);
        let key = s.add_key("10.0.0.2", now + 100);
        s.save().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("unlocked_10.0.0.1") && !text.contains(&key),
            "{text}"
        );
        assert!(
            !text.contains("10.0.0.9"),
            "expired entries are dropped: {text}"
        );
        let back = UnlockStore::load(path.clone()).unwrap();
        assert!(back.wall_unlocked("10.0.0.1", now));
        assert!(
            !back.wall_unlocked("10.0.0.1", now + 100),
            "expiry honoured"
        );
        assert!(back.key_valid("10.0.0.2", &key, now));
        assert!(
            !back.key_valid("10.0.0.1", &key, now),
            "a key is for its address"
        );
        assert!(!back.key_valid("10.0.0.2", &key, now + 101));
        std::fs::write(&path, "{ not json").unwrap();
        let (broken, why) = UnlockStore::load(path).unwrap_err();
        assert!(why.contains("unlocks.json"), "{why}");
        assert!(!broken.wall_unlocked("10.0.0.1", now));
    }
}

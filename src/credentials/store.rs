//! Where stored secrets live: the 0600 file beside the config (`secrets: File`) or the OS
//! credential store through `keyring` (`secrets: Os`: Windows Credential Manager, macOS
//! Keychain, Secret Service), one entry per camera holding its [`CameraSecrets`] as RON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{CameraSecrets, SecretsFile, secrets_path};
use crate::config::SecretsBackend;

/// The service name of OpticLink's entries in the OS store.
pub const OS_SERVICE: &str = "OpticLink";

/// A secrets store, opened for one config.
pub enum Store {
    File(PathBuf),
    Os(OsStore),
}

impl Store {
    /// The store `backend` names for the config at `config` (or the built-in demo).
    pub fn open(config: Option<&Path>, backend: SecretsBackend) -> Result<Self, String> {
        match backend {
            SecretsBackend::File => secrets_path(config)
                .map(Store::File)
                .ok_or_else(|| "no place for the secrets file (no data directory)".into()),
            SecretsBackend::Os => Ok(Store::Os(OsStore::new(
                &scope_of(config),
                keyring::Entry::new,
            ))),
        }
    }

    /// The stored secrets of `cameras` (names); cameras with nothing stored are absent.
    pub fn load(&self, cameras: &[String]) -> Result<SecretsFile, String> {
        match self {
            Store::File(path) => SecretsFile::load(path),
            Store::Os(os) => {
                let mut file = SecretsFile::default();
                for name in cameras {
                    if let Some(s) = os.get(name)? {
                        file.cameras.insert(name.clone(), s);
                    }
                }
                Ok(file)
            }
        }
    }

    /// Changes what is stored for `camera`.
    pub fn update(
        &self,
        camera: &str,
        change: impl FnOnce(&mut CameraSecrets),
    ) -> Result<(), String> {
        match self {
            Store::File(path) => {
                let mut file = SecretsFile::load(path)?;
                change(file.cameras.entry(camera.to_string()).or_default());
                file.save(path)
            }
            Store::Os(os) => {
                let mut s = os.get(camera)?.unwrap_or_default();
                change(&mut s);
                os.put(camera, &s)
            }
        }
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Store::File(path) => path.display().to_string(),
            Store::Os(os) => format!(
                "the OS credential store, service {OS_SERVICE}, {}",
                os.scope
            ),
        }
    }
}

/// Entries of one config: user `SCOPE/CAMERA` under [`OS_SERVICE`], where SCOPE is the config's
/// absolute path (or `demo`), so two configs never share a camera's secrets.
fn scope_of(config: Option<&Path>) -> String {
    match config {
        Some(p) => std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
        None => "demo".into(),
    }
}

type MakeEntry = fn(&str, &str) -> keyring::Result<keyring::Entry>;

/// The OS store. Entries are kept once made: a store's entry is the handle to one credential
/// (keyring's mock store keeps the secret in the handle itself).
pub struct OsStore {
    scope: String,
    make: MakeEntry,
    entries: Mutex<HashMap<String, keyring::Entry>>,
}

impl OsStore {
    /// A store whose entries `make` creates (`keyring::Entry::new`, or a mock in tests).
    pub fn new(scope: &str, make: MakeEntry) -> Self {
        Self {
            scope: scope.to_string(),
            make,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn with_entry<T>(
        &self,
        camera: &str,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T>,
    ) -> Result<T, String> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let user = format!("{}/{camera}", self.scope);
        let entry = match entries.entry(user) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let made = (self.make)(OS_SERVICE, v.key()).map_err(|e| os_error(camera, &e))?;
                v.insert(made)
            }
        };
        f(entry).map_err(|e| os_error(camera, &e))
    }

    /// What is stored for `camera`; `None` when nothing is.
    pub fn get(&self, camera: &str) -> Result<Option<CameraSecrets>, String> {
        let text = self.with_entry(camera, |e| match e.get_password() {
            Ok(t) => Ok(Some(t)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })?;
        text.map(|t| {
            // ron's message may quote the text: it is not shown.
            ron::from_str(&t).map_err(|_| {
                format!("camera {camera:?}: the OS credential store's entry is not OpticLink's")
            })
        })
        .transpose()
    }

    /// Stores `secrets` for `camera`.
    pub fn put(&self, camera: &str, secrets: &CameraSecrets) -> Result<(), String> {
        let text = ron::to_string(secrets).map_err(|e| e.to_string())?;
        self.with_entry(camera, |e| e.set_password(&text))
    }
}

/// A keyring error as one line naming the camera and what to do; never the secret.
fn os_error(camera: &str, e: &keyring::Error) -> String {
    let hint = match e {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => {
            ": is a Secret Service running and unlocked (gnome-keyring, KeePassXC)? Or use secrets: File"
        }
        _ => "",
    };
    format!("camera {camera:?}: secrets: Os: the OS credential store failed: {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn mock(service: &str, user: &str) -> keyring::Result<keyring::Entry> {
        let cred = keyring::mock::default_credential_builder().build(None, service, user)?;
        Ok(keyring::Entry::new_with_credential(cred))
    }

    #[test]
    fn the_os_backend_stores_credentials_and_locks_per_camera_and_fills_the_config() {
        let store = Store::Os(OsStore::new("/etc/opticlink/wall.ron", mock));
        let names = vec!["Gate".to_string(), "Yard".to_string()];
        assert!(store.load(&names).unwrap().cameras.is_empty());
        store
            .update("Gate", |s| {
                s.username = Some("admin".into());
                s.password = Some("pa\"ss) word".into());
            })
            .unwrap();
        store
            .update("Gate", |s| s.view_password = Some("$argon2id$v".into()))
            .unwrap();
        let file = store.load(&names).unwrap();
        assert_eq!(file.cameras.len(), 1, "Yard has nothing stored");
        let gate = &file.cameras["Gate"];
        assert_eq!(gate.username.as_deref(), Some("admin"));
        assert_eq!(gate.password.as_deref(), Some("pa\"ss) word"));
        assert_eq!(gate.view_password.as_deref(), Some("$argon2id$v"));
        let mut config = Config::parse(
            "(cameras: [(name: \"Gate\", url: \"rtsp://h/1\")], secrets: Os)",
            "t.ron",
        )
        .unwrap();
        assert_eq!(config.secrets, SecretsBackend::Os);
        assert!(file.apply(&mut config).is_empty());
        assert_eq!(config.cameras[0].password.as_deref(), Some("pa\"ss) word"));
        assert_eq!(config.cameras[0].view_lock.as_deref(), Some("$argon2id$v"));
        assert!(
            store.describe().contains("OpticLink"),
            "{}",
            store.describe()
        );
    }

    #[test]
    fn an_unreachable_os_store_is_an_error_naming_the_camera_never_an_empty_store() {
        let os = OsStore::new("demo", mock);
        os.put("Gate", &CameraSecrets::default()).unwrap();
        let entries = os.entries.lock().unwrap();
        let entry = entries.values().next().unwrap();
        let m: &keyring::mock::MockCredential = entry.get_credential().downcast_ref().unwrap();
        m.set_error(keyring::Error::NoStorageAccess("locked collection".into()));
        drop(entries);
        let store = Store::Os(os);
        let err = store.load(&["Gate".to_string()]).unwrap_err();
        assert!(
            err.contains("\"Gate\"") && err.contains("Secret Service"),
            "{err}"
        );
        // The error was one-shot: reading again works and stored nothing wrong.
        assert_eq!(store.load(&["Gate".to_string()]).unwrap().cameras.len(), 1);
    }

    #[test]
    fn a_foreign_entry_is_reported_not_trusted() {
        let os = OsStore::new("demo", mock);
        os.with_entry("Gate", |e| e.set_password("hunter2"))
            .unwrap();
        let err = os.get("Gate").unwrap_err();
        assert!(
            err.contains("not OpticLink's") && !err.contains("hunter2"),
            "{err}"
        );
    }
}

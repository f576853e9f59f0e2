//! The local credential store's contents: per camera the RTSP/ONVIF user and password
//! (`set-credentials`) and the argon2id hash of its view password (`set-view-password`), kept
//! in a 0600 file beside the config (`NAME.secrets.ron` next to `NAME.ron`; for the built-in
//! demo, `demo.secrets.ron` in the state directory) or in the OS store ([`store`]). Filled
//! into the loaded config: a password in the config wins, then `password_env`, then the store.

pub mod commands;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// One camera's stored secrets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSecrets {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// argon2id PHC string of the view password.
    #[serde(default)]
    pub view_password: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsFile {
    #[serde(default)]
    pub cameras: BTreeMap<String, CameraSecrets>,
}

/// Where the secrets of the config at `config` (or of the built-in demo) are kept.
pub fn secrets_path(config: Option<&Path>) -> Option<PathBuf> {
    match config {
        Some(p) => {
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            Some(p.with_file_name(format!("{stem}.secrets.ron")))
        }
        None => crate::paths::state_dir().map(|d| d.join("demo.secrets.ron")),
    }
}

impl SecretsFile {
    /// Reads `path`; a missing file is empty.
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => ron::from_str(&text).map_err(|e| format!("{}:{e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes `path` with mode 0600 (never readable by others, not even while being written).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .map_err(|e| e.to_string())?;
        let text = format!(
            "// OpticLink secrets (opticlink set-credentials / set-view-password). Keep it 0600.\n{text}\n"
        );
        crate::locks::store::write_private(path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Fills credentials and view locks into `config`'s cameras. Errors name the camera and
    /// the variable.
    pub fn apply(&self, config: &mut Config) -> Vec<String> {
        let mut problems = Vec::new();
        for cam in &mut config.cameras {
            let stored = self.cameras.get(&cam.name);
            if cam.password.is_none()
                && let Some(var) = &cam.password_env
            {
                match std::env::var(var) {
                    Ok(p) => cam.password = Some(p),
                    Err(_) => problems.push(format!(
                        "camera {:?}: password_env {var:?} is not set",
                        cam.name
                    )),
                }
            }
            if let Some(s) = stored {
                if cam.username.is_none() {
                    cam.username.clone_from(&s.username);
                }
                if cam.password.is_none() {
                    cam.password.clone_from(&s.password);
                }
            }
            cam.view_lock = stored.and_then(|s| s.view_password.clone());
        }
        if let Some(sim) = &mut config.simulated {
            sim.view_locks = (1..=sim.cameras)
                .filter_map(|i| {
                    let name = format!("Sim {i}");
                    let h = self.cameras.get(&name)?.view_password.clone()?;
                    Some((name, h))
                })
                .collect();
        }
        problems
    }
}

/// Turning the Windows console's echo off and back on, for [`read_secret`].
#[cfg(windows)]
mod console_echo {
    use windows_sys::Win32::System::Console::{
        ENABLE_ECHO_INPUT, GetConsoleMode, GetStdHandle, STD_INPUT_HANDLE, SetConsoleMode,
    };

    /// Echo off; the mode to restore, if stdin is a console.
    pub fn off() -> Option<u32> {
        let mut mode = 0;
        // SAFETY: the process's own stdin handle, and a u32 we own.
        unsafe {
            let input = GetStdHandle(STD_INPUT_HANDLE);
            if GetConsoleMode(input, &mut mode) == 0 {
                return None;
            }
            SetConsoleMode(input, mode & !ENABLE_ECHO_INPUT);
        }
        Some(mode)
    }

    pub fn restore(mode: u32) {
        // SAFETY: as above; restores the mode read by `off`.
        unsafe {
            SetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), mode);
        }
    }
}

/// Reads a secret from stdin: without echo on a terminal (with a prompt on stderr), else one
/// line. The trailing newline is dropped.
pub fn read_secret(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    #[cfg(unix)]
    let saved = tty.then(|| {
        // SAFETY: termios calls on fd 0 with a struct we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let old = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(old)
        }
    });
    #[cfg(windows)]
    let saved = tty.then(console_echo::off).flatten();
    if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    #[cfg(unix)]
    if let Some(Some(old)) = saved {
        // SAFETY: restores the settings read above.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &old);
        }
        eprintln!();
    }
    #[cfg(windows)]
    if let Some(old) = saved {
        console_echo::restore(old);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_secrets_fill_the_config_but_never_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = secrets_path(Some(&dir.path().join("wall.ron"))).unwrap();
        assert!(path.ends_with("wall.secrets.ron"));
        let mut file = SecretsFile::default();
        file.cameras.insert(
            "Gate".into(),
            CameraSecrets {
                username: Some("admin".into()),
                password: Some("s3cret \"quoted\"".into()),
                view_password: Some("$argon2id$x".into()),
            },
        );
        file.cameras.insert(
            "Sim 2".into(),
            CameraSecrets {
                view_password: Some("$argon2id$y".into()),
                ..Default::default()
            },
        );
        file.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let back = SecretsFile::load(&path).unwrap();
        assert_eq!(back, file);
        let mut config = Config::parse(
            "(cameras: [(name: \"Gate\", url: \"rtsp://h/1\"), (name: \"Own\", url: \"rtsp://h/2\", \
             username: Some(\"me\"), password: Some(\"mine\")), (name: \"Env\", url: \"rtsp://h/3\", \
             password_env: Some(\"OPTICLINK_TEST_UNSET_VAR\"))], simulated: Some((cameras: 2)))",
            "t.ron",
        )
        .unwrap();
        let problems = back.apply(&mut config);
        let gate = &config.cameras[0];
        assert_eq!(gate.username.as_deref(), Some("admin"));
        assert_eq!(gate.password.as_deref(), Some("s3cret \"quoted\""));
        assert_eq!(gate.view_lock.as_deref(), Some("$argon2id$x"));
        assert_eq!(config.cameras[1].password.as_deref(), Some("mine"));
        assert!(config.cameras[1].view_lock.is_none());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("OPTICLINK_TEST_UNSET_VAR"),
            "{problems:?}"
        );
        let sim = config.simulated.as_ref().unwrap();
        assert_eq!(
            sim.view_locks,
            vec![("Sim 2".to_string(), "$argon2id$y".to_string())]
        );
        assert!(
            SecretsFile::load(&dir.path().join("none.ron"))
                .unwrap()
                .cameras
                .is_empty()
        );
    }
}

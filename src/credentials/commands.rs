//! The command-line side of the secrets: which config is in use, loading it with its stored
//! secrets filled in, `set-view-password`, `set-credentials`, and `check-config`'s warning
//! for a readable config that holds passwords.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::read_secret;
use super::store::Store;
use crate::config::Config;

/// The config file in use: `--config`, else `config/wall.ron` in the working folder, else
/// `wall.ron` in the platform's config folder ([`crate::paths::config_dir`]), else none (the
/// built-in demo).
pub fn config_path(path: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = path {
        return Some(p.to_path_buf());
    }
    let here = PathBuf::from("config").join("wall.ron");
    let platform = crate::paths::config_dir().map(|d| d.join("wall.ron"));
    [Some(here), platform]
        .into_iter()
        .flatten()
        .find(|p| p.exists())
}

/// Every camera name of `config`, simulated ones included.
pub fn camera_names(config: &Config) -> Vec<String> {
    let sims = config.simulated.as_ref().map_or(0, |s| s.cameras);
    (1..=sims)
        .map(|i| format!("Sim {i}"))
        .chain(config.cameras.iter().map(|c| c.name.clone()))
        .collect()
}

fn read_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::demo(),
    })
}

/// The config with the local secrets (credentials, view locks) filled in. A store that cannot
/// be read is an error: starting without it would drop the view locks.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let path = config_path(path);
    let mut config = read_config(path.as_deref())?;
    let store = Store::open(path.as_deref(), config.secrets).map_err(anyhow::Error::msg)?;
    let file = store
        .load(&camera_names(&config))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot read the secrets ({})", store.describe()))?;
    for problem in file.apply(&mut config) {
        eprintln!("opticlink: {problem}");
    }
    Ok(config)
}

/// The store of the config in use, checked to know camera `name`.
fn store_for(cli_config: Option<&Path>, name: &str) -> anyhow::Result<Store> {
    let path = config_path(cli_config);
    let config = read_config(path.as_deref())?;
    if !camera_names(&config).iter().any(|n| n == name) {
        bail!(
            "no camera {name:?} in {}",
            path.as_deref()
                .map_or("the built-in demo".into(), |p| p.display().to_string())
        );
    }
    Store::open(path.as_deref(), config.secrets).map_err(anyhow::Error::msg)
}

/// `set-view-password CAMERA [--remove]`: the password from the terminal (no echo) or stdin,
/// stored as an argon2id hash. Returns what to print.
pub fn set_view_password(
    cli_config: Option<&Path>,
    camera: &str,
    remove: bool,
) -> anyhow::Result<String> {
    let store = store_for(cli_config, camera)?;
    let hash = if remove {
        None
    } else {
        let password = read_secret(&format!("view password for {camera}: "))?;
        if password.is_empty() {
            bail!("empty password (use --remove to take the lock off)");
        }
        Some(crate::locks::hash::hash(&password).map_err(anyhow::Error::msg)?)
    };
    store
        .update(camera, |s| s.view_password = hash)
        .map_err(anyhow::Error::msg)?;
    Ok(format!(
        "{camera}: view password {} ({})",
        if remove { "removed" } else { "set" },
        store.describe()
    ))
}

/// `set-credentials CAMERA --username U`: the password from the terminal or stdin.
pub fn set_credentials(
    cli_config: Option<&Path>,
    camera: &str,
    username: &str,
) -> anyhow::Result<String> {
    let store = store_for(cli_config, camera)?;
    let password = read_secret(&format!("password of {username} on {camera}: "))?;
    store
        .update(camera, |s| {
            s.username = Some(username.to_string());
            s.password = Some(password);
        })
        .map_err(anyhow::Error::msg)?;
    Ok(format!(
        "{camera}: credentials of {username} stored ({})",
        store.describe()
    ))
}

/// A warning when a config file holding a password can be read by group or others.
pub fn readable_secrets_warning(file: &Path, config: &Config) -> Option<String> {
    if !config
        .cameras
        .iter()
        .any(|c| c.password.is_some() || c.onvif.as_ref().is_some_and(|o| o.password.is_some()))
    {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "warning: {} holds passwords and is readable by group or others (mode {:o}): chmod 600 it, or move them out with set-credentials",
                file.display(),
                mode & 0o777
            ));
        }
    }
    // On Windows a file's readers are its folder's ACL (a user's %APPDATA% is their own).
    #[cfg(not(unix))]
    let _ = file;
    None
}

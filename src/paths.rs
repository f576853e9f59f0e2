//! Where OpticLink keeps its files on each OS, by the `directories` crate (one code path):
//! the config folder (`~/.config/opticlink` on Linux, `%APPDATA%\OpticLink\config` on Windows)
//! and the state folder for unlocks, views and the demo's secrets (`~/.local/share/opticlink`,
//! `%APPDATA%\OpticLink\data`). `$OPTICLINK_CONFIG_DIR` and `$OPTICLINK_STATE_DIR` override them.

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "OpticLink")
}

fn overridden(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The folder the default config (`wall.ron`) is looked for in.
pub fn config_dir() -> Option<PathBuf> {
    overridden("OPTICLINK_CONFIG_DIR").or_else(|| Some(project()?.config_dir().to_path_buf()))
}

/// The folder for state kept between runs (unlocks, the layout each window showed, the demo's
/// secrets).
pub fn state_dir() -> Option<PathBuf> {
    overridden("OPTICLINK_STATE_DIR").or_else(|| Some(project()?.data_dir().to_path_buf()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_platform_folders_are_opticlinks_own() {
        let p = super::project().expect("a home directory");
        for dir in [p.config_dir(), p.data_dir()] {
            let text = dir.to_string_lossy().to_lowercase();
            assert!(text.contains("opticlink"), "{text}");
        }
        #[cfg(windows)]
        {
            let appdata = std::env::var_os("APPDATA").expect("APPDATA");
            assert_eq!(
                p.config_dir(),
                std::path::Path::new(&appdata).join(r"OpticLink\config")
            );
        }
        #[cfg(target_os = "linux")]
        assert!(
            p.config_dir().ends_with("opticlink"),
            "{:?}",
            p.config_dir()
        );
    }
}

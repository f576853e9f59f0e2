//! Nodes: this process as a node that walls read over the network (its identity: a stable
//! id kept in the state folder, a name, the version, for `GET /api/node`), and a wall's side
//! of the nodes it lists (`client`).

pub mod client;
pub mod control;
pub(crate) mod http;
pub mod lock;

use std::path::Path;

use serde::Serialize;

/// Who this node is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeInfo {
    /// 32 hex digits, made once and kept in the state folder (`node-id`).
    pub id: String,
    /// `name:` from the config, else the host's name.
    pub name: String,
    pub version: String,
}

impl NodeInfo {
    /// This node: its id from `state_dir` (made and saved there the first time), its name.
    pub fn load(state_dir: Option<&Path>, name: Option<&str>) -> Self {
        Self {
            id: node_id(state_dir),
            name: name.map(str::to_owned).unwrap_or_else(host_name),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The id kept in `DIR/node-id`; a new one is made (and saved) when there is none or it is
/// damaged. Without a state folder, or if it cannot be written, the id lasts this run only.
fn node_id(state_dir: Option<&Path>) -> String {
    let valid = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(dir) = state_dir else {
        tracing::warn!("no state folder: the node id changes every start");
        return fresh_id();
    };
    let path = dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && valid(text.trim())
    {
        return text.trim().to_owned();
    }
    let id = fresh_id();
    let saved = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &id));
    if let Err(e) = saved {
        tracing::warn!(
            "the node id cannot be kept in {}: {e}; it changes every start",
            path.display()
        );
    }
    id
}

fn fresh_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The machine's name: `$COMPUTERNAME` (Windows), `/etc/hostname`, `$HOSTNAME`, or
/// `opticlink`.
fn host_name() -> String {
    let from_file = || std::fs::read_to_string("/etc/hostname").ok();
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(from_file)
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
        .unwrap_or_else(|| "opticlink".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeInfo::load(Some(dir.path()), Some("Floor 2"));
        assert_eq!(first.id.len(), 32);
        assert_eq!(first.name, "Floor 2");
        let again = NodeInfo::load(Some(dir.path()), None);
        assert_eq!(again.id, first.id);
        assert!(!again.name.is_empty());
        std::fs::write(dir.path().join("node-id"), "damaged").unwrap();
        let renewed = NodeInfo::load(Some(dir.path()), None);
        assert_ne!(renewed.id, first.id);
        assert_eq!(NodeInfo::load(Some(dir.path()), None).id, renewed.id);
    }
}

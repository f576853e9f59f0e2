//! `nodes:`: other OpticLink processes whose cameras this one shows, each by its API address
//! and the deployment's token (from an environment variable or a file, never in the config).

use serde::{Deserialize, Serialize};

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Its cameras show as `NAME/CAMERA`.
    pub name: String,
    /// Its status API, e.g. `http://10.0.0.12:8555`.
    pub url: String,
    /// The environment variable holding its token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file holding its token (the first line).
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
}

impl NodeConfig {
    /// Problems with this entry, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.name.trim().is_empty()
            || self.name.contains('/')
            || self.name.chars().any(char::is_control)
        {
            out.push((
                "name",
                format!(
                    "node name {:?} must be non-empty, without '/' or control characters",
                    self.name
                ),
            ));
        }
        match url::Url::parse(&self.url) {
            Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(|h| !h.is_empty()) => {
                if !u.username().is_empty() || u.password().is_some() {
                    out.push((
                        "url",
                        "node url must not carry credentials: the token comes from token_env or token_file"
                            .into(),
                    ));
                }
            }
            _ => out.push((
                "url",
                format!(
                    "node url {:?} must be http://HOST:PORT (its status API)",
                    crate::secret::redact_url(&self.url)
                ),
            )),
        }
        if self.token_env.is_some() && self.token_file.is_some() {
            out.push(("token_env", "give token_env or token_file, not both".into()));
        }
        out
    }

    /// The token, read from its variable or file; `None` when the entry names neither.
    pub fn token(&self) -> Result<Option<String>, String> {
        if let Some(var) = &self.token_env {
            return std::env::var(var)
                .map(|t| Some(t.trim().to_owned()))
                .map_err(|_| format!("node {}: ${var} is not set", self.name));
        }
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("node {}: token file {}: {e}", self.name, path.display()))?;
            return Ok(text.lines().next().map(|l| l.trim().to_owned()));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, url: &str) -> NodeConfig {
        NodeConfig {
            name: name.into(),
            url: url.into(),
            token_env: None,
            token_file: None,
        }
    }

    #[test]
    fn names_and_urls_are_checked() {
        assert!(
            node("Floor 2", "http://10.0.0.12:8555")
                .problems()
                .is_empty()
        );
        for (bad, field) in [
            (node("a/b", "http://h:1"), "name"),
            (node("", "http://h:1"), "name"),
            (node("x", "rtsp://h:1"), "url"),
            (node("x", "http://u:p@h:1"), "url"),
            (node("x", "nope"), "url"),
        ] {
            assert_eq!(bad.problems()[0].0, field, "{bad:?}");
        }
        let p = node("x", "http://u:secret@h:1").problems();
        assert!(!p[0].1.contains("secret"), "{p:?}");
    }
}

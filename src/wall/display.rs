//! Whether a window can open here, asked before Bevy builds one (winit panics without a
//! display). We build for X11 only (Bevy's `x11` feature; Wayland desktops run us through
//! XWayland), so on Linux and the BSDs the question is whether `$DISPLAY` names an X server
//! that accepts a connection. Parsing `$DISPLAY` is pure; the probe is one connect.

use std::path::PathBuf;
use std::time::Duration;

/// Where an X server listens, from `$DISPLAY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XServer {
    /// `:N`, `unix:N`: the local socket `/tmp/.X11-unix/XN`.
    Local(PathBuf),
    /// `host:N`: TCP port 6000 + N.
    Tcp(String, u16),
}

/// Parses `$DISPLAY` (`[host]:display[.screen]`, or a socket path as macOS's launchd sets).
pub fn parse_display(display: &str) -> Option<XServer> {
    if display.starts_with('/') {
        return Some(XServer::Local(PathBuf::from(display)));
    }
    let (host, rest) = display.rsplit_once(':')?;
    let number: u16 = rest.split('.').next()?.parse().ok()?;
    match host {
        "" | "unix" => Some(XServer::Local(PathBuf::from(format!(
            "/tmp/.X11-unix/X{number}"
        )))),
        host => Some(XServer::Tcp(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            6000u16.checked_add(number)?,
        )),
    }
}

/// `None` if a window can open; else why not, in a few words.
pub fn missing_display() -> Option<String> {
    if cfg!(any(windows, target_os = "macos")) {
        return None;
    }
    let Some(display) = std::env::var_os("DISPLAY").filter(|d| !d.is_empty()) else {
        return Some(if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            "DISPLAY is not set (this build draws through X11: start XWayland)".into()
        } else {
            "DISPLAY is not set".into()
        });
    };
    let display = display.to_string_lossy().into_owned();
    let Some(server) = parse_display(&display) else {
        return Some(format!("DISPLAY={display:?} is not an X display name"));
    };
    match reach(&server) {
        Ok(()) => None,
        Err(e) => Some(format!("no X server at DISPLAY={display} ({e})")),
    }
}

fn reach(server: &XServer) -> std::io::Result<()> {
    match server {
        #[cfg(unix)]
        XServer::Local(path) => std::os::unix::net::UnixStream::connect(path).map(drop),
        #[cfg(not(unix))]
        XServer::Local(_) => Ok(()),
        XServer::Tcp(host, port) => {
            use std::net::ToSocketAddrs;
            let addr = (host.as_str(), *port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| std::io::Error::other("host has no address"))?;
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        let local = |n: &str| Some(XServer::Local(PathBuf::from(n)));
        assert_eq!(parse_display(":0"), local("/tmp/.X11-unix/X0"));
        assert_eq!(parse_display(":99.0"), local("/tmp/.X11-unix/X99"));
        assert_eq!(parse_display("unix:1"), local("/tmp/.X11-unix/X1"));
        assert_eq!(
            parse_display("/private/tmp/launch-x/org.xquartz:0"),
            local("/private/tmp/launch-x/org.xquartz:0")
        );
        assert_eq!(
            parse_display("localhost:10.0"),
            Some(XServer::Tcp("localhost".into(), 6010))
        );
        assert_eq!(
            parse_display("[::1]:2"),
            Some(XServer::Tcp("::1".into(), 6002))
        );
        assert_eq!(parse_display("nonsense"), None);
        assert_eq!(parse_display(":x"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_nobody_listens_on_is_no_display() {
        let dir = tempfile::tempdir().unwrap();
        let gone = XServer::Local(dir.path().join("X7"));
        assert!(reach(&gone).is_err());
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("X8")).unwrap();
        assert!(reach(&XServer::Local(dir.path().join("X8"))).is_ok());
        drop(listener);
    }
}

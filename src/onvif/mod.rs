//! ONVIF, with no Bevy: SOAP envelopes and the WS-Security digest (`soap`), XML both ways
//! (`xml`), reading responses (`responses`), the HTTP client with timeouts (`client`), one
//! control agent per camera (`agent`: its own task; `mailbox`: its queue, newest command wins,
//! Stop never dropped; `session`: what it knows of the device) that the wall and the API talk
//! to, `events` reading the event service's answers, and `probe`'s config entry.

pub mod agent;
pub mod client;
pub mod events;
mod mailbox;
mod probe;
pub mod responses;
mod session;
pub mod soap;
pub mod xml;

use std::time::Duration;

pub use client::{DEFAULT_TIMEOUT, Device, Endpoint};
pub use mailbox::{Command, ControlHandle, ControlStatus, Detached, Reply, Responder, detached};
pub use probe::probe_config;
pub use responses::{Fault, Preset, Profile};
pub use soap::Velocity;

/// What went wrong in one ONVIF operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// No answer within the call's timeout.
    Timeout(Duration),
    /// The TCP connection or the HTTP exchange failed.
    Connect(String),
    /// An HTTP error status without a SOAP fault in the body.
    Http(u16),
    /// The camera answered with a SOAP fault.
    Fault(Fault),
    /// The answer is not the XML we asked for.
    Xml(String),
    /// The camera cannot do this (no PTZ, no imaging, an https endpoint).
    Unsupported(String),
    /// Too many commands queued for this camera.
    Busy,
    /// The camera's control agent has ended (the camera was removed, the app exits).
    Closed,
}

impl ErrorKind {
    /// The camera refused us (credentials, or HTTP 401/403).
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Fault(f) => f.not_authorized(),
            Self::Http(s) => *s == 401 || *s == 403,
            _ => false,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout(d) => write!(f, "no answer within {:.1} s", d.as_secs_f64()),
            Self::Connect(e) => write!(f, "connection failed: {e}"),
            Self::Http(401) => write!(f, "HTTP 401: the camera refused the credentials"),
            Self::Http(s) => write!(f, "HTTP {s}"),
            Self::Fault(fault) if fault.not_authorized() => write!(
                f,
                "the camera refused the credentials (wrong user or password, or clocks apart): {fault}"
            ),
            Self::Fault(fault) => write!(f, "camera fault: {fault}"),
            Self::Xml(e) => write!(f, "bad answer: {e}"),
            Self::Unsupported(e) => write!(f, "{e}"),
            Self::Busy => write!(f, "too many commands queued"),
            Self::Closed => write!(f, "camera control has ended"),
        }
    }
}

/// One failed operation, naming the camera and the operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("camera {camera:?}: ONVIF {op}: {kind}")]
pub struct OnvifError {
    pub camera: String,
    pub op: &'static str,
    pub kind: ErrorKind,
}

impl OnvifError {
    pub fn new(camera: &str, op: &'static str, kind: ErrorKind) -> Self {
        Self {
            camera: camera.to_string(),
            op,
            kind,
        }
    }

    /// The HTTP status an API answer for this error carries.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::Timeout(_) => 504,
            ErrorKind::Unsupported(_) => 409,
            ErrorKind::Busy | ErrorKind::Closed => 503,
            _ => 502,
        }
    }
}

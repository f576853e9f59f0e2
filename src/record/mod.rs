//! Continuous background recording, with no Bevy: one recorder thread per camera, fed the same
//! access units as the decoder from the camera's one RTSP session through a [`RecordSink`]
//! (the `media::MediaSink` the worker hands its media to), remuxing them into segments
//! (`policy` decides, `writer` writes). Status is shared with the ECS through atomics and a
//! mutex; control is a flag the ECS flips.

pub mod names;
pub mod outages;
pub mod policy;
mod recorder;
pub mod retention;
mod sink;
pub mod writer;

pub use outages::{Outage, SharedOutages};
pub use recorder::{RecordSettings, RecorderHandle, RecorderStatus, spawn_recorder};
pub use sink::RecordSink;

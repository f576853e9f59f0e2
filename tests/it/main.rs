//! Integration tests, one binary (it links Bevy once): simulated camera against ffprobe,
//! workers against real RTSP servers (ours and GStreamer's), the headless app end to end,
//! stepped-time plugin tests, config errors, and a real screenshot under Xvfb. Linux only (X
//! servers, GStreamer, signals, file modes): on Windows the unit tests and the Wine smoke test
//! (`.ci/windows/smoke`) stand for them.
#![cfg(unix)]

mod audio;
mod common;
mod config_errors;
mod control_room;
mod e2e;
mod events;
mod hardening;
mod interop;
mod isapi;
mod layouts;
mod listen;
mod locks;
mod mjpeg;
mod monitors;
mod mqtt;
mod nodes;
mod onvif;
mod platform;
mod playback;
mod plugin;
mod quiet_wall;
mod record;
mod restream;
mod screenshot;
mod secret_service;
mod serve;
mod simcam;
mod steer;
mod substream;
mod talk;
mod vendor_events;
mod view_locks;
mod wall_events;
mod wall_keys;
mod wall_playback;
mod wall_talk;
mod wall_view;
mod web;
mod web_talk;
mod worker;

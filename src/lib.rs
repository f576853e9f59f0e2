//! OpticLink: a GPU-drawn monitoring wall and recorder for IP cameras. `app()` assembles the
//! Bevy app; the plugin list below is the table of contents, in data-flow order.

pub mod bench;
pub mod camera;
pub mod config;
pub mod credentials;
pub mod events;
pub mod http1;
pub mod locks;
pub mod media;
pub mod node;
pub mod onvif;
pub mod paths;
pub mod playback;
pub mod record;
pub mod restream;
pub mod runtime;
pub mod secret;
pub mod serve;
pub mod shutdown;
pub mod simcam;
#[cfg(target_os = "linux")]
pub mod soak;
pub mod sound;
pub mod stream;
pub mod talk;
pub mod wall;

#[cfg(test)]
mod fuzz;

use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::log::LogPlugin;
use bevy::prelude::*;

use config::Config;
pub use wall::WindowOptions;

/// The app-wide order of work each frame.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum WallSystems {
    /// Worker events and pictures into components.
    Ingest,
    /// State machine, rates, status snapshot.
    Update,
    /// Layout, textures, overlays (window mode).
    Present,
}

/// Orders [`WallSystems`] once for the whole app (tests that assemble parts use it too).
pub fn schedule_plugin(app: &mut App) {
    app.configure_sets(
        Update,
        (
            WallSystems::Ingest,
            WallSystems::Update,
            WallSystems::Present,
        )
            .chain(),
    );
}

/// With a window, or without (recording boxes, tests).
#[derive(Debug, Clone)]
pub enum Mode {
    Window(WindowOptions),
    Headless,
}

/// Log filter: ours and retina at info; the render stack only when it matters.
const LOG_FILTER: &str = "info,wgpu=error,wgpu_hal=error,naga=warn,bevy_render=warn,bevy_winit=warn,\
                          bevy_egui=warn,offset_allocator=warn,gilrs=warn";

/// Headless tick: 10 Hz is plenty for states and the API, and cheap for a recording box.
const HEADLESS_TICK: Duration = Duration::from_millis(100);

/// The live web page of a built app (`http://127.0.0.1:8555/`), where a browser shows every
/// camera; `None` if the status API could not start. A wildcard bind is shown as loopback; the
/// access token, when one is set, is left for the user to add (`?token=…`).
pub fn live_page_url(app: &App) -> Option<String> {
    let server = app.world().get_resource::<camera::ApiServer>()?;
    let config = app.world().get_resource::<camera::WallConfig>()?;
    let addr = serve::shown_addr((config.servers.bind, server.0.port()).into());
    let token = if config.servers.token.is_some() {
        " (add ?token=… from servers.token)"
    } else {
        ""
    };
    Some(format!("http://{addr}/{token}"))
}

/// Builds the app for `config`. Fails only if the tokio runtime cannot start; anything a
/// camera or server does wrong is logged and shown, never fatal.
pub fn app(config: Config, mode: Mode) -> std::io::Result<App> {
    let mut app = App::new();
    for cam in &config.cameras {
        secret::remember_camera(cam);
    }
    if let Some(t) = &config.servers.token {
        secret::remember(t);
    }
    add_engine(&mut app, &mode, &config);
    app.add_plugins(schedule_plugin);

    // 1. The shared runtime and, for the demo, the simulated cameras it serves.
    let mut runtime = runtime::Runtime::new()?;
    if let Some(sim) = &config.simulated
        && let Err(e) = runtime.start_sim(sim_config(sim))
    {
        error!("simulated cameras cannot start: {e}");
    }
    // 2. The status API (never fatal: a taken port falls back).
    let board = connecting_board(&config, &runtime);
    let (api_tx, api_rx) = crossbeam_channel::bounded(serve::api::COMMAND_QUEUE);
    let bell = stream::Bell::default();
    let commands = serve::api::CommandSender::new(api_tx, bell.clone());
    let hub = serve::FeedHub::default();
    let events = camera::motion::Events::default();
    let (edges, edge_inbox) = events::EdgeSender::new(Some(bell.clone()));
    let locks = std::sync::Arc::new(locks::Locks::new(
        paths::state_dir().map(|d| d.join("unlocks.json")),
        std::time::Duration::from_secs(config.locks.remember_hours.saturating_mul(3600)),
    ));
    // One talker at a time, for the API and the wall alike.
    let floor = talk::Floor::default();
    match serve::api::start(
        runtime.handle(),
        config.servers.bind,
        config.servers.api_port,
        board.clone(),
        commands.clone(),
        hub.clone(),
        serve::Access::new(&config.servers),
        locks.clone(),
        floor.clone(),
        config.recording.dir.clone(),
        events.0.clone(),
    ) {
        Ok(server) => {
            app.insert_resource(camera::ApiServer(server));
        }
        Err(e) => error!("status API cannot start: {e}"),
    }
    // After the API, whose default port is the restream's first fallback.
    let restreams = camera::Restreams::default();
    let nodes = camera::Nodes::default();
    start_restream_and_nodes(
        &mut app,
        &runtime,
        &config,
        (&restreams, &nodes),
        (locks.clone(), board.clone(), commands),
    );
    // 3. Events on disk beside the recordings, and over MQTT, from the log's live feed (never
    //    from the ECS).
    if let Err(e) = events::store::spawn_writer(config.recording.dir.clone(), &events.0) {
        error!("the event store cannot start: {e}");
    }
    if let Some(mqtt) = &config.mqtt {
        let names = camera::camera_list(&config, runtime.sim_addrs())
            .into_iter()
            .map(|c| c.name)
            .collect();
        // Not waited for on exit: the broker publishes the last will when the socket closes.
        if let Err(e) = events::mqtt::spawn(runtime.handle(), mqtt, names, &events.0) {
            error!("MQTT cannot start: {e}");
        }
    }
    let start_muted = config.sound.muted;
    // The layout each window shows is kept for the next start.
    if matches!(mode, Mode::Window(_))
        && let Some(dir) = paths::state_dir()
    {
        app.insert_resource(wall::view::ViewStateFile(dir.join("views.json")));
    }
    app.insert_resource(runtime)
        .insert_resource(wall::keys::Bindings::from_config(&config.controls))
        .insert_resource(camera::WallConfig(config))
        .insert_resource(camera::Board(board))
        .insert_resource(camera::ApiInbox(api_rx))
        .insert_resource(events)
        .insert_resource(camera::motion::Edges(edges))
        .insert_resource(camera::motion::EdgeInbox(edge_inbox))
        .insert_resource(camera::WallBell(bell))
        .insert_resource(camera::Hub(hub))
        .insert_resource(restreams)
        .insert_resource(nodes)
        .insert_resource(camera::ViewLocks(locks))
        .insert_resource(camera::PicturesWanted(matches!(mode, Mode::Window(_))))
        .add_systems(PreUpdate, runtime::exit_on_signal);
    // The speaker (window mode): the audible camera's sound through the default output.
    if matches!(mode, Mode::Window(_)) {
        let speaker = std::sync::Arc::new(sound::Speaker::default());
        speaker.set_muted(start_muted);
        app.insert_resource(camera::SpeakerOutput(sound::device::open(speaker.clone())))
            .insert_resource(camera::Sound(speaker))
            // Talk from the wall, through the default microphone (opened only while talking).
            .insert_resource(wall::talk::Talker::new(
                floor.clone(),
                std::sync::Arc::new(sound::mic::DefaultInput),
            ));
    }
    // 4. Cameras: entities + workers, then events → states.
    app.add_plugins((camera::spawn_plugin, camera::state_plugin));
    // 5. The wall (window mode only).
    if let Mode::Window(options) = mode {
        let (r, g, b) = app.world().resource::<camera::WallConfig>().event_colour;
        app.insert_resource(wall::EventColour(bevy_egui::egui::Color32::from_rgb(
            r, g, b,
        )));
        app.add_plugins(wall::plugin(options));
    }
    Ok(app)
}

/// Bevy's plugins for `mode` (headless: a loop at [`HEADLESS_TICK`]; a window: the default
/// set without Bevy's Ctrl-C handler, ours is `runtime::exit_on_signal`), logging through
/// the secret scrubber.
fn add_engine(app: &mut App, mode: &Mode, config: &Config) {
    let log = LogPlugin {
        filter: LOG_FILTER.into(),
        fmt_layer: |_| {
            Some(Box::new(
                tracing_subscriber::fmt::Layer::default().with_writer(secret::ScrubbedStderr),
            ))
        },
        ..default()
    };
    match mode {
        Mode::Headless => {
            app.add_plugins((
                MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(HEADLESS_TICK)),
                log,
            ));
        }
        Mode::Window(_) => {
            app.add_plugins(
                DefaultPlugins
                    .build()
                    .disable::<bevy::app::TerminalCtrlCHandlerPlugin>()
                    .set(log)
                    .set(WindowPlugin {
                        primary_window: Some(wall::monitors::os_window(config.windows.first())),
                        ..default()
                    }),
            );
        }
    }
}

/// The simulated cameras the config's `simulated:` asks for.
fn sim_config(sim: &config::SimulatedConfig) -> simcam::SimConfig {
    simcam::SimConfig {
        cameras: sim.cameras,
        port: sim.port,
        width: sim.width,
        height: sim.height,
        fps: sim.fps,
        codec: match sim.codec {
            config::SimCodec::H264 => media::VideoCodec::H264,
            config::SimCodec::H265 => media::VideoCodec::H265,
        },
        audio: sim.audio,
        onvif_port: sim.onvif.then_some(0),
        backchannel: sim.backchannel,
        talk_out: sim.talk_out.clone(),
        sub_size: sim.sub,
        max_sessions: sim.max_sessions,
        motion_every: sim
            .motion_every
            .map(|s| std::time::Duration::from_secs(u64::from(s.max(5)))),
        ..default()
    }
}

/// The status before the first frame publishes the real one (a window can take a second to
/// open): every camera connecting, or offline when disabled.
/// The RTSP restream of every camera, and the followers of the config's nodes, whose
/// cameras join through the API's `commands` as cameras added at run time.
fn start_restream_and_nodes(
    app: &mut App,
    runtime: &runtime::Runtime,
    config: &Config,
    (restreams, nodes): (&camera::Restreams, &camera::Nodes),
    (locks, board, commands): (
        std::sync::Arc<locks::Locks>,
        serve::StatusBoard,
        serve::api::CommandSender,
    ),
) {
    let catalog = restreams.0.clone();
    match restream::start(
        runtime.handle(),
        &config.servers,
        catalog,
        locks.clone(),
        board,
    ) {
        Ok(server) => {
            app.insert_resource(camera::RestreamServer(server));
        }
        Err(e) => error!("RTSP restream cannot start: {e}"),
    }
    let nodes = (nodes.0.clone(), Some(locks));
    node::client::spawn(runtime.handle(), &config.nodes, commands, nodes);
}

fn connecting_board(config: &Config, runtime: &runtime::Runtime) -> serve::StatusBoard {
    let board = serve::StatusBoard::default();
    if let Ok(mut snapshot) = board.write() {
        snapshot.node = node::NodeInfo::load(paths::state_dir().as_deref(), config.name.as_deref());
        snapshot.cameras = camera::camera_list(config, runtime.sim_addrs())
            .into_iter()
            .map(|c| serve::CameraStatus {
                state: if c.enabled { "connecting" } else { "offline" }.into(),
                url: secret::redact_url(&c.url),
                name: c.name,
                ..default()
            })
            .collect();
    }
    board
}

//! The `opticlink` command line: run the wall (window or headless), check a config, or run
//! simulated cameras. The only place that uses `anyhow`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use opticlink::config::Config;
use opticlink::credentials::commands::{
    load_config, readable_secrets_warning, set_credentials, set_view_password,
};
use opticlink::media::VideoCodec;
use opticlink::simcam::{SimConfig, SimFaults, SimServer};
use opticlink::{Mode, WindowOptions};

#[derive(Parser, Debug)]
#[command(
    name = "opticlink",
    version,
    about = "GPU-drawn monitoring wall and recorder for IP cameras"
)]
struct Cli {
    /// Configuration file (default: config/wall.ron here, else wall.ron in the platform config
    /// folder, else the built-in demo).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Run without a window (recording boxes, tests); serves the status API and the live page.
    /// Without a display this is what happens anyway.
    #[arg(long)]
    headless: bool,
    /// Render the wall, write a PNG of the window after --after seconds, exit.
    #[arg(long, value_name = "FILE.png")]
    screenshot: Option<PathBuf>,
    /// Seconds before --screenshot (with --when-live: at most).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5.0,
        requires = "screenshot"
    )]
    after: f64,
    /// Take the --screenshot as soon as every enabled camera is live with its picture on
    /// screen (with --playback: its recorded picture), or after --after seconds, whichever
    /// comes first.
    #[arg(long, requires = "screenshot")]
    when_live: bool,
    /// Open the wall in playback at this time, every camera in sync: RFC 3339
    /// (2026-11-26T02:14:00+01:00) or local "YYYY-MM-DD HH:MM:SS". Esc returns to live.
    #[arg(long, value_name = "TIME")]
    playback: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a configuration file; print errors with line:col; exit 1 if invalid.
    CheckConfig { file: PathBuf },
    /// Serve simulated RTSP cameras on loopback (paths /cam1 … /camN).
    Simcam(SimArgs),
    /// Play a WAV file through a camera's speaker (ONVIF backchannel), then exit.
    Talk(TalkArgs),
    /// Export recorded footage as MP4, remuxed across segments (no re-encoding): one camera to
    /// a file, several to one file each in a folder.
    Export(ExportArgs),
    /// Ask an ONVIF device for its profiles and stream URIs; print a config with a ready
    /// camera entry (main url, sub_url, onvif). The password is read from stdin.
    Probe(ProbeArgs),
    /// Lock camera CAMERA behind a view password (read from stdin, no echo on a terminal);
    /// only its argon2id hash is stored, in the secrets file beside the config.
    SetViewPassword {
        camera: String,
        /// Take the lock off instead.
        #[arg(long)]
        remove: bool,
    },
    /// Store CAMERA's user and password (read from stdin) in the secrets file beside the
    /// config (created 0600); the config then needs no password.
    SetCredentials {
        camera: String,
        #[arg(long)]
        username: String,
    },
    /// Measure the audio delays (listening and talk) against simulated cameras, each beside a
    /// baseline run at the same time (`.ci/bench-audio`).
    #[command(hide = true)]
    BenchAudio {
        #[arg(long, default_value_t = 60)]
        secs: u64,
    },
    /// Measure what events cost (picture motion against decoding) and how soon they show
    /// (ONVIF and picture motion → the app's event feed) (`.ci/bench-events`).
    #[command(hide = true)]
    BenchEvents {
        #[arg(long, default_value_t = 20)]
        trials: usize,
    },
    /// Measure wall playback's seek latency (seek → first picture) over random instants of
    /// CAMERA's recordings, beside a decode-from-the-segment's-start baseline (`.ci/bench-seek`).
    #[command(hide = true)]
    BenchSeek {
        camera: String,
        #[arg(long, default_value_t = 50)]
        seeks: usize,
    },
    /// Run simulated cameras under random faults against this binary for MINUTES and print
    /// what recovered, how fast, and what the process held before and after (`.ci/soak`).
    #[cfg(target_os = "linux")]
    #[command(hide = true)]
    Soak {
        #[arg(long, default_value_t = 2.0)]
        minutes: f64,
        #[arg(long, default_value_t = 16)]
        cameras: u32,
    },
}

#[derive(clap::Args, Debug)]
struct ProbeArgs {
    /// The device service, e.g. http://192.168.1.64/onvif/device_service (or just http://HOST).
    url: String,
    /// ONVIF user; the password is then read from stdin (one line).
    #[arg(long)]
    username: Option<String>,
    /// Name of the camera entry (default: "Camera at HOST").
    #[arg(long)]
    name: Option<String>,
    /// Put the password into the printed entry (by default it is left out of the output).
    #[arg(long, requires = "username")]
    with_password: bool,
    /// Seconds each ONVIF call may take.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// The cameras' names in the config.
    #[arg(required = true)]
    cameras: Vec<String>,
    /// Start: RFC 3339 (2026-11-26T02:14:00+01:00) or local "YYYY-MM-DD HH:MM:SS"; the clip
    /// starts at the keyframe at or before it.
    #[arg(long, required_unless_present = "event", conflicts_with = "event")]
    from: Option<String>,
    /// End, the same way; the clip ends at the first picture at or after it.
    #[arg(long, required_unless_present = "event", conflicts_with = "event")]
    to: Option<String>,
    /// An event's id (`/api/events`, the alarm list): the clip is the event with the
    /// recording's pre- and post-roll. One camera only.
    #[arg(long)]
    event: Option<u64>,
    /// The MP4 file (one camera) or the folder (several; one file each).
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(clap::Args, Debug)]
struct TalkArgs {
    /// The camera's name in the config.
    camera: String,
    /// A WAV file (any rate, mono or stereo, 16-bit or float).
    file: PathBuf,
    /// Force an encoding the camera offers: pcmu, pcma or aac (default: the camera's first).
    #[arg(long)]
    codec: Option<String>,
}

#[derive(clap::Args, Debug)]
struct SimArgs {
    #[arg(long, default_value_t = 1)]
    cameras: u32,
    /// RTSP port (8554 is the restream's).
    #[arg(long, default_value_t = 8654)]
    port: u16,
    /// Seconds between keyframes (a new client still gets one at once).
    #[arg(long, default_value_t = 1)]
    keyframe_secs: u32,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Picture size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Also serve a sub stream of this size, WIDTHxHEIGHT, at /camN/sub.
    #[arg(long)]
    sub_size: Option<String>,
    /// At most this many sessions per camera (main and sub together); one more gets 453.
    #[arg(long)]
    max_sessions: Option<u32>,
    /// Every camera serves camera 1's pictures from one encoder (for benches).
    #[arg(long)]
    one_encoder: bool,
    /// The moving box moves for 4 s every SECS seconds (cameras staggered) and the ONVIF
    /// event service reports it as motion. Without it the box always moves and no motion is
    /// reported.
    #[arg(long, value_name = "SECS")]
    motion_every: Option<f64>,
    /// Sensor noise: each luma pixel off by up to ± this much, anew every frame.
    #[arg(long, default_value_t = 0)]
    noise: u8,
    /// Each camera also serves Hikvision's ISAPI event stream (alertStream) on a port of its
    /// own; its URL is printed with the camera's.
    #[arg(long)]
    isapi: bool,
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// h264 or h265.
    #[arg(long, default_value = "h264")]
    codec: String,
    /// H.265 with open GOPs (CRA keyframes instead of IDR).
    #[arg(long)]
    open_gop: bool,
    /// Also send sound: AAC 16 kHz mono, a beep at the start of every second.
    #[arg(long)]
    audio: bool,
    /// Require RTSP Digest auth with this user (needs --password).
    #[arg(long, requires = "password")]
    user: Option<String>,
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Fault: seconds between PLAY and the first frame.
    #[arg(long, default_value_t = 0.0)]
    first_frame_delay: f64,
    /// Fault: close each session after this many frames.
    #[arg(long)]
    drop_after: Option<u64>,
    /// Fault: stop sending after this many frames per session, keeping the connection open.
    #[arg(long)]
    freeze_after: Option<u64>,
    /// Fault: close every connection at once.
    #[arg(long)]
    refuse: bool,
    /// Fault: send random bytes as slice data.
    #[arg(long)]
    garbage: bool,
    /// Fault: deliver frames late by a random 0 … 2×FRACTION of the frame period (frames
    /// arrive ±FRACTION around their times; RTP timestamps stay regular).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    jitter: f64,
    /// Also be ONVIF devices (PTZ, presets, brightness) on this port: http://…/onvif/camN/device_service.
    #[arg(long, value_name = "PORT")]
    onvif_port: Option<u16>,
    /// Accept talk: offer an ONVIF backchannel (PCMU/PCMA) and log what is heard.
    #[arg(long)]
    backchannel: bool,
    /// Write each talk session heard to DIR/camN-K.wav.
    #[arg(long, value_name = "DIR", requires = "backchannel")]
    talk_out: Option<PathBuf>,
    /// Fault: the ONVIF device clock is this many seconds ahead (negative: behind).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    clock_offset: i64,
    /// Fault: the ONVIF device wants WS-Security on every call, reading its clock included.
    #[arg(long)]
    onvif_wsse_always: bool,
}

fn main() -> ExitCode {
    opticlink::secret::install_panic_hook();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("opticlink: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::CheckConfig { file }) => match Config::load(&file) {
            Ok(c) => {
                if let Some(w) = readable_secrets_warning(&file, &c) {
                    eprintln!("{w}");
                }
                let sim = c.simulated.as_ref().map_or(0, |s| s.cameras);
                println!(
                    "{}: ok ({} cameras, {sim} simulated)",
                    file.display(),
                    c.cameras.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                Ok(ExitCode::FAILURE)
            }
        },
        Some(Command::Simcam(args)) => simcam(args),
        Some(Command::Talk(args)) => talk(cli.config.as_deref(), args),
        Some(Command::Export(args)) => export(cli.config.as_deref(), args),
        Some(Command::Probe(args)) => probe(args),
        Some(Command::BenchAudio { secs }) => {
            print!(
                "{}",
                opticlink::bench::audio(secs).map_err(anyhow::Error::msg)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchEvents { trials }) => {
            print!(
                "{}",
                opticlink::events::bench::run(trials.max(1)).map_err(anyhow::Error::msg)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchSeek { camera, seeks }) => {
            let config = load_config(cli.config.as_deref())?;
            let dir = &config.recording.dir;
            let report = opticlink::playback::bench::seek(dir, &camera, seeks);
            print!("{}", report.map_err(anyhow::Error::msg)?);
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(target_os = "linux")]
        Some(Command::Soak { minutes, cameras }) => soak(minutes, cameras),
        Some(Command::SetViewPassword { camera, remove }) => {
            println!(
                "{}",
                set_view_password(cli.config.as_deref(), &camera, remove)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::SetCredentials { camera, username }) => {
            println!(
                "{}",
                set_credentials(cli.config.as_deref(), &camera, &username)?
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let config = load_config(cli.config.as_deref())?;
            // Detected before Bevy builds a window: winit panics without a display.
            let no_display = if cli.headless {
                None
            } else {
                opticlink::wall::display::missing_display()
            };
            let mode = if cli.headless || no_display.is_some() {
                if cli.screenshot.is_some() {
                    match &no_display {
                        Some(why) => bail!("--screenshot needs a display: {why}"),
                        None => bail!("--screenshot needs a window; drop --headless"),
                    }
                }
                Mode::Headless
            } else {
                Mode::Window(WindowOptions {
                    screenshot: cli
                        .screenshot
                        .map(|p| (p, Duration::from_secs_f64(cli.after.max(0.0)))),
                    screenshot_when_live: cli.when_live,
                })
            };
            let playback = cli
                .playback
                .as_deref()
                .map(opticlink::playback::index::parse_time)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--playback: {e}"))?;
            let mut app = opticlink::app(config, mode).context("cannot start")?;
            if let Some(at) = playback {
                app.insert_resource(opticlink::camera::replay::StartPlayback(at));
            }
            if let Some(why) = no_display {
                match opticlink::live_page_url(&app) {
                    Some(url) => tracing::warn!(
                        "no display ({why}): running headless; watch every camera at {url}"
                    ),
                    None => tracing::warn!("no display ({why}): running headless"),
                }
            }
            let exit = app.run();
            Ok(if exit.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `opticlink soak`: the fault soak against this binary; its report on stdout, exit 1 when it
/// failed.
#[cfg(target_os = "linux")]
fn soak(minutes: f64, cameras: u32) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let options = opticlink::soak::Options {
        minutes,
        cameras,
        exe: std::env::current_exe()?,
    };
    let report = opticlink::soak::run(&options).map_err(anyhow::Error::msg)?;
    println!("{report}");
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn simcam(args: SimArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let size = |flag: &str, v: &str| {
        v.split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
            .filter(|(w, h)| *w >= 16 && *h >= 16 && w % 2 == 0 && h % 2 == 0)
            .with_context(|| format!("--{flag} {v:?}: expected WIDTHxHEIGHT, even, at least 16x16"))
    };
    let (w, h) = size("size", &args.size)?;
    let sub_size = args
        .sub_size
        .as_deref()
        .map(|v| size("sub-size", v))
        .transpose()?;
    let codec = match args.codec.to_ascii_lowercase().as_str() {
        "h264" => VideoCodec::H264,
        "h265" | "hevc" => VideoCodec::H265,
        other => bail!("--codec {other:?}: expected h264 or h265"),
    };
    if args.cameras == 0 || args.fps == 0 {
        bail!("--cameras and --fps must be at least 1");
    }
    let config = SimConfig {
        cameras: args.cameras,
        bind: args.bind,
        port: args.port,
        width: w,
        height: h,
        fps: args.fps,
        codec,
        open_gop: args.open_gop,
        keyframe_secs: args.keyframe_secs.max(1),
        names: Vec::new(),
        user: args.user,
        password: args.password,
        audio: args.audio,
        faults: SimFaults {
            first_frame_delay: Duration::from_secs_f64(args.first_frame_delay.max(0.0)),
            drop_after_frames: args.drop_after,
            freeze_after_frames: args.freeze_after,
            refuse: args.refuse,
            garbage: args.garbage,
            jitter: args.jitter.clamp(0.0, 0.5),
            clock_offset_secs: args.clock_offset,
            onvif_hang: false,
            onvif_wsse_always: args.onvif_wsse_always,
            talk_deaf: false,
            ..SimFaults::default()
        },
        onvif_port: args.onvif_port,
        backchannel: args.backchannel,
        talk_out: args.talk_out,
        sub_size,
        max_sessions: args.max_sessions,
        one_encoder: args.one_encoder,
        motion_every: args
            .motion_every
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64),
        noise: args.noise,
        isapi: args.isapi,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let server = SimServer::start(config)
            .await
            .context("cannot start the simulated cameras")?;
        for i in 1..=args.cameras {
            let extra = [server.onvif_url(i), server.isapi_url(i)];
            let mut line = server.url(i);
            for url in extra.into_iter().flatten() {
                line = format!("{line} {url}");
            }
            println!("{line}");
        }
        opticlink::shutdown::install(&tokio::runtime::Handle::current());
        opticlink::shutdown::wait().await;
        server.stop();
        Ok(ExitCode::SUCCESS)
    })
}

fn export(cli_config: Option<&Path>, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(cli_config)?;
    let all_written = match (args.event, args.from, args.to) {
        (Some(id), ..) => {
            let [camera] = args.cameras.as_slice() else {
                bail!("--event exports one camera: name only the event's camera");
            };
            opticlink::playback::commands::export_event(&config, camera, id, &args.output)?
        }
        (None, Some(from), Some(to)) => {
            opticlink::playback::commands::export(&config, &args.cameras, &from, &to, &args.output)?
        }
        _ => bail!("give --from and --to, or --event"),
    };
    Ok(if all_written {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn talk(cli_config: Option<&Path>, args: TalkArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(cli_config)?;
    let line = opticlink::talk::commands::play_wav(
        &config,
        &args.camera,
        &args.file,
        args.codec.as_deref(),
    )?;
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn probe(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let mut url = args.url.clone();
    if url::Url::parse(&url).is_ok_and(|u| u.path() == "/" || u.path().is_empty()) {
        url = format!("{}/onvif/device_service", url.trim_end_matches('/'));
    }
    let creds = match &args.username {
        Some(user) => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            Some((
                user.clone(),
                password.trim_end_matches(['\r', '\n']).to_string(),
            ))
        }
        None => None,
    };
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.1, 60.0));
    let endpoint = opticlink::onvif::Endpoint::new("probe", &url, creds.clone(), timeout)?;
    let host = endpoint.device.host_str().unwrap_or("camera").to_string();
    let rt = tokio::runtime::Runtime::new()?;
    let found = rt.block_on(async {
        let device = endpoint.connect().await?;
        let profiles = device.profiles().await?;
        let mut out = Vec::new();
        for p in profiles {
            let uri = device.stream_uri(&p.token).await?;
            out.push((p, uri));
        }
        Ok::<_, opticlink::onvif::OnvifError>((device.services.clone(), out))
    });
    let (services, profiles) = found.map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    if profiles.is_empty() {
        bail!("{url}: the device has no media profiles");
    }
    let text = opticlink::onvif::probe_config(
        &url,
        args.name.as_deref().unwrap_or(&format!("Camera at {host}")),
        &services,
        &profiles,
        creds
            .as_ref()
            .map(|(u, p)| (u.as_str(), args.with_password.then_some(p.as_str()))),
    );
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

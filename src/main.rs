//! The `opticlink` command line: run the wall (window or headless), check a config, or run
//! simulated cameras. The only place that uses `anyhow`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use opticlink::config::Config;
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
    /// Configuration file (default: config/wall.ron if present, else the built-in demo).
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
    /// screen (or after --after seconds, whichever comes first).
    #[arg(long, requires = "screenshot")]
    when_live: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a configuration file; print errors with line:col; exit 1 if invalid.
    CheckConfig { file: PathBuf },
    /// Serve simulated RTSP cameras on loopback (paths /cam1 … /camN).
    Simcam(SimArgs),
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
struct SimArgs {
    #[arg(long, default_value_t = 1)]
    cameras: u32,
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Picture size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
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
    /// Fault: the ONVIF device clock is this many seconds ahead (negative: behind).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    clock_offset: i64,
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

/// The config file in use: `--config`, else `config/wall.ron` if present, else none (the
/// built-in demo).
fn config_path(path: Option<&Path>) -> Option<PathBuf> {
    let default = Path::new("config/wall.ron");
    match path {
        Some(p) => Some(p.to_path_buf()),
        None if default.exists() => Some(default.to_path_buf()),
        None => None,
    }
}

/// The config with the local secrets (credentials, view locks) filled in.
fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let path = config_path(path);
    let mut config = match &path {
        Some(p) => Config::load(p)?,
        None => Config::demo(),
    };
    if let Some(secrets) = opticlink::credentials::secrets_path(path.as_deref()) {
        let file =
            opticlink::credentials::SecretsFile::load(&secrets).map_err(anyhow::Error::msg)?;
        for problem in file.apply(&mut config) {
            eprintln!("opticlink: {problem}");
        }
    }
    Ok(config)
}

/// `set-view-password` and `set-credentials`: the secrets file of the config in use, checked
/// to know camera `name`.
fn secrets_for(cli_config: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let path = config_path(cli_config);
    let config = match &path {
        Some(p) => Config::load(p)?,
        None => Config::demo(),
    };
    let sims = config.simulated.as_ref().map_or(0, |s| s.cameras);
    let known = config.cameras.iter().any(|c| c.name == name)
        || (1..=sims).any(|i| format!("Sim {i}") == name);
    if !known {
        bail!(
            "no camera {name:?} in {}",
            path.as_deref()
                .map_or("the built-in demo".into(), |p| p.display().to_string())
        );
    }
    opticlink::credentials::secrets_path(path.as_deref())
        .context("no place for the secrets file (no data directory)")
}

fn set_view_password(
    cli_config: Option<&Path>,
    camera: &str,
    remove: bool,
) -> anyhow::Result<ExitCode> {
    use opticlink::credentials::{SecretsFile, read_secret};
    let path = secrets_for(cli_config, camera)?;
    let mut file = SecretsFile::load(&path).map_err(anyhow::Error::msg)?;
    let entry = file.cameras.entry(camera.to_string()).or_default();
    if remove {
        entry.view_password = None;
    } else {
        let password = read_secret(&format!("view password for {camera}: "))?;
        if password.is_empty() {
            bail!("empty password (use --remove to take the lock off)");
        }
        entry.view_password =
            Some(opticlink::locks::hash::hash(&password).map_err(anyhow::Error::msg)?);
    }
    file.save(&path).map_err(anyhow::Error::msg)?;
    println!(
        "{camera}: view password {} ({})",
        if remove { "removed" } else { "set" },
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn set_credentials(
    cli_config: Option<&Path>,
    camera: &str,
    username: &str,
) -> anyhow::Result<ExitCode> {
    use opticlink::credentials::{SecretsFile, read_secret};
    let path = secrets_for(cli_config, camera)?;
    let password = read_secret(&format!("password of {username} on {camera}: "))?;
    let mut file = SecretsFile::load(&path).map_err(anyhow::Error::msg)?;
    let entry = file.cameras.entry(camera.to_string()).or_default();
    entry.username = Some(username.to_string());
    entry.password = Some(password);
    file.save(&path).map_err(anyhow::Error::msg)?;
    println!(
        "{camera}: credentials of {username} stored ({})",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A warning when a config file holding a password can be read by group or others.
fn readable_secrets_warning(file: &Path, config: &Config) -> Option<String> {
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
    None
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
        Some(Command::Probe(args)) => probe(args),
        Some(Command::SetViewPassword { camera, remove }) => {
            set_view_password(cli.config.as_deref(), &camera, remove)
        }
        Some(Command::SetCredentials { camera, username }) => {
            set_credentials(cli.config.as_deref(), &camera, &username)
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
            let mut app = opticlink::app(config, mode).context("cannot start")?;
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

fn simcam(args: SimArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| *w >= 16 && *h >= 16 && w % 2 == 0 && h % 2 == 0)
        .with_context(|| {
            format!(
                "--size {:?}: expected WIDTHxHEIGHT, even, at least 16x16",
                args.size
            )
        })?;
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
        },
        onvif_port: args.onvif_port,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let server = SimServer::start(config)
            .await
            .context("cannot start the simulated cameras")?;
        for i in 1..=args.cameras {
            match server.onvif_url(i) {
                Some(onvif) => println!("{} {onvif}", server.url(i)),
                None => println!("{}", server.url(i)),
            }
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        server.stop();
        Ok(ExitCode::SUCCESS)
    })
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

//! Requests to stop that come from outside the program, turned into one flag the app polls (and
//! a future commands wait on): Ctrl-C, SIGTERM and SIGHUP (the terminal closed) on Unix; on
//! Windows the console's Ctrl-C and Ctrl-Break, its close button, logoff and shutdown. Windows
//! ends a process as soon as its handler returns from a close, logoff or shutdown event, so
//! for those the handler holds on while the app closes its recordings and returns from `main`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static WHY: OnceLock<&'static str> = OnceLock::new();
static NOTIFY: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Waits until a stop is asked for.
pub async fn wait() {
    loop {
        let notified = NOTIFY.notified();
        if requested() {
            return;
        }
        notified.await;
    }
}

/// Records a stop request (the first reason is kept and logged).
pub fn request(why: &'static str) {
    if WHY.set(why).is_ok() {
        tracing::info!("{why}: shutting down");
    }
    REQUESTED.store(true, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// A Windows console control event, by its code (`CTRL_*_EVENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleEvent {
    CtrlC,
    CtrlBreak,
    Close,
    Logoff,
    Shutdown,
}

impl ConsoleEvent {
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::CtrlC,
            1 => Self::CtrlBreak,
            2 => Self::Close,
            5 => Self::Logoff,
            6 => Self::Shutdown,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::CtrlC => "Ctrl-C",
            Self::CtrlBreak => "Ctrl-Break",
            Self::Close => "console closed",
            Self::Logoff => "logoff",
            Self::Shutdown => "system shutdown",
        }
    }

    /// Whether the handler must not return until the process is done: Windows ends the process
    /// when it returns from these (and, failing that, after its grace period of some seconds).
    pub fn holds(self) -> bool {
        matches!(self, Self::Close | Self::Logoff | Self::Shutdown)
    }
}

/// Starts listening for stop requests (once per process; later calls do nothing).
pub fn install(rt: &tokio::runtime::Handle) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return;
    }
    #[cfg(unix)]
    rt.spawn(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (term, hup) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(h)) => (t, h),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("cannot watch SIGTERM/SIGHUP: {e}");
                let _ = tokio::signal::ctrl_c().await;
                return request("Ctrl-C");
            }
        };
        let (mut term, mut hup) = (term, hup);
        request(tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        });
    });
    #[cfg(windows)]
    {
        let _ = rt;
        console::install();
    }
}

#[cfg(windows)]
mod console {
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;

    use super::ConsoleEvent;

    unsafe extern "system" fn handler(code: u32) -> windows_sys::core::BOOL {
        let Some(event) = ConsoleEvent::from_code(code) else {
            return 0;
        };
        super::request(event.name());
        if event.holds() {
            // The app closes its segments and returns from `main`, which ends the process
            // (this thread with it); returning here would end it at once.
            loop {
                std::thread::park();
            }
        }
        1
    }

    pub fn install() {
        // SAFETY: registers a handler with the right signature for the process's lifetime.
        if unsafe { SetConsoleCtrlHandler(Some(handler), 1) } == 0 {
            tracing::warn!(
                "cannot watch console events: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_events_by_code_and_which_hold_the_process() {
        use ConsoleEvent::*;
        for (code, event, holds) in [
            (0, CtrlC, false),
            (1, CtrlBreak, false),
            (2, Close, true),
            (5, Logoff, true),
            (6, Shutdown, true),
        ] {
            assert_eq!(ConsoleEvent::from_code(code), Some(event));
            assert_eq!(event.holds(), holds, "{event:?}");
        }
        assert_eq!(ConsoleEvent::from_code(3), None);
        assert_eq!(ConsoleEvent::from_code(4), None);
    }

    #[cfg(windows)]
    #[test]
    fn codes_are_windows_own() {
        use windows_sys::Win32::System::Console::*;
        assert_eq!(
            [
                CTRL_C_EVENT,
                CTRL_BREAK_EVENT,
                CTRL_CLOSE_EVENT,
                CTRL_LOGOFF_EVENT,
                CTRL_SHUTDOWN_EVENT
            ],
            [0, 1, 2, 5, 6]
        );
    }
}

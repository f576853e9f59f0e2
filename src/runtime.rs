//! The one tokio runtime every camera worker, server and simulated camera shares, held as a
//! Bevy resource: spawning, tracking worker tasks, waiting for them (and their TEARDOWNs) on
//! exit, the in-process simulated cameras, and stop requests ([`crate::shutdown`]) turned into a
//! clean exit.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy::prelude::*;
use retina::client::SessionGroup;

use crate::simcam::{SimConfig, SimServer};

/// Raises the soft limit on open files to the hard one (Linux's default soft limit, 1024, is
/// less than the servers' connection caps), and says when it stays low.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid resource and a struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return;
            }
            let wanted = lim.rlim_max.min(1 << 20);
            if lim.rlim_cur < wanted {
                lim.rlim_cur = wanted;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    tracing::warn!(
                        "cannot raise the open-file limit ({}); connections beyond it are refused",
                        std::io::Error::last_os_error()
                    );
                    return;
                }
            }
            if lim.rlim_cur < 8192 {
                tracing::warn!(
                    "open-file limit {}: raise it (ulimit -n) for many cameras and clients",
                    lim.rlim_cur
                );
            }
        }
    }
}

/// How long control agents get on exit (to stop a moving camera).
const AGENT_EXIT: Duration = Duration::from_millis(1500);

#[derive(Resource)]
pub struct Runtime {
    rt: Option<tokio::runtime::Runtime>,
    group: Arc<SessionGroup>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    agents: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    sim: Option<SimServer>,
}

impl Runtime {
    pub fn new() -> std::io::Result<Self> {
        raise_open_file_limit();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .thread_name("opticlink-io")
            .enable_all()
            .build()?;
        crate::shutdown::install(rt.handle());
        Ok(Self {
            rt: Some(rt),
            group: Arc::new(SessionGroup::default().named("opticlink".into())),
            tasks: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            agents: Mutex::new(Vec::new()),
            sim: None,
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.as_ref().expect("runtime lives until drop").handle()
    }

    pub fn group(&self) -> Arc<SessionGroup> {
        self.group.clone()
    }

    /// Keeps a worker task, and the recorder thread that ends after it, so exit can wait.
    pub fn track(&self, task: tokio::task::JoinHandle<()>, recorder: std::thread::JoinHandle<()>) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
        if let Ok(mut threads) = self.threads.lock() {
            threads.push(recorder);
        }
    }

    /// A worker with no recorder thread (a sub stream), waited for at exit like the others.
    pub fn track_task(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
    }

    /// Starts the in-process simulated cameras.
    pub fn start_sim(&mut self, config: SimConfig) -> std::io::Result<SocketAddr> {
        let server = self.handle().block_on(SimServer::start(config))?;
        let addr = server.addr();
        self.sim = Some(server);
        Ok(addr)
    }

    pub fn sim_addr(&self) -> Option<SocketAddr> {
        self.sim.as_ref().map(SimServer::addr)
    }

    /// The simulated cameras' RTSP address and, if they speak ONVIF, their ONVIF address.
    pub fn sim_addrs(&self) -> Option<(SocketAddr, Option<SocketAddr>)> {
        self.sim.as_ref().map(|s| (s.addr(), s.onvif_addr()))
    }

    /// Tracks a camera's control agent: on exit it gets a short while to stop a moving
    /// camera, after the workers and recorders are done.
    pub fn track_agent(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut agents) = self.agents.lock() {
            agents.push(task);
        }
    }

    /// Waits (at most `limit`) for every tracked worker to end and for the sessions they
    /// closed to be torn down.
    pub fn wait_for_workers(&self, limit: Duration) {
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        let group = self.group.clone();
        let done = self.handle().block_on(async move {
            tokio::time::timeout(limit, async move {
                for t in tasks {
                    let _ = t.await;
                }
                let _ = group.await_teardown().await;
            })
            .await
        });
        if done.is_err() {
            tracing::warn!("some camera sessions did not close within {limit:?}");
            return;
        }
        // Workers are gone, so their recorders have seen the end: wait for the last segments
        // to be finished (trailers written) before the process exits.
        let threads: Vec<_> = self
            .threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
        // Control agents last, briefly: one stuck in a call to a hung camera must not hold
        // up the exit.
        let agents: Vec<_> = self
            .agents
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        let aborts: Vec<_> = agents.iter().map(|a| a.abort_handle()).collect();
        // The timer must be made inside the runtime.
        let ended = self.handle().block_on(async move {
            tokio::time::timeout(AGENT_EXIT, futures::future::join_all(agents)).await
        });
        if ended.is_err() {
            tracing::warn!("camera control did not end within {AGENT_EXIT:?}");
            for a in aborts {
                a.abort();
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            sim.stop();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A stop asked from outside ([`crate::shutdown`]: Ctrl-C, SIGTERM, a closed console…) →
/// `AppExit`, so shutdown runs the same path as closing the window.
pub fn exit_on_signal(mut exit: MessageWriter<AppExit>) {
    if crate::shutdown::requested() {
        exit.write(AppExit::Success);
    }
}

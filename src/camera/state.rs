//! The per-camera stream state machine, pure: worker events and clock ticks in, the state a
//! person sees out. Owns the startup grace (a connecting feed is never shown as dropped
//! before `grace_secs`) and the reconnect count. No Bevy; times are offsets from app start.

use std::time::Duration;

use crate::stream::CameraEvent;

/// What the wall and the API show for a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamState {
    Connecting,
    Live,
    Stalled,
    Reconnecting,
    AuthFailed,
    Offline,
    /// The stream holds no session because nobody needs it now (another stream of the
    /// camera is shown); not a failure.
    Standby,
}

impl StreamState {
    /// Lower-case name used by the API, metrics and overlays.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Stalled => "stalled",
            Self::Reconnecting => "reconnecting",
            Self::AuthFailed => "auth_failed",
            Self::Offline => "offline",
            Self::Standby => "standby",
        }
    }

    pub const ALL: [StreamState; 7] = [
        Self::Connecting,
        Self::Live,
        Self::Stalled,
        Self::Reconnecting,
        Self::AuthFailed,
        Self::Offline,
        Self::Standby,
    ];
}

/// The machine: current state plus what it needs to decide the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMachine {
    pub state: StreamState,
    /// Times the camera came back live after having been live.
    pub reconnects: u32,
    /// The most recent failure, credentials already removed by the worker.
    pub last_error: Option<String>,
    ever_live: bool,
}

/// The startup grace timer of one camera.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grace {
    /// End of the grace while it lasts.
    pub until: Option<Duration>,
    /// The worker reported a failure during the grace: shown once the grace ends.
    pub failed_within: bool,
}

impl Grace {
    pub fn starting(now: Duration, grace: Duration) -> Self {
        Self {
            until: Some(now + grace),
            failed_within: false,
        }
    }

    fn active(&self, now: Duration) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// A state change, for the log and the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: StreamState,
    pub to: StreamState,
}

impl StreamMachine {
    /// A camera that is starting (pair it with [`Grace::starting`]).
    pub fn connecting() -> Self {
        Self {
            state: StreamState::Connecting,
            reconnects: 0,
            last_error: None,
            ever_live: false,
        }
    }

    /// A disabled camera.
    pub fn offline() -> Self {
        Self {
            state: StreamState::Offline,
            ..Self::connecting()
        }
    }

    /// Grace left, while connecting inside it.
    pub fn grace_left(&self, grace: &Grace, now: Duration) -> Option<Duration> {
        match (self.state, grace.until) {
            (StreamState::Connecting, Some(until)) => Some(until.saturating_sub(now)),
            _ => None,
        }
    }

    fn go(&mut self, to: StreamState) -> Option<Transition> {
        let from = std::mem::replace(&mut self.state, to);
        (from != to).then_some(Transition { from, to })
    }

    /// Applies one worker event.
    pub fn on_event(
        &mut self,
        grace: &mut Grace,
        now: Duration,
        event: &CameraEvent,
    ) -> Option<Transition> {
        match event {
            CameraEvent::Connecting { .. } => None,
            CameraEvent::Live { .. } => {
                // Back from standby is a session wanted again, not a reconnect.
                if self.ever_live && !matches!(self.state, StreamState::Live | StreamState::Standby)
                {
                    self.reconnects += 1;
                }
                self.ever_live = true;
                *grace = Grace::default();
                self.go(StreamState::Live)
            }
            CameraEvent::Stalled { .. } => {
                if self.state == StreamState::Live {
                    self.go(StreamState::Stalled)
                } else {
                    None
                }
            }
            CameraEvent::Reconnecting { error, .. } => {
                self.last_error = Some(error.clone());
                if self.state == StreamState::Connecting && grace.active(now) {
                    // A slow or flaky start is not a drop until the grace is over.
                    grace.failed_within = true;
                    None
                } else {
                    *grace = Grace::default();
                    self.go(StreamState::Reconnecting)
                }
            }
            CameraEvent::AuthFailed { error, .. } => {
                self.last_error = Some(error.clone());
                *grace = Grace::default();
                self.go(StreamState::AuthFailed)
            }
            CameraEvent::Standby => {
                *grace = Grace::default();
                self.go(StreamState::Standby)
            }
            CameraEvent::Stopped => {
                *grace = Grace::default();
                self.go(StreamState::Offline)
            }
        }
    }

    /// Advances the clock: ends the grace, and shows a failure reported during it.
    pub fn on_tick(&mut self, grace: &mut Grace, now: Duration) -> Option<Transition> {
        if self.state == StreamState::Connecting && grace.until.is_some() && !grace.active(now) {
            let failed = grace.failed_within;
            *grace = Grace::default();
            if failed {
                return self.go(StreamState::Reconnecting);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::VideoCodec;
    use StreamState::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }
    fn live() -> CameraEvent {
        CameraEvent::Live {
            codec: VideoCodec::H264,
            width: 640,
            height: 360,
        }
    }
    fn failed() -> CameraEvent {
        CameraEvent::Reconnecting {
            delay: s(1.0),
            error: "refused".into(),
        }
    }
    fn auth() -> CameraEvent {
        CameraEvent::AuthFailed {
            retry_in: s(60.0),
            error: "401".into(),
        }
    }
    enum In {
        Ev(f64, CameraEvent),
        Tick(f64),
    }

    /// Runs inputs from a fresh machine (grace 10 s) and returns the state after each.
    fn run(inputs: Vec<In>) -> (Vec<StreamState>, StreamMachine) {
        let mut m = StreamMachine::connecting();
        let mut g = Grace::starting(Duration::ZERO, s(10.0));
        let states = inputs
            .into_iter()
            .map(|i| {
                match i {
                    In::Ev(t, e) => m.on_event(&mut g, s(t), &e),
                    In::Tick(t) => m.on_tick(&mut g, s(t)),
                };
                m.state
            })
            .collect();
        (states, m)
    }

    #[test]
    fn table() {
        use In::*;
        let cases: Vec<(&str, Vec<In>, Vec<StreamState>, u32)> = vec![
            (
                "slow first frame stays connecting",
                vec![Tick(3.0), Tick(6.0), Ev(6.0, live())],
                vec![Connecting, Connecting, Live],
                0,
            ),
            (
                "failure inside grace is hidden until it ends",
                vec![Ev(2.0, failed()), Tick(9.9), Tick(10.0)],
                vec![Connecting, Connecting, Reconnecting],
                0,
            ),
            (
                "recovery inside grace never shows a drop",
                vec![Ev(2.0, failed()), Ev(4.0, live()), Tick(11.0)],
                vec![Connecting, Live, Live],
                0,
            ),
            (
                "failure after grace shows at once",
                vec![Tick(10.5), Ev(11.0, failed())],
                vec![Connecting, Reconnecting],
                0,
            ),
            (
                "grace ends quietly when nothing failed",
                vec![Tick(12.0)],
                vec![Connecting],
                0,
            ),
            (
                "stall then reconnect counts once",
                vec![
                    Ev(1.0, live()),
                    Ev(20.0, CameraEvent::Stalled { after: s(5.0) }),
                    Ev(20.0, failed()),
                    Ev(22.0, failed()),
                    Ev(30.0, live()),
                ],
                vec![Live, Stalled, Reconnecting, Reconnecting, Live],
                1,
            ),
            (
                "auth failure shows even in grace",
                vec![Ev(1.0, auth()), Ev(62.0, live())],
                vec![AuthFailed, Live],
                0,
            ),
            (
                "stalled only from live",
                vec![Ev(1.0, CameraEvent::Stalled { after: s(5.0) })],
                vec![Connecting],
                0,
            ),
            (
                "stopped is offline",
                vec![Ev(1.0, live()), Ev(2.0, CameraEvent::Stopped)],
                vec![Live, Offline],
                0,
            ),
            (
                "standby and back is no reconnect",
                vec![
                    Ev(1.0, live()),
                    Ev(5.0, CameraEvent::Standby),
                    Ev(9.0, live()),
                ],
                vec![Live, Standby, Live],
                0,
            ),
            (
                "a failure after standby counts when live again",
                vec![
                    Ev(1.0, live()),
                    Ev(5.0, CameraEvent::Standby),
                    Ev(9.0, failed()),
                    Ev(12.0, live()),
                ],
                vec![Live, Standby, Reconnecting, Live],
                1,
            ),
            (
                "a stream that starts on standby",
                vec![Ev(0.1, CameraEvent::Standby), Tick(12.0)],
                vec![Standby, Standby],
                0,
            ),
        ];
        for (name, inputs, want, reconnects) in cases {
            let (got, m) = run(inputs);
            assert_eq!(got, want, "{name}");
            assert_eq!(m.reconnects, reconnects, "{name}");
        }
    }

    #[test]
    fn grace_left_counts_down_while_connecting() {
        let mut m = StreamMachine::connecting();
        let mut g = Grace::starting(s(1.0), s(10.0));
        assert_eq!(m.grace_left(&g, s(4.0)), Some(s(7.0)));
        m.on_event(&mut g, s(5.0), &live());
        assert_eq!(m.grace_left(&g, s(5.0)), None);
    }

    #[test]
    fn errors_are_kept() {
        let (_, m) = run(vec![In::Ev(1.0, failed())]);
        assert_eq!(m.last_error.as_deref(), Some("refused"));
    }
}

//! The one place raw edges become events, pure (time is passed in): an event starts at the
//! first active edge, lasts while edges keep coming, and ends a hold-off after the last one
//! (cameras often never send a stop), never before a minimum length. A source that reports
//! a lasting state (ONVIF) holds the event while its state is on, up to a limit (a camera
//! that never says stop). After an event ends, the camera's cooldown keeps a new one from
//! starting at once.

use std::collections::HashMap;
use std::time::Duration;

use super::{Edge, Kind, Source};

/// How edges become events; per camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// An event ends this long after its last edge.
    pub hold: Duration,
    /// An event lasts at least this long.
    pub min_len: Duration,
    /// After an event ends, no new one starts for this long.
    pub cooldown: Duration,
    /// A lasting state left on this long without a word ends its event all the same.
    pub max_on: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            hold: Duration::from_secs(10),
            min_len: Duration::from_secs(1),
            cooldown: Duration::ZERO,
            max_on: Duration::from_secs(120),
        }
    }
}

/// An event starting or ending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Started { source: Source, kind: Kind },
    Ended { source: Source, kind: Kind },
}

#[derive(Debug, Clone)]
struct Open {
    source: Source,
    started: Duration,
    /// The last edge, on or off.
    last: Duration,
    /// The last edge said a lasting state is on.
    held: bool,
}

impl Open {
    fn ends_at(&self, rules: &Rules) -> Duration {
        let after = if self.held {
            rules.max_on.max(rules.hold)
        } else {
            rules.hold
        };
        (self.last + after).max(self.started + rules.min_len)
    }
}

/// One camera's open events, one per kind.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub rules: Rules,
    open: HashMap<Kind, Open>,
    /// When the camera's last event ended.
    ended: Option<Duration>,
}

impl Tracker {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// Takes `edge` at `now`; an event that starts with it.
    pub fn edge(&mut self, edge: &Edge, now: Duration) -> Option<Change> {
        if let Some(open) = self.open.get_mut(&edge.kind) {
            if edge.active {
                open.last = open.last.max(now);
                open.held = edge.lasting;
            } else if open.held {
                // A lasting state turned off: the hold-off starts now. (An off from a source
                // that repeats itself while motion goes on says nothing new.)
                open.held = false;
                open.last = open.last.max(now);
            }
            return None;
        }
        let cooling = self.ended.is_some_and(|t| now < t + self.rules.cooldown);
        if !edge.active || cooling {
            return None;
        }
        self.open.insert(
            edge.kind,
            Open {
                source: edge.source,
                started: now,
                last: now,
                held: edge.lasting,
            },
        );
        Some(Change::Started {
            source: edge.source,
            kind: edge.kind,
        })
    }

    /// Events whose hold-off has run out by `now`.
    pub fn tick(&mut self, now: Duration) -> Vec<Change> {
        let rules = self.rules;
        let mut ended = Vec::new();
        self.open.retain(|kind, open| {
            let done = now >= open.ends_at(&rules);
            if done {
                ended.push(Change::Ended {
                    source: open.source,
                    kind: *kind,
                });
            }
            !done
        });
        if !ended.is_empty() {
            self.ended = Some(now);
        }
        ended
    }

    /// Whether any event is open.
    pub fn active(&self) -> bool {
        !self.open.is_empty()
    }

    /// When the next open event ends if no edge comes first.
    pub fn next_end(&self) -> Option<Duration> {
        self.open.values().map(|o| o.ends_at(&self.rules)).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(kind: Kind, active: bool) -> Edge {
        Edge {
            camera: "Gate".into(),
            source: Source::Local,
            kind,
            active,
            lasting: false,
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn an_event_ends_a_hold_off_after_the_last_edge_even_without_a_stop() {
        let mut t = Tracker::new(Rules::default());
        assert_eq!(
            t.edge(&edge(Kind::Motion, true), s(1.0)),
            Some(Change::Started {
                source: Source::Local,
                kind: Kind::Motion
            })
        );
        // More edges extend it; none of them starts another.
        assert_eq!(t.edge(&edge(Kind::Motion, true), s(5.0)), None);
        assert!(t.tick(s(14.9)).is_empty());
        assert_eq!(t.next_end(), Some(s(15.0)));
        assert_eq!(t.tick(s(15.0)).len(), 1);
        assert!(!t.active());
        // A stop for an event that has ended is nothing.
        assert_eq!(t.edge(&edge(Kind::Motion, false), s(16.0)), None);
        assert!(t.tick(s(100.0)).is_empty());
    }

    #[test]
    fn a_lasting_state_holds_its_event_until_it_stops_or_its_limit() {
        let rules = Rules {
            hold: s(2.0),
            min_len: Duration::ZERO,
            cooldown: Duration::ZERO,
            max_on: s(60.0),
        };
        let on = |active| Edge {
            lasting: true,
            source: Source::Onvif,
            ..edge(Kind::Motion, active)
        };
        let mut t = Tracker::new(rules);
        t.edge(&on(true), s(0.0));
        assert!(t.tick(s(30.0)).is_empty(), "the camera still says motion");
        t.edge(&on(false), s(40.0));
        assert!(t.tick(s(41.9)).is_empty());
        assert_eq!(t.tick(s(42.0)).len(), 1, "a hold-off after the stop");
        // A camera that never says stop: ended at the limit.
        t.edge(&on(true), s(100.0));
        assert!(t.tick(s(159.0)).is_empty());
        assert_eq!(t.tick(s(160.0)).len(), 1);
    }

    #[test]
    fn a_stop_starts_the_hold_off_and_a_short_event_lasts_its_minimum() {
        let rules = Rules {
            hold: s(0.5),
            min_len: s(3.0),
            ..Rules::default()
        };
        let mut t = Tracker::new(rules);
        t.edge(&edge(Kind::Motion, true), s(0.0));
        t.edge(&edge(Kind::Motion, false), s(0.2));
        assert!(t.tick(s(2.9)).is_empty(), "shorter than the minimum");
        assert_eq!(t.tick(s(3.0)).len(), 1);
        // An off edge never starts one.
        assert_eq!(t.edge(&edge(Kind::Motion, false), s(4.0)), None);
    }

    #[test]
    fn cooldown_keeps_a_new_event_from_starting_and_kinds_are_apart() {
        let rules = Rules {
            hold: s(1.0),
            min_len: Duration::ZERO,
            cooldown: s(5.0),
            ..Rules::default()
        };
        let mut t = Tracker::new(rules);
        t.edge(&edge(Kind::Motion, true), s(0.0));
        assert!(t.edge(&edge(Kind::Line, true), s(0.5)).is_some());
        assert_eq!(t.tick(s(1.5)).len(), 2);
        assert_eq!(
            t.edge(&edge(Kind::Motion, true), s(3.0)),
            None,
            "cooling down"
        );
        assert!(!t.active());
        assert!(t.edge(&edge(Kind::Motion, true), s(6.5)).is_some());
    }
}

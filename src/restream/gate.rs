//! Who may read a restream: with an access token set, a Digest answer whose password is the
//! token; for a camera with a view lock, its unlock key too, as `?key=` or as the Digest
//! password (a key also stands for the token: only a client with the token gets one).

use std::sync::Arc;

use super::digest::Answer;
use crate::locks::Locks;

/// The Digest realm of the restream.
pub const REALM: &str = "OpticLink";

/// The restream's access rules.
#[derive(Clone, Default)]
pub struct Gate {
    pub token: Option<Arc<str>>,
    pub locks: Option<Arc<Locks>>,
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// With the unlock key that opened the camera's lock, if it has one.
    Pass(Option<String>),
    /// 401 with a Digest challenge.
    Challenge,
}

impl Gate {
    /// Whether a `method` request for `camera`, with Digest `auth` (answering `nonce`) and
    /// the unlock `key` the connection gave, may pass.
    pub fn check(
        &self,
        auth: Option<&str>,
        method: &str,
        camera: &str,
        key: Option<&str>,
        nonce: &str,
    ) -> Verdict {
        let answer = Answer::parse(auth);
        let proves = |password: &str| {
            answer
                .as_ref()
                .is_some_and(|a| a.proves(method, REALM, nonce, password))
        };
        let locks = self.locks.as_ref().filter(|l| l.has_lock(camera));
        let key_as_password =
            locks.and_then(|l| l.digest_keys(camera).into_iter().find(|k| proves(k)));
        let token = self
            .token
            .as_ref()
            .is_none_or(|t| key_as_password.is_some() || proves(t));
        let opened = match locks {
            None => Some(None),
            Some(_) if key_as_password.is_some() => Some(key_as_password),
            Some(l) => l.key_allows(camera, key).then(|| key.map(str::to_owned)),
        };
        match (token, opened) {
            (true, Some(key)) => Verdict::Pass(key),
            _ => Verdict::Challenge,
        }
    }

    /// Whether camera `camera` still lets in a client that `key` let in (a lock may have
    /// been set, or the key expired, since).
    pub fn still_open(&self, camera: &str, key: Option<&str>) -> bool {
        self.locks
            .as_ref()
            .is_none_or(|l| !l.has_lock(camera) || l.key_allows(camera, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restream::digest::md5_hex;

    fn auth(password: &str, nonce: &str) -> String {
        let ha1 = md5_hex(&format!("anyone:{REALM}:{password}"));
        let ha2 = md5_hex("DESCRIBE:rtsp://h/Gate/main");
        let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        format!(
            "Digest username=\"anyone\", realm=\"{REALM}\", nonce=\"{nonce}\", \
             uri=\"rtsp://h/Gate/main\", response=\"{response}\""
        )
    }

    #[test]
    fn the_token_or_a_key_opens_and_nothing_else() {
        let open = Gate::default();
        assert_eq!(
            open.check(None, "DESCRIBE", "Gate", None, "n"),
            Verdict::Pass(None)
        );
        let gate = Gate {
            token: Some("s3cret".into()),
            locks: None,
        };
        let check = |a: Option<&str>| gate.check(a, "DESCRIBE", "Gate", None, "n");
        assert_eq!(check(None), Verdict::Challenge);
        assert_eq!(check(Some(&auth("s3cret", "n"))), Verdict::Pass(None));
        assert_eq!(check(Some(&auth("wrong", "n"))), Verdict::Challenge);
        assert_eq!(
            check(Some(&auth("s3cret", "old"))),
            Verdict::Challenge,
            "another nonce"
        );
        assert_eq!(
            check(Some("Basic YW55b25lOnMzY3JldA==")),
            Verdict::Challenge,
            "Basic is never taken"
        );
    }

    #[test]
    fn a_locked_camera_needs_its_key_as_a_parameter_or_a_password() {
        let locks = Arc::new(Locks::new(None, std::time::Duration::from_secs(60)));
        let hash = crate::locks::hash::hash("view").unwrap();
        locks.set_camera(
            "Gate",
            crate::locks::CameraLock::new("10.0.0.9".into(), hash),
        );
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let now = std::time::Instant::now();
        locks
            .reserve("Gate", crate::locks::Client::Address(ip), now)
            .unwrap();
        let key = locks
            .unlock("Gate", crate::locks::Client::Address(ip), "view", now)
            .unwrap()
            .unwrap();
        let gate = Gate {
            token: Some("tok".into()),
            locks: Some(locks),
        };
        let check = |a: Option<&str>, k: Option<&str>| gate.check(a, "DESCRIBE", "Gate", k, "n");
        assert_eq!(check(Some(&auth("tok", "n")), None), Verdict::Challenge);
        assert_eq!(
            check(Some(&auth("tok", "n")), Some(&key)),
            Verdict::Pass(Some(key.clone()))
        );
        assert_eq!(
            check(Some(&auth("tok", "n")), Some("nope")),
            Verdict::Challenge
        );
        assert_eq!(
            check(Some(&auth(&key, "n")), None),
            Verdict::Pass(Some(key.clone()))
        );
        assert!(gate.still_open("Gate", Some(&key)));
        assert_eq!(
            check(None, Some(&key)),
            Verdict::Challenge,
            "the token still"
        );
        assert_eq!(
            gate.check(Some(&auth("tok", "n")), "DESCRIBE", "Other", None, "n"),
            Verdict::Pass(None),
            "an unlocked camera"
        );
        gate.locks.as_ref().unwrap().lock_all();
        assert!(!gate.still_open("Gate", Some(&key)), "locked again");
    }
}

//! RTSP (and HTTP) Digest authentication on the serving side (RFC 2617 without qop, as our
//! challenges offer none): fresh nonces, the challenge, and checking an `Authorization`
//! header against one or several passwords in constant time.

use md5::{Digest, Md5};

pub fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `WWW-Authenticate` value asking for Digest credentials.
pub fn challenge(realm: &str, nonce: &str) -> String {
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\"")
}

/// The fields of a client's Digest `Authorization` header.
#[derive(Debug)]
pub struct Answer {
    pub username: String,
    nonce: String,
    uri: String,
    response: String,
}

impl Answer {
    /// The answer in `auth`, if it is a Digest one with every field we check.
    pub fn parse(auth: Option<&str>) -> Option<Self> {
        let rest = auth?.trim().strip_prefix("Digest ")?;
        let field = |k: &str| {
            rest.split(',').find_map(|kv| {
                let (key, v) = kv.trim().split_once('=')?;
                (key.trim() == k).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        Some(Self {
            username: field("username")?,
            nonce: field("nonce")?,
            uri: field("uri")?,
            response: field("response")?,
        })
    }

    /// Whether it proves `password` for a request with `method` (RTSP's or HTTP's), for the
    /// nonce we gave. Compared in constant time.
    pub fn proves(&self, method: &str, realm: &str, nonce: &str, password: &str) -> bool {
        let ha1 = md5_hex(&format!("{}:{realm}:{password}", self.username));
        let ha2 = md5_hex(&format!("{method}:{}", self.uri));
        let expected = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        same(self.nonce.as_bytes(), nonce.as_bytes())
            & same(self.response.as_bytes(), expected.as_bytes())
    }
}

/// Compares without stopping at the first difference (no timing hint about a secret).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a Digest `Authorization` header from user `user` with password `pass`.
pub fn digest_ok(
    auth: Option<&str>,
    method: &str,
    realm: &str,
    (user, pass): (&str, &str),
    nonce: &str,
) -> bool {
    Answer::parse(auth).is_some_and(|a| a.username == user && a.proves(method, realm, nonce, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "test realm";

    #[test]
    fn digest_accepts_only_the_right_password() {
        let nonce = "abc";
        let ha1 = md5_hex(&format!("u:{REALM}:pw"));
        let ha2 = md5_hex("DESCRIBE:rtsp://h/cam1");
        let good = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let hdr = format!(
            "Digest username=\"u\", realm=\"{REALM}\", nonce=\"abc\", uri=\"rtsp://h/cam1\", response=\"{good}\""
        );
        let check = |pass, nonce| digest_ok(Some(&hdr), "DESCRIBE", REALM, ("u", pass), nonce);
        assert!(check("pw", nonce));
        assert!(!check("other", nonce));
        assert!(!check("pw", "stale"));
        assert!(!digest_ok(None, "DESCRIBE", REALM, ("u", "pw"), nonce));
        assert!(!digest_ok(
            Some(&hdr),
            "DESCRIBE",
            REALM,
            ("v", "pw"),
            nonce
        ));
        let answer = Answer::parse(Some(&hdr)).unwrap();
        assert!(
            !answer.proves("SETUP", REALM, nonce, "pw"),
            "another method"
        );
        assert!(!answer.proves("DESCRIBE", "other realm", nonce, "pw"));
    }
}

//! RTSP (and ISAPI HTTP) Digest authentication on the simulated camera's side (RFC 2617 without qop, as the
//! challenge offers none): the realm, fresh nonces, and checking an `Authorization` header.

use md5::{Digest, Md5};

pub(super) const REALM: &str = "OpticLink simulated camera";

pub(super) fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(super) fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks an RFC 2617 Digest `Authorization` header (no qop, as we offer none) of a request
/// with `method` (RTSP's or HTTP's).
pub(super) fn digest_ok(
    auth: Option<&str>,
    method: &str,
    user: &str,
    pass: &str,
    nonce: &str,
) -> bool {
    let Some(rest) = auth.and_then(|a| a.trim().strip_prefix("Digest ")) else {
        return false;
    };
    let field = |k: &str| {
        rest.split(',').find_map(|kv| {
            let (key, v) = kv.trim().split_once('=')?;
            (key.trim() == k).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    let (Some(u), Some(n), Some(uri), Some(resp)) = (
        field("username"),
        field("nonce"),
        field("uri"),
        field("response"),
    ) else {
        return false;
    };
    let ha1 = md5_hex(&format!("{user}:{REALM}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    u == user && n == nonce && resp == md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_accepts_only_the_right_password() {
        let nonce = "abc";
        let ha1 = md5_hex(&format!("u:{REALM}:pw"));
        let ha2 = md5_hex("DESCRIBE:rtsp://h/cam1");
        let good = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let hdr = format!(
            "Digest username=\"u\", realm=\"{REALM}\", nonce=\"abc\", uri=\"rtsp://h/cam1\", response=\"{good}\""
        );
        assert!(digest_ok(Some(&hdr), "DESCRIBE", "u", "pw", nonce));
        assert!(!digest_ok(Some(&hdr), "DESCRIBE", "u", "other", nonce));
        assert!(!digest_ok(Some(&hdr), "DESCRIBE", "u", "pw", "stale"));
        assert!(!digest_ok(None, "DESCRIBE", "u", "pw", nonce));
    }
}

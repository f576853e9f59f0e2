//! Keeping credentials out of everything a person or a script can read: URL redaction and
//! splitting credentials out of camera URLs. Every log line, error and API answer that shows a
//! URL goes through here.

/// The URL with any `user:password@` removed (`rtsp://***@host/…` keeps the hint that some
/// were there). Unparseable input is returned with everything between `//` and `@` masked.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("***");
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => match (url.find("//"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}***{}", &url[..start + 2], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

/// Splits `rtsp://user:pass@host/path` into the bare URL and the credentials it carried
/// (percent-decoded). Credentials given in config fields win over ones in the URL.
pub fn split_credentials(url: &url::Url) -> (url::Url, Option<(String, String)>) {
    let mut bare = url.clone();
    if url.username().is_empty() && url.password().is_none() {
        return (bare, None);
    }
    let creds = (
        percent_decode(url.username()),
        percent_decode(url.password().unwrap_or("")),
    );
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    (bare, Some(creds))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Replaces every occurrence of each non-empty secret in `text` with `***`. For error texts
/// that come from libraries and might echo what we sent.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(*s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_url("rtsp://admin:secret@10.0.0.2:554/s"),
            "rtsp://***@10.0.0.2:554/s"
        );
        assert_eq!(redact_url("rtsp://10.0.0.2/s"), "rtsp://10.0.0.2/s");
        assert_eq!(redact_url("bogus//a:b@c"), "bogus//***@c");
    }

    #[test]
    fn splits_and_decodes_credentials() {
        let url = url::Url::parse("rtsp://ad%40min:p%3Ass@cam:554/x").unwrap();
        let (bare, creds) = split_credentials(&url);
        assert_eq!(bare.as_str(), "rtsp://cam:554/x");
        assert_eq!(creds, Some(("ad@min".into(), "p:ss".into())));
    }

    #[test]
    fn scrubs_secrets() {
        assert_eq!(scrub("bad pw hunter2!", &["hunter2", ""]), "bad pw ***!");
        // One-character secrets too: the text suffers, the secret does not leak.
        assert!(!scrub("user x at 10.0.0.9", &["x"]).contains('x'));
    }
}

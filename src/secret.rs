//! Keeping credentials out of everything a person or a script can read: URL redaction,
//! splitting credentials out of camera URLs, and the last line of defence (every known secret
//! masked in each log line and panic message). Every log line, error and API answer that shows a
//! URL goes through here.

/// Query parameters that carry a password in some cameras' URLs (`?user=admin&password=…`).
const SECRET_PARAMS: &[&str] = &["password", "pwd", "passwd", "pass", "key"];

fn is_secret_param(key: &str) -> bool {
    SECRET_PARAMS.iter().any(|p| key.eq_ignore_ascii_case(p))
}

/// Where the values of `password=…`-like parameters are in `text` (each up to the next `&`,
/// `;`, `/`, `?` or `#`; empty ones left out): some cameras (XMEye) carry them in the path,
/// not the query.
fn param_values(text: &str) -> Vec<std::ops::Range<usize>> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((start, value)) = SECRET_PARAMS
        .iter()
        .filter_map(|p| {
            let key = format!("{p}=");
            let i = lower[at..].find(&key)? + at;
            // A whole parameter name: at the start or after a separator.
            let whole = i == 0 || matches!(bytes[i - 1], b'&' | b';' | b'/' | b'?');
            whole.then_some((i, i + key.len()))
        })
        .min()
    {
        let end = text[value..]
            .find(['&', ';', '/', '?', '#'])
            .map_or(text.len(), |e| value + e);
        if end > value {
            out.push(value..end);
        }
        at = end.max(start + 1);
    }
    out
}

/// `text` with every [`param_values`] value masked.
fn mask_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in param_values(text) {
        out.push_str(&text[at..r.start]);
        out.push_str("***");
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The URL with its password masked: `rtsp://user:***@host/path?pwd=***` (the user stays, as
/// a hint of which account; parameters named like a password are masked too, in the query
/// or in the path). Unparseable input is returned with everything between `//` and `@`
/// masked.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let path = parsed.path().to_owned();
            let masked = mask_params(&path);
            if masked != path {
                parsed.set_path(&masked);
            }
            if parsed.query_pairs().any(|(k, _)| is_secret_param(&k)) {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if is_secret_param(&k) { "***".into() } else { v };
                        (k.into_owned(), v.into_owned())
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => match (url.find("//"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}***{}", &url[..start + 2], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

/// Remembers every secret `url` carries (its password, password-like query values), raw and
/// decoded, for [`scrub_known`].
pub fn remember_url(url: &str) {
    let Ok(u) = url::Url::parse(url) else { return };
    if let Some(p) = u.password() {
        remember(p);
        remember(&percent_decode(p));
    }
    for (k, v) in u.query_pairs() {
        if is_secret_param(&k) {
            remember(&v);
        }
    }
    let path = u.path();
    for r in param_values(path) {
        remember(&path[r.clone()]);
        remember(&percent_decode(&path[r]));
    }
}

/// Remembers every secret of camera `cam` (passwords in fields and URLs), whether it came
/// from the config at start or from the API later.
pub fn remember_camera(cam: &crate::config::CameraConfig) {
    let fields = [
        cam.password.as_deref(),
        cam.onvif.as_ref().and_then(|o| o.password.as_deref()),
    ];
    for s in fields.into_iter().flatten() {
        remember(s);
    }
    let urls = [
        Some(cam.url.as_str()),
        cam.sub_url.as_deref(),
        cam.onvif.as_ref().map(|o| o.url.as_str()),
        cam.isapi_url.as_deref(),
    ];
    for u in urls.into_iter().flatten() {
        remember_url(u);
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

/// Secrets this process knows (camera and ONVIF passwords, the servers' token, unlock keys),
/// scrubbed from every log line and panic message as a last line of defence.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Secrets kept at most (the config's and the API's cameras, the token, unlock keys).
const MAX_KNOWN: usize = 1024;

/// Adds `secret` to the ones scrubbed from logs and panics (shorter than 3 characters is too
/// common a string to take out of every line).
pub fn remember(secret: &str) {
    if secret.chars().count() < 3 {
        return;
    }
    if let Ok(mut known) = KNOWN.write()
        && !known.iter().any(|k| k == secret)
        // Bounded: every log line is scrubbed of each one.
        && known.len() < MAX_KNOWN
    {
        known.push(secret.to_string());
        // Longest first, so a secret containing another is taken out whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// `text` with every remembered secret (raw and percent-encoded, as URLs carry them) masked.
pub fn scrub_known(text: &str) -> String {
    let Ok(known) = KNOWN.read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for k in known.iter() {
        out = out.replace(k.as_str(), "***");
        let encoded = percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        if encoded != *k {
            out = out.replace(&encoded, "***");
        }
    }
    out
}

/// A log writer that masks remembered secrets in each whole line before it reaches stderr.
#[derive(Clone, Copy, Default)]
pub struct ScrubbedStderr;

/// One log event, written to stderr scrubbed when dropped.
pub struct ScrubbedLine(Vec<u8>);

impl std::io::Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        let text = scrub_known(&String::from_utf8_lossy(&self.0));
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine(Vec::with_capacity(256))
    }
}

/// Panics print their message and place with remembered secrets masked (a library error
/// that echoes a URL cannot carry a password out through a crash).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        let thread = std::thread::current();
        eprintln!(
            "thread '{}' panicked{at}:\n{}",
            thread.name().unwrap_or("?"),
            scrub_known(&message)
        );
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_url("rtsp://admin:secret@10.0.0.2:554/s"),
            "rtsp://admin:***@10.0.0.2:554/s"
        );
        assert_eq!(redact_url("rtsp://viewer@h/s"), "rtsp://viewer@h/s");
        assert_eq!(
            redact_url("rtsp://10.0.0.3/cam/realmonitor?user=admin&PWD=hunter2&channel=1"),
            "rtsp://10.0.0.3/cam/realmonitor?user=admin&PWD=***&channel=1"
        );
        assert_eq!(
            redact_url("http://h/snap.cgi?password=a%26b&passwd=x&pass=y"),
            "http://h/snap.cgi?password=***&passwd=***&pass=***"
        );
        // XMEye cameras carry the credentials in the path.
        let xmeye = "rtsp://h:554/user=admin&password=hunter2&channel=1&stream=0.sdp?real_stream";
        assert_eq!(
            redact_url(xmeye),
            "rtsp://h:554/user=admin&password=***&channel=1&stream=0.sdp?real_stream"
        );
        let path = "/user=a&password=hunter2&channel=1";
        let found: Vec<&str> = param_values(path).into_iter().map(|r| &path[r]).collect();
        assert_eq!(found, ["hunter2"]);
        assert_eq!(
            mask_params("/bypass=1&mypassword=x&pwd=&PWD=y"),
            "/bypass=1&mypassword=x&pwd=&PWD=***"
        );
        assert_eq!(redact_url("rtsp://10.0.0.2/s"), "rtsp://10.0.0.2/s");
        assert_eq!(redact_url("bogus//a:b@c"), "bogus//***@c");
    }

    #[test]
    fn remembered_secrets_are_masked_raw_and_encoded() {
        remember("Hunter-2-Pass");
        remember("ab");
        let line = "rtsp://u:Hunter%2D2%2DPass@h/x failed; tried Hunter-2-Pass; ab stays";
        assert_eq!(
            scrub_known(line),
            "rtsp://u:***@h/x failed; tried ***; ab stays"
        );
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

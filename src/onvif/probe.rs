//! `opticlink probe`'s output, pure: from a device's profiles and stream URIs, a config file
//! with one ready camera entry (the largest profile as `url`, the smallest other one as
//! `sub_url`, the `onvif` endpoint), the profiles listed in comments. Strings are written
//! with RON's escapes, so any name or URL gives a file `check-config` accepts.

use std::fmt::Write as _;

use super::responses::{Profile, Services};

fn pixels(p: &Profile) -> u64 {
    u64::from(p.width.unwrap_or(0)) * u64::from(p.height.unwrap_or(0))
}

/// A RON string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The config text. `creds`: the user and, when it is to be written, the password.
pub fn probe_config(
    device_url: &str,
    name: &str,
    services: &Services,
    profiles: &[(Profile, String)],
    creds: Option<(&str, Option<&str>)>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Found by `opticlink probe` at {device_url}: {} profile(s); PTZ {}, imaging {}.",
        profiles.len(),
        if services.ptz.is_some() { "yes" } else { "no" },
        if services.imaging.is_some() {
            "yes"
        } else {
            "no"
        },
    );
    for (p, uri) in profiles {
        let size = match (p.width, p.height) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            _ => "size unknown".into(),
        };
        let _ = writeln!(
            out,
            "//   {} ({}): {} {size}{} — {uri}",
            p.token,
            p.name,
            p.encoding.as_deref().unwrap_or("?"),
            if p.ptz { ", PTZ" } else { "" },
        );
    }
    // Largest first; ties keep the device's order.
    let mut order: Vec<usize> = (0..profiles.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pixels(&profiles[i].0)));
    let main = order.first().map(|&i| &profiles[i]);
    let sub = order
        .iter()
        .rev()
        .map(|&i| &profiles[i])
        .find(|(p, uri)| main.is_some_and(|(m, muri)| m.token != p.token && muri != uri));
    out.push_str("(\n    cameras: [\n        (\n");
    let _ = writeln!(out, "            name: {},", quote(name));
    if let Some((_, uri)) = main {
        let _ = writeln!(out, "            url: {},", quote(uri));
    }
    match sub {
        Some((_, uri)) => {
            let _ = writeln!(out, "            sub_url: Some({}),", quote(uri));
        }
        None => out.push_str("            sub_url: None,\n"),
    }
    match creds {
        Some((user, password)) => {
            let _ = writeln!(out, "            username: Some({}),", quote(user));
            match password {
                Some(p) => {
                    let _ = writeln!(out, "            password: Some({}),", quote(p));
                }
                None => out.push_str(
                    "            password: None, // the camera's password goes here (probe --with-password writes it)\n",
                ),
            }
        }
        None => out.push_str("            username: None,\n"),
    }
    let _ = writeln!(
        out,
        "            onvif: Some((url: {})),",
        quote(device_url)
    );
    out.push_str("        ),\n    ],\n)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(token: &str, w: u32, h: u32) -> Profile {
        Profile {
            token: token.into(),
            name: token.into(),
            video_source: Some("src".into()),
            encoding: Some("H264".into()),
            width: Some(w),
            height: Some(h),
            ptz: true,
        }
    }

    #[test]
    fn main_is_the_largest_and_sub_the_smallest() {
        let profiles = vec![
            (profile("sub", 640, 360), "rtsp://h/102".to_string()),
            (profile("main", 2560, 1440), "rtsp://h/101".to_string()),
            (profile("third", 1280, 720), "rtsp://h/103".to_string()),
        ];
        let text = probe_config(
            "http://h/onvif/device_service",
            "Gate \"east\"",
            &Services::default(),
            &profiles,
            Some(("admin", None)),
        );
        assert!(text.contains("url: \"rtsp://h/101\""), "{text}");
        assert!(text.contains("sub_url: Some(\"rtsp://h/102\")"), "{text}");
        assert!(text.contains("name: \"Gate \\\"east\\\"\""), "{text}");
        assert!(text.contains("username: Some(\"admin\")"), "{text}");
        let config: crate::config::Config = ron::from_str(&text).expect("valid RON");
        assert_eq!(config.cameras[0].name, "Gate \"east\"");
        assert!(config.problems().is_empty());
        let one = probe_config(
            "http://h/onvif/device_service",
            "A",
            &Services::default(),
            &profiles[..1],
            Some(("u", Some("p\\w"))),
        );
        assert!(one.contains("sub_url: None"), "{one}");
        let config: crate::config::Config = ron::from_str(&one).expect("valid RON");
        assert_eq!(config.cameras[0].password.as_deref(), Some("p\\w"));
    }
}

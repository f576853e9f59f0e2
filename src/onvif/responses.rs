//! Reading ONVIF responses, pure: SOAP faults, the device clock, service addresses, media
//! profiles (with their video source tokens), stream URIs, presets and imaging ranges.
//! Namespace prefixes are ignored (every vendor picks its own); missing optional parts are
//! `None`, missing required parts an error saying what is missing.

use super::xml::Node;

/// A SOAP fault: code, subcode (e.g. `ter:NotAuthorized`) and the reason text.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub code: String,
    pub subcode: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.subcode.as_deref().unwrap_or(&self.code);
        if self.reason.is_empty() {
            write!(f, "{code}")
        } else {
            write!(f, "{code}: {}", self.reason)
        }
    }
}

impl Fault {
    /// The camera refused the credentials (wrong password, or a `Created` too far off).
    /// Vendors say it in the subcode (`ter:NotAuthorized`), the code (SOAP 1.1
    /// `wsse:FailedAuthentication`) or only in the reason (`Sender not authorized` under a
    /// plain `Sender` code).
    pub fn not_authorized(&self) -> bool {
        let c = self.subcode.as_deref().unwrap_or(&self.code);
        let reason = self.reason.to_ascii_lowercase();
        c.ends_with("NotAuthorized")
            || c.ends_with("FailedAuthentication")
            || self.code.ends_with("FailedAuthentication")
            || ["not authorized", "not authorised", "unauthorized"]
                .iter()
                .any(|w| reason.contains(w))
    }
}

/// The body's first element, or the fault it holds.
pub fn body(root: &Node) -> Result<Result<&Node, Fault>, String> {
    if root.name != "Envelope" {
        return Err(format!("expected a SOAP Envelope, got <{}>", root.name));
    }
    let body = root.child("Body").ok_or("the SOAP envelope has no Body")?;
    let first = body.children.first().ok_or("the SOAP Body is empty")?;
    if first.name != "Fault" {
        return Ok(Ok(first));
    }
    // SOAP 1.2: Code/Value, Code/Subcode/Value, Reason/Text; SOAP 1.1: faultcode, faultstring.
    let code = first
        .text_at(&["Code", "Value"])
        .or_else(|| first.text_at(&["faultcode"]))
        .unwrap_or("Fault")
        .to_string();
    let subcode = first
        .path(&["Code", "Subcode"])
        .and_then(|s| {
            // The innermost subcode names the problem best.
            let mut s = s;
            while let Some(inner) = s.child("Subcode") {
                s = inner;
            }
            s.text_at(&["Value"])
        })
        .map(str::to_string);
    let reason = first
        .text_at(&["Reason", "Text"])
        .or_else(|| first.text_at(&["faultstring"]))
        .unwrap_or("")
        .to_string();
    Ok(Err(Fault {
        code,
        subcode,
        reason,
    }))
}

fn expect<'a>(node: &'a Node, name: &str) -> Result<&'a Node, String> {
    if node.name == name {
        Ok(node)
    } else {
        Err(format!("expected <{name}>, got <{}>", node.name))
    }
}

fn number<T: std::str::FromStr>(node: &Node, names: &[&str]) -> Result<T, String> {
    let text = node
        .text_at(names)
        .ok_or_else(|| format!("missing {}", names.join("/")))?;
    text.parse()
        .map_err(|_| format!("{} is not a number: {text:?}", names.join("/")))
}

/// The camera's clock, UTC (from `GetSystemDateAndTimeResponse`).
pub fn system_time(resp: &Node) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let sdt = expect(resp, "GetSystemDateAndTimeResponse")?
        .child("SystemDateAndTime")
        .ok_or("missing SystemDateAndTime")?;
    // Some cameras send only LocalDateTime; it is the best there is.
    let dt = sdt
        .child("UTCDateTime")
        .or_else(|| sdt.child("LocalDateTime"))
        .ok_or("missing UTCDateTime")?;
    let date = chrono::NaiveDate::from_ymd_opt(
        number(dt, &["Date", "Year"])?,
        number(dt, &["Date", "Month"])?,
        number(dt, &["Date", "Day"])?,
    )
    .ok_or("the date is not a valid date")?;
    let time = chrono::NaiveTime::from_hms_opt(
        number(dt, &["Time", "Hour"])?,
        number(dt, &["Time", "Minute"])?,
        number(dt, &["Time", "Second"])?,
    )
    .ok_or("the time is not a valid time")?;
    Ok(date.and_time(time).and_utc())
}

/// Where a device's services are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Services {
    pub media: Option<String>,
    pub ptz: Option<String>,
    pub imaging: Option<String>,
    pub events: Option<String>,
}

/// From `GetCapabilitiesResponse`.
pub fn capabilities(resp: &Node) -> Result<Services, String> {
    let caps = expect(resp, "GetCapabilitiesResponse")?
        .child("Capabilities")
        .ok_or("missing Capabilities")?;
    let addr = |name: &str| caps.text_at(&[name, "XAddr"]).map(str::to_string);
    Ok(Services {
        media: addr("Media"),
        ptz: addr("PTZ"),
        imaging: addr("Imaging"),
        events: addr("Events"),
    })
}

/// From `GetServicesResponse` (devices that do not answer GetCapabilities).
pub fn services(resp: &Node) -> Result<Services, String> {
    let mut s = Services::default();
    for svc in expect(resp, "GetServicesResponse")?.all("Service") {
        let (Some(ns), Some(addr)) = (svc.text_at(&["Namespace"]), svc.text_at(&["XAddr"])) else {
            continue;
        };
        let addr = Some(addr.to_string());
        match ns {
            super::soap::NS_MEDIA => s.media = addr,
            super::soap::NS_PTZ => s.ptz = addr,
            super::soap::NS_IMAGING => s.imaging = addr,
            super::soap::NS_EVENTS => s.events = addr,
            _ => {}
        }
    }
    Ok(s)
}

/// One media profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// What imaging calls take.
    pub video_source: Option<String>,
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The profile has a PTZ configuration (the camera can move in it).
    pub ptz: bool,
}

/// From `GetProfilesResponse`.
pub fn profiles(resp: &Node) -> Result<Vec<Profile>, String> {
    let mut out = Vec::new();
    for p in expect(resp, "GetProfilesResponse")?.all("Profiles") {
        let token = p
            .attr("token")
            .ok_or("a profile without a token attribute")?
            .to_string();
        let enc = p.child("VideoEncoderConfiguration");
        out.push(Profile {
            name: p.text_at(&["Name"]).unwrap_or(&token).to_string(),
            video_source: p
                .text_at(&["VideoSourceConfiguration", "SourceToken"])
                .map(str::to_string),
            encoding: enc
                .and_then(|e| e.text_at(&["Encoding"]))
                .map(str::to_string),
            width: enc.and_then(|e| number(e, &["Resolution", "Width"]).ok()),
            height: enc.and_then(|e| number(e, &["Resolution", "Height"]).ok()),
            ptz: p.child("PTZConfiguration").is_some(),
            token,
        });
    }
    Ok(out)
}

/// From `GetStreamUriResponse`.
pub fn stream_uri(resp: &Node) -> Result<String, String> {
    expect(resp, "GetStreamUriResponse")?
        .text_at(&["MediaUri", "Uri"])
        .map(str::to_string)
        .ok_or_else(|| "missing MediaUri/Uri".into())
}

/// A stored PTZ position.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preset {
    pub token: String,
    pub name: String,
}

/// From `GetPresetsResponse`.
pub fn presets(resp: &Node) -> Result<Vec<Preset>, String> {
    expect(resp, "GetPresetsResponse")?
        .all("Preset")
        .map(|p| {
            let token = p
                .attr("token")
                .ok_or("a preset without a token attribute")?;
            Ok(Preset {
                token: token.to_string(),
                name: p.text_at(&["Name"]).unwrap_or(token).to_string(),
            })
        })
        .collect()
}

/// From `SetPresetResponse`.
pub fn set_preset_token(resp: &Node) -> Result<String, String> {
    expect(resp, "SetPresetResponse")?
        .text_at(&["PresetToken"])
        .map(str::to_string)
        .ok_or_else(|| "missing PresetToken".into())
}

/// The brightness range from `GetOptionsResponse` (`None`: the camera has no brightness).
pub fn brightness_range(resp: &Node) -> Result<Option<(f32, f32)>, String> {
    let opts = expect(resp, "GetOptionsResponse")?
        .child("ImagingOptions")
        .ok_or("missing ImagingOptions")?;
    let Some(b) = opts.child("Brightness") else {
        return Ok(None);
    };
    let (min, max): (f32, f32) = (number(b, &["Min"])?, number(b, &["Max"])?);
    if !(min.is_finite() && max.is_finite() && max > min) {
        return Err(format!("brightness range {min}..{max} is empty"));
    }
    Ok(Some((min, max)))
}

/// The brightness from `GetImagingSettingsResponse`, if it has one.
pub fn brightness(resp: &Node) -> Result<Option<f32>, String> {
    let settings = expect(resp, "GetImagingSettingsResponse")?
        .child("ImagingSettings")
        .ok_or("missing ImagingSettings")?;
    match settings.text_at(&["Brightness"]) {
        None => Ok(None),
        Some(_) => number(settings, &["Brightness"]).map(Some),
    }
}

/// Checks the response is the one asked for (`{op}Response`) and has nothing we need.
pub fn empty(resp: &Node, op: &str) -> Result<(), String> {
    expect(resp, &format!("{op}Response")).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onvif::xml::parse;

    fn load(name: &str) -> Node {
        let path = format!("{}/tests/data/onvif/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn ok_body(root: &Node) -> &Node {
        body(root).unwrap().unwrap()
    }

    #[test]
    fn hikvision_profiles() {
        let root = load("hikvision_get_profiles.xml");
        let p = profiles(ok_body(&root)).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].token, "Profile_1");
        assert_eq!(p[0].name, "mainStream");
        assert_eq!(p[0].video_source.as_deref(), Some("VideoSource_1"));
        assert_eq!((p[0].width, p[0].height), (Some(2560), Some(1440)));
        assert_eq!(p[0].encoding.as_deref(), Some("H264"));
        assert!(p[0].ptz);
        assert_eq!(p[1].token, "Profile_2");
        assert_eq!((p[1].width, p[1].height), (Some(640), Some(360)));
    }

    #[test]
    fn dahua_profiles() {
        let root = load("dahua_get_profiles.xml");
        let p = profiles(ok_body(&root)).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].token, "MediaProfile000");
        assert_eq!(p[0].video_source.as_deref(), Some("000"));
        assert_eq!(p[1].name, "MediaProfile_Channel1_SubStream1");
        assert_eq!(p[1].encoding.as_deref(), Some("H265"));
        assert!(!p[1].ptz, "Dahua's sub profile has no PTZ configuration");
    }

    #[test]
    fn capabilities_of_both_vendors() {
        let hik = capabilities(ok_body(&load("hikvision_get_capabilities.xml"))).unwrap();
        assert_eq!(hik.ptz.as_deref(), Some("http://192.168.1.64/onvif/PTZ"));
        assert_eq!(
            hik.imaging.as_deref(),
            Some("http://192.168.1.64/onvif/Imaging")
        );
        let dahua = capabilities(ok_body(&load("dahua_get_capabilities.xml"))).unwrap();
        assert_eq!(
            dahua.media.as_deref(),
            Some("http://192.168.1.108/onvif/media_service")
        );
        assert_eq!(dahua.ptz, None, "a fixed Dahua camera has no PTZ service");
    }

    /// A device that wants WS-Security even for its clock says so with a bare `Sender`
    /// code: the reason is all there is.
    #[test]
    fn a_bare_sender_fault_that_says_not_authorized_is_a_refusal() {
        let fault = body(&load("wsse_always_clock_fault.xml"))
            .unwrap()
            .unwrap_err();
        assert_eq!(fault.subcode, None);
        assert!(fault.not_authorized(), "{fault}");
        let other = Fault {
            code: "env:Sender".into(),
            subcode: None,
            reason: "Invalid argument".into(),
        };
        assert!(!other.not_authorized());
    }

    #[test]
    fn faults_name_the_problem() {
        let root = load("soap_fault_not_authorized.xml");
        let fault = body(&root).unwrap().unwrap_err();
        assert!(fault.not_authorized());
        assert_eq!(fault.subcode.as_deref(), Some("ter:NotAuthorized"));
        assert_eq!(
            fault.to_string(),
            "ter:NotAuthorized: Sender not Authorized"
        );
        let broken = std::fs::read_to_string(format!(
            "{}/tests/data/onvif/malformed.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(parse(&broken).unwrap_err().contains("malformed XML"));
    }

    #[test]
    fn small_responses() {
        let doc = |inner: &str| {
            parse(&format!(
                "<e:Envelope xmlns:e=\"x\"><e:Body>{inner}</e:Body></e:Envelope>"
            ))
            .unwrap()
        };
        let t = doc(
            "<a:GetSystemDateAndTimeResponse><a:SystemDateAndTime><b:UTCDateTime>\
            <b:Time><b:Hour>7</b:Hour><b:Minute>50</b:Minute><b:Second>45</b:Second></b:Time>\
            <b:Date><b:Year>2010</b:Year><b:Month>9</b:Month><b:Day>16</b:Day></b:Date>\
            </b:UTCDateTime></a:SystemDateAndTime></a:GetSystemDateAndTimeResponse>",
        );
        assert_eq!(
            system_time(ok_body(&t)).unwrap().to_rfc3339(),
            "2010-09-16T07:50:45+00:00"
        );
        let p = doc(
            "<GetPresetsResponse><Preset token=\"1\"><Name>Gate</Name></Preset>\
            <Preset token=\"2\"/></GetPresetsResponse>",
        );
        assert_eq!(
            presets(ok_body(&p)).unwrap(),
            vec![
                Preset {
                    token: "1".into(),
                    name: "Gate".into()
                },
                Preset {
                    token: "2".into(),
                    name: "2".into()
                }
            ]
        );
        let o = doc(
            "<GetOptionsResponse><ImagingOptions><Brightness><Min>-10</Min>\
            <Max>10</Max></Brightness></ImagingOptions></GetOptionsResponse>",
        );
        assert_eq!(brightness_range(ok_body(&o)).unwrap(), Some((-10.0, 10.0)));
        let none = doc("<GetOptionsResponse><ImagingOptions/></GetOptionsResponse>");
        assert_eq!(brightness_range(ok_body(&none)).unwrap(), None);
        let bad = doc(
            "<GetOptionsResponse><ImagingOptions><Brightness><Min>5</Min>\
            <Max>five</Max></Brightness></ImagingOptions></GetOptionsResponse>",
        );
        assert!(brightness_range(ok_body(&bad)).unwrap_err().contains("Max"));
        let wrong = doc("<GetPresetsResponse/>");
        assert!(
            stream_uri(ok_body(&wrong))
                .unwrap_err()
                .contains("GetStreamUriResponse")
        );
        assert!(body(&parse("<x/>").unwrap()).is_err());
    }
}

//! SOAP 1.2 requests, pure: the envelope, the WS-Security UsernameToken with PasswordDigest,
//! and the body of every operation we call. Values in, XML text out; table-tested.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};

use super::xml::El;

pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
pub const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
pub const NS_PTZ: &str = "http://www.onvif.org/ver20/ptz/wsdl";
pub const NS_IMAGING: &str = "http://www.onvif.org/ver20/imaging/wsdl";
pub const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";
pub const NS_EVENTS: &str = "http://www.onvif.org/ver10/events/wsdl";
pub const NS_WSNT: &str = "http://docs.oasis-open.org/wsn/b-2";
pub const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// `Base64(SHA1(nonce ‖ created ‖ password))`, the WS-Security PasswordDigest.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    B64.encode(h.finalize())
}

/// The credentials of one request: user, password, a fresh nonce and the camera's time.
#[derive(Debug, Clone)]
pub struct Token<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub nonce: [u8; 16],
    /// `YYYY-MM-DDTHH:MM:SSZ` on the camera's clock.
    pub created: String,
}

impl Token<'_> {
    fn header(&self) -> El {
        El::new("wsse:Security")
            .attr("xmlns:wsse", NS_WSSE)
            .attr("xmlns:wsu", NS_WSU)
            .attr("s:mustUnderstand", "1")
            .child(
                El::new("wsse:UsernameToken")
                    .child(El::leaf("wsse:Username", self.username))
                    .child(
                        El::leaf(
                            "wsse:Password",
                            password_digest(&self.nonce, &self.created, self.password),
                        )
                        .attr("Type", PASSWORD_DIGEST),
                    )
                    .child(
                        El::leaf("wsse:Nonce", B64.encode(self.nonce))
                            .attr("EncodingType", BASE64_BINARY),
                    )
                    .child(El::leaf("wsu:Created", self.created.as_str())),
            )
    }
}

/// The camera's time as `Created` wants it.
pub fn created(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// WS-Addressing for one request to an event service: the action, the address it goes to
/// (`To`), and the reference parameters the subscription came with, echoed back as the
/// standard asks.
#[derive(Debug, Clone)]
pub struct Addressing<'a> {
    pub to: &'a str,
    pub reference: &'a [El],
}

impl Addressing<'_> {
    fn headers(&self, action: &str) -> Vec<El> {
        let wsa = |name: &str, text: &str| {
            El::leaf(&format!("wsa:{name}"), text)
                .attr("xmlns:wsa", NS_WSA)
                .attr("s:mustUnderstand", "1")
        };
        let mut out = vec![
            wsa("Action", action),
            El::leaf(
                "wsa:MessageID",
                format!("urn:uuid:{:032x}", rand::random::<u128>()),
            )
            .attr("xmlns:wsa", NS_WSA),
            El::new("wsa:ReplyTo")
                .attr("xmlns:wsa", NS_WSA)
                .child(El::leaf(
                    "wsa:Address",
                    "http://www.w3.org/2005/08/addressing/anonymous",
                )),
            wsa("To", self.to),
        ];
        out.extend(self.reference.iter().map(|r| {
            r.clone()
                .attr("xmlns:wsa", NS_WSA)
                .attr("wsa:IsReferenceParameter", "true")
        }));
        out
    }
}

/// A whole request: envelope, optional security header, one operation element in the body.
pub fn envelope(token: Option<&Token>, body: El) -> String {
    envelope_with(token, None, body)
}

/// [`envelope`] with WS-Addressing headers for `call`'s action when `addressing` is given.
pub fn envelope_with(
    token: Option<&Token>,
    addressing: Option<(&Addressing, &str)>,
    body: El,
) -> String {
    let mut env = El::new("s:Envelope").attr("xmlns:s", NS_SOAP);
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(token.header());
    }
    if let Some((a, action)) = addressing {
        headers.extend(a.headers(action));
    }
    if !headers.is_empty() {
        let mut header = El::new("s:Header");
        header.children = headers;
        env = env.child(header);
    }
    let env = env.child(El::new("s:Body").child(body));
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}", env.to_xml())
}

/// An operation element `prefix:op` declaring its service namespace (and the schema's, `tt`).
fn op(prefix: &str, ns: &str, name: &str) -> El {
    El::new(&format!("{prefix}:{name}"))
        .attr(&format!("xmlns:{prefix}"), ns)
        .attr("xmlns:tt", NS_SCHEMA)
}

/// One ONVIF call: its name (for errors and the SOAP action) and body.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: &'static str,
    pub action: String,
    pub body: El,
}

fn call(prefix: &str, ns: &str, name: &'static str, f: impl FnOnce(El) -> El) -> Call {
    Call {
        name,
        action: format!("{ns}/{name}"),
        body: f(op(prefix, ns, name)),
    }
}

/// Pan/tilt and zoom velocities, each `-1.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Velocity {
    pub pan: f32,
    pub tilt: f32,
    pub zoom: f32,
}

impl Velocity {
    pub fn is_zero(&self) -> bool {
        self.pan == 0.0 && self.tilt == 0.0 && self.zoom == 0.0
    }

    /// Every component within `-1..=1` (NaN becomes 0).
    pub fn clamped(self) -> Self {
        let c = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(-1.0, 1.0) };
        Self {
            pan: c(self.pan),
            tilt: c(self.tilt),
            zoom: c(self.zoom),
        }
    }
}

fn num(v: f32) -> String {
    // Short, locale-free and never "-0".
    let v = if v == 0.0 { 0.0 } else { v };
    format!("{v:.3}")
}

/// Event service calls carry the WSDL's action URIs, not `namespace/operation`.
fn event_call(
    prefix: &str,
    ns: &str,
    name: &'static str,
    action: &str,
    f: impl FnOnce(El) -> El,
) -> Call {
    Call {
        name,
        action: action.to_string(),
        body: f(op(prefix, ns, name)),
    }
}

pub fn get_event_properties() -> Call {
    event_call(
        "tev",
        NS_EVENTS,
        "GetEventProperties",
        "http://www.onvif.org/ver10/events/wsdl/EventPortType/GetEventPropertiesRequest",
        |e| e,
    )
}

/// A pull-point subscription that ends `lifetime_secs` after its last renewal.
pub fn create_pull_point_subscription(lifetime_secs: u32) -> Call {
    event_call(
        "tev",
        NS_EVENTS,
        "CreatePullPointSubscription",
        "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest",
        |e| {
            e.child(El::leaf(
                "tev:InitialTerminationTime",
                format!("PT{lifetime_secs}S"),
            ))
        },
    )
}

/// Waits up to `timeout_secs` for at most `limit` messages.
pub fn pull_messages(timeout_secs: u32, limit: u32) -> Call {
    event_call(
        "tev",
        NS_EVENTS,
        "PullMessages",
        "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
        |e| {
            e.child(El::leaf("tev:Timeout", format!("PT{timeout_secs}S")))
                .child(El::leaf("tev:MessageLimit", limit.to_string()))
        },
    )
}

pub fn renew(lifetime_secs: u32) -> Call {
    event_call(
        "wsnt",
        NS_WSNT,
        "Renew",
        "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
        |e| {
            e.child(El::leaf(
                "wsnt:TerminationTime",
                format!("PT{lifetime_secs}S"),
            ))
        },
    )
}

pub fn unsubscribe() -> Call {
    event_call(
        "wsnt",
        NS_WSNT,
        "Unsubscribe",
        "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
        |e| e,
    )
}

pub fn get_system_date_and_time() -> Call {
    call("tds", NS_DEVICE, "GetSystemDateAndTime", |e| e)
}

pub fn get_capabilities() -> Call {
    call("tds", NS_DEVICE, "GetCapabilities", |e| {
        e.child(El::leaf("tds:Category", "All"))
    })
}

pub fn get_services() -> Call {
    call("tds", NS_DEVICE, "GetServices", |e| {
        e.child(El::leaf("tds:IncludeCapability", "false"))
    })
}

pub fn get_profiles() -> Call {
    call("trt", NS_MEDIA, "GetProfiles", |e| e)
}

pub fn get_stream_uri(profile: &str) -> Call {
    call("trt", NS_MEDIA, "GetStreamUri", |e| {
        e.child(
            El::new("trt:StreamSetup")
                .child(El::leaf("tt:Stream", "RTP-Unicast"))
                .child(El::new("tt:Transport").child(El::leaf("tt:Protocol", "RTSP"))),
        )
        .child(El::leaf("trt:ProfileToken", profile))
    })
}

/// `timeout`: the camera stops by itself after this long if no Stop comes (a lost Stop, a
/// crashed client).
pub fn continuous_move(profile: &str, v: Velocity, timeout_secs: u32) -> Call {
    call("tptz", NS_PTZ, "ContinuousMove", |e| {
        e.child(El::leaf("tptz:ProfileToken", profile))
            .child(
                El::new("tptz:Velocity")
                    .child(
                        El::new("tt:PanTilt")
                            .attr("x", num(v.pan))
                            .attr("y", num(v.tilt)),
                    )
                    .child(El::new("tt:Zoom").attr("x", num(v.zoom))),
            )
            .child(El::leaf("tptz:Timeout", format!("PT{timeout_secs}S")))
    })
}

pub fn stop(profile: &str) -> Call {
    call("tptz", NS_PTZ, "Stop", |e| {
        e.child(El::leaf("tptz:ProfileToken", profile))
            .child(El::leaf("tptz:PanTilt", "true"))
            .child(El::leaf("tptz:Zoom", "true"))
    })
}

pub fn get_presets(profile: &str) -> Call {
    call("tptz", NS_PTZ, "GetPresets", |e| {
        e.child(El::leaf("tptz:ProfileToken", profile))
    })
}

pub fn goto_preset(profile: &str, preset: &str) -> Call {
    call("tptz", NS_PTZ, "GotoPreset", |e| {
        e.child(El::leaf("tptz:ProfileToken", profile))
            .child(El::leaf("tptz:PresetToken", preset))
    })
}

/// Stores the current position as preset `name`, overwriting `existing` when given.
pub fn set_preset(profile: &str, name: &str, existing: Option<&str>) -> Call {
    call("tptz", NS_PTZ, "SetPreset", |e| {
        let e = e
            .child(El::leaf("tptz:ProfileToken", profile))
            .child(El::leaf("tptz:PresetName", name));
        match existing {
            Some(token) => e.child(El::leaf("tptz:PresetToken", token)),
            None => e,
        }
    })
}

pub fn goto_home_position(profile: &str) -> Call {
    call("tptz", NS_PTZ, "GotoHomePosition", |e| {
        e.child(El::leaf("tptz:ProfileToken", profile))
    })
}

/// Imaging calls take the video *source* token, not the profile token.
pub fn get_options(source: &str) -> Call {
    call("timg", NS_IMAGING, "GetOptions", |e| {
        e.child(El::leaf("timg:VideoSourceToken", source))
    })
}

pub fn get_imaging_settings(source: &str) -> Call {
    call("timg", NS_IMAGING, "GetImagingSettings", |e| {
        e.child(El::leaf("timg:VideoSourceToken", source))
    })
}

pub fn set_brightness(source: &str, value: f32) -> Call {
    call("timg", NS_IMAGING, "SetImagingSettings", |e| {
        e.child(El::leaf("timg:VideoSourceToken", source))
            .child(El::new("timg:ImagingSettings").child(El::leaf("tt:Brightness", num(value))))
            .child(El::leaf("timg:ForcePersistence", "true"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onvif::xml::parse;

    #[test]
    fn digest_matches_the_onvif_programmers_guide() {
        let nonce = B64.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn event_requests_carry_addressing_and_echo_reference_parameters() {
        let reference = parse(r#"<d:SubscriptionId xmlns:d="urn:vendor">17</d:SubscriptionId>"#)
            .unwrap()
            .to_el();
        let to = "http://10.0.0.5/onvif/Subscription?Idx=17";
        let a = Addressing {
            to,
            reference: std::slice::from_ref(&reference),
        };
        let call = pull_messages(60, 100);
        let xml = envelope_with(None, Some((&a, &call.action)), call.body);
        let root = parse(&xml).unwrap();
        let header = root.child("Header").unwrap();
        assert_eq!(header.text_at(&["Action"]), Some(call.action.as_str()));
        assert!(
            call.action
                .ends_with("PullPointSubscription/PullMessagesRequest")
        );
        assert_eq!(&*header.child("Action").unwrap().ns, NS_WSA);
        assert_eq!(header.text_at(&["To"]), Some(to));
        let echoed = header.child("SubscriptionId").unwrap();
        assert_eq!((&*echoed.ns, echoed.text.as_str()), ("urn:vendor", "17"));
        assert_eq!(echoed.attr("IsReferenceParameter"), Some("true"));
        let body = root.path(&["Body", "PullMessages"]).unwrap();
        assert_eq!(&*body.ns, NS_EVENTS);
        assert_eq!(body.text_at(&["Timeout"]), Some("PT60S"));
        assert_eq!(body.text_at(&["MessageLimit"]), Some("100"));
        // Other services get no addressing headers.
        assert!(!envelope(None, get_profiles().body).contains("Header"));
    }

    #[test]
    fn envelope_carries_the_token_and_the_operation() {
        let nonce: [u8; 16] = B64
            .decode("LKqI6G/AikKCQrN0zqZFlg==")
            .unwrap()
            .try_into()
            .unwrap();
        let token = Token {
            username: "user",
            password: "userpassword",
            nonce,
            created: "2010-09-16T07:50:45Z".into(),
        };
        let xml = envelope(Some(&token), goto_preset("prof&1", "3").body);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope"));
        assert!(
            !xml.contains("userpassword"),
            "the password itself is never sent"
        );
        let root = parse(&xml).unwrap();
        let ut = root.find("UsernameToken").unwrap();
        assert_eq!(ut.text_at(&["Username"]), Some("user"));
        assert_eq!(
            ut.text_at(&["Password"]),
            Some("tuOSpGlFlIXsozq4HFNeeGeFLEI=")
        );
        assert_eq!(
            ut.child("Password").unwrap().attr("Type"),
            Some(PASSWORD_DIGEST)
        );
        assert_eq!(ut.text_at(&["Nonce"]), Some("LKqI6G/AikKCQrN0zqZFlg=="));
        assert_eq!(ut.text_at(&["Created"]), Some("2010-09-16T07:50:45Z"));
        let op = root.path(&["Body", "GotoPreset"]).unwrap();
        assert_eq!(op.text_at(&["ProfileToken"]), Some("prof&1"));
        assert_eq!(op.text_at(&["PresetToken"]), Some("3"));
        assert!(envelope(None, get_profiles().body).contains("<s:Body><trt:GetProfiles"));
    }

    #[test]
    fn operations_have_their_fields() {
        let mv = continuous_move(
            "p",
            Velocity {
                pan: 0.5,
                tilt: -0.0,
                zoom: -1.0,
            },
            3,
        );
        assert_eq!(
            mv.action,
            "http://www.onvif.org/ver20/ptz/wsdl/ContinuousMove"
        );
        let root = parse(&mv.body.to_xml()).unwrap();
        let pt = root.path(&["Velocity", "PanTilt"]).unwrap();
        assert_eq!((pt.attr("x"), pt.attr("y")), (Some("0.500"), Some("0.000")));
        assert_eq!(
            root.path(&["Velocity", "Zoom"]).unwrap().attr("x"),
            Some("-1.000")
        );
        assert_eq!(root.text_at(&["Timeout"]), Some("PT3S"));
        let set = parse(&set_brightness("src", 42.0).body.to_xml()).unwrap();
        assert_eq!(set.text_at(&["VideoSourceToken"]), Some("src"));
        assert_eq!(
            set.text_at(&["ImagingSettings", "Brightness"]),
            Some("42.000")
        );
        let sp = parse(&set_preset("p", "2", Some("tok")).body.to_xml()).unwrap();
        assert_eq!(sp.text_at(&["PresetName"]), Some("2"));
        assert_eq!(sp.text_at(&["PresetToken"]), Some("tok"));
        let uri = parse(&get_stream_uri("main").body.to_xml()).unwrap();
        assert_eq!(
            uri.text_at(&["StreamSetup", "Transport", "Protocol"]),
            Some("RTSP")
        );
        assert_eq!(
            Velocity {
                pan: f32::NAN,
                tilt: 3.0,
                zoom: -2.0
            }
            .clamped(),
            Velocity {
                pan: 0.0,
                tilt: 1.0,
                zoom: -1.0
            }
        );
    }
}

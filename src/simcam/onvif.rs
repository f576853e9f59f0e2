//! The simulated camera's ONVIF device (SOAP 1.2 over HTTP, one device per camera at
//! `/onvif/camN/…`): device clock, capabilities and services, one media profile with its
//! stream URI, PTZ (continuous move with timeout, stop, presets, home) driving the camera's
//! [`Head`], and imaging brightness. With credentials set it checks the WS-Security
//! PasswordDigest and the `Created` time against its own clock (which a fault can put off),
//! as a real camera does. Requests are read with quick-xml's reader; answers are fixed
//! templates with every value escaped. Independent of our client on purpose.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use sha1::{Digest, Sha1};
use tokio::net::TcpListener;

use super::Shared;

/// A camera's clock may differ from the client's by this much.
const CLOCK_TOLERANCE: i64 = 300;

/// Serves ONVIF on `listener` until the task is aborted.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(req, &shared).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

/// What a request says: the operation, the texts of its leaf elements by local name, and the
/// attributes of `PanTilt` and `Zoom`.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) op: String,
    fields: HashMap<String, String>,
    attrs: HashMap<String, String>,
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or_default().to_string()
}

fn read_request(xml: &str) -> Result<Parsed, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut p = Parsed::default();
    let mut path: Vec<String> = Vec::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = local(e.name().as_ref());
                note_element(&mut p, &path, &name, &e)?;
                path.push(name);
            }
            Event::Empty(e) => {
                let name = local(e.name().as_ref());
                note_element(&mut p, &path, &name, &e)?;
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                if let Some(name) = path.last() {
                    let text = t.xml10_content().trim().to_string();
                    if !text.is_empty() {
                        p.fields.entry(name.clone()).or_default().push_str(&text);
                    }
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(name), Some(c)) = (
                    path.last(),
                    quick_xml::escape::resolve_predefined_entity(&r),
                ) {
                    p.fields.entry(name.clone()).or_default().push_str(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if p.op.is_empty() {
        return Err("no operation in the SOAP Body".into());
    }
    Ok(p)
}

fn note_element(
    p: &mut Parsed,
    path: &[String],
    name: &str,
    e: &quick_xml::events::BytesStart,
) -> Result<(), String> {
    if path.last().map(String::as_str) == Some("Body") && p.op.is_empty() {
        p.op = name.to_string();
    }
    if name == "PanTilt" || name == "Zoom" {
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            p.attrs
                .insert(format!("{name}.{}", local(a.key.as_ref())), v.into_owned());
        }
    }
    Ok(())
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" \
xmlns:tt=\"http://www.onvif.org/ver10/schema\" xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" \
xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\" xmlns:tptz=\"http://www.onvif.org/ver20/ptz/wsdl\" \
xmlns:timg=\"http://www.onvif.org/ver20/imaging/wsdl\" xmlns:ter=\"http://www.onvif.org/ver10/error\">\
<env:Body>{body}</env:Body></env:Envelope>"
    )
}

pub(super) fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(envelope(&body))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/soap+xml; charset=utf-8"),
    );
    r
}

pub(super) fn fault(
    status: StatusCode,
    code: &str,
    subcode: &str,
    reason: &str,
) -> Response<Full<Bytes>> {
    reply(
        status,
        format!(
            "<env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>{}</env:Value>\
</env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{}</env:Text></env:Reason></env:Fault>",
            escape(subcode),
            escape(reason)
        ),
    )
}

pub(super) fn bad_arg(reason: &str) -> Response<Full<Bytes>> {
    fault(
        StatusCode::BAD_REQUEST,
        "Sender",
        "ter:InvalidArgVal",
        reason,
    )
}

/// The camera's clock, with the configured offset.
pub(super) fn camera_now(shared: &Shared) -> chrono::DateTime<chrono::Utc> {
    let offset = shared.faults.lock().expect("faults lock").clock_offset_secs;
    let now = chrono::Utc::now();
    chrono::TimeDelta::try_seconds(offset)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

/// Checks the UsernameToken as a camera does; `Err` is the fault to send.
fn authenticate(shared: &Shared, p: &Parsed) -> Result<(), Box<Response<Full<Bytes>>>> {
    let (Some(user), Some(password)) = (&shared.config.user, &shared.config.password) else {
        return Ok(());
    };
    let vendor_style = shared.faults.lock().expect("faults lock").onvif_wsse_always;
    let refuse = |why: &str| {
        tracing::info!("simulated ONVIF: refused {}: {why}", p.op);
        Box::new(if vendor_style {
            // As tests/data/onvif/wsse_always_clock_fault.xml: no subcode, the reason says it.
            reply(
                StatusCode::BAD_REQUEST,
                "<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason>\
<env:Text xml:lang=\"en\">Sender not authorized</env:Text></env:Reason></env:Fault>"
                    .into(),
            )
        } else {
            fault(
                StatusCode::BAD_REQUEST,
                "Sender",
                "ter:NotAuthorized",
                "Sender not Authorized",
            )
        })
    };
    let field = |n: &str| p.fields.get(n).map(String::as_str);
    let (Some(u), Some(digest), Some(nonce), Some(created)) = (
        field("Username"),
        field("Password"),
        field("Nonce"),
        field("Created"),
    ) else {
        return Err(refuse("no UsernameToken"));
    };
    let nonce = B64.decode(nonce).map_err(|_| refuse("nonce not base64"))?;
    let mut h = Sha1::new();
    h.update(&nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    if u != user || B64.encode(h.finalize()) != digest {
        return Err(refuse("wrong user or password"));
    }
    let when = chrono::DateTime::parse_from_rfc3339(created)
        .map_err(|_| refuse("Created is not a time"))?;
    let skew = (when.with_timezone(&chrono::Utc) - camera_now(shared)).num_seconds();
    if skew.abs() > CLOCK_TOLERANCE {
        return Err(refuse(&format!(
            "Created is {skew} s off the camera's clock"
        )));
    }
    Ok(())
}

async fn handle(req: Request<hyper::body::Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    if shared.faults.lock().expect("faults lock").onvif_hang {
        // A camera whose web server took the connection and went quiet.
        std::future::pending::<()>().await;
    }
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let path = req.uri().path().to_string();
    let camera = path
        .strip_prefix("/onvif/cam")
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=shared.sources.len()).contains(n));
    let Some(n) = camera else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"no such device\n")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let body = match Limited::new(req.into_body(), 256 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return bad_arg("request too large"),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad_arg("request is not UTF-8");
    };
    let p = match read_request(text) {
        Ok(p) => p,
        Err(e) => return fault(StatusCode::BAD_REQUEST, "Sender", "ter:WellFormed", &e),
    };
    let always = shared.faults.lock().expect("faults lock").onvif_wsse_always;
    if (p.op != "GetSystemDateAndTime" || always)
        && let Err(refusal) = authenticate(shared, &p)
    {
        return *refusal;
    }
    if let Some(answer) = super::events::operation(shared, n, &host, &path, &p).await {
        return answer;
    }
    operation(shared, n, &host, &p)
}

fn ok(op: &str, inner: &str) -> Response<Full<Bytes>> {
    let prefix = match op {
        "GetProfiles" | "GetStreamUri" | "GetVideoSources" => "trt",
        "GetOptions" | "GetImagingSettings" | "SetImagingSettings" => "timg",
        "GetSystemDateAndTime" | "GetCapabilities" | "GetServices" => "tds",
        _ => "tptz",
    };
    reply(
        StatusCode::OK,
        format!("<{prefix}:{op}Response>{inner}</{prefix}:{op}Response>"),
    )
}

const PROFILE: &str = "main";
const SOURCE: &str = "source1";

fn operation(shared: &Shared, n: usize, host: &str, p: &Parsed) -> Response<Full<Bytes>> {
    device_op(shared, n, host, p)
        .or_else(|| media_op(shared, n, p))
        .or_else(|| ptz_op(shared, n, p))
        .or_else(|| imaging_op(shared, n, p))
        .unwrap_or_else(|| {
            fault(
                StatusCode::BAD_REQUEST,
                "Receiver",
                "ter:ActionNotSupported",
                &format!("{} is not supported", p.op),
            )
        })
}

/// A field of the request's body ("" when absent).
pub(super) fn field<'a>(p: &'a Parsed, k: &str) -> &'a str {
    p.fields.get(k).map(String::as_str).unwrap_or("")
}

/// The device service: the camera's clock, capabilities and services (at `host`, as asked).
fn device_op(shared: &Shared, n: usize, host: &str, p: &Parsed) -> Option<Response<Full<Bytes>>> {
    let base = format!("http://{}/onvif/cam{n}", escape(host));
    let events = !shared.faults.lock().expect("faults lock").events_none;
    let answer = match p.op.as_str() {
        "GetSystemDateAndTime" => {
            let t = camera_now(shared);
            use chrono::{Datelike, Timelike};
            ok(
                &p.op,
                &format!(
                    "<tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>\
<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>{}</tt:Hour>\
<tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time><tt:Date><tt:Year>{}</tt:Year>\
<tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>",
                    t.hour(),
                    t.minute(),
                    t.second(),
                    t.year(),
                    t.month(),
                    t.day()
                ),
            )
        }
        "GetCapabilities" => ok(
            &p.op,
            &format!(
                "<tds:Capabilities><tt:Device><tt:XAddr>{base}/device_service</tt:XAddr></tt:Device>\
{}<tt:Imaging><tt:XAddr>{base}/imaging</tt:XAddr></tt:Imaging><tt:Media><tt:XAddr>{base}/media</tt:XAddr>\
</tt:Media><tt:PTZ><tt:XAddr>{base}/ptz</tt:XAddr></tt:PTZ></tds:Capabilities>",
                if events {
                    format!("<tt:Events><tt:XAddr>{base}/events</tt:XAddr></tt:Events>")
                } else {
                    String::new()
                }
            ),
        ),
        "GetServices" => ok(
            &p.op,
            &[
                ("http://www.onvif.org/ver10/device/wsdl", "device_service"),
                ("http://www.onvif.org/ver10/media/wsdl", "media"),
                ("http://www.onvif.org/ver20/ptz/wsdl", "ptz"),
                ("http://www.onvif.org/ver20/imaging/wsdl", "imaging"),
                ("http://www.onvif.org/ver10/events/wsdl", "events"),
            ]
            .iter()
            .filter(|(_, path)| events || *path != "events")
            .map(|(ns, path)| {
                format!(
                    "<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}/{path}</tds:XAddr></tds:Service>"
                )
            })
            .collect::<String>(),
        ),
        _ => return None,
    };
    Some(answer)
}

/// The media service: the one profile, its video source, and its stream's URI.
fn media_op(shared: &Shared, n: usize, p: &Parsed) -> Option<Response<Full<Bytes>>> {
    let answer = match p.op.as_str() {
        "GetProfiles" => {
            let spec = &shared.sources[n - 1].spec;
            ok(
                &p.op,
                &format!(
                    "<trt:Profiles token=\"{PROFILE}\" fixed=\"true\"><tt:Name>mainStream</tt:Name>\
<tt:VideoSourceConfiguration token=\"vsc1\"><tt:Name>VideoSource</tt:Name><tt:SourceToken>{SOURCE}</tt:SourceToken>\
</tt:VideoSourceConfiguration><tt:VideoEncoderConfiguration token=\"enc1\"><tt:Name>main</tt:Name>\
<tt:Encoding>{}</tt:Encoding><tt:Resolution><tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution>\
</tt:VideoEncoderConfiguration><tt:PTZConfiguration token=\"ptz1\"><tt:Name>PTZ</tt:Name>\
<tt:NodeToken>node1</tt:NodeToken></tt:PTZConfiguration></trt:Profiles>",
                    spec.codec.as_str(),
                    spec.width,
                    spec.height
                ),
            )
        }
        "GetVideoSources" => {
            let spec = &shared.sources[n - 1].spec;
            ok(
                &p.op,
                &format!(
                    "<trt:VideoSources token=\"{SOURCE}\"><tt:Framerate>{}</tt:Framerate><tt:Resolution>\
<tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution></trt:VideoSources>",
                    spec.fps, spec.width, spec.height
                ),
            )
        }
        "GetStreamUri" if field(p, "ProfileToken") != PROFILE => bad_arg("no such profile"),
        "GetStreamUri" => {
            let rtsp: SocketAddr = shared.rtsp_addr;
            ok(
                &p.op,
                &format!(
                    "<trt:MediaUri><tt:Uri>rtsp://{rtsp}/cam{n}</tt:Uri><tt:InvalidAfterConnect>false\
</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>\
</trt:MediaUri>"
                ),
            )
        }
        _ => return None,
    };
    Some(answer)
}

/// The PTZ service, on the one profile: moves, stop, home and presets (each command counted).
fn ptz_op(shared: &Shared, n: usize, p: &Parsed) -> Option<Response<Full<Bytes>>> {
    const OPS: [&str; 6] = [
        "ContinuousMove",
        "Stop",
        "GotoHomePosition",
        "GetPresets",
        "SetPreset",
        "GotoPreset",
    ];
    if !OPS.contains(&p.op.as_str()) {
        return None;
    }
    if field(p, "ProfileToken") != PROFILE {
        return Some(bad_arg("no such profile"));
    }
    let head = &shared.sources[n - 1].head;
    let now = Instant::now();
    if p.op != "GetPresets" {
        head.commands.fetch_add(1, Ordering::Relaxed);
    }
    let answer = match p.op.as_str() {
        "ContinuousMove" => {
            let num = |k: &str| {
                p.attrs
                    .get(k)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let timeout = parse_duration(field(p, "Timeout")).unwrap_or(Duration::from_secs(60));
            head.continuous_move(
                now,
                num("PanTilt.x"),
                num("PanTilt.y"),
                num("Zoom.x"),
                timeout,
            );
            ok(&p.op, "")
        }
        "Stop" => {
            head.stop(now);
            ok(&p.op, "")
        }
        "GotoHomePosition" => {
            head.home(now);
            ok(&p.op, "")
        }
        "GetPresets" => ok(
            &p.op,
            &head
                .presets()
                .iter()
                .map(|(t, name)| {
                    format!(
                        "<tptz:Preset token=\"{}\"><tt:Name>{}</tt:Name></tptz:Preset>",
                        escape(t),
                        escape(name)
                    )
                })
                .collect::<String>(),
        ),
        "SetPreset" => {
            let token = p.fields.get("PresetToken").map(String::as_str);
            let token = head.set_preset(now, field(p, "PresetName"), token);
            ok(
                &p.op,
                &format!("<tptz:PresetToken>{}</tptz:PresetToken>", escape(&token)),
            )
        }
        _ if head.goto_preset(now, field(p, "PresetToken")) => ok(&p.op, ""),
        _ => bad_arg("no such preset"),
    };
    Some(answer)
}

/// The imaging service, on the one video source: brightness (0..100).
fn imaging_op(shared: &Shared, n: usize, p: &Parsed) -> Option<Response<Full<Bytes>>> {
    const OPS: [&str; 3] = ["GetOptions", "GetImagingSettings", "SetImagingSettings"];
    if !OPS.contains(&p.op.as_str()) {
        return None;
    }
    if field(p, "VideoSourceToken") != SOURCE {
        return Some(bad_arg(
            "no such video source (imaging takes the video source token)",
        ));
    }
    let head = &shared.sources[n - 1].head;
    let answer = match p.op.as_str() {
        "GetOptions" => ok(
            &p.op,
            "<timg:ImagingOptions><tt:Brightness><tt:Min>0</tt:Min><tt:Max>100</tt:Max></tt:Brightness>\
</timg:ImagingOptions>",
        ),
        "GetImagingSettings" => ok(
            &p.op,
            &format!(
                "<timg:ImagingSettings><tt:Brightness>{}</tt:Brightness></timg:ImagingSettings>",
                head.brightness()
            ),
        ),
        _ => match field(p, "Brightness").parse::<f32>() {
            Ok(b) if (0.0..=100.0).contains(&b) => {
                head.commands.fetch_add(1, Ordering::Relaxed);
                head.set_brightness(b);
                ok(&p.op, "")
            }
            _ => bad_arg("Brightness outside 0..100"),
        },
    };
    Some(answer)
}

/// `PT1S`, `PT0.5S`, `PT1M30S` (the forms cameras are sent).
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix("PT")?;
    let mut secs = 0.0;
    let mut num = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let v: f64 = num.parse().ok()?;
                secs += v * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => return None,
        }
    }
    num.is_empty().then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("PT1M30S"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1S"), None);
        assert_eq!(parse_duration("PT5"), None);
    }

    #[test]
    fn reads_requests() {
        let p = read_request(
            "<s:Envelope xmlns:s=\"x\"><s:Header><w:Security><w:UsernameToken><w:Username>a&amp;b</w:Username>\
             </w:UsernameToken></w:Security></s:Header><s:Body><p:ContinuousMove><p:ProfileToken>main</p:ProfileToken>\
             <p:Velocity><t:PanTilt x=\"0.5\" y=\"-1\"/><t:Zoom x=\"0\"/></p:Velocity></p:ContinuousMove></s:Body></s:Envelope>",
        )
        .unwrap();
        assert_eq!(p.op, "ContinuousMove");
        assert_eq!(p.fields["Username"], "a&b");
        assert_eq!(p.fields["ProfileToken"], "main");
        assert_eq!(p.attrs["PanTilt.y"], "-1");
        assert!(read_request("<a><b></a>").is_err());
        assert!(read_request("<s:Envelope><s:Body/></s:Envelope>").is_err());
    }
}

//! The ONVIF client: SOAP 1.2 over HTTP (hyper, one connection per call), every call bounded
//! by a timeout, the camera's clock offset applied to every WS-Security `Created`, and each
//! failure turned into one [`OnvifError`] naming the camera and the operation.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::events;
use super::responses::{self, Preset, Profile, Services};
use super::soap::{self, Call, Token, Velocity};
use super::xml::{self, El, Node};
use super::{ErrorKind, OnvifError};

/// How to reach one camera's device service.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The camera's name, for errors and logs.
    pub camera: String,
    /// `http://host[:port]/onvif/device_service`, without credentials.
    pub device: url::Url,
    pub creds: Option<(String, String)>,
    pub timeout: Duration,
}

/// A camera clock further than this from ours is wrong, not a time zone: not trusted.
const MAX_CLOCK_OFFSET: chrono::TimeDelta = chrono::TimeDelta::days(366);

/// The default time a call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Endpoint {
    /// Builds an endpoint from a configured URL (credentials in it are taken out and used
    /// unless `creds` is given).
    pub fn new(
        camera: &str,
        url: &str,
        creds: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<Self, OnvifError> {
        let err = |kind| OnvifError::new(camera, "connect", kind);
        let parsed = url::Url::parse(url)
            .map_err(|e| err(ErrorKind::Unsupported(format!("bad ONVIF URL: {e}"))))?;
        if parsed.scheme() != "http" {
            return Err(err(ErrorKind::Unsupported(format!(
                "{}:// ONVIF endpoints are not supported; use http://",
                parsed.scheme()
            ))));
        }
        let (device, in_url) = crate::secret::split_credentials(&parsed);
        Ok(Self {
            camera: camera.to_string(),
            device,
            creds: creds.or(in_url),
            timeout,
        })
    }

    fn fail(&self, op: &'static str, kind: ErrorKind) -> OnvifError {
        OnvifError::new(&self.camera, op, kind)
    }

    /// Reads the camera's clock ([`Self::clock_offset`]) and where its services are.
    pub async fn connect(&self) -> Result<Device, OnvifError> {
        let offset = self.clock_offset().await?;
        let mut device = Device {
            endpoint: self.clone(),
            offset,
            services: Services::default(),
        };
        let caps = soap::get_capabilities();
        let op = caps.name;
        device.services = match device.call(&self.device, caps).await {
            Ok(resp) => {
                responses::capabilities(&resp).map_err(|e| self.fail(op, ErrorKind::Xml(e)))?
            }
            // Not a refusal: the device may only know the newer GetServices.
            Err(e) if matches!(e.kind, ErrorKind::Fault(_)) && !e.kind.is_refusal() => {
                let svc = soap::get_services();
                let op = svc.name;
                let resp = device.call(&self.device, svc).await?;
                responses::services(&resp).map_err(|e| self.fail(op, ErrorKind::Xml(e)))?
            }
            Err(e) => return Err(e),
        };
        Ok(device)
    }

    /// The camera's clock minus ours. Read without credentials, as the standard allows; a
    /// device that wants WS-Security even for that (a fault, or HTTP 401) is asked again with
    /// a token on our clock. A device whose clock cannot be read at all, or reads more than
    /// [`MAX_CLOCK_OFFSET`] away, is used with no offset (and a warning). Only a device that
    /// cannot be reached is an error.
    async fn clock_offset(&self) -> Result<chrono::TimeDelta, OnvifError> {
        let call = soap::get_system_date_and_time;
        let read = match self.request(&self.device, call(), None).await {
            Err(e) if matches!(e.kind, ErrorKind::Fault(_) | ErrorKind::Http(_)) => {
                match self.token(chrono::TimeDelta::zero()) {
                    Some(token) => self.request(&self.device, call(), Some(&token)).await,
                    None => Err(e),
                }
            }
            other => other,
        };
        let read = match read {
            Err(e) if matches!(e.kind, ErrorKind::Connect(_) | ErrorKind::Timeout(_)) => {
                return Err(e);
            }
            other => other.and_then(|resp| {
                responses::system_time(&resp).map_err(|e| self.fail(call().name, ErrorKind::Xml(e)))
            }),
        };
        let zero = chrono::TimeDelta::zero();
        Ok(match read {
            Ok(theirs) => {
                let offset = theirs.signed_duration_since(chrono::Utc::now());
                if offset.abs() > MAX_CLOCK_OFFSET {
                    tracing::warn!(
                        camera = %self.camera,
                        "the camera's clock reads {theirs}, {} days from ours: not trusted; signing with our clock",
                        offset.num_days()
                    );
                    zero
                } else {
                    offset
                }
            }
            Err(e) => {
                tracing::warn!(camera = %self.camera, "cannot read the camera's clock ({e}); signing with our clock");
                zero
            }
        })
    }

    /// A WS-Security token for the next call, `Created` on our clock plus `offset`; `None`
    /// without credentials.
    fn token(&self, offset: chrono::TimeDelta) -> Option<Token<'_>> {
        let (username, password) = self.creds.as_ref()?;
        let now = chrono::Utc::now();
        Some(Token {
            username,
            password,
            nonce: rand::random(),
            created: soap::created(now.checked_add_signed(offset).unwrap_or(now)),
        })
    }

    /// One SOAP exchange: the operation's response element, or the error.
    async fn request(
        &self,
        url: &url::Url,
        call: Call,
        token: Option<&Token<'_>>,
    ) -> Result<Node, OnvifError> {
        self.exchange(url, call, token, None, self.timeout).await
    }

    /// [`Self::request`] with WS-Addressing headers when given, bounded by `timeout`.
    async fn exchange(
        &self,
        url: &url::Url,
        call: Call,
        token: Option<&Token<'_>>,
        addressing: Option<&soap::Addressing<'_>>,
        timeout: Duration,
    ) -> Result<Node, OnvifError> {
        let op = call.name;
        let envelope = soap::envelope_with(
            token,
            addressing.map(|a| (a, call.action.as_str())),
            call.body,
        );
        let exchange = post(url, &call.action, envelope);
        let (status, text) = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => return Err(self.fail(op, ErrorKind::Timeout(timeout))),
            Ok(Err(kind)) => return Err(self.fail(op, kind)),
            Ok(Ok(reply)) => reply,
        };
        let parsed = xml::parse(&text);
        // A fault explains an HTTP error better than its status line does.
        if let Ok(root) = &parsed
            && let Ok(Err(fault)) = responses::body(root)
        {
            return Err(self.fail(op, ErrorKind::Fault(fault)));
        }
        if !(200..300).contains(&status) {
            return Err(self.fail(op, ErrorKind::Http(status)));
        }
        let root = parsed.map_err(|e| self.fail(op, ErrorKind::Xml(e)))?;
        match responses::body(&root) {
            Ok(Ok(node)) => Ok(node.clone()),
            Ok(Err(fault)) => Err(self.fail(op, ErrorKind::Fault(fault))),
            Err(e) => Err(self.fail(op, ErrorKind::Xml(e))),
        }
    }
}

/// POSTs one SOAP envelope; the status and the body (at most [`xml::MAX_RESPONSE`] bytes).
async fn post(url: &url::Url, action: &str, envelope: String) -> Result<(u16, String), ErrorKind> {
    let (host, port) = crate::http1::host_port(url).map_err(ErrorKind::Unsupported)?;
    let (mut sender, driver) = crate::http1::connect(url, |s| {
        let _ = s.set_nodelay(true);
    })
    .await
    .map_err(ErrorKind::Connect)?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, crate::http1::authority(url))
        .header(
            hyper::header::CONTENT_TYPE,
            format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
        )
        .body(Full::new(Bytes::from(envelope)))
        .map_err(|e| ErrorKind::Unsupported(e.to_string()))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ErrorKind::Connect(format!("{host}:{port}: {e}")))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), xml::MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| ErrorKind::Xml(format!("reading the response: {e}")))?
            .to_bytes();
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| ErrorKind::Xml("the response is not UTF-8".into()))?;
        Ok((status, text))
    }
    .await;
    driver.abort();
    result
}

/// A pull-point subscription, ready to be pulled, renewed or ended.
#[derive(Debug, Clone)]
pub struct PullPoint {
    /// On the host we reach the device at.
    pub address: url::Url,
    /// Echoed in every request's header.
    pub reference: Vec<El>,
    /// How long it lives from its creation, as the camera said.
    pub lifetime: Option<chrono::TimeDelta>,
}

/// A connected device: its clock offset and service addresses, read once.
#[derive(Debug, Clone)]
pub struct Device {
    pub endpoint: Endpoint,
    /// The camera's clock minus ours.
    pub offset: chrono::TimeDelta,
    pub services: Services,
}

impl Device {
    /// A service address as the camera gave it, but on the host and port we reach the
    /// device at (cameras behind NAT or port forwarding report their inside address).
    fn service_url(&self, xaddr: &str) -> url::Url {
        let mut url = self.endpoint.device.clone();
        if let Ok(given) = url::Url::parse(xaddr) {
            url.set_path(given.path());
            url.set_query(given.query());
        }
        url
    }

    async fn call(&self, url: &url::Url, call: Call) -> Result<Node, OnvifError> {
        let token = self.endpoint.token(self.offset);
        self.endpoint.request(url, call, token.as_ref()).await
    }

    fn service(
        &self,
        which: Option<&String>,
        op: &'static str,
        what: &str,
    ) -> Result<url::Url, OnvifError> {
        which.map(|x| self.service_url(x)).ok_or_else(|| {
            self.endpoint.fail(
                op,
                ErrorKind::Unsupported(format!("the camera has no {what} service")),
            )
        })
    }

    async fn media(&self, call: Call) -> Result<Node, OnvifError> {
        let url = self.service(self.services.media.as_ref(), call.name, "media")?;
        self.call(&url, call).await
    }

    async fn ptz(&self, call: Call) -> Result<Node, OnvifError> {
        let url = self.service(self.services.ptz.as_ref(), call.name, "PTZ")?;
        self.call(&url, call).await
    }

    async fn imaging(&self, call: Call) -> Result<Node, OnvifError> {
        let url = self.service(self.services.imaging.as_ref(), call.name, "imaging")?;
        self.call(&url, call).await
    }

    fn read<T>(&self, op: &'static str, r: Result<T, String>) -> Result<T, OnvifError> {
        r.map_err(|e| self.endpoint.fail(op, ErrorKind::Xml(e)))
    }

    /// The event service's address, on the host we reach the device at.
    pub fn events_url(&self) -> Result<url::Url, OnvifError> {
        self.service(
            self.services.events.as_ref(),
            "CreatePullPointSubscription",
            "event",
        )
    }

    /// A call to the event service (or a subscription at `to`) with WS-Addressing headers,
    /// allowed `extra` beyond the endpoint's timeout (a pull waits that long by design).
    async fn event_call(
        &self,
        to: &url::Url,
        reference: &[El],
        call: Call,
        extra: Duration,
    ) -> Result<Node, OnvifError> {
        let token = self.endpoint.token(self.offset);
        let addressing = soap::Addressing {
            to: to.as_str(),
            reference,
        };
        let timeout = self.endpoint.timeout + extra;
        self.endpoint
            .exchange(to, call, token.as_ref(), Some(&addressing), timeout)
            .await
    }

    /// The topics the device announces.
    pub async fn event_topics(&self) -> Result<Vec<String>, OnvifError> {
        let url = self.events_url()?;
        let resp = self
            .event_call(&url, &[], soap::get_event_properties(), Duration::ZERO)
            .await?;
        self.read("GetEventProperties", events::topics(&resp))
    }

    /// A new pull-point subscription living `lifetime_secs` unless renewed. Its address is
    /// rewritten onto the host we reach the device at, as service addresses are.
    pub async fn subscribe(&self, lifetime_secs: u32) -> Result<PullPoint, OnvifError> {
        let url = self.events_url()?;
        let resp = self
            .event_call(
                &url,
                &[],
                soap::create_pull_point_subscription(lifetime_secs),
                Duration::ZERO,
            )
            .await?;
        let s = self.read("CreatePullPointSubscription", events::subscription(&resp))?;
        Ok(PullPoint {
            address: self.service_url(&s.address),
            reference: s.reference.iter().map(Node::to_el).collect(),
            lifetime: s.lifetime,
        })
    }

    /// Waits up to `wait` for at most `limit` messages.
    pub async fn pull(
        &self,
        sub: &PullPoint,
        wait: Duration,
        limit: u32,
    ) -> Result<events::Pulled, OnvifError> {
        let secs = u32::try_from(wait.as_secs()).unwrap_or(u32::MAX).max(1);
        let call = soap::pull_messages(secs, limit);
        let resp = self
            .event_call(&sub.address, &sub.reference, call, wait)
            .await?;
        self.read("PullMessages", events::pulled(&resp))
    }

    /// Extends the subscription by `lifetime_secs`; the new lifetime when the camera says it.
    pub async fn renew(
        &self,
        sub: &PullPoint,
        lifetime_secs: u32,
    ) -> Result<Option<chrono::TimeDelta>, OnvifError> {
        let call = soap::renew(lifetime_secs);
        let resp = self
            .event_call(&sub.address, &sub.reference, call, Duration::ZERO)
            .await?;
        self.read("Renew", events::renewed(&resp))
    }

    pub async fn unsubscribe(&self, sub: &PullPoint) -> Result<(), OnvifError> {
        let call = soap::unsubscribe();
        let resp = self
            .event_call(&sub.address, &sub.reference, call, Duration::ZERO)
            .await?;
        self.read("Unsubscribe", responses::empty(&resp, "Unsubscribe"))
    }

    pub async fn profiles(&self) -> Result<Vec<Profile>, OnvifError> {
        let resp = self.media(soap::get_profiles()).await?;
        self.read("GetProfiles", responses::profiles(&resp))
    }

    pub async fn stream_uri(&self, profile: &str) -> Result<String, OnvifError> {
        let resp = self.media(soap::get_stream_uri(profile)).await?;
        self.read("GetStreamUri", responses::stream_uri(&resp))
    }

    pub async fn continuous_move(
        &self,
        profile: &str,
        v: Velocity,
        timeout_secs: u32,
    ) -> Result<(), OnvifError> {
        let resp = self
            .ptz(soap::continuous_move(profile, v, timeout_secs))
            .await?;
        self.read("ContinuousMove", responses::empty(&resp, "ContinuousMove"))
    }

    pub async fn stop(&self, profile: &str) -> Result<(), OnvifError> {
        let resp = self.ptz(soap::stop(profile)).await?;
        self.read("Stop", responses::empty(&resp, "Stop"))
    }

    pub async fn presets(&self, profile: &str) -> Result<Vec<Preset>, OnvifError> {
        let resp = self.ptz(soap::get_presets(profile)).await?;
        self.read("GetPresets", responses::presets(&resp))
    }

    pub async fn goto_preset(&self, profile: &str, token: &str) -> Result<(), OnvifError> {
        let resp = self.ptz(soap::goto_preset(profile, token)).await?;
        self.read("GotoPreset", responses::empty(&resp, "GotoPreset"))
    }

    pub async fn set_preset(
        &self,
        profile: &str,
        name: &str,
        existing: Option<&str>,
    ) -> Result<String, OnvifError> {
        let resp = self.ptz(soap::set_preset(profile, name, existing)).await?;
        self.read("SetPreset", responses::set_preset_token(&resp))
    }

    pub async fn goto_home(&self, profile: &str) -> Result<(), OnvifError> {
        let resp = self.ptz(soap::goto_home_position(profile)).await?;
        self.read(
            "GotoHomePosition",
            responses::empty(&resp, "GotoHomePosition"),
        )
    }

    pub async fn brightness_range(&self, source: &str) -> Result<Option<(f32, f32)>, OnvifError> {
        let resp = self.imaging(soap::get_options(source)).await?;
        self.read("GetOptions", responses::brightness_range(&resp))
    }

    pub async fn brightness(&self, source: &str) -> Result<Option<f32>, OnvifError> {
        let resp = self.imaging(soap::get_imaging_settings(source)).await?;
        self.read("GetImagingSettings", responses::brightness(&resp))
    }

    pub async fn set_brightness(&self, source: &str, value: f32) -> Result<(), OnvifError> {
        let resp = self.imaging(soap::set_brightness(source, value)).await?;
        self.read(
            "SetImagingSettings",
            responses::empty(&resp, "SetImagingSettings"),
        )
    }
}

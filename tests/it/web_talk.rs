//! Live talk from the web page: the WebSocket route (`GET /api/cameras/{name}/talk` with
//! `Upgrade: websocket`) driven by a client that streams a 48 kHz tone, and the page's own
//! hold-to-talk button in headless Chromium, whose fake microphone plays a tone file, pressed
//! and released through the DevTools protocol. Both reach only the camera they are for (the
//! simulated camera writes what it hears), in time and in tune.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use opticlink::media::pcm;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

use crate::common::{self, Owned, Proc};
use crate::talk::{assert_tone, read_wav, sim_with_talk, tone_wav_at};
use crate::wall_talk::{heard, wait_heard};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// A WebSocket client whose reads fail after `limit` instead of hanging.
fn connect(url: &str, limit: Duration) -> Result<Socket, tungstenite::Error> {
    let (ws, _) = tungstenite::connect(url)?;
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(limit)).unwrap();
    }
    Ok(ws)
}

/// The next text message, as JSON.
fn next_json(ws: &mut Socket) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[test]
fn the_websocket_talks_live_to_one_camera_and_refuses_what_cannot_talk() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("heard");
    let config = dir.path().join("wall.ron");
    let _server = sim_with_talk(&rt, 2, true, &out, &config);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("(name: \"B\",", "(name: \"B\", talk: Off,");
    let app = Proc::headless(&text);
    let port = app.api_port();
    app.camera("A");

    // 1.2 s of a 1 kHz tone at 48 kHz, 20 ms per message, at the pace a microphone gives it.
    let url = format!("ws://127.0.0.1:{port}/api/cameras/A/talk?rate=48000");
    let mut ws = connect(&url, Duration::from_secs(10)).unwrap();
    assert_eq!(next_json(&mut ws).unwrap()["state"], "opening");
    let tone = pcm::tone(1000.0, 48_000, 1.2, 0.4);
    let start = Instant::now();
    for (i, chunk) in tone.samples.chunks(960).enumerate() {
        let bytes: Vec<u8> = pcm::to_i16(chunk).flat_map(i16::to_le_bytes).collect();
        ws.send(Message::binary(bytes)).unwrap();
        let due = start + Duration::from_millis(20) * (i as u32 + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    // The socket closing ends the talk (the page needs no answer to its own release).
    ws.close(None).unwrap();
    let mut states = Vec::new();
    while let Some(m) = next_json(&mut ws) {
        states.push(m);
    }
    assert!(
        states
            .iter()
            .any(|m| m["state"] == "talking" && m["codec"] == "PCMU"),
        "{states:?}"
    );
    assert!(states.iter().all(|m| m["error"].is_null()), "{states:?}");
    let files = wait_heard(&out, 1);
    assert_eq!(files, ["cam1-1.wav"], "only A was talked to");
    assert_tone(&read_wav(&out.join("cam1-1.wav")), 1.2, "WebSocket talk");

    // Refused before the upgrade, with the usual answers.
    for (path, code) in [
        ("B/talk", 409),
        ("Nobody/talk", 404),
        ("A/talk?rate=5", 400),
    ] {
        let url = format!("ws://127.0.0.1:{port}/api/cameras/{path}");
        match connect(&url, Duration::from_secs(10)) {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), code, "{path}"),
            other => panic!("{path}: {:?}", other.map(|_| "upgraded")),
        }
    }
    assert_eq!(heard(&out), ["cam1-1.wav"]);

    // A camera that turns out not to talk: the socket hears why, then closes.
    let mute = dir.path().join("mute.ron");
    let _no_backchannel = sim_with_talk(&rt, 1, false, &dir.path().join("x"), &mute);
    let mut app = app;
    app.stop();
    let app = Proc::headless(&std::fs::read_to_string(&mute).unwrap());
    let url = format!("ws://127.0.0.1:{}/api/cameras/A/talk", app.api_port());
    let mut ws = connect(&url, Duration::from_secs(10)).unwrap();
    let mut last = Value::Null;
    while let Some(m) = next_json(&mut ws) {
        last = m;
    }
    assert_eq!(last["state"], "ended", "{last}");
    let error = last["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot talk (no ONVIF backchannel"),
        "{error}"
    );
}

/// Headless Chromium with a fake microphone playing `wav`, on `url`.
fn chromium_with_microphone(url: &str, wav: &Path, profile: &Path) -> (Owned, Cdp) {
    chromium_devtools(
        url,
        &[
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            &format!("--use-file-for-fake-audio-capture={}", wav.display()),
        ],
        profile,
    )
}

/// Headless Chromium on `url` with `args`; returns the process and a DevTools connection to
/// the page (Chromium's DevTools HTTP endpoint keeps connections open, so the page is found
/// over the browser's own WebSocket).
pub(crate) fn chromium_devtools(url: &str, args: &[&str], profile: &Path) -> (Owned, Cdp) {
    let mut child = crate::web::chromium(profile)
        .args([
            "--remote-debugging-port=0",
            "--autoplay-policy=no-user-gesture-required",
        ])
        .args(args)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium (Debian package chromium)");
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"; the rest of its log is
    // drained so Chromium never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("ws://") {
                let _ = tx.send(line[at..].trim().to_owned());
            }
        }
    });
    let child = Owned(child);
    let browser = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("Chromium's DevTools address");
    let ws = connect(&browser, Duration::from_secs(30)).unwrap();
    let mut cdp = Cdp {
        ws,
        id: 0,
        session: None,
    };
    let page = common::wait_for(Duration::from_secs(10), "the page's target", || {
        let targets = cdp.call("Target.getTargets", json!({}));
        targets["targetInfos"]
            .as_array()?
            .iter()
            .find(|t| t["type"] == "page")
            .map(|t| t["targetId"].clone())
    });
    let attached = cdp.call(
        "Target.attachToTarget",
        json!({ "targetId": page, "flatten": true }),
    );
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    (child, cdp)
}

/// The Chrome DevTools protocol over the browser's WebSocket, attached to one page.
pub(crate) struct Cdp {
    ws: Socket,
    id: u64,
    session: Option<String>,
}

impl Cdp {
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            msg["sessionId"] = json!(session);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = next_json(&mut self.ws).expect("DevTools answered");
            if m["id"] == id {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression.
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    fn mouse(&mut self, kind: &str, (x, y): (f64, f64)) {
        let params = json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1 });
        self.call("Input.dispatchMouseEvent", params);
    }
}

#[test]
fn the_pages_talk_button_streams_the_browsers_microphone_to_its_camera() {
    let _g = common::heavy();
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("heard");
    let config = dir.path().join("wall.ron");
    let _server = sim_with_talk(&rt, 2, true, &out, &config);
    let app = Proc::headless(&std::fs::read_to_string(&config).unwrap());
    app.camera("B");
    let wav = tone_wav_at(dir.path(), 48_000, 8.0);
    let profile = tempfile::tempdir().unwrap();
    let page = format!("http://127.0.0.1:{}/", app.api_port());
    let (_chromium, mut cdp) = chromium_with_microphone(&page, &wav, profile.path());

    // B's talk button, once the page has drawn its tiles.
    let button = "document.querySelector('img[alt=\"B\"]').closest('figure')\
                  .querySelector('.talkbox button')";
    let centre = common::wait_for(Duration::from_secs(20), "B's talk button", || {
        let v = cdp.eval(&format!(
            "(() => {{ const b = {button}; if (!b || !b.offsetParent) return null; \
             const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        Some((v[0].as_f64()?, v[1].as_f64()?))
    });
    // Held: the page asks for the microphone, opens the socket and says it is talking.
    cdp.mouse("mousePressed", centre);
    common::wait_for(Duration::from_secs(20), "the button to say talking", || {
        let text = cdp.eval(&format!("{button}.textContent"));
        let note = cdp.eval(&format!(
            "{button}.closest('.talkbox').querySelector('.talknote').textContent"
        ));
        assert!(note.as_str().is_none_or(str::is_empty), "page says: {note}");
        (text == "talking (PCMU)").then_some(())
    });
    // Held for 1.5 s of speech, then released: the talk ends and B has heard the tone.
    std::thread::sleep(Duration::from_millis(1500));
    cdp.mouse("mouseReleased", centre);
    let files = wait_heard(&out, 1);
    assert_eq!(files, ["cam2-1.wav"], "only B was talked to");
    let samples = read_wav(&out.join("cam2-1.wav"));
    let secs = samples.len() as f32 / 8000.0;
    assert!(
        (1.0..=3.0).contains(&secs),
        "{secs} s heard for a 1.5 s press"
    );
    let body = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let f = pcm::dominant_frequency(body, 8000, 300, 3000);
    assert!((f - 1000.0).abs() <= 20.0, "dominant {f} Hz");
    let level = pcm::level_dbfs(body);
    assert!(level > -30.0, "level {level} dBFS");
    eprintln!("browser talk: {secs:.2} s heard, {f:.0} Hz, {level:.1} dBFS");
    assert_eq!(
        cdp.eval(&format!("{button}.textContent")),
        "hold to talk",
        "the button is released"
    );
}

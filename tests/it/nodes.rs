//! A headless process as a node: `GET /api/node` (a stable id kept in the state folder, name,
//! version, ports) and the node's news on the live feed: camera states, segments closed, the
//! node stopping.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, Proc, http_get};

/// A headless node named `Floor 2` with camera `Gate` at `url`, recording 2 s segments, its
/// state in `state`.
fn start_node(url: &str, state: &std::path::Path, work: &std::path::Path) -> Proc {
    let config = work.join("node.ron");
    std::fs::write(
        &config,
        format!(
            "(name: Some(\"Floor 2\"), cameras: [(name: \"Gate\", url: \"{url}\", record: true)],\n \
             headless_decode: false, recording: (dir: \"{}\", segment_secs: 2),\n \
             servers: (api_port: 0, rtsp_port: 0))",
            work.join("rec").display()
        ),
    )
    .unwrap();
    let state = state.to_str().unwrap();
    Proc::start(
        &["--headless", "--config", config.to_str().unwrap()],
        &[("OPTICLINK_STATE_DIR", state)],
    )
}

/// The live feed's messages as (event name, data), read as they come.
struct Feed(BufReader<TcpStream>);

impl Feed {
    fn open(port: u16) -> Self {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Self(BufReader::new(s))
    }

    /// The next message, or `None` at the end of the stream.
    fn next(&mut self) -> Option<(String, serde_json::Value)> {
        let mut name = String::new();
        loop {
            let mut line = String::new();
            if self.0.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data: ")
                && !name.is_empty()
            {
                let data = serde_json::from_str(data.trim()).unwrap_or_default();
                return Some((name, data));
            }
        }
    }

    /// Reads until a message `name` that `pick` accepts (within 30 s).
    fn until(
        &mut self,
        name: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.next() {
                Some((n, data)) if n == name && pick(&data) => return data,
                Some(_) => {}
                None => break,
            }
        }
        panic!("no {name} message on the live feed");
    }
}

#[test]
fn a_node_tells_who_it_is_and_what_happens_there() {
    let _g = common::heavy();
    let rt = common::runtime();
    let sim = common::sim(&rt, common::small(0));
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut app = start_node(&sim.url(1), state.path(), work.path());
    let port = app.api_port();
    let mut feed = Feed::open(port);

    let live = feed.until("state", |d| d["state"] == "live");
    assert_eq!(live["camera"], "Gate", "{live}");
    let segment = feed.until("segment", |d| d["camera"] == "Gate");
    let file = segment["file"].as_str().unwrap();
    let on_disk = work.path().join("rec").join("Gate").join(file);
    assert!(on_disk.is_file(), "{segment} names no file");
    assert!(
        segment["end_ms"].as_i64() > segment["start_ms"].as_i64(),
        "{segment}"
    );

    let (code, body) = http_get(port, "/api/node");
    assert_eq!(code, 200, "{body}");
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["name"], "Floor 2");
    assert_eq!(node["version"], env!("CARGO_PKG_VERSION"));
    let id = node["id"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(node["ports"]["api"], port);
    let status = app.status();
    assert_eq!(node["ports"]["rtsp"], status["rtsp_port"]);
    assert!(status["rtsp_port"].as_u64() > Some(0));

    assert!(app.stop().success());
    feed.until("stopping", |_| true);

    // The same state folder: the same node.
    let again = start_node(&sim.url(1), state.path(), work.path());
    let (_, body) = http_get(again.api_port(), "/api/node");
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["id"], id.as_str());
}

/// `opticlink --headless` with `config` written to `DIR/NAME.ron`.
fn headless_at(dir: &std::path::Path, name: &str, config: &str, envs: &[(&str, &str)]) -> Proc {
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(&path, config).unwrap();
    Proc::start(&["--headless", "--config", path.to_str().unwrap()], envs)
}

/// A node's config: cameras `names` of `sim`, its API on `port`, behind `token`.
fn node_config(
    sim: &opticlink::simcam::SimServer,
    names: [&str; 2],
    port: u16,
    token: &str,
) -> String {
    let camera = |n: u32| {
        format!(
            "(name: \"{}\", url: \"{}\", onvif: Some((url: \"{}\")))",
            names[n as usize - 1],
            sim.url(n),
            sim.onvif_url(n).unwrap()
        )
    };
    format!(
        "(cameras: [{}, {}],\n headless_decode: false,\n \
         servers: (api_port: {port}, rtsp_port: 0, token: Some(\"{token}\")))",
        camera(1),
        camera(2)
    )
}

#[test]
fn a_wall_over_two_nodes_shows_their_cameras_and_marks_only_a_lost_nodes_tiles() {
    let _g = common::heavy();
    let rt = common::runtime();
    let two = |rt| {
        common::sim(
            rt,
            opticlink::simcam::SimConfig {
                cameras: 2,
                onvif_port: Some(0),
                ..common::small(0)
            },
        )
    };
    let (sim1, sim2) = (two(&rt), two(&rt));
    let token = "deployment-token-5f2b9c0e7d1a4b3c";
    let work = tempfile::tempdir().unwrap();
    let (port1, port2) = (common::free_port(), common::free_port());
    let mut node1 = headless_at(
        work.path(),
        "node1",
        &node_config(&sim1, ["Gate", "Yard"], port1, token),
        &[],
    );
    let config2 = node_config(&sim2, ["Door", "Dock"], port2, token);
    let mut node2 = headless_at(work.path(), "node2", &config2, &[]);
    std::fs::write(work.path().join("wrong-token"), "not-the-token\n").unwrap();
    let wall = headless_at(
        work.path(),
        "wall",
        &format!(
            "(nodes: [\n \
             (name: \"Floor 1\", url: \"http://127.0.0.1:{port1}\", token_env: Some(\"OPTICLINK_TOKEN\")),\n \
             (name: \"Floor 2\", url: \"http://127.0.0.1:{port2}\", token_env: Some(\"OPTICLINK_TOKEN\")),\n \
             (name: \"Stranger\", url: \"http://127.0.0.1:{port1}\", token_file: Some(\"{}\"))],\n \
             headless_decode: false, servers: (api_port: 0, rtsp_port: 0))",
            work.path().join("wrong-token").display()
        ),
        &[("OPTICLINK_TOKEN", token)],
    );
    let all = [
        "Floor 1/Gate",
        "Floor 1/Yard",
        "Floor 2/Door",
        "Floor 2/Dock",
    ];
    for name in all {
        wall.wait_state(name, "live", Duration::from_secs(30));
    }
    // At the source's rate, each camera still holding one session (its node's).
    common::wait_for(Duration::from_secs(10), "every camera at 25 fps", || {
        let s = wall.status();
        let cams = s["cameras"].as_array()?.clone();
        all.iter()
            .all(|n| {
                cams.iter()
                    .any(|c| c["name"] == *n && c["fps"].as_f64().is_some_and(|f| f >= 22.0))
            })
            .then_some(())
    });
    for sim in [&sim1, &sim2] {
        assert_eq!(opticlink::simcam::SimStats::get(&sim.stats().sessions), 2);
    }
    let names: Vec<String> = wall.status()["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("Stranger/")),
        "{names:?}"
    );
    assert!(
        wall.log().contains("node unreachable: 401"),
        "{}",
        wall.log()
    );
    assert!(!wall.log().contains(token), "the token was logged");

    // PTZ on a node's camera reaches that camera's ONVIF service through the node (the wall
    // has no camera password at all).
    let wall_port = wall.api_port();
    common::wait_for(Duration::from_secs(15), "PTZ through the node", || {
        let s = wall.camera("Floor 1/Yard");
        (s["ptz"]["available"] == true).then_some(())
    });
    let head = sim1.head(2).unwrap();
    let x0 = head.sample(Instant::now()).0.x;
    let ptz = |body: &str| {
        let (code, answer) =
            common::http_post(wall_port, "/api/cameras/Floor%201%2FYard/ptz", body);
        assert_eq!(code, 200, "{answer}");
    };
    ptz(r#"{"pan": 1.0}"#);
    common::wait_for(Duration::from_secs(10), "the head to pan", || {
        (head.sample(Instant::now()).0.x > x0 + 0.05).then_some(())
    });
    ptz(r#"{"stop": true}"#);
    common::wait_for(Duration::from_secs(5), "the head to stop", || {
        (!head.moving(Instant::now())).then_some(())
    });
    let other = sim1.head(1).unwrap().sample(Instant::now()).0.x;
    assert_eq!(other, x0, "the other camera stayed");

    // Recording of a node's camera is switched at the node, and shown at the wall.
    node1.token = Some(token.to_owned());
    let record = |on: bool| {
        let body = format!("{{\"active\": {on}}}");
        let (code, answer) =
            common::http_post(wall_port, "/api/cameras/Floor%201%2FGate/recording", &body);
        assert_eq!(code, 202, "{answer}");
        common::wait_for(Duration::from_secs(15), "the node's recording", || {
            let at_node = node1.camera("Gate")["recording"].clone();
            let at_wall = wall.camera("Floor 1/Gate")["recording"].clone();
            let shown = at_wall["active"] == on && (!on || at_wall["bytes"].as_u64() > Some(0));
            (at_node["active"] == on && shown).then_some(())
        });
    };
    record(true);
    // The wall's own recordings routes of a node's camera are the node's, passed through:
    // the listing, and a segment by a range request.
    let listed = common::wait_for(Duration::from_secs(20), "a segment listed", || {
        let (code, body) = http_get(wall_port, "/api/cameras/Floor%201%2FGate/recordings");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["spans"][0]["segments"][0]["file"]
            .as_str()
            .map(str::to_owned)
    });
    let (code, head, bytes) = common::http_get_with(
        wall_port,
        &format!("/api/cameras/Floor%201%2FGate/recordings/{listed}"),
        "Range: bytes=0-99\r\n",
    );
    assert_eq!((code, bytes.len()), (206, 100), "{head}");
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 from the node");
    assert!(head.contains("content-type: video/mp4"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    // Only those routes reach the node: no other path or method with the node's token.
    for path in [
        "/api/cameras/Floor%201%2FGate/export/../../../cameras",
        "/api/cameras/Floor%201%2FGate/export/%2E%2E/%2E%2E/%2E%2E/cameras",
    ] {
        let body = r#"{"name": "Intruder", "url": "rtsp://127.0.0.1:9/x"}"#;
        let (code, answer) = common::http_post(wall_port, path, body);
        assert_eq!(code, 404, "{path}: {answer}");
    }
    let (code, answer) = http_get(
        wall_port,
        "/api/cameras/Floor%201%2FGate/recordings/../presets",
    );
    assert_eq!(code, 404, "{answer}");
    let names = node1.status()["cameras"].to_string();
    assert!(!names.contains("Intruder"), "{names}");
    record(false);
    assert_eq!(node1.camera("Yard")["recording"]["active"], false);

    // Node 2 dies: only its cameras are unreachable, and come back with it.
    node2.child.kill().unwrap();
    node2.child.wait().unwrap();
    for name in ["Floor 2/Door", "Floor 2/Dock"] {
        let c = wall.wait_state(name, "node_unreachable", Duration::from_secs(15));
        assert!(
            c["last_error"]
                .as_str()
                .unwrap()
                .starts_with("node unreachable"),
            "{c}"
        );
    }
    for name in ["Floor 1/Gate", "Floor 1/Yard"] {
        assert_eq!(wall.camera(name)["state"], "live", "{name}");
    }
    let _node2 = headless_at(work.path(), "node2", &config2, &[]);
    for name in ["Floor 2/Door", "Floor 2/Dock"] {
        wall.wait_state(name, "live", Duration::from_secs(40));
    }
}

/// A headless wall over node `N` (its API on `port`, behind `token`).
fn wall_over(dir: &std::path::Path, port: u16, token: &str) -> Proc {
    headless_at(
        dir,
        "wall",
        &format!(
            "(nodes: [(name: \"N\", url: \"http://127.0.0.1:{port}\", token_env: Some(\"OPTICLINK_TOKEN\"))],\n \
             headless_decode: false, servers: (api_port: 0, rtsp_port: 0))"
        ),
        &[("OPTICLINK_TOKEN", token)],
    )
}

/// Talk to a node's camera from the wall (issue 25): the wall's talk goes to the node's live
/// talk route with the token, and the node talks to the camera with the camera's password,
/// which the wall never has. A camera with `talk: Off` at its node cannot talk at the wall.
#[test]
fn talk_at_the_wall_reaches_a_node_camera_through_the_node() {
    let _g = common::heavy();
    let rt = common::runtime();
    let work = tempfile::tempdir().unwrap();
    let heard = work.path().join("heard");
    let node_ron = work.path().join("node.ron");
    let _sim = crate::talk::sim_with_talk(&rt, 2, true, &heard, &node_ron);
    let token = "talk-token-3e9a1c7b5d2f4a60";
    let port = common::free_port();
    // C is a camera the node cannot reach: the wall shows what the node says of it.
    let dead = common::free_port();
    let config = std::fs::read_to_string(&node_ron)
        .unwrap()
        .replace("(name: \"B\",", "(name: \"B\", talk: Off,")
        .replace(
            "cameras: [",
            &format!("cameras: [(name: \"C\", url: \"rtsp://127.0.0.1:{dead}/x\"), "),
        )
        .replace(
            "servers: (api_port: 0)",
            &format!(
                "headless_decode: false, servers: (api_port: {port}, rtsp_port: 0, token: Some(\"{token}\"))"
            ),
        );
    let _node = headless_at(work.path(), "node", &config, &[]);
    let wall = wall_over(work.path(), port, token);
    wall.wait_state("N/A", "live", Duration::from_secs(30));
    wall.wait_state("N/B", "live", Duration::from_secs(30));
    assert_eq!(wall.camera("N/A")["talk"], true);
    assert_eq!(wall.camera("N/B")["talk"], false);
    let c = common::wait_for(Duration::from_secs(30), "C's state at the node", || {
        let c = wall.camera("N/C");
        let error = c["last_error"].as_str()?.to_owned();
        error.starts_with("at the node: ").then_some((c, error))
    });
    assert_ne!(c.0["state"], "live", "{}", c.0);
    assert!(c.1.contains("refused"), "{}", c.1);

    let wav = std::fs::read(crate::talk::tone_wav_at(work.path(), 16_000, 1.5)).unwrap();
    let talk = |camera: &str| {
        common::http_post_bytes(
            wall.api_port(),
            &format!("/api/cameras/{camera}/talk"),
            "audio/wav",
            &wav,
        )
    };
    let (code, answer) = talk("N%2FA");
    assert_eq!(code, 200, "{answer}");
    let files = crate::wall_talk::wait_heard(&heard, 1);
    assert_eq!(files, ["cam1-1.wav"], "only A heard it");
    let samples = crate::talk::read_wav(&heard.join(&files[0]));
    crate::talk::assert_tone(&samples, 1.5, "talk through the node");

    let (code, answer) = talk("N%2FB");
    assert_eq!(code, 409, "{answer}");
    assert!(answer.contains("cannot talk"), "{answer}");
    assert!(!wall.log().contains(token), "the token was logged");
}

/// View locks of a node's camera at the wall (issue 25): a camera locked at its node is
/// locked at the wall too (waiting, offline, behind the lock), its password checked at the
/// node: a wrong one is refused there, the right one gives the wall's own key, and the wall
/// reads the camera's restream with the node's key. Neither the password nor a key is logged.
#[test]
fn a_camera_locked_at_its_node_opens_at_the_wall_with_its_password() {
    let _g = common::heavy();
    let work = tempfile::tempdir().unwrap();
    let token = "lock-token-6b0d2e8f1a9c3e57";
    let port = common::free_port();
    let node_cfg = work.path().join("node.ron");
    std::fs::write(
        &node_cfg,
        format!(
            "(simulated: Some((cameras: 2, width: 160, height: 90)), headless_decode: false,\n \
             servers: (api_port: {port}, rtsp_port: 0, token: Some(\"{token}\")))"
        ),
    )
    .unwrap();
    let node_state = work.path().join("node-state");
    let password = "view-pass-Qz7w4k";
    let (ok, out) = crate::locks::run(
        &[
            "set-view-password",
            "Sim 2",
            "--config",
            node_cfg.to_str().unwrap(),
        ],
        &format!("{password}\n"),
        &node_state,
    );
    assert!(ok, "{out}");
    let start_node = || {
        Proc::start(
            &["--headless", "--config", node_cfg.to_str().unwrap()],
            &[("OPTICLINK_STATE_DIR", node_state.to_str().unwrap())],
        )
    };
    let mut node = start_node();
    let wall = wall_over(work.path(), port, token);
    wall.wait_state("N/Sim 1", "live", Duration::from_secs(30));
    let locked = wall.camera("N/Sim 2");
    assert_eq!(locked["locked"], true, "{locked}");
    assert_eq!(locked["state"], "offline", "{locked}");
    let wall_port = wall.api_port();
    let listing = "/api/cameras/N%2FSim%202/recordings";
    assert_eq!(http_get(wall_port, listing).0, 401, "locked at the wall");

    let unlock = |password: &str| {
        common::http_post(
            wall_port,
            "/api/cameras/N%2FSim%202/unlock",
            &format!("{{\"password\": \"{password}\"}}"),
        )
    };
    let (code, answer) = unlock("not-it");
    assert_eq!(code, 403, "{answer}");
    let (code, answer) = unlock(password);
    assert_eq!(code, 200, "{answer}");
    let key: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    assert_eq!(
        http_get(wall_port, &format!("{listing}?key={key}")).0,
        200,
        "the wall's key opens it at the wall"
    );
    // The wall reads the camera's restream with the node's key.
    wall.wait_state("N/Sim 2", "live", Duration::from_secs(30));
    assert_eq!(
        http_get(wall_port, listing).0,
        401,
        "still locked without the key"
    );
    assert!(
        node.log().contains("wrong view password from 127.0.0.1"),
        "the node checked the wrong one: {}",
        node.log()
    );
    let mut logs = vec![node.log()];

    // The node restarts: the key it gave is kept there, and the camera comes back.
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    wall.wait_state("N/Sim 1", "node_unreachable", Duration::from_secs(15));
    node = start_node();
    wall.wait_state("N/Sim 1", "live", Duration::from_secs(30));
    wall.wait_state("N/Sim 2", "live", Duration::from_secs(30));
    logs.push(node.log());
    // It restarts having forgotten its keys: the wall notices, and the camera is locked
    // at the wall again (its key refused there too), waiting for its password.
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    std::fs::remove_file(node_state.join("unlocks.json")).unwrap();
    node = start_node();
    wall.wait_state("N/Sim 2", "offline", Duration::from_secs(30));
    let with_key = format!("{listing}?key={key}");
    assert_eq!(http_get(wall_port, &with_key).0, 401, "locked again");
    assert!(
        wall.log()
            .contains("the node no longer takes its unlock key"),
        "{}",
        wall.log()
    );
    logs.extend([node.log(), wall.log()]);
    for log in logs {
        // The node's key rides in the wall's restream URL: never shown.
        assert!(
            log.split("key=")
                .skip(1)
                .all(|rest| rest.starts_with("***")),
            "a key in a URL was logged"
        );
        assert!(!log.contains(password), "the password was logged");
        assert!(!log.contains(&key), "the key was logged");
        assert!(!log.contains(token), "the token was logged");
    }
}

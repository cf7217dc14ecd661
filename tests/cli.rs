//! The `socketengine` binary, run as a user would: a host with `send`, `watch`
//! and `stats` on loopback, echo, clean shutdown on SIGTERM, one-line errors,
//! and short `bench` and `demo` runs. (Authentication and TLS from the
//! command line are in `cli_security.rs`.)
//!
//! Every child process is held by a [`Child`] guard that kills and reaps it on
//! drop; every wait for its output is bounded by [`TIMEOUT`].

#![allow(clippy::unwrap_used)]

#[path = "util/cli.rs"]
mod run;
mod util;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use run::{Child, assert_one_line_error, run};
use socketengine::{Client, IMAGE_CHANNEL, Image, PixelFormat};
use util::{TIMEOUT, closed_port_addr};

#[test]
fn host_relays_send_to_watchers_end_to_end() {
    let (host, addr) = Child::host(&[]);
    let text = Child::spawn(&["watch", &addr, "pose", "--count", "1"]);
    let json = Child::spawn(&["watch", &addr, "--json", "--count", "1"]);
    for watcher in [&text, &json] {
        assert!(watcher.stderr_line().starts_with("watching "));
    }
    let (status, _, err) = run(&["send", &addr, "pose", "x=1.5", "--name", "planner"]);
    assert!(status.success(), "send delivers: {err}");
    let (status, out, _) = text.finish();
    assert!(status.success());
    assert!(out.contains("pose") && out.contains("\"x=1.5\""), "{out}");
    let (status, out, _) = json.finish();
    assert!(status.success());
    let msg: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(msg["channel"], "pose");
    assert_eq!(msg["text"], "x=1.5");
    assert_eq!(msg["size"], 5);
    assert_eq!(
        msg["from_name"], "planner",
        "the sender's name, from the host"
    );
    drop(host);
}

#[test]
fn echo_host_returns_the_message_to_its_sender() {
    let (_host, addr) = Child::host(&["--echo", "--verbose"]);
    let (status, _, err) = run(&["send", &addr, "cmd", "stop", "--wait-echo", "--lock"]);
    assert!(status.success(), "echo arrives: {err}");
    assert!(err.contains("echoed"), "{err}");

    // A library client against the command-line host, binary payload.
    let client = Client::builder().addr(addr).name("lib").connect().unwrap();
    let payload: Vec<u8> = (0..=255).collect();
    client.write_lock("raw", payload.clone()).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut echoed = Vec::new();
    while echoed.is_empty() && Instant::now() < deadline {
        echoed = client.get_all_timeout("raw", Duration::from_millis(100));
    }
    assert_eq!(echoed.len(), 1, "one echo within {TIMEOUT:?}");
    assert_eq!(&echoed[0].payload()[..], &payload[..]);
    client.close();
}

#[test]
fn the_relay_forwards_an_image_as_an_image() {
    let (_host, addr) = Child::host(&[]);
    let connect = |name: &str| Client::builder().addr(&addr).name(name).connect().unwrap();
    let viewer = connect("viewer");
    let frames = viewer.subscribe(IMAGE_CHANNEL);
    let camera = connect("camera");
    let pixels: Vec<u8> = (0..640 * 480 * 3).map(|i| (i % 251) as u8).collect();
    let frame = Image::new(640, 480, PixelFormat::Rgb8, pixels)
        .unwrap()
        .with_seq(42)
        .with_timestamp_ns(7);
    camera.write_lock(IMAGE_CHANNEL, &frame).unwrap();
    let msg = frames
        .recv_timeout(TIMEOUT)
        .expect("the relay forwards the frame");
    let got = msg.image().expect("it arrives as an image, not bytes");
    assert_eq!(
        (
            got.width(),
            got.height(),
            got.format(),
            got.seq(),
            got.timestamp_ns()
        ),
        (640, 480, PixelFormat::Rgb8, 42, 7)
    );
    assert_eq!(got.data(), frame.data());
    assert_eq!(msg.from(), camera.id(), "the relay keeps the real sender");
}

#[test]
fn send_to_a_name_reaches_that_watcher_only_with_the_real_sender() {
    let (_host, addr) = Child::host(&["--no-forward"]);
    let named = Child::spawn(&[
        "watch", &addr, "cmd", "--json", "--count", "1", "--name", "arm",
    ]);
    let other = Client::builder()
        .addr(&addr)
        .name("other")
        .connect()
        .unwrap();
    assert!(named.stderr_line().starts_with("watching "));
    let sender = Client::builder()
        .addr(&addr)
        .name("planner")
        .connect()
        .unwrap();
    let (status, _, err) = run(&["send", &addr, "cmd", "lift", "--to", "arm", "--lock"]);
    assert!(status.success(), "send delivers: {err}");
    let (status, out, _) = named.finish();
    assert!(status.success());
    let msg: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (msg["channel"].as_str(), msg["text"].as_str()),
        (Some("cmd"), Some("lift"))
    );
    assert_ne!(msg["from"], 0, "from the sending client, not the host");
    // The library client routes the same way; the other client got nothing.
    let gripper = Client::builder()
        .addr(&addr)
        .name("gripper")
        .connect()
        .unwrap();
    let got = gripper.subscribe("cmd");
    sender.to("gripper").write_lock("cmd", "again").unwrap();
    assert_eq!(got.recv_timeout(TIMEOUT).unwrap().from(), sender.id());
    assert!(other.get("cmd").is_none());
}

#[test]
fn watch_a_pattern_and_send_to_a_room_and_a_group() {
    let (host, addr) = Child::host(&[]);
    let watcher = Child::spawn(&[
        "watch", &addr, "arm/*", "--json", "--count", "2", "--name", "w",
    ]);
    assert!(watcher.stderr_line().starts_with("watching "));
    let member = Client::builder().addr(&addr).name("m").connect().unwrap();
    member.join("crew").unwrap();
    let crew = member.subscribe("cmd");
    let deadline = Instant::now() + TIMEOUT;
    while member.rooms().is_empty() {
        assert!(Instant::now() < deadline, "the host never listed the room");
        std::thread::yield_now();
    }
    for (channel, value) in [
        ("leg/left", "0"),
        ("arm/left", "1"),
        ("arm/left/joint", "x"),
        ("arm/right", "2"),
    ] {
        let (status, _, err) = run(&["send", &addr, channel, value, "--lock"]);
        assert!(status.success(), "{err}");
    }
    let (status, out, _) = watcher.finish();
    assert!(status.success());
    let channels: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["channel"].to_string())
        .collect();
    assert_eq!(channels, ["\"arm/left\"", "\"arm/right\""]);
    let (status, _, err) = run(&[
        "send",
        &addr,
        "cmd",
        "all hands",
        "--room",
        "crew",
        "--lock",
    ]);
    assert!(status.success(), "{err}");
    let msg = crew.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(&msg.payload()[..], b"all hands");
    // A group: the member declares `arm/**`; the host has applied it once
    // it answers a request the member sent after the declaration.
    member.interest(["arm/**"]).unwrap();
    member.clients().unwrap();
    let (status, _, err) = run(&["send", &addr, "cmd", "arms", "--group", "arm/*", "--lock"]);
    assert!(status.success(), "{err}");
    let msg = crew.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(&msg.payload()[..], b"arms");
    drop(host);
}

#[test]
fn send_fails_when_the_host_does_not_deliver_or_keep_the_message() {
    let (_host, addr) = Child::host(&["--no-forward"]);
    let (status, _, err) = run(&["send", &addr, "cmd", "lift", "--to", "nobody", "--lock"]);
    assert_one_line_error(status, &err, "not delivered");
    assert!(err.contains("nobody"), "{err}");
    let (status, _, err) = run(&["send", &addr, "cmd", "all", "--group", "arm/**"]);
    assert_one_line_error(status, &err, "not delivered");
    assert!(err.contains("arm/**"), "{err}");
    // What the host keeps succeeds.
    let (status, _, err) = run(&["send", &addr, "cmd", "kept"]);
    assert!(status.success(), "{err}");
    // A message the host will not keep (over its memory limit) fails too,
    // however the frame and the confirming question share a read.
    let small = socketengine::Host::builder()
        .addr("127.0.0.1:0")
        .memory_limit(1024)
        .start()
        .unwrap();
    let addr = small.local_addr().to_string();
    let big = "x".repeat(2048);
    for lock in [false, true] {
        let mut args = vec!["send", &addr, "big", &big];
        if lock {
            args.push("--lock");
        }
        let (status, _, err) = run(&args);
        assert_one_line_error(status, &err, "not delivered");
        assert!(err.contains("memory limit"), "{err}");
    }
    assert!(small.get("big").is_none());
}

#[test]
fn wait_echo_fails_in_one_line_when_nothing_comes_back() {
    let (_host, addr) = Child::host(&["--no-forward"]);
    let (status, _, err) = run(&["send", &addr, "cmd", "x", "--wait-echo", "--timeout", "1"]);
    assert_one_line_error(status, &err, "no echo");
}

#[test]
fn host_logs_clients_and_shuts_down_cleanly_on_sigterm() {
    let (host, addr) = Child::host(&["--verbose"]);
    let (status, _, _) = run(&["send", &addr, "pose", "x=1", "--name", "cam"]);
    assert!(status.success());
    let connected = host.stdout_line();
    assert!(
        connected.contains("connected") && connected.contains("cam"),
        "{connected}"
    );
    // The host has the message once it logs it; then stop it.
    let logged = (0..10).any(|_| host.stdout_line().contains("message pose"));
    assert!(logged, "verbose logs the message");
    host.terminate();
    let (status, out, _) = host.finish();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(out.contains("closed: 1 messages received"), "{out}");
}

#[test]
fn stats_prints_a_table_of_received_channels() {
    let (_host, addr) = Child::host(&[]);
    let (status, out, err) = run(&["stats", &addr, "--count", "1"]);
    assert!(status.success(), "{err}");
    assert!(
        out.contains("connected") && out.contains("channel"),
        "{out}"
    );
}

#[test]
fn stats_shows_the_channels_and_clients_others_sent_on() {
    let (_host, addr) = Child::host(&["--no-forward"]);
    let cam = Client::builder().addr(&addr).name("cam").connect().unwrap();
    for channel in ["pose", "cmd", "log"] {
        cam.write_lock(channel, "x").unwrap();
    }
    let deadline = Instant::now() + TIMEOUT;
    let mut channels = Vec::new();
    while channels.len() < 3 && Instant::now() < deadline {
        channels = cam.host_channels().unwrap();
    }
    assert_eq!(channels.len(), 3, "the host has the three channels");
    let (status, out, err) = run(&["stats", &addr, "--count", "1"]);
    assert!(status.success(), "{err}");
    assert!(!out.contains("(no channels yet)"), "{out}");
    for word in ["pose", "cmd", "log", "cam", "host's channels"] {
        assert!(out.contains(word), "{word} in {out}");
    }
    cam.close();
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["send"], "required"),
        (&["host", ":abc"], "not an address"),
        (
            &["host", ":0", "--max-frame", "12parsecs"],
            "unknown size unit",
        ),
        (&["send", "127.0.0.1:1", "ch"], "nothing to send"),
        (&["bench", "--workload", "huge"], "invalid value"),
        (&["host", ":0", "--queue", "0"], "give 1 or more"),
        (
            &["demo", "--secs", "0"],
            "--secs 0 is out of range: give more than 0 and at most 86400",
        ),
        (&["demo", "--secs", "86401"], "at most 86400"),
        (
            &["bench", "--secs", "0"],
            "--secs 0 is out of range: give more than 0 and at most 3600",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, expect) in cases {
        let (status, out, err) = run(args);
        assert_one_line_error(status, &err, expect);
        assert!(out.is_empty(), "{args:?} prints nothing on stdout: {out}");
    }
}

#[test]
fn unreachable_address_is_a_one_line_error() {
    let addr = closed_port_addr().to_string();
    for args in [
        &["send", &addr, "ch", "x"][..],
        &["watch", &addr],
        &["stats", &addr, "--count", "1"],
    ] {
        let (status, _, err) = run(args);
        assert_one_line_error(status, &err, "cannot connect");
    }
}

#[test]
fn address_in_use_and_oversized_frame_are_one_line_errors() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, _, err) = run(&["host", &addr]);
    assert_one_line_error(status, &err, "in use");

    let (_host, addr) = Child::host(&[]);
    let big = "x".repeat(100);
    let (status, _, err) = run(&["send", &addr, "ch", &big, "--max-frame", "64B"]);
    assert_one_line_error(status, &err, "exceeds the maximum");
}

#[test]
fn bench_json_is_parseable() {
    // (workload, each result's workload prefix and unit)
    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("small", &[("small", "msgs/s")]),
        (
            "loaded",
            &[
                ("loaded 64 B p50", "µs"),
                ("loaded 64 B p99", "µs"),
                ("loaded goodput", "MB/s"),
            ],
        ),
    ];
    for (name, want) in cases {
        let (status, out, err) = run(&["bench", "--workload", name, "--secs", "1", "--json"]);
        assert!(status.success(), "{err}");
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let results = report["results"].as_array().unwrap();
        assert_eq!(results.len(), want.len(), "{name}");
        for (result, (workload, unit)) in results.iter().zip(want) {
            for key in ["engine", "raw", "ratio"] {
                let figure = result[key].as_f64().unwrap();
                assert!(figure.is_finite() && figure > 0.0, "{name} {key}: {figure}");
            }
            assert_eq!(result["unit"], *unit, "{name}");
            let got = result["workload"].as_str().unwrap();
            assert!(got.starts_with(workload), "{got}");
        }
        assert_eq!(report["secs"].as_f64(), Some(1.0));
    }
}

#[test]
fn demo_runs_and_ends_by_itself() {
    let (status, out, err) = run(&["demo", "--secs", "1", "--cmd-hz", "200"]);
    assert!(status.success(), "{err}\n{out}");
    assert!(
        out.contains("frames/s") && out.contains("summary:"),
        "{out}"
    );
}

#[test]
fn demo_help_describes_the_locked_writes_it_makes() {
    let (status, out, err) = run(&["help", "demo"]);
    assert!(status.success(), "{err}");
    assert!(out.contains("locked writes"), "{out}");
    assert!(
        !out.contains("unlocked"),
        "the demo makes no unlocked writes: {out}"
    );
}

#[test]
fn a_queue_of_zero_is_refused_and_a_queue_of_one_relays() {
    let (status, out, err) = run(&["host", ":0", "--queue", "0"]);
    assert_one_line_error(status, &err, "--queue");
    assert!(out.is_empty(), "no host started: {out}");

    let (_host, addr) = Child::host(&["--queue", "1"]);
    let watcher = Child::spawn(&["watch", &addr, "pose", "--count", "1"]);
    assert!(watcher.stderr_line().starts_with("watching "));
    let (status, _, err) = run(&["send", &addr, "pose", "x=2"]);
    assert!(status.success(), "{err}");
    let (status, out, _) = watcher.finish();
    assert!(status.success());
    assert!(out.contains("\"x=2\""), "{out}");
}

#[test]
fn watch_json_escapes_control_characters_and_shows_binary_as_hex() {
    let (_host, addr) = Child::host(&[]);
    let watcher = Child::spawn(&["watch", &addr, "--json", "--count", "2"]);
    assert!(watcher.stderr_line().starts_with("watching "));
    let text = "line one\nsays \"hi\" \\ \x1b[31mred\x1b[0m\t\u{7f}";
    let (status, _, err) = run(&["send", &addr, "log", text, "--lock"]);
    assert!(status.success(), "{err}");
    let client = Client::builder().addr(&addr).name("bin").connect().unwrap();
    client.write_lock("raw", vec![0xff, 0x00, 0x1b]).unwrap();
    let (status, out, err) = watcher.finish();
    assert!(status.success(), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert_eq!(lines.len(), 2, "one line per message: {out:?}");
    let by_channel = |ch: &str| lines.iter().find(|m| m["channel"] == ch).unwrap();
    assert_eq!(by_channel("log")["text"], text);
    assert_eq!(by_channel("log")["size"], text.len());
    assert_eq!(by_channel("raw")["hex"], "ff001b");
    assert_eq!(by_channel("raw")["size"], 3);
    assert!(by_channel("raw")["t"].is_f64());
    client.close();
}

/// A library client named `name` connected to the host at `addr`.
fn connect_as(addr: &str, name: &str) -> Client {
    Client::builder().addr(addr).name(name).connect().unwrap()
}

/// Characters no peer may put raw on a line of output: they break it, clear
/// the screen, end a C string or reorder what follows.
fn has_raw_control(line: &str) -> bool {
    line.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202e}' | '\u{2028}'))
}

#[test]
fn names_and_channels_from_peers_are_escaped_in_the_host_log_and_in_watch() {
    let (host, addr) = Child::host(&["--verbose"]);
    let text = Child::spawn(&["watch", &addr, "--count", "2", "--name", "text"]);
    let json = Child::spawn(&["watch", &addr, "--json", "--count", "2", "--name", "json"]);
    for watcher in [&text, &json] {
        assert!(watcher.stderr_line().starts_with("watching "));
    }
    // A library client can put NUL in its name and channel (argv cannot).
    let forged = "admin (#1) from 10.0.0.1:22\n    0.001s connected root\u{1b}[2J\0\u{202e}";
    let channel = "pose\n\u{1b}[31m\0\u{202e}";
    let client = connect_as(&addr, forged);
    client.write_lock(channel, "x=1").unwrap();
    // The command-line `send`, with what argv can carry.
    let (cli_name, cli_channel) = ("cli\n\u{1b}[1m\u{202e}", "log\n\u{1b}]0;t\u{7}");
    let (status, _, err) = run(&[
        "send",
        &addr,
        cli_channel,
        "y",
        "--name",
        cli_name,
        "--lock",
    ]);
    assert!(status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains(&format!("{cli_channel:?}")), "{err:?}");

    // The host's log: each event on one line, what peers chose quoted.
    // A message may be logged before its sender's connection (the log
    // polls the store and the events apart): read until both are in.
    let names = [format!("{forged:?}"), format!("{cli_name:?}")];
    let complete = |log: &[String]| {
        let messages = log.iter().filter(|l| l.contains("message ")).count();
        let connected = |name: &String| {
            log.iter()
                .any(|l| l.contains("connected") && l.contains(name.as_str()))
        };
        messages >= 2 && names.iter().all(connected)
    };
    let mut log = Vec::new();
    while !complete(&log) {
        assert!(
            log.len() < 20,
            "two messages and connections logged: {log:#?}"
        );
        log.push(host.stdout_line());
    }
    assert!(!log.iter().any(|l| has_raw_control(l)), "{log:#?}");
    for (name, channel) in [(forged, channel), (cli_name, cli_channel)] {
        let (name, channel) = (format!("{name:?}"), format!("{channel:?}"));
        let connected = log
            .iter()
            .filter(|l| l.contains("connected"))
            .any(|l| l.contains(&name));
        assert!(connected, "{name} in {log:#?}");
        let message = log
            .iter()
            .any(|l| l.contains(&format!("message {channel}")) && l.contains(&name));
        assert!(message, "{channel} from {name} in {log:#?}");
    }
    // The line the forged name would have started (the host's own first
    // lines may begin at 0.001s too).
    let forged_line = log
        .iter()
        .any(|l| l.trim_start().starts_with("0.001s connected root"));
    assert!(!forged_line, "{log:#?}");

    // `watch`: one line per message, escaped; as JSON, the exact strings back.
    let (status, out, _) = text.finish();
    assert!(status.success());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(!lines.iter().any(|l| has_raw_control(l)), "{out:?}");
    assert!(out.contains(&format!("{channel:?}")) && out.contains(&format!("{forged:?}")));
    let (status, out, _) = json.finish();
    assert!(status.success());
    assert!(!has_raw_control(&out.replace('\n', "")), "{out:?}");
    let msgs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pairs: Vec<(&str, &str)> = msgs
        .iter()
        .map(|m| {
            (
                m["channel"].as_str().unwrap(),
                m["from_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(pairs.contains(&(channel, forged)), "{pairs:?}");
    assert!(pairs.contains(&(cli_channel, cli_name)), "{pairs:?}");
    client.close();
}

#[test]
fn stats_tables_escape_peers_names_and_channels_and_count_who_was_turned_away() {
    let (host, addr) = Child::host(&["--stats", "--no-forward"]);
    let forged = "evil\n\u{1b}[2J\0\u{202e}";
    let client = connect_as(&addr, forged);
    client.write_lock(forged, "x").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while client.host_channels().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the host never had the channel");
    }
    let shown = format!("{forged:?}");
    let (status, out, err) = run(&["stats", &addr, "--count", "1"]);
    assert!(status.success(), "{err}");
    assert!(!has_raw_control(&out.replace('\n', "")), "{out:?}");
    let rows = out.lines().filter(|l| l.contains(&shown)).count();
    assert_eq!(rows, 2, "a channel row and a client row: {out}");
    // The host's own table, redrawn once a second, says who was turned away.
    let mut seen = (false, false);
    for _ in 0..1000 {
        let line = host.stdout_line();
        assert!(!has_raw_control(&line), "{line:?}");
        seen.0 |= line.starts_with("in the handshake 0   turned away: 0 full");
        seen.1 |= line.starts_with(&format!("#1     {shown}"));
        if seen == (true, true) {
            break;
        }
    }
    assert_eq!(seen, (true, true), "the door's line and the client's row");
    client.close();
}

//! The `socketengine request` and `respond` commands, run as a user would:
//! a request to a responder through the host and its answer on stdout,
//! commands with typed failures, one-line errors with non-zero exits, and
//! `send --json`, the typed message a program reads.
//!
//! Every child process is held by a [`Child`] guard that kills and reaps it
//! on drop; every wait for its output is bounded by `TIMEOUT`.

#![allow(clippy::unwrap_used)]

#[path = "util/cli.rs"]
mod run;
mod util;

use run::{Child, assert_one_line_error, run};
use serde_json::{Value, json};
use socketengine::{Client, Encoding, Host, MsgPack};

#[test]
fn request_asks_a_respond_client_through_the_host_and_prints_the_answer() {
    let (_host, addr) = Child::host(&[]);
    let echo = Child::spawn(&["respond", &addr, "grip", "--echo", "--name", "arm"]);
    assert!(
        echo.stderr_line()
            .starts_with("responding on \"grip\" as arm")
    );
    let (status, out, err) = run(&["request", &addr, "grip", "open", "--to", "arm"]);
    assert!(status.success(), "answered: {err}");
    assert_eq!(out, "open\n");
    assert!(err.starts_with("answered by #"), "{err}");
    assert!(echo.stderr_line().starts_with("request from #"));

    let fixed = Child::spawn(&[
        "respond", &addr, "time", "--reply", "12:00", "--name", "clock",
    ]);
    assert!(fixed.stderr_line().starts_with("responding on"));
    let (status, out, err) = run(&["request", &addr, "time", "--to", "clock", "--json", "{}"]);
    assert!(status.success(), "answered: {err}");
    assert_eq!(out, "12:00\n");
}

#[test]
fn request_fails_with_the_typed_error_and_a_non_zero_exit() {
    let (_host, addr) = Child::host(&[]);
    // The relay host has no responders of its own.
    let (status, _, err) = run(&["request", &addr, "grip", "open"]);
    assert_one_line_error(status, &err, "no responder on \"grip\"");
    let (status, _, err) = run(&["request", &addr, "grip", "open", "--to", "nobody"]);
    assert_one_line_error(status, &err, "no connected client named \"nobody\"");
    let (status, _, err) = run(&["request", &addr, "cmd", "{not json", "--json"]);
    assert_one_line_error(status, &err, "--json");
}

#[test]
fn request_reaches_a_program_s_responders_and_commands() {
    let host = Host::builder().addr("127.0.0.1:0").start().unwrap();
    let addr = host.local_addr().to_string();
    host.on_request("pose", |req| match &req.payload()[..] {
        b"now" => Ok(MsgPack(json!({"x": 1.5}))),
        _ => Err("ask for \"now\"".to_owned()),
    })
    .unwrap();
    let robot = Client::builder()
        .addr(&addr)
        .name("robot")
        .connect()
        .unwrap();
    robot
        .on_command("move", |args, _| Ok(json!(args.len())))
        .unwrap();

    let (status, out, err) = run(&["request", &addr, "pose", "now"]);
    assert!(status.success(), "answered: {err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer, json!({"x": 1.5}), "MessagePack printed as JSON");
    assert!(err.contains("MessagePack"), "{err}");
    let (status, _, err) = run(&["request", &addr, "pose", "later"]);
    assert_one_line_error(status, &err, r#"ask for \"now\""#);

    let cmd = r#"{"cmd": "move", "args": [1, 2]}"#;
    let (status, out, err) = run(&["request", &addr, "cmd", cmd, "--json", "--to", "robot"]);
    assert!(status.success(), "answered: {err}");
    assert_eq!(out, "2\n");
    let dance = r#"{"cmd": "dance"}"#;
    let (status, _, err) = run(&["request", &addr, "cmd", dance, "--json", "--to", "robot"]);
    assert_one_line_error(status, &err, "unknown command \"dance\"");
}

#[test]
fn send_json_declares_the_encoding_and_refuses_what_is_not_json() {
    let host = Host::builder().addr("127.0.0.1:0").start().unwrap();
    let addr = host.local_addr().to_string();
    let pose = r#"{"x": 1.5, "y": -2}"#;
    let (status, _, err) = run(&["send", &addr, "pose", pose, "--json", "--lock"]);
    assert!(status.success(), "sent: {err}");
    // Delivered before the command exits (it waits for the host's answer
    // to a question asked after the message).
    let msg = host.get("pose").expect("the pose arrived");
    assert_eq!(msg.encoding(), Encoding::Json);
    let value: Value = host.get_as("pose").unwrap().unwrap();
    assert_eq!(value, json!({"x": 1.5, "y": -2}));

    let (status, _, err) = run(&["send", &addr, "pose", "{x: 1", "--json"]);
    assert_one_line_error(status, &err, "--json");
    let kept: Value = host.get_as("pose").unwrap().unwrap();
    assert_eq!(kept, value, "nothing sent in its place");
}

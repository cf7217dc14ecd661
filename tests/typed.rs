//! Typed messages (feature `serde`): values sent as JSON or MessagePack with
//! their encoding in the frame, read back as types through the host, a
//! client, a relay and a route; payloads that do not fit the type asked for;
//! frames with the reserved encoding; commands and their dispatcher.

#![allow(clippy::unwrap_used)]

#[path = "util/pose.rs"]
mod pose;
mod util;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use pose::{Pose, pose};
use serde::Serialize;
use serde_json::{Value, json};
use socketengine::protocol::{DecodeError, Header, Kind};
use socketengine::{
    COMMAND_CHANNEL, ClientId, Command, Commands, Encoding, ErrorKind, Json, MsgPack, Payload,
    Relay,
};
use util::{
    TIMEOUT, assert_closed_by_peer, client, host, host_with, next_error, raw_handshake,
    wait_received, wait_until,
};

/// A JSON value of another shape than a [`Pose`].
#[derive(Serialize)]
struct Other {
    x: &'static str,
}

#[test]
fn typed_values_reach_the_host_in_both_encodings() {
    let host = host();
    let arm = client(&host, "arm");
    arm.write("json", Json(&pose(1))).unwrap();
    arm.write_lock("json", Json(pose(2))).unwrap();
    arm.write("msgpack", MsgPack(&pose(3))).unwrap();
    arm.write_confirmed("msgpack", MsgPack(&pose(4))).unwrap();
    wait_received(&host, "json", 2);

    assert_eq!(host.get_as::<Pose>("json").unwrap(), Some(pose(2)));
    assert_eq!(host.get_as::<Pose>("msgpack").unwrap(), Some(pose(4)));
    assert_eq!(host.get("json").unwrap().encoding(), Encoding::Json);
    assert_eq!(host.get("msgpack").unwrap().encoding(), Encoding::MsgPack);
    let poses: Vec<Pose> = host
        .get_all_as("msgpack")
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(poses, [pose(3), pose(4)]);
    assert_eq!(host.get_as::<Pose>("nothing").unwrap(), None);
}

#[test]
fn typed_values_reach_a_client_by_name_and_to_all() {
    let host = host();
    let arm = client(&host, "arm");
    let poses = arm.subscribe_as::<Pose>("pose");
    host.to("arm").write("pose", MsgPack(&pose(1))).unwrap();
    host.write_lock("pose", Json(&pose(2))).unwrap();
    assert_eq!(poses.recv_timeout(TIMEOUT).unwrap(), pose(1));
    assert_eq!(poses.recv_timeout(TIMEOUT).unwrap(), pose(2));
    assert_eq!(arm.get("pose").unwrap().encoding(), Encoding::Json);
    // Nothing more: the wait runs out, typed.
    let waited = poses.recv_timeout(Duration::from_millis(1)).unwrap_err();
    assert!(matches!(waited.kind(), ErrorKind::TimedOut(_)), "{waited}");
    assert!(poses.try_recv().unwrap().is_none());
    arm.close();
    let closed = poses.recv_timeout(TIMEOUT).unwrap_err();
    assert!(matches!(closed.kind(), ErrorKind::Closed), "{closed}");
}

#[test]
fn relayed_and_routed_frames_keep_their_encoding() {
    let host = host_with(|b| b.relay(Relay::Others));
    let (arm, eye) = (client(&host, "arm"), client(&host, "eye"));
    let relayed = eye.subscribe("pose");
    let routed = eye.subscribe("goal");
    // A burst, so the host reads runs of frames as well as single ones.
    let burst = 64;
    for t in 0..burst {
        arm.write("pose", MsgPack(&pose(t))).unwrap();
    }
    arm.write("pose", Json(&pose(burst))).unwrap();
    arm.to("eye").write_lock("goal", Json(&pose(7))).unwrap();

    for t in 0..=burst {
        let msg = relayed.recv_timeout(TIMEOUT).unwrap();
        let encoding = if t < burst {
            Encoding::MsgPack
        } else {
            Encoding::Json
        };
        assert_eq!((msg.encoding(), msg.from()), (encoding, arm.id()), "{t}");
        assert_eq!(msg.decode::<Pose>().unwrap(), pose(t));
    }
    let msg = routed.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((msg.encoding(), msg.from()), (Encoding::Json, arm.id()));
    assert_eq!(msg.decode::<Pose>().unwrap(), pose(7));
    // The host stored them as they came, too.
    wait_received(&host, "pose", burst + 1);
    let stored = host.get_all("pose");
    assert!(
        stored[..burst as usize]
            .iter()
            .all(|m| m.encoding() == Encoding::MsgPack)
    );
}

#[test]
fn a_message_sent_on_keeps_its_encoding_and_a_latched_value_too() {
    let host = host_with(|b| b.latched("mode"));
    host.write_lock("mode", MsgPack(&json!({"auto": true})))
        .unwrap();
    let arm = client(&host, "arm");
    assert!(wait_until(TIMEOUT, || arm.get("mode").is_some()));
    let mode = arm.get("mode").unwrap();
    assert_eq!(mode.encoding(), Encoding::MsgPack);
    assert_eq!(mode.decode::<Value>().unwrap(), json!({"auto": true}));
    // A received message written on goes as it came.
    arm.write_confirmed("echo", &mode).unwrap();
    assert_eq!(host.get("echo").unwrap().encoding(), Encoding::MsgPack);
}

#[test]
fn payloads_that_are_not_the_type_are_decode_errors_and_nothing_is_lost() {
    let host = host();
    let arm = client(&host, "arm");
    arm.write("pose", Payload::encoded("{\"x\": 1", Encoding::Json))
        .unwrap();
    arm.write("pose", Json(&Other { x: "one" })).unwrap();
    arm.write("pose", MsgPack(&Other { x: "one" })).unwrap();
    arm.write("pose", "not json").unwrap();
    arm.write_confirmed("pose", Json(&pose(5))).unwrap();

    let results = host.get_all_as::<Pose>("pose");
    let kinds = [
        Encoding::Json,
        Encoding::Json,
        Encoding::MsgPack,
        Encoding::Bytes,
    ];
    for (result, declared) in results.iter().zip(kinds) {
        let err = result.as_ref().unwrap_err();
        let ErrorKind::Decode {
            channel,
            encoding,
            message,
        } = err.kind()
        else {
            panic!("{err:?}");
        };
        assert_eq!((channel.as_str(), *encoding), ("pose", declared));
        assert!(!message.is_empty());
        // The message comes back whole with the error: payload, sender,
        // channel and encoding.
        assert!(err.payload().is_some_and(|p| !p.is_empty()));
        let back = err.message().expect("the message handed back");
        assert_eq!((back.channel(), back.from()), ("pose", arm.id()));
        assert_eq!(
            (back.encoding(), back.payload()),
            (declared, err.payload().unwrap())
        );
    }
    assert_eq!(
        &results[0].as_ref().unwrap_err().payload().unwrap()[..],
        b"{\"x\": 1"
    );
    assert_eq!(results[4].as_ref().unwrap(), &pose(5));
    assert_eq!(results.len(), 5);

    // A non-consuming read leaves the message where it was.
    arm.write_confirmed("pose", Json(&Other { x: "two" }))
        .unwrap();
    let err = host.get_as::<Pose>("pose").unwrap_err();
    assert!(err.to_string().contains("invalid type"), "{err}");
    let kept = host.get("pose").unwrap();
    assert_eq!(kept.decode::<Value>().unwrap(), json!({"x": "two"}));

    // A typed subscription reports the bad one and reads on.
    let poses = arm.subscribe_as::<Pose>("back");
    host.to("arm")
        .write("back", Json(&Other { x: "three" }))
        .unwrap();
    host.to("arm").write("back", Json(&pose(6))).unwrap();
    let bad = poses.recv_timeout(TIMEOUT).unwrap_err();
    assert!(matches!(bad.kind(), ErrorKind::Decode { .. }), "{bad}");
    let back = bad.into_message().expect("the message handed back");
    assert_eq!((back.channel(), back.from()), ("back", ClientId::HOST));
    assert_eq!(back.decode::<Value>().unwrap(), json!({"x": "three"}));
    assert_eq!(poses.recv_timeout(TIMEOUT).unwrap(), pose(6));
}

#[test]
fn a_value_that_cannot_be_serialised_fails_before_anything_is_sent() {
    let host = host();
    let arm = client(&host, "arm");
    // JSON keys must be strings.
    let bad = HashMap::from([((1, 2), "pair")]);
    let err = arm.write("bad", Json(&bad)).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Encode {
                encoding: Encoding::Json,
                ..
            }
        ),
        "{err}"
    );
    let mut batch = arm.lock();
    let err = batch.write("bad", Json(&bad)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Encode { .. }), "{err}");
    drop(batch);
    // MessagePack takes them.
    arm.write_confirmed("bad", MsgPack(&bad)).unwrap();
    assert_eq!(host.channel_stats("bad").unwrap().received, 1);
}

/// A raw client sends one frame whose head has `kind` and `flags`; the host
/// closes that connection with `want`, and serves the typed client.
fn bad_flags_close_one_connection(kind: Kind, flags: u8, want: DecodeError) {
    let host = host();
    let events = host.events();
    let good = client(&host, "good");
    let (mut raw, id) = raw_handshake(&host, "raw");
    let mut frame = Header::new(kind, "pose").to_bytes(b"{}").unwrap().to_vec();
    frame[5] |= flags;
    raw.write_all(&frame).unwrap();

    let (from, _, error) = next_error(&events);
    assert_eq!(from, Some(id));
    assert!(
        matches!(error.kind(), ErrorKind::Protocol(got) if *got == want),
        "{error}"
    );
    assert_closed_by_peer(&mut raw);
    good.write_confirmed("pose", Json(&pose(1))).unwrap();
    assert_eq!(host.get_as::<Pose>("pose").unwrap(), Some(pose(1)));
}

#[test]
fn the_reserved_encoding_closes_only_that_connection() {
    bad_flags_close_one_connection(Kind::Data, 0x30, DecodeError::UnknownEncoding(3));
}

#[test]
fn an_encoding_on_a_kind_without_one_closes_only_that_connection() {
    let ping = Kind::Ping { sent_ns: 1 };
    bad_flags_close_one_connection(ping, 0x10, DecodeError::EncodingNotCarried(0x06));
}

/// A table of the commands a test robot knows.
fn robot_commands() -> Commands {
    let mut commands = Commands::new();
    commands
        .on("move", |args, kwargs| {
            let steps = args.first().and_then(Value::as_i64).ok_or("move: steps?")?;
            let speed = kwargs.get("speed").and_then(Value::as_i64).unwrap_or(1);
            Ok(json!(steps * speed))
        })
        .on("fail", |_, _| Err("out of reach".to_owned()));
    commands
}

#[test]
fn commands_are_dispatched_from_a_subscription() {
    let host = host();
    let robot = client(&host, "robot");
    let inbox = robot.subscribe(COMMAND_CHANNEL);
    let mut commands = robot_commands();
    let to_robot = host.to("robot");
    to_robot
        .write(
            COMMAND_CHANNEL,
            Command::new("move").arg(3).kwarg("speed", 2),
        )
        .unwrap();
    // As a Python peer would send it: plain bytes of JSON.
    let python = r#"{"cmd": "move", "args": [5], "kwargs": {}}"#;
    to_robot.write(COMMAND_CHANNEL, python).unwrap();
    to_robot
        .write(COMMAND_CHANNEL, Command::new("fail"))
        .unwrap();
    to_robot
        .write(COMMAND_CHANNEL, Command::new("dance"))
        .unwrap();
    to_robot.write(COMMAND_CHANNEL, "{not json").unwrap();
    to_robot
        .write(COMMAND_CHANNEL, Json(json!({"args": [1]})))
        .unwrap();
    to_robot
        .write(COMMAND_CHANNEL, Json(json!({"cmd": 7})))
        .unwrap();

    let next = || commands_next(&inbox, &commands);
    assert_eq!(next().unwrap(), json!(6));
    assert_eq!(next().unwrap(), json!(5));
    let failed = next().unwrap_err();
    let ErrorKind::CommandFailed { name, message } = failed.kind() else {
        panic!("{failed}");
    };
    assert_eq!((name.as_str(), message.as_str()), ("fail", "out of reach"));
    let unknown = next().unwrap_err();
    assert!(matches!(unknown.kind(), ErrorKind::UnknownCommand(n) if n == "dance"));
    for _ in 0..3 {
        let malformed = next().unwrap_err();
        let ErrorKind::Decode { channel, .. } = malformed.kind() else {
            panic!("{malformed}");
        };
        assert_eq!(channel, COMMAND_CHANNEL);
    }

    // Registering again replaces; removing forgets.
    commands.on("move", |_, _| Ok(json!("replaced")));
    assert_eq!(
        commands.call(&Command::new("move")).unwrap(),
        json!("replaced")
    );
    assert!(commands.remove("move"));
    let gone = commands.call(&Command::new("move")).unwrap_err();
    assert!(matches!(gone.kind(), ErrorKind::UnknownCommand(_)));
}

/// The next command on `inbox`, dispatched.
fn commands_next(
    inbox: &socketengine::Subscription,
    commands: &Commands,
) -> socketengine::Result<Value> {
    let msg = inbox.recv_timeout(TIMEOUT).expect("a command arrives");
    commands.dispatch(&msg)
}

#[test]
fn a_command_goes_as_json_a_python_peer_reads() {
    let host = host();
    let robot = client(&host, "robot");
    let cmd = Command::new("move").arg(1).arg("fast").kwarg("speed", 2.5);
    host.to(robot.id())
        .write_lock(COMMAND_CHANNEL, &cmd)
        .unwrap();
    assert!(wait_until(TIMEOUT, || robot.get(COMMAND_CHANNEL).is_some()));
    let msg = robot.get(COMMAND_CHANNEL).unwrap();
    assert_eq!(msg.encoding(), Encoding::Json);
    let text: Value = serde_json::from_slice(msg.payload()).unwrap();
    assert_eq!(
        text,
        json!({"cmd": "move", "args": [1, "fast"], "kwargs": {"speed": 2.5}})
    );
    assert_eq!(msg.decode::<Command>().unwrap(), cmd);
}

//! Callbacks and hooks through the public API: message callbacks on
//! channels and patterns, replaced by name and removed; hooks with their
//! reasons beside `events()`; a panicking callback, a callback that never
//! returns until released, and commands with unknown names.

#![allow(clippy::unwrap_used)]

mod util;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Value, json};
use socketengine::{
    COMMAND_CHANNEL, ClientId, CloseCode, Command, DisconnectReason, ErrorKind, Event, Events,
    Host, Message,
};
use util::{
    TIMEOUT, client, client_with, host, host_with, next_callback_dropped, next_event, wait_until,
};

/// What a test's callbacks saw, in the order they saw it.
fn seen<T>() -> (Sender<T>, Receiver<T>) {
    mpsc::channel()
}

fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(TIMEOUT).expect("the callback runs in time")
}

/// `(channel, payload)` of a message.
fn label(msg: &Message) -> (String, Bytes) {
    (msg.channel().to_owned(), msg.payload().clone())
}

#[test]
fn a_callback_gets_every_message_of_its_channel_in_order() {
    let host = host();
    let (tx, rx) = seen();
    host.on("pose", move |msg| {
        let _ = tx.send(label(msg));
    })
    .unwrap();
    let arm = client(&host, "arm");
    for i in 0..500 {
        arm.write("pose", format!("{i}")).unwrap();
        arm.write("other", "x").unwrap();
    }
    arm.flush().unwrap();
    for i in 0..500 {
        assert_eq!(recv(&rx), ("pose".to_owned(), Bytes::from(format!("{i}"))));
    }
    // The queue and `get` still have them: nothing is taken away.
    assert_eq!(host.get_all("pose").len(), 500);
    assert_eq!(&host.get("pose").unwrap().payload()[..], b"499");
}

#[test]
fn a_pattern_callback_gets_every_matching_channel_each_in_order_new_ones_included() {
    let host = host();
    let arm = client(&host, "arm");
    arm.write_confirmed("arm/left", "made before").unwrap();
    let (tx, rx) = seen();
    host.on("arm/*", move |msg| {
        let _ = tx.send(label(msg));
    })
    .unwrap();
    for i in 0..50 {
        for channel in ["arm/left", "arm/right", "arm/left/joint", "leg/left"] {
            arm.write(channel, format!("{i}")).unwrap();
        }
    }
    arm.write_confirmed("arm/end", "end").unwrap();
    let mut next = std::collections::HashMap::<String, u32>::new();
    loop {
        let (channel, payload) = recv(&rx);
        if channel == "arm/end" {
            break;
        }
        let i = next.entry(channel.clone()).or_default();
        assert_eq!(payload, Bytes::from(format!("{i}")), "{channel} in order");
        *i += 1;
    }
    let counts: std::collections::BTreeMap<_, _> = next.into_iter().collect();
    assert_eq!(
        counts,
        [("arm/left".to_owned(), 50), ("arm/right".to_owned(), 50)].into()
    );
}

#[test]
fn a_named_callback_is_replaced_by_its_name_and_removed_by_id_or_name() {
    let host = host();
    let arm = client(&host, "arm");
    let (tx, rx) = seen();
    let first = tx.clone();
    host.on_named("log", "ch", move |msg| {
        let _ = first.send(("first", label(msg).1));
    })
    .unwrap();
    let second = tx.clone();
    let id = host
        .on_named("log", "ch", move |msg| {
            let _ = second.send(("second", label(msg).1));
        })
        .unwrap();
    // A probe on the same channel: once it has a message, the dispatcher
    // has been through every callback that message reached.
    let probe = tx.clone();
    let probe_id = host
        .on("ch", move |msg| {
            let _ = probe.send(("probe", label(msg).1));
        })
        .unwrap();
    assert_eq!(host.callback_stats().registered, 2, "replaced, not added");

    arm.write_confirmed("ch", "a").unwrap();
    let mut got = vec![recv(&rx), recv(&rx)];
    got.sort();
    assert_eq!(got, [("probe", "a".into()), ("second", "a".into())]);

    assert!(host.off(id));
    assert!(!host.off(id), "gone already");
    arm.write_confirmed("ch", "b").unwrap();
    assert_eq!(recv(&rx), ("probe", "b".into()));

    host.on_named("log", "ch", move |msg| {
        let _ = tx.send(("third", label(msg).1));
    })
    .unwrap();
    assert_eq!(host.off_named("log"), 1);
    assert_eq!(host.off_named("log"), 0);
    arm.write_confirmed("ch", "c").unwrap();
    assert_eq!(recv(&rx), ("probe", "c".into()));
    assert!(host.off(probe_id));
    assert_eq!(host.callback_stats().registered, 0);
    assert!(rx.try_recv().is_err(), "nothing else ran");
}

#[test]
fn a_bad_channel_or_a_closed_handle_is_refused() {
    let host = host();
    let err = host.on("", |_| {}).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
        "{err}"
    );
    let err = host.on("arm/*/x*", |_| {}).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
        "{err}"
    );
    host.close();
    let err = host.on("pose", |_| {}).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed), "{err}");
    let err = host.on_connect("log", |_| {}).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed), "{err}");
}

/// What a hook saw: which hook, whether the event was `Connected`, its
/// client and its reason.
type Logged = (
    &'static str,
    bool,
    Option<ClientId>,
    Option<DisconnectReason>,
);

/// The next event the hooks logged, which must be `hook`'s.
fn hook_log(logged: &Receiver<Logged>, hook: &str) -> Logged {
    let seen = recv(logged);
    assert_eq!(seen.0, hook, "{seen:?}");
    seen
}

#[test]
fn hooks_fire_with_reasons_and_events_still_sees_every_event() {
    let host = host();
    let events = host.events();
    let (tx, rx) = seen();
    for hook in ["connect", "disconnect"] {
        let tx = tx.clone();
        let f = move |event: &Event| {
            let connected = matches!(event, Event::Connected { .. });
            let seen = (hook, connected, event.client(), event.reason().cloned());
            let _ = tx.send(seen);
        };
        match hook {
            "connect" => host.on_connect("log", f).unwrap(),
            _ => host.on_disconnect("log", f).unwrap(),
        };
    }
    // Replaced by name: only the second `on_connect("first")` runs.
    host.on_connect("first", move |_| {
        let _ = tx.send(("first", true, None, None));
    })
    .unwrap();
    host.on_connect("first", |_| {}).unwrap();

    let arm = client(&host, "arm");
    assert_eq!(
        hook_log(&rx, "connect"),
        ("connect", true, Some(arm.id()), None)
    );
    host.disconnect(arm.id(), "maintenance").unwrap();
    let (_, connected, client, reason) = hook_log(&rx, "disconnect");
    assert_eq!((connected, client), (false, Some(arm.id())));
    let reason = reason.expect("a reason");
    assert_eq!(
        (reason.code, reason.message.as_str()),
        (CloseCode::Kicked, "maintenance")
    );

    // `events()` got both as well.
    next_event(&events, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    });
    let kicked = next_event(&events, |e| match e {
        Event::Disconnected { reason, .. } => reason,
        _ => None,
    });
    assert_eq!(kicked.code, CloseCode::Kicked);
    assert!(rx.try_recv().is_err(), "the replaced hook never ran");
}

#[test]
fn a_client_hears_of_its_kick_its_redial_and_its_return() {
    let host = host();
    let arm = client_with(&host, "arm", |b| {
        b.redial_after_kick(true).reconnect_backoff(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_millis(20),
        )
    });
    let (tx, rx) = seen();
    let hooks: [(&'static str, Sender<_>); 3] = [
        ("disconnect", tx.clone()),
        ("reconnect", tx.clone()),
        ("connect", tx),
    ];
    for (hook, tx) in hooks {
        let f = move |event: &Event| {
            let kind = match event {
                Event::Disconnected { reason, .. } => {
                    format!("{:?}", reason.as_ref().map(|r| r.code))
                }
                Event::Reconnecting { attempt, .. } => format!("attempt {attempt}"),
                Event::Connected { .. } => "back".to_owned(),
                other => format!("{other:?}"),
            };
            let _ = tx.send((hook, kind));
        };
        match hook {
            "disconnect" => arm.on_disconnect("log", f).unwrap(),
            "reconnect" => arm.on_reconnect("log", f).unwrap(),
            _ => arm.on_connect("log", f).unwrap(),
        };
    }
    host.disconnect(arm.id(), "again").unwrap();
    assert_eq!(recv(&rx), ("disconnect", "Some(Kicked)".to_owned()));
    assert_eq!(recv(&rx), ("reconnect", "attempt 1".to_owned()));
    let back = loop {
        match recv(&rx) {
            ("reconnect", _) => continue, // a failed attempt, if any
            other => break other,
        }
    };
    assert_eq!(back, ("connect", "back".to_owned()));
    assert!(arm.is_connected());
}

#[test]
fn a_panicking_callback_is_reported_and_the_handle_keeps_working() {
    let host = host();
    let events = host.events();
    let (tx, rx) = seen();
    let errors = tx.clone();
    host.on_error("log", move |event| {
        if let Event::CallbackPanicked { callback, message } = event {
            let _ = errors.send(format!("{callback}: {message}"));
        }
    })
    .unwrap();
    host.on_named("fragile", "ch", move |msg| {
        if &msg.payload()[..] == b"boom" {
            panic!("a bug");
        }
        let _ = tx.send(format!("ok {:?}", msg.payload()));
    })
    .unwrap();
    let arm = client(&host, "arm");
    for payload in ["a", "boom", "b"] {
        arm.write("ch", payload).unwrap();
    }
    arm.flush().unwrap();
    let mut got: Vec<String> = (0..3).map(|_| recv(&rx)).collect();
    got.sort();
    assert_eq!(got[0], r#"callback "fragile" on "ch": a bug"#);
    assert_eq!(&got[1..], [r#"ok b"a""#, r#"ok b"b""#]);
    let message = next_event(&events, |e| match e {
        Event::CallbackPanicked { message, .. } => Some(message),
        _ => None,
    });
    assert_eq!(message, "a bug");
    assert_eq!(host.callback_stats().panicked, 1);
    // The handle goes on: it stores, answers and runs its callbacks.
    arm.write_confirmed("ch", "c").unwrap();
    assert_eq!(recv(&rx), r#"ok b"c""#);
    assert_eq!(arm.clients().unwrap().len(), 1);
}

#[test]
fn a_callback_that_does_not_return_stalls_only_itself_and_its_overflow_is_counted() {
    // The callback "sleeps for seconds": it waits for the test to release
    // it (bounded by TIMEOUT), which is the same to the loop and lets the
    // test end as soon as it has seen what it needs.
    let host = host_with(|b| b.callback_queue(4));
    let events = host.events();
    let (started_tx, started) = seen();
    let (release, gate) = seen::<()>();
    let gate = Mutex::new(gate);
    let (tx, rx) = seen();
    host.on_named("slow", "ch", move |msg| {
        if &msg.payload()[..] == b"0" {
            let _ = started_tx.send(());
            let _ = gate.lock().unwrap().recv_timeout(TIMEOUT);
        }
        let _ = tx.send(msg.payload().clone());
    })
    .unwrap();
    let arm = client(&host, "arm");
    arm.write_confirmed("ch", "0").unwrap();
    recv(&started);

    // Ten more while it is stuck: four wait, six skip it, counted at once.
    for i in 1..=10 {
        arm.write_confirmed("ch", format!("{i}")).unwrap();
    }
    let stats = host.callback_stats();
    assert_eq!((stats.queued, stats.dropped), (4, 6), "{stats:?}");
    // Everything else goes on: the store, the host's services (a round
    // trip through the loop), other clients, pings.
    assert_eq!(host.channel_stats("ch").unwrap().received, 11);
    let other = client(&host, "other");
    other.write_confirmed("pose", "1").unwrap();
    assert_eq!(other.clients().unwrap().len(), 2);
    arm.sync().unwrap();
    assert_eq!(host.get_all("ch").len(), 11, "the queue has them all");

    release.send(()).unwrap();
    let got: Vec<Bytes> = (0..5).map(|_| recv(&rx)).collect();
    assert_eq!(got, ["0", "1", "2", "3", "4"].map(Bytes::from));
    let dropped = next_callback_dropped(&events);
    assert_eq!(dropped, (r#"callback "slow" on "ch""#.to_owned(), 6));
    // And it takes new messages again.
    arm.write_confirmed("ch", "11").unwrap();
    assert_eq!(recv(&rx), "11");
    assert!(wait_until(TIMEOUT, || host.callback_stats().queued == 0));
}

/// `(from, error kind)` of the next `CommandFailed` event.
fn command_failure(events: &Events) -> (ClientId, String) {
    next_event(events, |e| match e {
        Event::CommandFailed { from, error } => Some((from, format!("{:?}", error.kind()))),
        _ => None,
    })
}

#[test]
fn commands_run_by_name_and_an_unknown_one_is_reported_and_answered_typed() {
    let host = host();
    let robot = client(&host, "robot");
    let events = robot.events();
    assert!(!robot.remove_command("move"), "none yet");
    let moved = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&moved);
    robot
        .on_command("move", move |args, kwargs| {
            let steps = args.first().and_then(Value::as_i64).ok_or("steps?")?;
            let speed = kwargs.get("speed").and_then(Value::as_i64).unwrap_or(1);
            log.lock().unwrap().push(steps * speed);
            Ok(json!(steps * speed))
        })
        .unwrap();
    let (tx, errors) = seen();
    robot
        .on_error("log", move |event| {
            if let Some(error) = event.error() {
                let _ = tx.send(error.to_string());
            }
        })
        .unwrap();

    // As messages: run, or reported.
    let to_robot = host.to("robot");
    to_robot
        .write_lock(
            COMMAND_CHANNEL,
            Command::new("move").arg(2).kwarg("speed", 3),
        )
        .unwrap();
    to_robot
        .write_lock(COMMAND_CHANNEL, Command::new("dance"))
        .unwrap();
    assert_eq!(
        command_failure(&events),
        (ClientId::HOST, r#"UnknownCommand("dance")"#.to_owned())
    );
    assert_eq!(recv(&errors), r#"unknown command "dance""#);
    assert_eq!(*moved.lock().unwrap(), [6]);
    to_robot
        .write_lock(COMMAND_CHANNEL, "not a command")
        .unwrap();
    let (_, kind) = command_failure(&events);
    assert!(kind.starts_with("Decode"), "{kind}");

    // As requests: answered with the value, or a typed failure.
    let answer = |cmd: Command| {
        to_robot
            .request(COMMAND_CHANNEL, cmd, TIMEOUT)
            .unwrap()
            .one()
    };
    let reply = answer(Command::new("move").arg(4)).unwrap();
    assert_eq!(reply.decode::<Value>().unwrap(), json!(4));
    let err = answer(Command::new("dance")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownCommand(name) if name == "dance"),
        "{err}"
    );
    let err = answer(Command::new("move")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Remote(why) if why == "steps?"),
        "{err}"
    );
    assert!(command_failure(&events).1.starts_with("UnknownCommand"));

    // Removed: unknown from then on.
    assert!(robot.remove_command("move"));
    let err = answer(Command::new("move").arg(1)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownCommand(_)), "{err}");
}

#[test]
fn on_command_returns_once_its_commands_run_on_whichever_thread_came_first() {
    let host = host();
    let robot = client(&host, "robot");
    // The first call wires the command channel; the others wait for it, so
    // each thread's request finds its handler and the responder in place.
    std::thread::scope(|s| {
        for i in 0..4 {
            let (robot, host) = (&robot, &host);
            s.spawn(move || {
                let name = format!("c{i}");
                robot.on_command(&name, move |_, _| Ok(json!(i))).unwrap();
                let asked = host
                    .to("robot")
                    .request(COMMAND_CHANNEL, Command::new(name), TIMEOUT);
                let reply = asked.unwrap().one().unwrap();
                assert_eq!(reply.decode::<Value>().unwrap(), json!(i));
            });
        }
    });
    assert_eq!(
        robot.callback_stats().registered,
        1,
        "one callback runs them"
    );
}

#[test]
fn closing_a_handle_lets_go_of_its_callbacks() {
    let host = host();
    let held = Arc::new(());
    let (a, b) = (Arc::clone(&held), Arc::clone(&held));
    host.on("pose", move |_| assert!(Arc::strong_count(&a) > 0))
        .unwrap();
    host.on_error("log", move |_| assert!(Arc::strong_count(&b) > 0))
        .unwrap();
    assert_eq!(Arc::strong_count(&held), 3);
    host.close();
    assert_eq!(Arc::strong_count(&held), 1, "the callbacks were dropped");
}

#[test]
fn callbacks_and_hooks_run_on_the_dispatcher_thread() {
    let host: Host = host();
    let (tx, rx) = seen();
    let hook_tx = tx.clone();
    host.on("pose", move |_| {
        let _ = tx.send(std::thread::current().name().map(str::to_owned));
    })
    .unwrap();
    host.on_connect("log", move |_| {
        let _ = hook_tx.send(std::thread::current().name().map(str::to_owned));
    })
    .unwrap();
    let arm = client(&host, "arm");
    arm.write_confirmed("pose", "1").unwrap();
    for _ in 0..2 {
        assert_eq!(recv(&rx).as_deref(), Some("socketengine-dispatch"));
    }
}

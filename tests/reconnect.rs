//! Client reconnection: a restarted host gets its clients back under their
//! names; writes while disconnected fail fast (unlocked) or wait (locked).

#![allow(clippy::unwrap_used)]

mod util;

use std::time::Duration;

use socketengine::{Client, ErrorKind, Event, Events, Host};
use util::{TIMEOUT, wait_until};

const FIRST: Duration = Duration::from_millis(10);
const CAP: Duration = Duration::from_millis(100);

fn host_on(addr: &str) -> Host {
    Host::builder().addr(addr).start().unwrap()
}

fn camera(host: &Host) -> Client {
    Client::builder()
        .addr(host.local_addr().to_string())
        .name("camera")
        .reconnect_backoff(FIRST, CAP)
        .connect()
        .unwrap()
}

/// The next event that `pick` accepts, skipping others; panics after `TIMEOUT`.
fn next<T>(events: &Events, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = events
            .recv_timeout(left)
            .expect("the expected event in time");
        if let Some(found) = pick(event) {
            return found;
        }
    }
}

#[test]
fn a_restarted_host_gets_its_streaming_client_back() {
    let first = host_on("127.0.0.1:0");
    let addr = first.local_addr().to_string();
    let cam = camera(&first);
    let events = cam.events();
    // Subscribed before the restart: a subscription outlives the connection.
    let cmd = cam.subscribe("cmd");
    cam.write_lock("frame", "before").unwrap();
    assert_eq!(
        &first.get_all_timeout("frame", TIMEOUT)[0].payload()[..],
        b"before"
    );

    first.close();
    next(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    let attempt = next(&events, |e| match e {
        Event::Reconnecting { attempt, delay, .. } => Some((attempt, delay)),
        _ => None,
    });
    assert_eq!(attempt.0, 1);
    assert!(attempt.1 <= FIRST);

    let second = host_on(&addr);
    let id = next(&events, |e| match e {
        Event::Connected { client, name, .. } => Some((client, name)),
        _ => None,
    });
    assert_eq!(id, (cam.id(), "camera".to_string()));
    // And it is told this is not the host it left.
    let restarted = next(&events, |e| match e {
        Event::HostRestarted { client, .. } => Some(client),
        _ => None,
    });
    assert_eq!(restarted, cam.id());
    assert!(cam.is_connected());
    // Streaming resumes, and the new host lists the client under its name.
    for i in 0..10 {
        cam.write("frame", format!("after {i}")).unwrap();
    }
    cam.flush().unwrap();
    assert!(wait_until(TIMEOUT, || util::received(&second, "frame") == 10));
    let listed = second.clients();
    assert_eq!(
        (listed[0].name.as_str(), listed[0].connected),
        ("camera", true)
    );
    // And the host can reach it.
    second.to(cam.id()).write_lock("cmd", "go").unwrap();
    assert_eq!(&cmd.recv_timeout(TIMEOUT).unwrap().payload()[..], b"go");
}

#[test]
fn while_disconnected_unlocked_writes_fail_fast_and_locked_ones_wait() {
    let first = host_on("127.0.0.1:0");
    let cam = Client::builder()
        .addr(first.local_addr().to_string())
        .name("camera")
        .reconnect_backoff(FIRST, CAP)
        .write_timeout(Duration::from_millis(200))
        .connect()
        .unwrap();
    let events = cam.events();
    first.close();
    next(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });

    let err = cam.write("pose", "x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    assert_eq!(err.into_payload().as_deref(), Some(&b"x"[..]));

    // No host comes back: the locked write waits its whole timeout for the
    // connection, then hands the payload back.
    let started = std::time::Instant::now();
    let err = cam.write_lock("pose", "y").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TimedOut(_)), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(err.into_payload().as_deref(), Some(&b"y"[..]));
}

#[test]
fn a_locked_write_made_while_disconnected_goes_out_after_reconnecting() {
    let first = host_on("127.0.0.1:0");
    let addr = first.local_addr().to_string();
    let cam = Client::builder()
        .addr(&addr)
        .name("camera")
        .reconnect_backoff(FIRST, CAP)
        .write_timeout(TIMEOUT)
        .connect()
        .unwrap();
    let events = cam.events();
    first.close();
    next(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    let writer = {
        let cam = cam.clone();
        std::thread::spawn(move || cam.write_lock("pose", "waited"))
    };
    let second = host_on(&addr);
    writer.join().unwrap().unwrap();
    let got = second.get_all_timeout("pose", TIMEOUT);
    assert_eq!(&got[0].payload()[..], b"waited");
}

#[test]
fn with_reconnection_off_a_lost_connection_stays_lost() {
    let host = host_on("127.0.0.1:0");
    let cam = Client::builder()
        .addr(host.local_addr().to_string())
        .reconnect(false)
        .connect()
        .unwrap();
    let events = cam.events();
    host.close();
    next(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    let err = cam.write_lock("pose", "x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    assert!(!cam.is_connected());
    // Nothing else happens: no reconnection is scheduled.
    match events.recv_timeout(Duration::from_millis(200)) {
        Err(_) => {}
        Ok(event) => panic!("unexpected event {event:?}"),
    }
}

#[test]
fn a_client_back_on_the_same_host_is_not_told_it_restarted() {
    let host = host_on("127.0.0.1:0");
    let cam = Client::builder()
        .addr(host.local_addr().to_string())
        .name("camera")
        .reconnect_backoff(FIRST, CAP)
        .redial_after_kick(true)
        .connect()
        .unwrap();
    let events = cam.events();
    let host_events = host.events();
    for round in 0..3 {
        // In, as the host sees it (the first time too), then out.
        next(&host_events, |e| {
            matches!(e, Event::Connected { .. }).then_some(())
        });
        host.disconnect(cam.id(), format!("kick {round}")).unwrap();
        next(&events, |e| {
            matches!(e, Event::Disconnected { .. }).then_some(())
        });
    }
    next(&host_events, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    });
    // A message after the third return, then every event so far: none
    // says the host restarted.
    cam.write_confirmed("after", "x").unwrap();
    let seen: Vec<Event> = events.try_iter().collect();
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::HostRestarted { .. })),
        "{seen:?}"
    );
}

#[test]
fn a_client_republishes_its_own_latest_values_to_a_restarted_host_before_it_hears_of_it() {
    let first = host_on("127.0.0.1:0");
    let addr = first.local_addr().to_string();
    let arm = Client::builder()
        .addr(&addr)
        .name("arm")
        .reconnect_backoff(FIRST, CAP)
        .republish("mode")
        .republish("config/**")
        .connect()
        .unwrap();
    let events = arm.events();
    arm.write_lock("mode", "manual").unwrap();
    arm.write_lock("mode", "auto").unwrap();
    arm.write_lock("config/speed", "3").unwrap();
    arm.write_lock("pose", "x").unwrap();
    arm.to("nobody").write("config/route", "routed").unwrap();
    arm.write_confirmed("config/limit", "9").unwrap();
    first.close();
    next(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    let second = host_on(&addr);
    next(&events, |e| {
        matches!(e, Event::HostRestarted { .. }).then_some(())
    });
    // Sent right after the welcome, so in by the time a sync returns.
    arm.sync().unwrap();
    let value = |c: &str| second.get(c).map(|m| m.payload().clone());
    assert_eq!(value("mode").as_deref(), Some(&b"auto"[..]));
    assert_eq!(value("config/speed").as_deref(), Some(&b"3"[..]));
    assert_eq!(value("config/limit").as_deref(), Some(&b"9"[..]));
    assert_eq!(value("pose"), None, "not republished");
    assert_eq!(
        value("config/route"),
        None,
        "routed writes are not the host's"
    );
    assert_eq!(second.get_all("mode").len(), 1, "only the latest");
}

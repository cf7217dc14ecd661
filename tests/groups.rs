//! Groups: the clients whose declared interest overlaps a channel pattern.
//! A host or a client sends to a group as to a room; a group nobody is in,
//! and a malformed pattern, are typed errors to the sender.

#![allow(clippy::unwrap_used)]

mod util;

use bytes::Bytes;
use socketengine::{Client, ClientId, ErrorKind, Host, To};
use util::{TIMEOUT, client, host, next_undelivered, until_marker, wait_until};

fn group(pattern: &str) -> To {
    To::Group(pattern.to_owned())
}

/// Declares `patterns` for `client` and waits until the host applies them:
/// until a send to `probe` reaches `members` clients.
fn declare(host: &Host, client: &Client, patterns: &[&str], probe: &str, members: usize) {
    client.interest(patterns).unwrap();
    let applied = wait_until(TIMEOUT, || {
        host.to(group(probe)).write("probe", "p").ok() == Some(members)
    });
    assert!(applied, "{} declared {patterns:?}", client.name());
}

#[test]
fn a_host_sends_to_the_clients_whose_interest_overlaps_the_group() {
    let host = host();
    let [left, arms, poses, all] = ["left", "arms", "poses", "all"].map(|n| client(&host, n));
    let silent = client(&host, "silent");
    declare(&host, &left, &["arm/left/*"], "arm/**", 1);
    declare(&host, &arms, &["arm/**"], "arm/**", 2);
    declare(&host, &poses, &["pose"], "pose", 1);
    declare(&host, &all, &["**"], "arm/**", 3);
    let subs = [&left, &arms, &poses, &all, &silent].map(|c| c.subscribe("stop"));
    // `arm/*/joint3` overlaps `arm/left/*`, `arm/**` and `**`, not `pose`;
    // the silent client declared nothing and is in no group.
    assert_eq!(
        host.to(group("arm/*/joint3"))
            .write_lock("stop", "1")
            .unwrap(),
        3
    );
    assert_eq!(host.to(group("pose")).write("stop", "2").unwrap(), 2);
    // Members receive what is sent to the group whatever its channel.
    // Sent by id, the marker passes every interest.
    let ids = [&left, &arms, &poses, &all, &silent].map(|c| c.id());
    host.to(ids.to_vec()).write_lock("stop", "marker").unwrap();
    let from_host = |texts: &[&str]| -> Vec<(String, ClientId)> {
        texts
            .iter()
            .map(|t| (t.to_string(), ClientId::HOST))
            .collect()
    };
    assert_eq!(until_marker(&subs[0]), from_host(&["1"]));
    assert_eq!(until_marker(&subs[1]), from_host(&["1"]));
    assert_eq!(until_marker(&subs[2]), from_host(&["2"]));
    assert_eq!(until_marker(&subs[3]), from_host(&["1", "2"]));
    assert_eq!(until_marker(&subs[4]), from_host(&[]));
}

#[test]
fn a_client_sends_to_a_group_through_the_host_as_its_origin() {
    let host = host();
    let [sender, arm, cam] = ["sender", "arm", "cam"].map(|n| client(&host, n));
    declare(&host, &sender, &["arm/**"], "arm/**", 1);
    declare(&host, &arm, &["arm/**"], "arm/**", 2);
    declare(&host, &cam, &["camera"], "camera", 1);
    let subs = [&sender, &arm, &cam].map(|c| c.subscribe("cmd"));
    sender.to(group("arm/*")).write_lock("cmd", "go").unwrap();
    sender
        .to(group("arm/*"))
        .mirror()
        .write_lock("cmd", "mirrored")
        .unwrap();
    // Once `arm` has the mirrored copy, the host has queued the sender's.
    let mirrored = || arm.get("cmd").is_some_and(|m| m.payload() == "mirrored");
    assert!(wait_until(TIMEOUT, mirrored));
    let ids = [&sender, &arm, &cam].map(|c| c.id());
    host.to(ids.to_vec()).write_lock("cmd", "marker").unwrap();
    let from_sender = |texts: &[&str]| -> Vec<(String, ClientId)> {
        let from = |t: &&str| (t.to_string(), sender.id());
        texts.iter().map(from).collect()
    };
    assert_eq!(until_marker(&subs[0]), from_sender(&["mirrored"]));
    assert_eq!(until_marker(&subs[1]), from_sender(&["go", "mirrored"]));
    assert_eq!(until_marker(&subs[2]), from_sender(&[]));
}

#[test]
fn a_group_nobody_is_in_is_a_typed_error_and_a_bad_pattern_is_refused() {
    let host = host();
    let [a, b] = ["a", "b"].map(|n| client(&host, n));
    declare(&host, &a, &["pose"], "pose", 1);
    // From a host: an error at once, with the payload back.
    let payload = Bytes::from_static(b"p");
    let err = host
        .to(group("arm/**"))
        .write("cmd", payload.clone())
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownGroup(g) if g == "arm/**"),
        "{err}"
    );
    assert_eq!(err.into_payload(), Some(payload.clone()));
    let err = host.to(group("arm/**")).write_lock("cmd", "p").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownGroup(_)), "{err}");
    // From a client: the host's notice, as an event; the sender's other
    // traffic is undisturbed.
    let events = b.events();
    b.to(group("arm/**")).write_lock("cmd", "lost").unwrap();
    let (channel, err) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(
        matches!(&err, ErrorKind::UnknownGroup(g) if g == "arm/**"),
        "{err}"
    );
    // A malformed pattern never leaves either side.
    let long = "a/".repeat(200);
    for bad in ["", "arm/cam*", long.as_str()] {
        let err = host.to(group(bad)).write("cmd", "p").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidTarget(_)),
            "{bad}: {err}"
        );
        let err = b.to(group(bad)).write("cmd", payload.clone()).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidTarget(_)),
            "{bad}: {err}"
        );
        assert_eq!(err.into_payload(), Some(payload.clone()));
    }
    b.write_lock("after", "still here").unwrap();
    assert!(wait_until(TIMEOUT, || host.get("after").is_some()));
    assert!(a.is_connected() && b.is_connected());
}

#[test]
fn a_route_policy_sees_a_group_and_can_refuse_it() {
    let host = util::host_with(|b| {
        b.route_policy(|req| match &req.to {
            To::Group(g) if g.starts_with("secret") => Err(format!("{g} is closed")),
            _ => Ok(()),
        })
    });
    let [a, b] = ["a", "b"].map(|n| client(&host, n));
    declare(&host, &b, &["**"], "secret/**", 1);
    let events = a.events();
    let cmds = b.subscribe("cmd");
    a.to(group("secret/**")).write_lock("cmd", "no").unwrap();
    a.to(group("open")).write_lock("cmd", "yes").unwrap();
    let (channel, err) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(
        matches!(&err, ErrorKind::RouteRefused(why) if why == "secret/** is closed"),
        "{err}"
    );
    // Once "yes" is in, the host has judged "no" (sent before it) too.
    assert!(wait_until(TIMEOUT, || b.get("cmd").is_some()));
    host.write_lock("cmd", "marker").unwrap();
    assert_eq!(until_marker(&cmds), [("yes".to_owned(), a.id())]);
}

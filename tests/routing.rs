//! Routing through a host: a client sends to other clients by id, by name, in
//! lists or to all of them; they see it as from the sender (its origin), the
//! host does not keep it, images stay images, and what the host cannot
//! deliver comes back to the sender as an event.

#![allow(clippy::unwrap_used)]

mod util;

use bytes::Bytes;
use socketengine::{Client, ClientId, ErrorKind, IMAGE_CHANNEL, Image, PixelFormat, To};
use util::{TIMEOUT, client, host, next_undelivered, text, until_marker};

#[test]
fn a_message_routed_by_name_arrives_from_its_sender_and_skips_the_host_store() {
    let host = host();
    let planner = client(&host, "planner");
    let arm = client(&host, "arm");
    let cmds = arm.subscribe("cmd");
    assert_eq!(planner.to("arm").write_lock("cmd", "lift").unwrap(), 1);
    let msg = cmds.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((text(&msg), msg.from()), ("lift".to_owned(), planner.id()));
    assert_eq!(arm.get("cmd").unwrap().from(), planner.id());
    assert!(
        host.get("cmd").is_none(),
        "a routed message is not the host's"
    );
}

#[test]
fn routes_by_id_by_list_and_to_all_the_others_with_mirror() {
    let host = host();
    let [a, b, c] = ["a", "b", "c"].map(|n| client(&host, n));
    let subs = [&a, &b, &c].map(|x| x.subscribe("ch"));
    a.to(b.id()).write_lock("ch", "to b by id").unwrap();
    a.to(vec![b.id(), c.id()])
        .write_lock("ch", "to b and c")
        .unwrap();
    a.to(To::Names(vec!["c".into()]))
        .write_lock("ch", "to c by name")
        .unwrap();
    a.to(To::All).write_lock("ch", "to the others").unwrap();
    a.to(To::All)
        .mirror()
        .write_lock("ch", "to all, a too")
        .unwrap();
    // The host's marker goes out after each routed copy it delivered: routed
    // copies are queued on the loop as they arrive, and the host's own write
    // follows them on each connection.
    a.flush().unwrap();
    let idle = |cl: &Client| util::wait_until(TIMEOUT, || cl.channel_stats("ch").is_some());
    assert!(idle(&b) && idle(&c));
    util::wait_until(TIMEOUT, || {
        c.channel_stats("ch").map_or(0, |s| s.received) >= 4
    });
    host.write_lock("ch", "marker").unwrap();
    let from_a = |texts: &[&str]| -> Vec<(String, ClientId)> {
        texts.iter().map(|t| (t.to_string(), a.id())).collect()
    };
    assert_eq!(until_marker(&subs[0]), from_a(&["to all, a too"]));
    assert_eq!(
        until_marker(&subs[1]),
        from_a(&["to b by id", "to b and c", "to the others", "to all, a too"])
    );
    assert_eq!(
        until_marker(&subs[2]),
        from_a(&[
            "to b and c",
            "to c by name",
            "to the others",
            "to all, a too"
        ])
    );
}

#[test]
fn an_unknown_name_or_id_comes_back_to_the_sender_and_the_rest_still_get_it() {
    let host = host();
    let sender = client(&host, "sender");
    let known = client(&host, "known");
    let events = sender.events();
    let got = known.subscribe("cmd");
    let names = To::Names(vec!["nobody".into(), "known".into()]);
    sender.to(names).write_lock("cmd", "hello").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(
        matches!(&kind, ErrorKind::UnknownName(n) if n == "nobody"),
        "{kind}"
    );
    assert_eq!(text(&got.recv_timeout(TIMEOUT).unwrap()), "hello");
    sender.to(ClientId(4242)).write("cmd", "lost").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(
        matches!(kind, ErrorKind::UnknownClient(ClientId(4242))),
        "{kind}"
    );
    assert!(
        sender.is_connected() && known.is_connected(),
        "nothing else disturbed"
    );
}

#[test]
fn a_routed_image_arrives_as_an_image_from_its_sender() {
    let host = host();
    let camera = client(&host, "camera");
    let viewer = client(&host, "viewer");
    let frames = viewer.subscribe(IMAGE_CHANNEL);
    // Four chunks of the default 256 KiB.
    let pixels: Vec<u8> = (0..640 * 480 * 3).map(|i| (i % 253) as u8).collect();
    let frame = Image::new(640, 480, PixelFormat::Rgb8, pixels)
        .unwrap()
        .with_seq(9)
        .with_timestamp_ns(77);
    let sent = camera.to("viewer").write_lock(IMAGE_CHANNEL, &frame);
    sent.unwrap();
    let msg = frames.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(msg.from(), camera.id());
    let got = msg.image().expect("an image");
    assert_eq!((got.seq(), got.timestamp_ns(), got.width()), (9, 77, 640));
    assert_eq!(got.data(), frame.data());
    assert!(host.get_image(IMAGE_CHANNEL).is_none());
}

#[test]
fn a_route_the_wire_cannot_carry_is_refused_before_sending() {
    let host = host();
    let sender = client(&host, "sender");
    let payload = Bytes::from_static(b"p");
    let many: Vec<String> = (0..100_000).map(|i| format!("n{i}")).collect();
    let err = sender
        .to(To::Names(many))
        .write("ch", payload.clone())
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    assert_eq!(err.into_payload(), Some(payload.clone()));
    let err = sender.to("").write_lock("ch", payload.clone()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    let long = "x".repeat(256);
    let err = sender.to(long.as_str()).write("ch", payload).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    assert!(sender.is_connected());
}

#[test]
fn a_relaying_host_passes_unrouted_messages_on_from_their_sender() {
    use socketengine::Relay;
    for (relay, to_other, to_sender) in [
        (Relay::Others, true, false),
        (Relay::Echo, false, true),
        (Relay::OthersAndEcho, true, true),
    ] {
        let host = util::host_with(|b| b.relay(relay));
        let [a, b] = ["a", "b"].map(|n| client(&host, n));
        let subs = [&a, &b].map(|c| c.subscribe("ch"));
        a.write_lock("ch", "hello").unwrap();
        util::wait_received(&host, "ch", 1);
        host.write_lock("ch", "marker").unwrap();
        let hello =
            |sub: &socketengine::Subscription| until_marker(sub) == [("hello".to_owned(), a.id())];
        assert_eq!(hello(&subs[1]), to_other, "{relay:?}: the other client");
        assert_eq!(hello(&subs[0]), to_sender, "{relay:?}: the sender");
        assert_eq!(
            text(&host.get("ch").unwrap()),
            "hello",
            "{relay:?}: the host keeps it"
        );
    }
}

#[test]
fn a_relaying_host_passes_images_on_as_images_and_runs_of_small_messages_whole() {
    let host = util::host_with(|b| b.relay(socketengine::Relay::Others));
    let camera = client(&host, "camera");
    let viewer = client(&host, "viewer");
    let frames = viewer.subscribe(IMAGE_CHANNEL);
    let frame = Image::new(320, 240, PixelFormat::Gray8, vec![5u8; 320 * 240])
        .unwrap()
        .with_seq(3);
    camera.write_lock(IMAGE_CHANNEL, &frame).unwrap();
    let msg = frames.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        (msg.from(), msg.image().map(|i| i.seq())),
        (camera.id(), Some(3))
    );
    // A burst of small frames arrives at the host as runs; each is relayed.
    let nums = viewer.subscribe("n");
    for i in 0..500u32 {
        camera.write("n", i.to_le_bytes().to_vec()).unwrap();
    }
    camera.flush().unwrap();
    for i in 0..500u32 {
        let msg = nums.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(
            (&msg.payload()[..], msg.from()),
            (&i.to_le_bytes()[..], camera.id())
        );
    }
}

#[test]
fn a_route_policy_refuses_with_its_reason_and_lets_the_rest_through() {
    let host = util::host_with(|b| {
        b.route_policy(|req| match (&req.to, req.channel) {
            (To::All, "cmd") => Err("commands go to named clients".to_owned()),
            _ => Ok(()),
        })
    });
    let planner = client(&host, "planner");
    let arm = client(&host, "arm");
    let events = planner.events();
    let cmds = arm.subscribe("cmd");
    planner
        .to(To::All)
        .write_lock("cmd", "everyone stop")
        .unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(
        matches!(&kind, ErrorKind::RouteRefused(why) if why == "commands go to named clients"),
        "{kind}"
    );
    planner.to("arm").write_lock("cmd", "arm stop").unwrap();
    let msg = cmds.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(text(&msg), "arm stop", "the refused one never arrived");
}

#[test]
fn a_route_policy_also_judges_what_a_relay_passes_to_everyone() {
    let host = util::host_with(|b| {
        b.relay(socketengine::Relay::Others)
            .route_policy(|req| match (&req.to, req.channel) {
                (To::All, "cmd") => Err("no commands to everyone".to_owned()),
                _ => Ok(()),
            })
    });
    let sender = client(&host, "sender");
    let other = client(&host, "other");
    let events = sender.events();
    sender.write_lock("cmd", "stop all").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(matches!(&kind, ErrorKind::RouteRefused(_)), "{kind}");
    sender.write_lock("pose", "p").unwrap();
    assert!(util::wait_until(TIMEOUT, || other.get("pose").is_some()));
    assert!(
        other.get("cmd").is_none(),
        "the refused relay never went out"
    );
    assert_eq!(
        text(&host.get("cmd").unwrap()),
        "stop all",
        "the host still keeps it"
    );
}

#[test]
fn each_unknown_target_comes_back_on_its_own_and_the_known_ones_still_get_it() {
    let host = host();
    let sender = client(&host, "sender");
    let [known, member, bystander] = ["known", "member", "bystander"].map(|n| client(&host, n));
    let subs = [&known, &member, &bystander].map(|c| c.subscribe("cmd"));
    member.join("arm").unwrap();
    assert!(util::wait_until(TIMEOUT, || member.rooms() == ["arm"]));
    let events = sender.events();
    let ids = vec![ClientId(4242), known.id(), ClientId(4243)];
    sender.to(ids).write_lock("cmd", "ids").unwrap();
    let names = ["ghost", "known", "phantom"].map(String::from).to_vec();
    sender
        .to(To::Names(names))
        .write_lock("cmd", "names")
        .unwrap();
    sender
        .to(To::Room("arm".into()))
        .write_lock("cmd", "arm")
        .unwrap();
    sender
        .to(To::Room("ghost".into()))
        .write_lock("cmd", "room")
        .unwrap();
    let notices: Vec<String> = (0..5)
        .map(|_| next_undelivered(&events))
        .map(|(channel, kind)| format!("{channel}: {kind:?}"))
        .collect();
    assert_eq!(
        notices,
        [
            "cmd: UnknownClient(ClientId(4242))",
            "cmd: UnknownClient(ClientId(4243))",
            "cmd: UnknownName(\"ghost\")",
            "cmd: UnknownName(\"phantom\")",
            "cmd: UnknownRoom(\"ghost\")",
        ]
    );
    // The last notice came after the host had handled every route; its own
    // marker follows the copies it queued.
    host.write_lock("cmd", "marker").unwrap();
    let from_sender = |texts: &[&str]| -> Vec<(String, ClientId)> {
        texts.iter().map(|t| (t.to_string(), sender.id())).collect()
    };
    assert_eq!(until_marker(&subs[0]), from_sender(&["ids", "names"]));
    assert_eq!(until_marker(&subs[1]), from_sender(&["arm"]));
    assert_eq!(until_marker(&subs[2]), []);
    let all = [&sender, &known, &member, &bystander];
    assert!(all.iter().all(|c| c.is_connected()));
    assert!(host.clients().iter().all(|c| c.connected));
}

#[test]
fn a_route_of_255_names_of_255_bytes_goes_out_and_one_more_is_refused() {
    let host = host();
    let sender = client(&host, "sender");
    let known = client(&host, "known");
    let got = known.subscribe("cmd");
    let events = sender.events();
    let mut names: Vec<String> = (0..254).map(|i| format!("{i:0>255}")).collect();
    names.push("known".into());
    let over = [names.clone(), vec!["x".into()]].concat();
    let payload = Bytes::from_static(b"p");
    let err = sender
        .to(To::Names(over))
        .write("cmd", payload.clone())
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    let err = sender
        .to(vec![known.id(); 256])
        .write_lock("cmd", payload)
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    sender
        .to(To::Names(names.clone()))
        .write_lock("cmd", "to 255")
        .unwrap();
    let msg = got.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((text(&msg), msg.from()), ("to 255".to_owned(), sender.id()));
    for name in &names[..254] {
        let (channel, kind) = next_undelivered(&events);
        assert_eq!(channel, "cmd");
        assert!(
            matches!(&kind, ErrorKind::UnknownName(n) if n == name),
            "{kind}"
        );
    }
    assert!(sender.is_connected() && known.is_connected());
}

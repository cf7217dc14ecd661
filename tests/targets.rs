//! Where a write goes: the target as an argument (`To`, `host.to(..)`,
//! `client.to(..)`), the payload kind as a type, and the batch guard on both
//! handles.

#![allow(clippy::unwrap_used)]

mod util;

use bytes::Bytes;
use socketengine::{ClientId, ErrorKind, IMAGE_CHANNEL, Image, Message, PixelFormat, To};
use util::{TIMEOUT, client, host, wait_received};

fn text(msg: &Message) -> String {
    String::from_utf8(msg.payload().to_vec()).unwrap()
}

#[test]
fn a_host_sends_by_name_by_id_list_and_name_list() {
    let host = host();
    let [a, b, c] = ["a", "b", "c"].map(|name| client(&host, name));
    let subs = [&a, &b, &c].map(|client| client.subscribe("cmd"));
    let next = |i: usize| text(&subs[i].recv_timeout(TIMEOUT).unwrap());

    assert_eq!(host.to("b").write_lock("cmd", "by name").unwrap(), 1);
    assert_eq!(next(1), "by name");
    let ids = vec![a.id(), c.id()];
    assert_eq!(host.to(ids).write_lock("cmd", "by ids").unwrap(), 2);
    assert_eq!((next(0), next(2)), ("by ids".into(), "by ids".into()));
    let names = To::Names(vec!["c".into(), "b".into()]);
    assert_eq!(host.to(names).write_lock("cmd", "by names").unwrap(), 2);
    assert_eq!((next(1), next(2)), ("by names".into(), "by names".into()));
    assert!(subs[0].try_recv().is_err(), "a was not named");
}

#[test]
fn an_unknown_name_or_id_is_an_error_that_hands_the_payload_back() {
    let host = host();
    let known = client(&host, "known");
    let cmds = known.subscribe("cmd");
    let payload = Bytes::from_static(b"for nobody");
    let unknown_name = host.to("nobody").write("cmd", payload.clone()).unwrap_err();
    assert!(matches!(unknown_name.kind(), ErrorKind::UnknownName(n) if n == "nobody"));
    assert_eq!(unknown_name.into_payload(), Some(payload.clone()));
    let unknown_id = host.to(ClientId(999)).write_lock("cmd", payload.clone());
    let err = unknown_id.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnknownClient(ClientId(999))
    ));
    // One unknown id in a list: nothing is sent to the others either.
    let list = host
        .to(vec![known.id(), ClientId(999)])
        .write("cmd", payload.clone());
    assert!(matches!(
        list.unwrap_err().kind(),
        ErrorKind::UnknownClient(_)
    ));
    host.to(known.id()).write_lock("cmd", "marker").unwrap();
    assert_eq!(text(&cmds.recv_timeout(TIMEOUT).unwrap()), "marker");
}

#[test]
fn targets_a_side_cannot_send_to_are_unsupported_never_silently_dropped() {
    let host = host();
    let client = client(&host, "router");
    let payload = Bytes::from_static(b"p");
    let results = [
        host.to(To::Host).write("ch", payload.clone()),
        host.to(To::Room("arm".into()))
            .mirror()
            .write_lock("ch", payload.clone()),
        client.to(To::Host).mirror().write("ch", payload.clone()),
        host.to(To::All).mirror().write("ch", payload.clone()),
    ];
    for (i, result) in results.into_iter().enumerate() {
        let err = result.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unsupported(_)),
            "call {i}: {err}"
        );
        assert_eq!(err.into_payload(), Some(payload.clone()), "call {i}");
    }
    // A client's explicit `To::Host` is its plain write.
    assert_eq!(client.to(To::Host).write_lock("ch", "up").unwrap(), 1);
    wait_received(&host, "ch", 1);
}

#[test]
fn a_host_batch_reaches_every_client_whole_and_in_order() {
    let host = host();
    let clients = ["a", "b"].map(|name| client(&host, name));
    let subs = clients.each_ref().map(|c| c.subscribe("arm"));
    let mut batch = host.lock();
    for step in ["lift", "turn", "drop"] {
        batch.write("arm", step).unwrap();
    }
    assert_eq!(batch.finish().unwrap(), 2);
    for sub in &subs {
        let got: Vec<String> = (0..3)
            .map(|_| text(&sub.recv_timeout(TIMEOUT).unwrap()))
            .collect();
        assert_eq!(got, ["lift", "turn", "drop"]);
    }
    // One client by id, through the same guard.
    let mut one = host.to(clients[1].id()).lock();
    one.write("arm", "only b").unwrap();
    assert_eq!(one.finish().unwrap(), 1);
    assert_eq!(text(&subs[1].recv_timeout(TIMEOUT).unwrap()), "only b");
    assert!(subs[0].try_recv().is_err());
}

#[test]
fn an_image_in_a_batch_goes_on_the_image_path() {
    let host = host();
    let camera = client(&host, "camera");
    let frame = Image::new(64, 48, PixelFormat::Gray8, vec![9u8; 64 * 48])
        .unwrap()
        .with_seq(4);
    let mut batch = camera.lock();
    batch.write("pose", "x=1").unwrap();
    batch.write(IMAGE_CHANNEL, &frame).unwrap();
    batch.finish().unwrap();
    wait_received(&host, IMAGE_CHANNEL, 1);
    let got = host.get_image(IMAGE_CHANNEL).unwrap();
    assert_eq!((got.width(), got.height(), got.seq()), (64, 48, 4));
    assert_eq!(text(&host.get("pose").unwrap()), "x=1");
}

#[test]
fn a_forwarded_message_keeps_its_kind_an_image_stays_an_image() {
    let host = host();
    let camera = client(&host, "camera");
    let viewer = client(&host, "viewer");
    let frame = Image::new(640, 480, PixelFormat::Rgb8, vec![7u8; 640 * 480 * 3])
        .unwrap()
        .with_seq(11)
        .with_timestamp_ns(1234);
    camera.write_lock(IMAGE_CHANNEL, &frame).unwrap();
    camera.write_lock("note", "hello").unwrap();
    wait_received(&host, IMAGE_CHANNEL, 1);
    wait_received(&host, "note", 1);
    let images = viewer.subscribe(IMAGE_CHANNEL);
    let notes = viewer.subscribe("note");
    for channel in [IMAGE_CHANNEL, "note"] {
        let msg = host.get(channel).unwrap();
        host.to("viewer").write_lock(channel, &msg).unwrap();
    }
    let got = images
        .recv_timeout(TIMEOUT)
        .unwrap()
        .image()
        .expect("an image");
    assert_eq!(
        (got.width(), got.height(), got.seq(), got.timestamp_ns()),
        (640, 480, 11, 1234)
    );
    assert_eq!(got.data(), frame.data());
    let note = notes.recv_timeout(TIMEOUT).unwrap();
    assert!(note.image().is_none());
    assert_eq!(text(&note), "hello");
}

#[test]
fn a_client_named_twice_in_a_list_gets_the_message_once() {
    let host = host();
    let [a, b] = ["a", "b"].map(|name| client(&host, name));
    let subs = [&a, &b].map(|c| c.subscribe("cmd"));
    let twice = vec![a.id(), b.id(), a.id()];
    assert_eq!(host.to(twice).write_lock("cmd", "once").unwrap(), 2);
    let names = To::Names(vec!["b".into(), "b".into()]);
    assert_eq!(host.to(names).write_lock("cmd", "once more").unwrap(), 1);
    host.write_lock("cmd", "marker").unwrap();
    let got = |i: usize| -> Vec<String> {
        (0..)
            .map(|_| text(&subs[i].recv_timeout(TIMEOUT).unwrap()))
            .take_while(|t| t != "marker")
            .collect()
    };
    assert_eq!(got(0), ["once"]);
    assert_eq!(got(1), ["once", "once more"]);
}

#[test]
fn a_batch_to_nowhere_fails_at_its_first_write_with_the_payload() {
    let host = host();
    let mut batch = host.to("nobody").lock();
    let err = batch.write("cmd", "lost?").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownName(_)));
    assert_eq!(err.into_payload(), Some(Bytes::from_static(b"lost?")));
    assert_eq!(batch.finish().unwrap(), 0, "nothing was added");
    let client = client(&host, "router");
    let err = client
        .to(To::Group("r/cam*".into()))
        .lock()
        .write("cmd", "x")
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    assert_eq!(err.into_payload(), Some(Bytes::from_static(b"x")));
}

#[test]
fn an_image_is_held_to_the_maximum_frame_with_its_header() {
    // Body of a Gray8 image frame on "image": kind, flags, n, the channel
    // (5), the image fields (37), then the pixels.
    const HEADER: usize = 3 + 5 + 37;
    const PIXELS: usize = 64 * 48;
    let max = HEADER + PIXELS;
    let host = util::host_with(|b| b.max_frame(max));
    let camera = util::client_with(&host, "camera", |b| b.max_frame(max));
    let fits = Image::new(64, 48, PixelFormat::Gray8, vec![3u8; PIXELS]).unwrap();
    camera.write_lock(IMAGE_CHANNEL, &fits).unwrap();
    wait_received(&host, IMAGE_CHANNEL, 1);
    assert_eq!(host.get_image(IMAGE_CHANNEL).unwrap().data().len(), PIXELS);
    let over = Image::new(65, 48, PixelFormat::Gray8, vec![3u8; 65 * 48]).unwrap();
    let err = camera.write(IMAGE_CHANNEL, &over).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::FrameTooLarge { max: m, .. } if *m == max));
    assert_eq!(err.into_payload().map(|p| p.len()), Some(65 * 48));
    assert!(camera.is_connected(), "refused before anything was sent");
}

#[test]
fn literals_owned_buffers_and_borrowed_ones_all_arrive_as_sent() {
    let host = host();
    let client = client(&host, "kinds");
    let owned = String::from("owned");
    let vec = b"vec".to_vec();
    client.write_lock("k", "literal").unwrap();
    client.write_lock("k", b"bytes").unwrap();
    client.write_lock("k", &owned).unwrap();
    client.write_lock("k", &vec).unwrap();
    client.write_lock("k", owned.clone()).unwrap();
    client
        .write_lock("k", Bytes::from_static(b"shared"))
        .unwrap();
    wait_received(&host, "k", 6);
    let got: Vec<String> = host.get_all("k").iter().map(text).collect();
    assert_eq!(got, ["literal", "bytes", "owned", "vec", "owned", "shared"]);
}

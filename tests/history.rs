//! History (`Inbox::history`) and latched channels (`HostBuilder::latched`),
//! through the public API with several clients on loopback.

#![allow(clippy::unwrap_used)]

mod util;

use socketengine::{Client, ClientId, Image, PixelFormat};
use util::{
    TIMEOUT, bytes_of, client, client_with, host_with, payloads, wait_received, wait_until,
};

/// Messages `client` has received on `channel` so far.
fn received_by(client: &Client, channel: &str) -> u64 {
    client.channel_stats(channel).map_or(0, |s| s.received)
}

#[test]
fn history_returns_the_last_n_in_order_and_survives_get_all() {
    let host = host_with(|b| b.history_depth(3));
    let (a, b) = (client(&host, "a"), client(&host, "b"));
    for (sender, prefix, total) in [(&a, "a", 5), (&b, "b", 10)] {
        for i in 0..5 {
            sender.write_lock("pose", format!("{prefix}{i}")).unwrap();
        }
        // One sender after the other, so the order on the host is known.
        wait_received(&host, "pose", total);
    }
    let want = bytes_of(&["b2", "b3", "b4"]);
    assert_eq!(payloads(&host.history("pose")), want);
    assert_eq!(host.get_all("pose").len(), 10);
    assert_eq!(payloads(&host.history("pose")), want, "get_all leaves it");
    assert!(host.get_all("pose").is_empty());
    let froms: Vec<_> = host.history("pose").iter().map(|m| m.from()).collect();
    assert_eq!(froms, [b.id(); 3]);
}

#[test]
fn a_channel_history_overrides_the_default_on_a_client() {
    let host = host_with(|b| b);
    let c = client_with(&host, "c", |b| b.history_depth(1).channel_history("cmd", 2));
    for cmd in ["go", "left", "stop"] {
        host.to(c.id()).write_lock("cmd", cmd).unwrap();
        host.to(c.id()).write_lock("log", cmd).unwrap();
    }
    let arrived = || received_by(&c, "cmd") >= 3 && received_by(&c, "log") >= 3;
    assert!(
        wait_until(TIMEOUT, arrived),
        "the client receives every write"
    );
    assert_eq!(payloads(&c.history("cmd")), bytes_of(&["left", "stop"]));
    assert_eq!(payloads(&c.history("log")), bytes_of(&["stop"]));
    assert!(c.history("never").is_empty());
    assert!(
        host.history("cmd").is_empty(),
        "the host keeps none by default"
    );
}

#[test]
fn a_late_client_gets_each_latched_value_at_once_after_connecting() {
    let host = host_with(|b| {
        ["pose", "cam", "mode", "unset"]
            .into_iter()
            .fold(b, |b, ch| b.latched(ch))
    });
    let early = client(&host, "early");
    early.write_lock("pose", "p1").unwrap();
    early.write_lock("pose", "p2").unwrap();
    early.write_lock("plain", "not latched").unwrap();
    let frame = Image::new(4, 2, PixelFormat::Rgb8, vec![7; 24]).unwrap();
    early.write_lock("cam", &frame).unwrap();
    // The host's own write to everyone is latched; one to a chosen client is not.
    assert_eq!(host.write_lock("mode", "auto").unwrap(), 1);
    host.to(early.id()).write_lock("mode", "private").unwrap();
    wait_received(&host, "pose", 2);
    wait_received(&host, "plain", 1);
    assert!(wait_until(TIMEOUT, || host.get_image("cam").is_some()));
    assert_eq!(host.get("mode").unwrap().from(), ClientId::HOST);
    // A client connected before the value existed got it as a normal message.
    assert!(wait_until(TIMEOUT, || received_by(&early, "mode") >= 2));

    let late = client(&host, "late");
    let latched = ["pose", "cam", "mode"];
    let all_in = || latched.iter().all(|ch| received_by(&late, ch) >= 1);
    assert!(wait_until(TIMEOUT, all_in), "every latched value arrives");
    assert_eq!(
        late.get("pose").unwrap().from(),
        early.id(),
        "from its real sender"
    );
    assert_eq!(late.get("mode").unwrap().from(), ClientId::HOST);
    assert_eq!(payloads(&late.get_all("pose")), bytes_of(&["p2"]));
    assert_eq!(payloads(&late.get_all("mode")), bytes_of(&["auto"]));
    let cam = late.get_all("cam");
    assert_eq!(cam.len(), 1);
    let image = cam[0]
        .image()
        .expect("the latched image arrives as an image");
    assert_eq!((image.width(), image.height()), (4, 2));
    assert_eq!(&image.data()[..], &frame.data()[..]);

    // Anything written now comes after the latched values on this connection.
    host.to(late.id()).write_lock("marker", "m").unwrap();
    assert!(wait_until(TIMEOUT, || late.get("marker").is_some()));
    assert_eq!(late.get("plain"), None, "a channel not latched is not sent");
    assert_eq!(late.get("unset"), None);
    assert_eq!(received_by(&late, "pose"), 1);
}

#[test]
fn a_latched_pattern_and_a_widened_interest_send_the_values_not_yet_wanted() {
    let host = host_with(|b| b.latched("map/**").latched("mode"));
    for (channel, value) in [("map/floor", "f1"), ("map/roof", "r1"), ("mode", "auto")] {
        assert_eq!(host.write_lock(channel, value).unwrap(), 0);
    }
    let picky = client(&host, "picky");
    // On connecting: every latched value, a pattern's channels included.
    let all_in = || {
        ["map/floor", "map/roof", "mode"]
            .iter()
            .all(|ch| received_by(&picky, ch) == 1)
    };
    assert!(wait_until(TIMEOUT, all_in), "every latched value arrives");
    // Narrowed to `pose`, it misses the next value of the floor map...
    picky.interest(["pose"]).unwrap();
    assert!(wait_until(TIMEOUT, || host.write("probe", "p").unwrap() == 0));
    assert_eq!(host.write_lock("map/floor", "f2").unwrap(), 0);
    // ... and widened again, it is sent the latched values it did not want
    // before, at once: the floor's latest, and the roof's again.
    picky.interest(["pose", "map/**"]).unwrap();
    let floor = || picky.get("map/floor").map(|m| m.payload().clone());
    assert!(wait_until(TIMEOUT, || floor() == Some("f2".into())));
    assert!(wait_until(TIMEOUT, || received_by(&picky, "map/roof") == 2));
    host.to(picky.id()).write_lock("marker", "m").unwrap();
    assert!(wait_until(TIMEOUT, || picky.get("marker").is_some()));
    assert_eq!(received_by(&picky, "mode"), 1, "still unwanted: not sent");
}

//! A subscriber to `**` on a relaying host that streams large images: what
//! it may cost the host (bounded memory, conflation counted) and that another
//! client's control round trips still complete beside it.
#![allow(clippy::unwrap_used)]

mod util;

use std::io::Write;

use bytes::Bytes;
use socketengine::protocol::{Header, Kind, OP_INTEREST, Pattern, encode_interest};
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, PixelFormat, Relay};
use util::{TIMEOUT, client, client_with, host_with, raw_handshake, wait_until};

/// Images the camera sends.
const FRAMES: u64 = 64;

/// Width and height of each image (RGB): large, and quick in debug builds.
const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;

/// Bytes of one image.
const FRAME: usize = WIDTH as usize * HEIGHT as usize * 3;

/// Image bytes the host may have on their way to a peer unacknowledged.
const WINDOW: usize = 1 << 20;

/// Room for the small frames relayed to the subscriber besides the images
/// (the pinger's pings).
const SMALL_FRAMES: usize = 64 * 1024;

/// The camera sends [`FRAMES`] images (sharing one buffer) with locked
/// writes, the pinger doing a round trip after each; returns once the host
/// has received them all.
fn stream(host: &Host, camera: &Client, pinger: &Client) {
    let data = Bytes::from(vec![0x5a; FRAME]);
    for seq in 0..FRAMES {
        let image = Image::new(WIDTH, HEIGHT, PixelFormat::Rgb8, data.clone());
        let image = image.unwrap().with_seq(seq);
        camera.write_lock(IMAGE_CHANNEL, image).unwrap();
        round_trip(host, pinger);
    }
    let received = || host.image_stats(IMAGE_CHANNEL).received;
    let all = wait_until(TIMEOUT, || received() == FRAMES);
    assert!(all, "the host received {} of {FRAMES} images", received());
}

/// A host relaying as `socketengine host` does, with its image window stated.
/// No heartbeat: a raw subscriber never answers one, and would be timed out.
fn relaying_host() -> Host {
    host_with(|b| b.relay(Relay::Others).image_window(WINDOW).heartbeat(None))
}

/// A client that wants only `pong`, and whose declaration the host has
/// applied (it has answered a ping sent after it).
fn pinger(host: &Host) -> Client {
    let pinger = client(host, "pinger");
    pinger.interest(["pong"]).unwrap();
    round_trip(host, &pinger);
    pinger
}

/// One 64-byte ping from `pinger` to the host, answered to it by id; every
/// wait bounded by [`TIMEOUT`].
fn round_trip(host: &Host, pinger: &Client) {
    pinger
        .write_lock("ping", Bytes::from_static(&[7; 64]))
        .unwrap();
    let pings = host.get_all_timeout("ping", TIMEOUT);
    let ping = pings.last().expect("the host gets the ping");
    host.to(ping.from())
        .write_lock("pong", ping.payload().clone())
        .unwrap();
    let pongs = pinger.get_all_timeout("pong", TIMEOUT);
    assert!(!pongs.is_empty(), "the pong comes back");
}

/// A raw connection that declares interest `**`, then never reads a byte:
/// the host's copies of every image pile up against it unless it conflates.
#[test]
fn a_wildcard_subscriber_that_never_reads_costs_the_host_two_images_and_others_still_get_answers() {
    let host = relaying_host();
    let camera = client(&host, "camera");
    let (mut hog, hog_id) = raw_handshake(&host, "hog");
    let all = [Pattern::new("**").unwrap()];
    // `interest` is the channel the wire spec gives the declaration.
    let header = Header::new(Kind::Control { op: OP_INTEREST }, "interest");
    let declared = header.to_bytes(&encode_interest(&all).unwrap()).unwrap();
    hog.write_all(&declared).unwrap();
    let pinger = pinger(&host);
    stream(&host, &camera, &pinger);

    // The host relays as it receives: every image has been offered to the hog.
    let hog_info = host.clients().into_iter().find(|c| c.id == hog_id);
    let hog_info = hog_info.expect("the hog is still a client");
    assert!(hog_info.connected, "{hog_info:?}");
    assert!(
        hog_info.queued_bytes <= 2 * FRAME + SMALL_FRAMES,
        "the hog holds {} bytes on the host",
        hog_info.queued_bytes
    );
    // Only the hog takes images (the camera sent them, the pinger wants
    // `pong`): what went out to it is within the window it never
    // acknowledged, and all the rest but the image being written and the
    // newest one waiting was replaced and counted.
    let lanes = host.image_stats(IMAGE_CHANNEL);
    assert_eq!(lanes.dropped, hog_info.images_dropped, "{lanes:?}");
    assert!(lanes.sent as usize * FRAME <= WINDOW, "{lanes:?}");
    assert!(
        lanes.sent + hog_info.images_dropped + 2 >= FRAMES,
        "{lanes:?}, {hog_info:?}"
    );
    assert_eq!(pinger.image_stats(IMAGE_CHANNEL).received, 0);
}

/// A `Client` that declares `**` and never calls `get`: its connection is
/// drained by its own event loop, so the host sends what it can; the client
/// keeps a bounded queue and counts what it drops.
#[test]
fn a_wildcard_client_that_never_takes_its_images_keeps_a_bounded_queue_and_counts_the_rest() {
    let host = relaying_host();
    let camera = client(&host, "camera");
    let viewer = client_with(&host, "viewer", |b| b.image_queue_capacity(4));
    viewer.interest(["**"]).unwrap();
    let pinger = pinger(&host);
    stream(&host, &camera, &pinger);
    // Every image is either sent to the viewer or replaced on the host, and
    // the viewer has received every one sent.
    let settled = || {
        let lanes = host.image_stats(IMAGE_CHANNEL);
        let got = viewer.image_stats(IMAGE_CHANNEL).received;
        lanes.sent + lanes.dropped == FRAMES && got == lanes.sent
    };
    assert!(
        wait_until(TIMEOUT, settled),
        "host {:?}, viewer {:?}",
        host.image_stats(IMAGE_CHANNEL),
        viewer.image_stats(IMAGE_CHANNEL)
    );
    let stats = viewer.channel_stats(IMAGE_CHANNEL).unwrap();
    assert_eq!(stats.capacity, 4);
    assert!(stats.queued <= stats.capacity, "{stats:?}");
    assert_eq!(
        stats.dropped,
        stats.received - stats.queued as u64,
        "{stats:?}"
    );
}

//! Time sync through the public API: a client on a skewed clock estimates
//! its host's within the uncertainty it states; pongs with impossible times
//! are rejected and leave the estimate; stamped messages and images arrive
//! with their times on the host's clock, through relays too.
#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socketengine::protocol::{
    DRIFT_PPM, Header, Hello, Kind, QUICK_PINGS, ResumeToken, VERSION, WELCOME_LEN, Welcome,
    WelcomeStatus,
};
use socketengine::{
    Client, ClockEstimate, Host, IMAGE_CHANNEL, Image, Message, PixelFormat, Relay,
};
use util::{TIMEOUT, client_with, fake_peer_with, host, host_with, wait_until};

/// Five seconds, in nanoseconds: the skew of the clients below.
const FIVE_S: i64 = 5_000_000_000;

/// The system clock, in nanoseconds since the Unix epoch.
fn unix_ns() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    since.as_nanos() as u64
}

/// `client`'s estimate once it rests on the welcome and every quick ping,
/// and when it was read.
fn settled(client: &Client) -> (ClockEstimate, Instant) {
    let samples = 1 + usize::from(QUICK_PINGS);
    let done = wait_until(TIMEOUT, || {
        client.clock().is_some_and(|c| c.samples() >= samples)
    });
    assert!(done, "the estimate has {:?}", client.clock());
    (client.clock().unwrap(), Instant::now())
}

/// The distance between two times.
fn gap(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b).unwrap_or_else(|e| e.duration())
}

/// Asserts that `offset` is within `clock`'s uncertainty of `clock`'s offset.
fn assert_within(clock: &ClockEstimate, offset: i64) {
    let error = (clock.offset_ns() - offset).unsigned_abs();
    let uncertainty = clock.uncertainty().as_nanos() as u64;
    assert!(
        error <= uncertainty,
        "off by {error} ns, uncertainty {uncertainty} ns: {clock:?}"
    );
}

#[test]
fn a_skewed_client_finds_its_offset_within_the_uncertainty() {
    let host = host();
    for (name, skew) in [("ahead", FIVE_S), ("behind", -3 * FIVE_S), ("on time", 0)] {
        // A name each: the last one's may still be held while its close lands.
        let client = client_with(&host, name, |b| b.test_clock_skew(skew));
        let (clock, _) = settled(&client);
        // The host's clock minus the client's: minus the skew.
        assert_within(&clock, -skew);
        assert_eq!(clock.rejected(), 0);
        // Loopback round trips: the bound is tight (a loose one proves little).
        assert!(
            clock.uncertainty() < Duration::from_millis(100),
            "{clock:?}"
        );
        client.close();
    }
    let own = host.clock();
    assert_eq!((own.offset_ns(), own.uncertainty()), (0, Duration::ZERO));
}

#[test]
fn an_estimate_starts_with_the_welcome_and_converts_both_ways() {
    let host = host();
    let client = client_with(&host, "cam", |b| b.test_clock_skew(FIVE_S).heartbeat(None));
    // No pings without heartbeats: the welcome's exchange alone.
    let clock = client.clock().expect("an estimate from the welcome");
    assert_eq!(clock.samples(), 1);
    assert_within(&clock, -FIVE_S);
    let local = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let on_host = clock.to_host(local);
    assert_eq!(
        on_host,
        local - Duration::from_nanos(clock.offset_ns().unsigned_abs())
    );
    assert_eq!(clock.to_local(on_host), local);
}

/// A fake host that welcomes with its clock, answers the first pings
/// soundly, then one ping each with an impossible pong, plus one pong to
/// no ping; returns the stream once all are sent.
fn lying_host(skew: i64) -> (std::net::SocketAddr, std::thread::JoinHandle<TcpStream>) {
    let welcome = || {
        let welcome = Welcome {
            version: VERSION,
            status: WelcomeStatus::Accepted,
            client_id: 1,
            host_time_ns: unix_ns(),
            resume: ResumeToken::NONE,
            epoch: 1,
        };
        welcome.encode().to_vec()
    };
    let (addr, accepted) = fake_peer_with(welcome);
    let answering = std::thread::spawn(move || {
        let mut stream = accepted.join().expect("the fake host accepted");
        let mut lies = absurd_answers(skew).into_iter();
        let mut good = usize::from(QUICK_PINGS);
        for _ in 0..10_000 {
            let Kind::Ping { sent_ns } = util::read_frame(&mut stream).kind else {
                continue;
            };
            let (ping, host) = match good.checked_sub(1) {
                Some(left) => {
                    good = left;
                    (sent_ns, unix_ns())
                }
                None => match lies.next() {
                    Some(lie) => lie(sent_ns),
                    None => return stream,
                },
            };
            let pong = Kind::Pong {
                ping_sent_ns: ping,
                sent_ns: host,
            };
            let frame = Header::new(pong, "heartbeat").to_bytes(&[]).unwrap();
            stream.write_all(&frame).expect("pong sent");
        }
        panic!("the client stopped pinging");
    });
    (addr, answering)
}

/// Pongs (the ping's time, the host's clock) with impossible times, made
/// from the ping's time on a client `skew` ns ahead.
#[allow(clippy::type_complexity)]
fn absurd_answers(skew: i64) -> Vec<Box<dyn Fn(u64) -> (u64, u64) + Send>> {
    let on_host = move |ping: u64| ping.saturating_add_signed(-skew);
    vec![
        Box::new(|ping| (ping, 0)),
        Box::new(move |ping| (ping, on_host(ping) + 3_600_000_000_000)),
        Box::new(|ping| (ping, 1)),
        // The host answered 50 ms before the ping left.
        Box::new(move |ping| (ping, on_host(ping) - 50_000_000)),
        // A pong to a ping never sent.
        Box::new(move |ping| (ping - 12_345, on_host(ping))),
    ]
}

#[test]
fn pongs_with_impossible_times_are_rejected_and_leave_the_estimate() {
    let skew = FIVE_S;
    let (addr, answering) = lying_host(skew);
    let client = Client::builder()
        .addr(addr.to_string())
        .test_clock_skew(skew)
        .heartbeat(Some(Duration::from_millis(20)))
        .connect()
        .expect("connects to the fake host");
    let (before, _) = settled(&client);
    assert_within(&before, -skew);
    let lies = absurd_answers(skew).len() as u64;
    let rejected = wait_until(TIMEOUT, || {
        client.clock().is_some_and(|c| c.rejected() >= lies)
    });
    let after = client.clock().unwrap();
    assert!(rejected, "rejected {} of {lies}", after.rejected());
    assert_eq!(
        (after.offset_ns(), after.rtt(), after.samples()),
        (before.offset_ns(), before.rtt(), before.samples()),
        "an absurd pong moved the estimate"
    );
    assert_eq!(after.rejected(), lies);
    assert!(
        client.is_connected(),
        "absurd pongs are not a protocol error"
    );
    drop(answering.join().expect("the fake host answered"));
}

/// Waits for the next message on `channel` of `sub`, with the host's clock
/// just before `send` and just after it arrived.
fn timed_send(
    host: &Host,
    sub: &socketengine::Subscription,
    send: impl FnOnce(),
) -> (SystemTime, Message, SystemTime) {
    let before = host.host_time();
    send();
    let msg = sub.recv_timeout(TIMEOUT).expect("the message arrives");
    (before, msg, host.host_time())
}

/// Asserts that `time`, converted to the host's clock by an estimate no
/// less certain than `clock` read at `read` (a later one is at most as
/// uncertain, plus the drift allowance since), lies within `[before,
/// after]` widened by that uncertainty.
fn assert_between(
    (before, time, after): (SystemTime, SystemTime, SystemTime),
    (clock, read): (&ClockEstimate, Instant),
) {
    let drift = read.elapsed().as_nanos() as u64 * DRIFT_PPM / 1_000_000;
    let slack = clock.uncertainty() + Duration::from_nanos(drift + 1);
    assert!(
        before - slack <= time && time <= after + slack,
        "{time:?} outside {before:?}..{after:?} ± {slack:?}"
    );
}

#[test]
fn a_stamped_message_reads_back_the_host_time_within_the_uncertainty() {
    let host = host_with(|b| b.relay(Relay::Others));
    let sender = client_with(&host, "arm", |b| {
        b.test_clock_skew(FIVE_S).stamp_messages(true)
    });
    let viewer = client_with(&host, "viewer", |b| b.test_clock_skew(-FIVE_S));
    let (clock, read) = settled(&sender);
    let (at_host, relayed) = (host.subscribe("pose"), viewer.subscribe("pose"));
    let (before, msg, after) = timed_send(&host, &at_host, || {
        sender.write_lock("pose", "x=1").unwrap();
    });
    let sent = msg.sent_at().expect("a stamped message");
    assert_between((before, sent, after), (&clock, read));
    // The relay keeps it; the viewer reads the host's clock too, and
    // converts it to its own with its estimate.
    let copy = relayed.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(copy.sent_at(), Some(sent));
    let (viewer_clock, _) = settled(&viewer);
    // The viewer's clock reads five seconds behind the host's.
    let error = gap(viewer_clock.to_local(sent) + Duration::from_secs(5), sent);
    assert!(error <= viewer_clock.uncertainty(), "{error:?}");
    // A route by name keeps it, and so does a message written on.
    let direct = viewer.subscribe("direct");
    sender.to("viewer").write_lock("direct", "hi").unwrap();
    let routed = direct.recv_timeout(TIMEOUT).unwrap();
    assert!(routed.sent_at().is_some());
    let forwarded = host.subscribe("again");
    viewer.write_lock("again", &routed).unwrap();
    let again = forwarded.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(again.sent_at(), routed.sent_at());
}

#[test]
fn messages_are_unstamped_unless_asked_and_a_host_stamps_with_its_clock() {
    let host = host_with(|b| b.stamp_messages(true));
    let plain = client_with(&host, "plain", |b| b);
    let (at_host, at_client) = (host.subscribe("pose"), plain.subscribe("cmd"));
    plain.write_lock("pose", "x").unwrap();
    let msg = at_host.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(msg.sent_at(), None);
    let before = host.host_time();
    host.to("plain").write_lock("cmd", "go").unwrap();
    let cmd = at_client.recv_timeout(TIMEOUT).unwrap();
    let sent = cmd.sent_at().expect("the host stamps");
    assert!(before <= sent && sent <= host.host_time());
}

#[test]
fn an_image_capture_time_arrives_on_the_host_clock() {
    let host = host();
    let camera = client_with(&host, "cam", |b| b.test_clock_skew(FIVE_S));
    let (clock, read) = settled(&camera);
    let frames = host.subscribe(IMAGE_CHANNEL);
    let (before, msg, after) = timed_send(&host, &frames, || {
        // Captured now, on the camera's own (skewed) clock.
        let captured = unix_ns().saturating_add_signed(FIVE_S);
        let frame = Image::new(64, 48, PixelFormat::Gray8, vec![7u8; 64 * 48])
            .unwrap()
            .with_timestamp_ns(captured);
        camera.write_lock(IMAGE_CHANNEL, &frame).unwrap();
    });
    let image = msg.image().expect("an image");
    let captured = UNIX_EPOCH + Duration::from_nanos(image.timestamp_ns());
    assert_between((before, captured, after), (&clock, read));
}

#[test]
fn a_received_image_sent_on_keeps_its_capture_time() {
    let host = host_with(|b| b.relay(Relay::Others));
    let camera = client_with(&host, "cam", |b| b.test_clock_skew(FIVE_S));
    // Its clock reads ten seconds behind the camera's, five behind the host's.
    let viewer = client_with(&host, "viewer", |b| b.test_clock_skew(-FIVE_S));
    let (_, _) = (settled(&camera), settled(&viewer));
    let (frames, again) = (viewer.subscribe(IMAGE_CHANNEL), host.subscribe("again"));
    let captured = unix_ns().saturating_add_signed(FIVE_S);
    let frame = Image::new(64, 48, PixelFormat::Gray8, vec![7u8; 64 * 48])
        .unwrap()
        .with_timestamp_ns(captured);
    assert!(!frame.is_host_time());
    camera.write_lock(IMAGE_CHANNEL, &frame).unwrap();
    let received = frames.recv_timeout(TIMEOUT).unwrap().image().unwrap();
    assert!(received.is_host_time());
    // On the host's clock already: the viewer sends it on as it is.
    viewer.write_lock("again", &received).unwrap();
    let on = again.recv_timeout(TIMEOUT).unwrap().image().unwrap();
    assert_eq!(on.timestamp_ns(), received.timestamp_ns());
    // A time given afresh is on the viewer's own clock again.
    assert!(!received.with_timestamp_ns(unix_ns()).is_host_time());
}

#[test]
fn a_hello_of_the_last_version_is_refused_before_any_frame() {
    let host = host();
    let mut raw = util::raw_connect(&host);
    let mut hello = Vec::new();
    let old = Hello {
        version: VERSION - 1,
        ..Hello::new("old")
    };
    old.encode(&mut hello).unwrap();
    raw.write_all(&hello).unwrap();
    let mut answer = [0u8; WELCOME_LEN];
    raw.read_exact(&mut answer).unwrap();
    let welcome = Welcome::decode(&answer).unwrap().unwrap();
    assert_eq!(
        (welcome.version, welcome.status),
        (VERSION, WelcomeStatus::VersionMismatch)
    );
}

#[test]
fn a_request_made_of_a_stamped_message_goes_without_its_stamp() {
    let host = host_with(|b| b.stamp_messages(true));
    let echo = |req: &socketengine::Request| Ok(req.payload().clone());
    host.on_request("echo", echo).unwrap();
    let arm = client_with(&host, "arm", |b| b.stamp_messages(true));
    let cmds = arm.subscribe("cmd");
    host.to("arm").write_lock("cmd", "go").unwrap();
    let cmd = cmds.recv_timeout(TIMEOUT).unwrap();
    assert!(cmd.sent_at().is_some());
    // Requests carry no send time (the wire refuses one on them): the
    // message's stays behind, and the request goes as any other.
    let reply = arm.request("echo", &cmd, TIMEOUT).unwrap();
    assert_eq!(&reply.payload[..], b"go");
    assert!(arm.is_connected());
}

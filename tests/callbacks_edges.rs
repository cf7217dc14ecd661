//! Callbacks and hooks at their edges, through the public API: a channel's
//! callback outliving the reclaim of idle channels, what waits for a busy
//! callback (bytes, memory, images), a callback replaced while messages
//! wait for it, callbacks calling their own handle, `close` while one is
//! stuck, hooks removed or registered while events wait, and busy callbacks
//! beside the responders' queue.
//!
//! A "stuck" callback waits on a gate the test opens (each wait bounded by
//! `TIMEOUT`); nothing sleeps to synchronise.

#![allow(clippy::unwrap_used)]

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use socketengine::{CallbackId, Image, Message, PixelFormat, To};
use util::{TIMEOUT, client, host, host_with, next_callback_dropped, wait_received, wait_until};

fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(TIMEOUT).expect("the callback runs in time")
}

/// A gate a callback waits at until the test opens it (or `TIMEOUT`).
struct Gate {
    opened: Sender<()>,
    wait: Mutex<Receiver<()>>,
}

impl Gate {
    fn new() -> Arc<Gate> {
        let (opened, wait) = mpsc::channel();
        let wait = Mutex::new(wait);
        Arc::new(Gate { opened, wait })
    }

    fn wait(&self) {
        let _ = self.wait.lock().unwrap().recv_timeout(TIMEOUT);
    }

    fn open(&self) {
        self.opened.send(()).unwrap();
    }
}

/// A callback that reports each payload, and stops at one that starts with
/// `stuck` until `gate` opens (telling `started` when it stops).
fn stuck_at(
    stuck: &'static [u8],
    gate: &Arc<Gate>,
) -> (
    impl Fn(&Message) + Send + Sync + 'static,
    Receiver<()>,
    Receiver<Bytes>,
) {
    let (started_tx, started) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let gate = Arc::clone(gate);
    let f = move |msg: &Message| {
        if msg.payload().starts_with(stuck) {
            let _ = started_tx.send(());
            gate.wait();
        }
        let _ = tx.send(msg.payload().clone());
    };
    (f, started, rx)
}

#[test]
fn a_channel_s_callback_keeps_its_channel_when_idle_ones_are_reclaimed() {
    let host = host_with(|b| b.max_channels(3).channel_idle(Duration::ZERO));
    let (tx, rx) = mpsc::channel();
    host.on("alarm", move |msg| {
        let _ = tx.send(msg.payload().clone());
    })
    .unwrap();
    // A connection holds the channel it last wrote to: "arm" ends on "c".
    let arm = client(&host, "arm");
    arm.write_confirmed("alarm", "1").unwrap();
    assert_eq!(recv(&rx), "1");
    for channel in ["a", "c"] {
        arm.write_confirmed(channel, "x").unwrap();
    }
    // The store is full: "b" takes the place of the channel idle longest
    // that nothing holds, "a", never of "alarm", which its callback holds.
    client(&host, "other").write_confirmed("b", "x").unwrap();
    assert_eq!(host.channels(), ["alarm", "b", "c"]);
    arm.write_confirmed("alarm", "2").unwrap();
    assert_eq!(recv(&rx), "2", "the callback still runs");
    assert_eq!(host.callback_stats().registered, 1);
}

/// A payload of `len` bytes, each `byte`.
fn filled(byte: u8, len: usize) -> Bytes {
    Bytes::from(vec![byte; len])
}

#[test]
fn what_waits_for_a_callback_is_bounded_in_bytes_and_charged_to_memory() {
    const LEN: usize = 100_000;
    let host = host_with(|b| b.callback_queue_bytes(250_000));
    let gate = Gate::new();
    let (f, started, rx) = stuck_at(&[0], &gate);
    host.on_named("slow", "ch", f).unwrap();
    let arm = client(&host, "arm");
    arm.write_confirmed("ch", filled(0, LEN)).unwrap();
    recv(&started);
    // Two wait (200,000 bytes); the three after them would pass the cap.
    for i in 1..=5 {
        arm.write_confirmed("ch", filled(i, LEN)).unwrap();
    }
    let stats = host.callback_stats();
    assert_eq!((stats.queued, stats.dropped), (2, 3), "{stats:?}");
    // The store's queue let go, what the callback holds is still charged:
    // the message it runs and the two waiting.
    assert_eq!(host.get_all("ch").len(), 6);
    let held = host.memory_used();
    assert!(held >= 3 * LEN, "{held}");
    gate.open();
    let got: Vec<u8> = (0..3).map(|_| recv(&rx)[0]).collect();
    assert_eq!(got, [0, 1, 2]);
    assert!(
        wait_until(TIMEOUT, || host.memory_used() <= held - 3 * LEN),
        "given back once run: {} of {held}",
        host.memory_used()
    );
}

/// A small image numbered `seq`.
fn image(seq: u64) -> Image {
    Image::new(4, 2, PixelFormat::Rgb8, vec![seq as u8; 24])
        .unwrap()
        .with_seq(seq)
}

#[test]
fn a_busy_callback_on_images_gets_the_newest_not_a_backlog() {
    let host = host();
    let events = host.events();
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let wait = Arc::clone(&gate);
    host.on_named("view", "cam", move |msg| {
        let seq = msg.image().expect("an image").seq();
        if seq == 0 {
            let _ = started_tx.send(());
            wait.wait();
        }
        let _ = tx.send(seq);
    })
    .unwrap();
    let camera = client(&host, "camera");
    camera.write_lock("cam", image(0)).unwrap();
    recv(&started);
    for seq in 1..=5 {
        camera.write_lock("cam", image(seq)).unwrap();
    }
    wait_received(&host, "cam", 6);
    let stats = host.callback_stats();
    assert_eq!((stats.queued, stats.dropped), (1, 4), "{stats:?}");
    gate.open();
    assert_eq!((recv(&rx), recv(&rx)), (0, 5));
    let dropped = next_callback_dropped(&events);
    assert_eq!(dropped, (r#"callback "view" on "cam""#.to_owned(), 4));
}

#[test]
fn a_callback_replaced_while_messages_wait_drops_them_and_misses_none_after() {
    let host = host();
    let events = host.events();
    let gate = Gate::new();
    let (old, started, old_rx) = stuck_at(b"0", &gate);
    host.on_named("log", "ch", old).unwrap();
    let arm = client(&host, "arm");
    arm.write_confirmed("ch", "0").unwrap();
    recv(&started);
    for i in 1..=3 {
        arm.write_confirmed("ch", format!("{i}")).unwrap();
    }
    assert_eq!(host.callback_stats().queued, 3);
    let (tx, new_rx) = mpsc::channel();
    host.on_named("log", "ch", move |msg| {
        let _ = tx.send(msg.payload().clone());
    })
    .unwrap();
    let stats = host.callback_stats();
    assert_eq!(
        (stats.registered, stats.queued, stats.dropped),
        (1, 0, 3),
        "the three waiting were dropped, counted"
    );
    arm.write_confirmed("ch", "4").unwrap();
    gate.open();
    // The old one ends the call it began; the new one gets what came after.
    assert_eq!(recv(&old_rx), "0");
    assert_eq!(recv(&new_rx), "4");
    let dropped = next_callback_dropped(&events);
    assert_eq!(dropped, (r#"callback "log" on "ch""#.to_owned(), 3));
    arm.write_confirmed("ch", "5").unwrap();
    assert_eq!(recv(&new_rx), "5");
    assert!(old_rx.try_recv().is_err(), "the old one ran no more");
}

#[test]
fn a_callback_may_register_remove_write_and_request_on_its_own_handle() {
    let host = host();
    let arm = client(&host, "arm");
    arm.on_request("ask", |request| Ok(request.payload().clone()))
        .unwrap();
    let pongs = arm.subscribe("pong");
    let (tx, rx) = mpsc::channel();
    let (me, to) = (host.clone(), arm.id());
    host.on("ping", move |_| {
        let id = me.on("other", |_| {}).map(|_| ());
        let removed = me.on("other", |_| {}).map(|id| me.off(id));
        let written = me.to(to).write("pong", "1").map(|_| ());
        let asked = me.to(to).request("ask", "2", TIMEOUT).and_then(|r| r.one());
        let asked = asked.map(|reply| reply.payload);
        let _ = tx.send((id.is_ok(), removed.ok(), written.is_ok(), asked.ok()));
    })
    .unwrap();
    arm.write_confirmed("ping", "go").unwrap();
    let done = recv(&rx);
    assert_eq!(done, (true, Some(true), true, Some(Bytes::from("2"))));
    assert_eq!(&pongs.recv_timeout(TIMEOUT).unwrap().payload()[..], b"1");
    assert_eq!(host.callback_stats().registered, 2, "ping and one other");
    // The callback holds a clone of its host: closing lets go of it.
    host.close();
}

#[test]
fn close_returns_while_a_callback_is_stuck_and_leaves_it_to_end() {
    let host = host_with(|b| b.write_timeout(Duration::from_millis(50)));
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let ended = Arc::new(AtomicBool::new(false));
    let (wait, end) = (Arc::clone(&gate), Arc::clone(&ended));
    host.on("ch", move |_| {
        let _ = started_tx.send(());
        wait.wait();
        end.store(true, Ordering::SeqCst);
    })
    .unwrap();
    let arm = client(&host, "arm");
    arm.write_confirmed("ch", "stuck").unwrap();
    recv(&started);
    host.close();
    assert!(
        !ended.load(Ordering::SeqCst),
        "close returned while the callback was still stuck"
    );
    gate.open();
    assert!(wait_until(TIMEOUT, || ended.load(Ordering::SeqCst)));
}

#[test]
fn a_pattern_callback_and_a_channel_callback_each_get_a_message_once() {
    let host = host();
    let (pattern_tx, pattern) = mpsc::channel();
    let (channel_tx, channel) = mpsc::channel();
    host.on("arm/*", move |msg| {
        let _ = pattern_tx.send(msg.payload().clone());
    })
    .unwrap();
    host.on("arm/left", move |msg| {
        let _ = channel_tx.send(msg.payload().clone());
    })
    .unwrap();
    let arm = client(&host, "arm");
    for payload in ["1", "2"] {
        arm.write_confirmed("arm/left", payload).unwrap();
    }
    for rx in [&pattern, &channel] {
        assert_eq!((recv(rx), recv(rx)), ("1".into(), "2".into()));
    }
}

#[test]
fn a_hook_removed_by_an_earlier_one_is_not_started_for_that_event() {
    let host = host();
    let (tx, rx) = mpsc::channel();
    let removed: Arc<Mutex<Option<CallbackId>>> = Arc::default();
    let (me, next) = (host.clone(), Arc::clone(&removed));
    let a = tx.clone();
    host.on_connect("a", move |_| {
        if let Some(id) = next.lock().unwrap().take() {
            me.off(id);
        }
        let _ = a.send("a");
    })
    .unwrap();
    let b = tx.clone();
    let id = host
        .on_connect("b", move |_| {
            let _ = b.send("b");
        })
        .unwrap();
    *removed.lock().unwrap() = Some(id);
    host.on_connect("c", move |_| {
        let _ = tx.send("c");
    })
    .unwrap();
    let _arm = client(&host, "arm");
    assert_eq!((recv(&rx), recv(&rx)), ("a", "c"), "b was removed first");
    host.close();
}

#[test]
fn a_hook_gets_no_event_queued_before_it_was_registered() {
    let host = host();
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let wait = Arc::clone(&gate);
    // Stops at the first event only: by the next, `started` is dropped.
    host.on_connect("blocker", move |_| {
        if started_tx.send(()).is_ok() {
            wait.wait();
        }
    })
    .unwrap();
    let _first = client(&host, "first");
    recv(&started);
    drop(started);
    let second = client(&host, "second");
    assert!(wait_until(TIMEOUT, || host.callback_stats().queued == 1));
    let (tx, rx) = mpsc::channel();
    host.on_connect("late", move |event| {
        let _ = tx.send(event.client());
    })
    .unwrap();
    gate.open();
    let third = client(&host, "third");
    assert_eq!(recv(&rx), Some(third.id()), "not {:?}", second.id());
}

#[test]
fn busy_callbacks_do_not_make_requests_busy() {
    let host = host_with(|b| b.responder_queue(2));
    host.on_request("ask", |_| Ok("answer")).unwrap();
    let gate = Gate::new();
    let (f, started, _rx) = stuck_at(b"stuck", &gate);
    host.on("a", f).unwrap();
    let (tx, ran) = mpsc::channel();
    for channel in ["b", "c", "d"] {
        let tx = tx.clone();
        host.on(channel, move |msg| {
            let _ = tx.send(msg.channel().to_owned());
        })
        .unwrap();
    }
    let arm = client(&host, "arm");
    arm.write_confirmed("a", "stuck").unwrap();
    recv(&started);
    // Three callbacks' calls wait behind the stuck one: more than the
    // responders' queue holds, and none of it.
    for channel in ["b", "c", "d"] {
        arm.write_confirmed(channel, "x").unwrap();
    }
    let replies = arm.to(To::Host).request("ask", "q", TIMEOUT).unwrap();
    assert!(wait_until(TIMEOUT, || host.request_stats().queued == 1));
    gate.open();
    assert_eq!(&replies.one().unwrap().payload[..], b"answer");
    let mut callbacks: Vec<String> = (0..3).map(|_| recv(&ran)).collect();
    callbacks.sort();
    assert_eq!(callbacks, ["b", "c", "d"]);
    assert_eq!(host.request_stats().busy, 0);
}

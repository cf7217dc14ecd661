//! The store's unit tests: latest, queue, per sender, and waiting readers.

#![allow(clippy::unwrap_used)]

use super::*;

fn msg(from: u64, payload: &'static str) -> Message {
    Message::new(
        name("ch"),
        Bytes::from(payload),
        ClientId(from),
        Instant::now(),
    )
}

fn name(s: &str) -> ChannelName {
    ChannelName::new(s).unwrap()
}

fn payloads(msgs: &[Message]) -> Vec<&[u8]> {
    msgs.iter().map(|m| &m.payload()[..]).collect()
}

#[test]
fn latest_overwrites_and_is_repeatable() {
    let store = Store::new(8, HashMap::new());
    store
        .slot(&name("ch"))
        .push_batch(&mut vec![msg(1, "a"), msg(1, "b")]);
    store.slot(&name("ch")).push_batch(&mut vec![msg(2, "c")]);
    for _ in 0..2 {
        assert_eq!(
            store.get("ch").map(|m| m.into_payload()),
            Some(Bytes::from("c"))
        );
    }
    assert_eq!(store.get("other"), None);
}

#[test]
fn get_all_drains_in_order_then_returns_nothing() {
    let store = Store::new(8, HashMap::new());
    store
        .slot(&name("ch"))
        .push_batch(&mut vec![msg(1, "a"), msg(1, "b")]);
    store.slot(&name("ch")).push_batch(&mut vec![msg(1, "c")]);
    assert_eq!(payloads(&store.get_all("ch")), [b"a", b"b", b"c"]);
    assert!(store.get_all("ch").is_empty());
}

#[test]
fn full_queue_drops_oldest_and_counts() {
    let cases: &[(&[usize], usize, &[&str], u64)] = &[
        (&[5], 3, &["c", "d", "e"], 2),
        (&[2, 3], 3, &["c", "d", "e"], 2),
        (&[4, 1], 3, &["c", "d", "e"], 2),
        (&[1, 1, 1, 1, 1], 2, &["d", "e"], 3),
        (&[5], 0, &[], 5),
    ];
    let letters = ["a", "b", "c", "d", "e"];
    for &(batches, capacity, want, dropped) in cases {
        let store = Store::new(capacity, HashMap::new());
        let mut next = letters.iter();
        for &n in batches {
            let mut batch: Vec<_> = next.by_ref().take(n).map(|p| msg(1, p)).collect();
            store.slot(&name("ch")).push_batch(&mut batch);
        }
        let stats = store.stats("ch").unwrap();
        assert_eq!(
            (stats.dropped, stats.received),
            (dropped, 5),
            "{batches:?} cap {capacity}"
        );
        let got: Vec<_> = store
            .get_all("ch")
            .iter()
            .map(|m| m.payload().clone())
            .collect();
        assert_eq!(
            got,
            want.iter().map(|s| Bytes::from(*s)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn per_channel_capacity_overrides_default() {
    let store = Store::new(8, HashMap::from([("small".to_string(), 1)]));
    assert_eq!(store.slot(&name("small")).state.lock().capacity, 1);
    assert_eq!(store.slot(&name("big")).state.lock().capacity, 8);
}

#[test]
fn by_client_keeps_one_latest_per_sender() {
    let store = Store::new(8, HashMap::new());
    let mut batch = vec![msg(2, "x"), msg(1, "a"), msg(2, "y"), msg(1, "b")];
    store.slot(&name("ch")).push_batch(&mut batch);
    let got = store.get_by_client("ch");
    let got: Vec<_> = got.iter().map(|m| (m.from().0, &m.payload()[..])).collect();
    assert_eq!(got, [(1, &b"b"[..]), (2, &b"y"[..])]);
}

/// Longest a test waits for a thread that should be quick.
const BOUND: Duration = Duration::from_secs(30);

/// Runs `wait` on a thread; the returned closure gives its result, or
/// panics if it takes longer than [`BOUND`].
fn on_a_thread<T: Send + 'static>(wait: impl FnOnce() -> T + Send + 'static) -> impl FnOnce() -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(wait()));
    move || rx.recv_timeout(BOUND).expect("the waiting thread returns")
}

/// Returns once `n` threads sleep on `slot` (or panics after [`BOUND`]):
/// a batch stored or a close made next must wake them.
fn until_asleep(slot: &Slot, n: usize) {
    let deadline = Instant::now() + BOUND;
    while slot.state.lock().sleepers < n {
        assert!(Instant::now() < deadline, "{n} readers come to wait");
        std::thread::yield_now();
    }
}

#[test]
fn a_waiting_subscription_wakes_for_the_next_batch() {
    let store = Store::new(8, HashMap::new());
    let sub = store.subscribe("ch");
    let got = on_a_thread(move || sub.recv());
    let slot = store.slot(&name("ch"));
    until_asleep(&slot, 1);
    slot.push_batch(&mut vec![msg(1, "a")]);
    assert_eq!(got().unwrap().into_payload(), Bytes::from("a"));
}

#[test]
fn closing_ends_subscriptions_after_their_buffer_and_wakes_readers() {
    let store = Arc::new(Store::new(8, HashMap::new()));
    let sub = store.subscribe("ch");
    store
        .slot(&name("ch"))
        .push_batch(&mut vec![msg(1, "a"), msg(1, "b")]);
    let idle = store.subscribe("idle");
    let idle_got = on_a_thread(move || idle.recv());
    let drainer = Arc::clone(&store);
    let drained = on_a_thread(move || drainer.get_all_timeout("idle", Duration::MAX));
    until_asleep(&store.slot(&name("idle")), 2);
    store.close();
    assert!(idle_got().is_err());
    assert!(drained().is_empty());
    assert_eq!(payloads(&sub.try_iter().collect::<Vec<_>>()), [b"a", b"b"]);
    assert_eq!(
        sub.recv_timeout(Duration::ZERO),
        Err(crate::error::RecvTimeoutError::Disconnected)
    );

    // Channels old and new: nothing is waited for once closed.
    for ch in ["ch", "new"] {
        let late = store.subscribe(ch);
        let got = on_a_thread(move || late.recv_timeout(Duration::MAX));
        assert_eq!(got(), Err(crate::error::RecvTimeoutError::Disconnected));
        let store = Arc::clone(&store);
        let drained = on_a_thread(move || store.get_all_timeout("new2", Duration::MAX));
        assert!(drained().is_empty());
    }
}

#[test]
fn a_subscription_times_out_on_a_quiet_channel_and_refuses_bad_names() {
    let store = Store::new(8, HashMap::new());
    let quiet = store.subscribe("quiet");
    assert_eq!(
        quiet.recv_timeout(Duration::ZERO),
        Err(crate::error::RecvTimeoutError::Timeout)
    );
    assert!(quiet.is_empty());
    let bad = store.subscribe("");
    assert_eq!(
        bad.recv_timeout(Duration::MAX),
        Err(crate::error::RecvTimeoutError::Disconnected)
    );
}

#[test]
fn subscriber_sees_every_message_until_full() {
    let store = Store::new(2, HashMap::new());
    let rx = store.subscribe("ch");
    store
        .slot(&name("ch"))
        .push_batch(&mut vec![msg(1, "a"), msg(1, "b"), msg(1, "c")]);
    assert_eq!(payloads(&rx.try_iter().collect::<Vec<_>>()), [b"a", b"b"]);
    assert_eq!(store.stats("ch").unwrap().dropped, 1 + 1);
    drop(rx);
    store.slot(&name("ch")).push_batch(&mut vec![msg(1, "d")]);
    assert!(store.slot(&name("ch")).state.lock().subscribers.is_empty());
}

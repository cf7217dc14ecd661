//! The store's unit tests: latest, queue, per sender, and waiting readers.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;

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

/// A store whose channels keep `depth` messages of history, `ch2` its own
/// `ch2_depth`, with `max_bytes` per channel.
fn with_history(depth: usize, ch2_depth: usize, max_bytes: usize) -> Store {
    Store::new(8, HashMap::new()).keep_history(HistoryRule {
        depth,
        depths: HashMap::from([("ch2".to_string(), ch2_depth)]),
        max_bytes,
    })
}

/// One-letter payloads `letters`, on `channel`, all from client 1.
fn msgs_on(channel: &str, letters: &str) -> Vec<Message> {
    letters
        .chars()
        .map(|c| {
            let payload = Bytes::copy_from_slice(c.to_string().as_bytes());
            Message::new(name(channel), payload, ClientId(1), Instant::now())
        })
        .collect()
}

fn letters(msgs: &[Message]) -> String {
    msgs.iter()
        .map(|m| std::str::from_utf8(m.payload()).unwrap())
        .collect()
}

/// A run of one-letter payloads on "ch" from client 1, declared JSON.
fn run_of(letters: &'static str) -> Run {
    Run {
        chunk: Bytes::from(letters),
        spans: (0..letters.len() as u32).map(|i| (i, i + 1)).collect(),
        channel: name("ch"),
        from: ClientId(1),
        received: Instant::now(),
        encoding: crate::protocol::Encoding::Json,
        stamped: false,
    }
}

#[test]
fn history_keeps_the_newest_n_across_batches_and_runs() {
    // (depth, batches pushed ("+" marks a run), history after)
    let cases: &[(usize, &[&'static str], &str)] = &[
        (0, &["abc"], ""),
        (1, &["abc"], "c"),
        (1, &["ab", "+cd"], "d"),
        (3, &["ab"], "ab"),
        (3, &["abcde"], "cde"),
        (3, &["ab", "cd", "e"], "cde"),
        (3, &["+abcd", "e"], "cde"),
        (3, &["a", "+bcdef"], "def"),
    ];
    for &(depth, batches, want) in cases {
        let store = with_history(depth, depth, usize::MAX);
        let slot = store.slot(&name("ch"));
        for &batch in batches {
            let refused = match batch.strip_prefix('+') {
                Some(run) => slot.push_run(run_of(run)),
                None => slot.push_batch(&mut msgs_on("ch", batch)),
            };
            assert_eq!(refused, 0, "no memory limit");
        }
        assert_eq!(
            letters(&store.history("ch")),
            want,
            "depth {depth} {batches:?}"
        );
        let stored: usize = batches
            .iter()
            .map(|b| b.trim_start_matches('+').len())
            .sum();
        assert_eq!(store.get_all("ch").len(), stored, "the queue is apart");
    }
}

#[test]
fn history_is_not_drained_by_get_all_nor_by_reading_it() {
    let store = with_history(3, 3, usize::MAX);
    store
        .slot(&name("ch"))
        .push_batch(&mut msgs_on("ch", "abcd"));
    assert_eq!(letters(&store.get_all("ch")), "abcd");
    for _ in 0..2 {
        assert_eq!(letters(&store.history("ch")), "bcd");
    }
    assert!(store.get_all("ch").is_empty());
    assert_eq!(letters(&store.get_all("ch")), "");
    store.slot(&name("ch")).push_batch(&mut msgs_on("ch", "e"));
    assert_eq!(letters(&store.get_all("ch")), "e");
    assert_eq!(letters(&store.history("ch")), "cde");
}

#[test]
fn a_channel_history_depth_overrides_the_default() {
    // (default depth, ch2's depth, history of "ch", history of "ch2")
    let cases = [(0, 2, "", "de"), (3, 0, "cde", ""), (1, 4, "e", "bcde")];
    for (depth, ch2_depth, want, want2) in cases {
        let store = with_history(depth, ch2_depth, usize::MAX);
        for ch in ["ch", "ch2"] {
            store.slot(&name(ch)).push_batch(&mut msgs_on(ch, "abcde"));
        }
        assert_eq!(letters(&store.history("ch")), want);
        assert_eq!(letters(&store.history("ch2")), want2);
    }
    assert!(with_history(3, 3, 8).history("never").is_empty());
}

#[test]
fn history_bytes_bound_it_but_keep_the_newest() {
    // (byte cap, payloads, history after)
    let cases: &[(usize, &[&'static str], &[&str])] = &[
        (4, &["ab", "cd", "ef"], &["cd", "ef"]),
        (3, &["ab", "cd", "ef"], &["ef"]),
        (1, &["abc"], &["abc"]),
        (0, &["a", "b"], &["b"]),
    ];
    for &(max_bytes, sent, want) in cases {
        let store = with_history(10, 10, max_bytes);
        let mut batch: Vec<_> = sent.iter().map(|p| msg(1, p)).collect();
        store.slot(&name("ch")).push_batch(&mut batch);
        let got = store.history("ch");
        assert_eq!(
            payloads(&got),
            want.iter().map(|s| s.as_bytes()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn history_shares_payload_buffers_with_the_queue() {
    let store = with_history(2, 2, usize::MAX);
    store.slot(&name("ch")).push_run(run_of("abc"));
    let (queued, kept) = (store.get_all("ch"), store.history("ch"));
    assert_eq!(letters(&kept), "bc");
    assert_eq!(kept[1].payload().as_ptr(), queued[2].payload().as_ptr());
    // Every message of the run, wherever kept, keeps its encoding.
    let latest = store.get("ch").unwrap();
    for msg in queued.iter().chain(&kept).chain([&latest]) {
        assert_eq!(msg.encoding(), crate::protocol::Encoding::Json);
    }
}

#[test]
fn an_own_write_is_the_latest_and_joins_the_history_but_not_the_queue() {
    let store = with_history(2, 2, usize::MAX);
    let sub = store.subscribe("ch");
    store.slot(&name("ch")).push_batch(&mut vec![msg(1, "a")]);
    store.slot(&name("ch")).record_own(Message::new(
        name("ch"),
        Bytes::from("own"),
        ClientId::HOST,
        Instant::now(),
    ));
    let latest = store.get("ch").unwrap();
    assert_eq!(
        (latest.from(), &latest.payload()[..]),
        (ClientId::HOST, &b"own"[..])
    );
    assert_eq!(payloads(&store.history("ch")), [&b"a"[..], b"own"]);
    assert_eq!(payloads(&store.get_all("ch")), [b"a"]);
    assert_eq!(payloads(&sub.try_iter().collect::<Vec<_>>()), [b"a"]);
    assert_eq!(store.stats("ch").unwrap().received, 1);
}

#[test]
fn a_dropped_pattern_subscription_is_forgotten() {
    let store = Store::new(4, HashMap::new());
    let sub = store.subscribe("arm/*");
    let kept = store.subscribe("leg/*");
    drop(sub);
    // The next channel made prunes the list, and is fed only by the living one.
    let slot = store.slot(&name("arm/left"));
    assert_eq!(store.patterns.lock().len(), 1);
    assert!(slot.state.lock().subscribers.is_empty());
    let _leg = store.slot(&name("leg/left"));
    assert_eq!(store.patterns.lock().len(), 1);
    drop(kept);
}

#[test]
fn waiting_on_a_pattern_leaves_nothing_behind() {
    let store = Store::new(4, HashMap::new());
    let slot = store.slot(&name("arm/left"));
    for _ in 0..100 {
        assert!(
            store
                .get_all_timeout("arm/*", Duration::from_micros(10))
                .is_empty()
        );
    }
    assert!(slot.state.lock().subscribers.is_empty());
    assert!(store.patterns.lock().is_empty());
    assert_eq!(store.any.waiters.load(Ordering::SeqCst), 0);
}

#[test]
fn a_dropped_subscription_does_not_keep_its_channel_from_being_reclaimed() {
    let rule = ChannelRule {
        max: 2,
        per_client: usize::MAX,
        idle: Duration::ZERO,
    };
    let store = Store::new(8, HashMap::new()).limit_channels(rule);
    let now = Instant::now();
    let from = Some(ClientId(1));
    for channel in ["a", "b"] {
        let slot = store.slot_for_peer(&name(channel), from, now).unwrap();
        slot.push_batch(&mut vec![msg(1, "x")]);
    }
    let sub = store.subscribe("a");
    let now = Instant::now();
    assert_eq!(
        store.slot_for_peer(&name("c"), from, now).map(|_| ()),
        Ok(()),
        "b makes way; a is held by its subscription"
    );
    assert!(store.get("a").is_some() && store.get("b").is_none());
    drop(sub);
    let later = now + Duration::from_secs(3600);
    assert!(store.slot_for_peer(&name("d"), from, later).is_ok());
    assert!(
        store.get("a").is_none(),
        "a, idle longest and held by none, made way"
    );
    // A client's host is held to no quota.
    let quota = ChannelRule {
        max: usize::MAX,
        per_client: 1,
        idle: Duration::MAX,
    };
    let store = Store::new(8, HashMap::new()).limit_channels(quota);
    for channel in ["h1", "h2", "h3"] {
        assert!(store.slot_for_peer(&name(channel), None, now).is_ok());
    }
    assert!(store.slot_for_peer(&name("p1"), from, now).is_ok());
    assert_eq!(
        store.slot_for_peer(&name("p2"), from, now).map(|_| ()),
        Err(NoSlot::Quota { max: 1 })
    );
}

mod budget;

#[test]
fn a_feed_on_a_channel_keeps_it_from_being_reclaimed() {
    let rule = ChannelRule {
        max: 2,
        per_client: usize::MAX,
        idle: Duration::ZERO,
    };
    let store = Store::new(8, HashMap::new()).limit_channels(rule);
    let feed = Arc::new(Counting::default());
    let held = store.attach(&Source::parse("alarm").unwrap(), feed.clone());
    assert!(held.is_some(), "a channel's feed holds its slot");
    let (from, mut now) = (Some(ClientId(1)), Instant::now());
    let mut push = |channel: &str| {
        now += Duration::from_secs(3600);
        let slot = store.slot_for_peer(&name(channel), from, now);
        slot.map(|slot| slot.push_batch(&mut vec![msg(1, "x")]))
    };
    for channel in ["alarm", "a", "b", "alarm"] {
        assert_eq!(push(channel), Ok(0), "{channel}");
    }
    assert_eq!(store.channels(), ["alarm", "b"], "a made way, alarm never");
    assert_eq!(
        feed.offered(),
        2,
        "the callback still gets alarm's messages"
    );
    // Detached and let go, it goes as any idle channel does.
    store.detach(&(Arc::clone(&feed) as Arc<dyn Feed>));
    drop(held);
    for channel in ["c", "d"] {
        assert_eq!(push(channel), Ok(0), "{channel}");
    }
    assert_eq!(store.channels(), ["c", "d"]);
}

#[test]
fn a_feed_replaced_in_place_leaves_each_batch_to_one_of_them() {
    let store = Store::new(8, HashMap::new());
    for channel in ["arm/left", "arm/*"] {
        let source = Source::parse(channel).unwrap();
        let (old, new) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        let _held = store.attach(&source, old.clone());
        let slot = store.slot(&name("arm/left"));
        slot.push_batch(&mut vec![msg(1, "a"), msg(1, "b")]);
        store.replace(&(Arc::clone(&old) as Arc<dyn Feed>), new.clone());
        slot.push_batch(&mut vec![msg(1, "c")]);
        // A channel made after the swap gets the new one, for a pattern.
        store
            .slot(&name("arm/right"))
            .push_batch(&mut vec![msg(1, "d")]);
        let right = usize::from(channel == "arm/*");
        assert_eq!((old.offered(), new.offered()), (2, 1 + right), "{channel}");
        store.detach(&(new as Arc<dyn Feed>));
    }
    let subscribers = store.slot(&name("arm/left")).state.lock().subscribers.len();
    assert_eq!((subscribers, store.patterns.lock().len()), (0, 0));
}

/// A feed that counts the messages it is offered.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Counting {
    fn offered(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Feed for Counting {
    fn offer(&self, msgs: &mut dyn Iterator<Item = Message>) -> u64 {
        self.0.fetch_add(msgs.count(), Ordering::SeqCst);
        0
    }

    fn is_alive(&self) -> bool {
        true
    }
}

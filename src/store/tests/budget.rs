//! The store's memory budget: what the channels hold, charged and given
//! back, and the room a channel short of memory makes.

use super::*;

/// A message of `len` bytes from `from` on `channel`.
fn sized(channel: &str, from: u64, len: usize) -> Message {
    let payload = Bytes::from(vec![7u8; len]);
    Message::new(name(channel), payload, ClientId(from), Instant::now())
}

/// A store whose channels hold at most `limit` bytes together.
fn within(limit: usize) -> (Store, Arc<Memory>) {
    let memory = Memory::new(limit);
    let store = Store::new(8, HashMap::new()).hold_in(Arc::clone(&memory), usize::MAX);
    (store, memory)
}

#[test]
fn what_a_channel_holds_is_charged_once_and_given_back_as_it_goes() {
    let (store, memory) = within(usize::MAX);
    let slot = store.slot(&name("ch"));
    // 10 KiB (over the compaction size, so the latest values share its
    // buffer with the queue): counted once.
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 1, 10_240)]), 0);
    assert_eq!(memory.used(), 10_240);
    // A small payload's latest values are copies: counted three times.
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 2, 100)]), 0);
    assert_eq!(memory.used(), 2 * 10_240 + 3 * 100);
    assert_eq!(store.get_all("ch").len(), 2);
    assert_eq!(
        memory.used(),
        10_240 + 2 * 100,
        "the queue's share given back"
    );
    store.forget_senders(&[ClientId(1), ClientId(2)]);
    assert_eq!(memory.used(), 100, "the latest value stays");
}

#[test]
fn a_channel_short_of_memory_sheds_the_oldest_of_the_fullest_channels_first() {
    let (store, memory) = within(100_000);
    let big = store.slot(&name("big"));
    // Queued and nobody reads: 60 KiB.
    for _ in 0..6 {
        assert_eq!(big.push_batch(&mut vec![sized("big", 1, 10_240)]), 0);
    }
    assert_eq!(memory.used(), 6 * 10_240);
    // A small channel's message makes room by shedding the big one's queue.
    let small = store.slot(&name("small"));
    assert_eq!(small.push_batch(&mut vec![sized("small", 2, 50_000)]), 0);
    assert!(memory.used() <= 100_000, "{}", memory.used());
    let big_stats = store.stats("big").unwrap();
    assert_eq!(
        (big_stats.dropped, big_stats.queued),
        (2, 4),
        "the oldest, counted"
    );
    assert_eq!(store.get("small").unwrap().payload().len(), 50_000);
    assert!(store.get("big").is_some(), "latest values go last");
}

#[test]
fn a_message_no_shedding_makes_room_for_is_refused_and_counted() {
    let (store, memory) = within(64_000);
    let other = store.slot(&name("other"));
    assert_eq!(other.push_batch(&mut vec![sized("other", 1, 20_000)]), 0);
    let slot = store.slot(&name("ch"));
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 2, 70_000)]), 1);
    assert_eq!(
        store.stats("ch").map(|s| (s.received, s.dropped)),
        Some((0, 1))
    );
    assert!(store.get("ch").is_none());
    // Larger than the whole budget: nothing else was let go for it.
    assert_eq!(memory.used(), 20_000);
    assert!(store.get("other").is_some());
    // One that fits only without a smaller channel's latest value is
    // refused: it costs a smaller channel nothing.
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 2, 50_000)]), 1);
    assert_eq!(memory.used(), 20_000);
    assert!(store.get("other").is_some());
    // A run is refused whole too.
    let run = Run {
        chunk: Bytes::from(vec![1u8; 70_000]),
        spans: vec![(0, 35_000), (35_000, 70_000)],
        channel: name("ch"),
        from: ClientId(3),
        received: Instant::now(),
        encoding: crate::protocol::Encoding::Bytes,
        stamped: false,
    };
    assert_eq!(slot.push_run(run), 2);
    assert_eq!(store.stats("ch").unwrap().dropped, 4);
    assert_eq!(memory.used(), 20_000);
}

#[test]
fn a_message_sheds_only_channels_that_hold_more_than_its_own_will() {
    let (store, memory) = within(100_000);
    let control = store.slot(&name("control"));
    for i in 0..7 {
        assert_eq!(
            control.push_batch(&mut vec![sized("control", 1, 100 + i)]),
            0
        );
    }
    let flood = store.slot(&name("flood"));
    // The flood fills the rest, shedding its own oldest, never the control queue.
    for _ in 0..20 {
        assert_eq!(flood.push_batch(&mut vec![sized("flood", 2, 30_000)]), 0);
    }
    assert_eq!(store.stats("control").unwrap().dropped, 0);
    // With the budget full, a control message sheds the flood's oldest.
    let flood_dropped = store.stats("flood").unwrap().dropped;
    let rest = 100_000 - memory.used();
    memory.take(rest);
    assert_eq!(control.push_batch(&mut vec![sized("control", 1, 200)]), 0);
    assert!(store.stats("flood").unwrap().dropped > flood_dropped);
    assert_eq!(store.get_all("control").len(), 8);
    memory.give_back(rest);
}

#[test]
fn room_nothing_the_channels_hold_could_make_is_refused_without_shedding() {
    let (store, memory) = within(100_000);
    let other = store.slot(&name("other"));
    assert_eq!(other.push_batch(&mut vec![sized("other", 1, 20_000)]), 0);
    // Another holder (an outbox, a frame arriving) fills the budget.
    memory.take(100_000);
    let slot = store.slot(&name("ch"));
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 2, 5_000)]), 1);
    assert!(store.get("other").is_some(), "nothing shed in vain");
    memory.give_back(100_000);
    assert_eq!(memory.used(), 20_000);
}

#[test]
fn shedding_spares_the_values_the_host_latched() {
    let (store, memory) = within(100_000);
    let map = store.slot(&name("map"));
    map.record_own(sized("map", 0, 60_000));
    let slot = store.slot(&name("ch"));
    // 60 000 + 50 000 is over: only what is not latched may go, and that
    // is not enough.
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 2, 50_000)]), 1);
    assert_eq!(store.get("map").unwrap().payload().len(), 60_000);
    assert_eq!(memory.used(), 60_000);
}

#[test]
fn a_channel_with_a_history_asks_room_for_both_copies() {
    let memory = Memory::new(100_000);
    let store = with_history(4, 4, usize::MAX).hold_in(Arc::clone(&memory), usize::MAX);
    let slot = store.slot(&name("ch"));
    // In the queue and in the history: 120 000 counted, over the limit.
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 1, 60_000)]), 1);
    assert_eq!(slot.push_batch(&mut vec![sized("ch", 1, 40_000)]), 0);
    assert_eq!(memory.used(), 80_000);
}

#[test]
fn small_messages_have_a_reserve_that_large_holders_cannot_take() {
    let (store, memory) = within(160_000);
    // Another holder (outboxes, say) takes all it may: the ceiling.
    assert!(memory.try_take(memory.ceiling()));
    let control = store.slot(&name("control"));
    for i in 0..8 {
        assert_eq!(
            control.push_batch(&mut vec![sized("control", 1, 64 + i)]),
            0
        );
    }
    assert_eq!(
        store.get_all("control").len(),
        8,
        "small ones fit the reserve"
    );
    let large = store.slot(&name("large"));
    assert_eq!(large.push_batch(&mut vec![sized("large", 2, 5_000)]), 1);
    assert!(memory.used() <= memory.limit());
    memory.give_back(memory.ceiling());
}

#[test]
fn a_subscription_buffers_its_byte_cap_beyond_one_message_charged_until_taken() {
    let memory = Memory::new(usize::MAX);
    let store = Store::new(8, HashMap::new()).hold_in(Arc::clone(&memory), 15_000);
    let sub = store.subscribe("ch");
    let slot = store.slot(&name("ch"));
    // 20 KiB is over the cap, but a lone message always fits; the next two
    // skip the full buffer and are counted (the queue, drained each time,
    // drops nothing).
    for _ in 0..3 {
        assert_eq!(slot.push_batch(&mut vec![sized("ch", 1, 20_480)]), 0);
        assert_eq!(store.get_all("ch").len(), 1);
    }
    assert_eq!(store.stats("ch").unwrap().dropped, 2);
    let queue_and_latest = memory.used() - 20_480;
    assert_eq!(sub.len(), 1);
    // The subscription's copy is charged apart from the queue's, and given
    // back once taken, when the reader finds the buffer empty (or has taken
    // 64 KiB): then the buffer takes the next one.
    assert_eq!(sub.try_recv().unwrap().payload().len(), 20_480);
    assert_eq!(memory.used(), queue_and_latest + 20_480);
    assert!(sub.try_recv().is_err());
    assert_eq!(memory.used(), queue_and_latest);
    for len in [10_000, 5_000, 1] {
        assert_eq!(slot.push_batch(&mut vec![sized("ch", 1, len)]), 0);
        assert_eq!(store.get_all("ch").len(), 1);
    }
    assert_eq!(sub.len(), 2, "10,000 + 5,000 fill the cap of 15,000");
    assert_eq!(store.stats("ch").unwrap().dropped, 3);
    // Dropped with its buffer, what it held is given back.
    let before = memory.used();
    drop(sub);
    assert_eq!(memory.used(), before - 15_000);
}

#[test]
fn a_pattern_subscription_is_refused_what_the_budget_has_no_room_for() {
    let (store, memory) = within(100_000);
    let sub = store.subscribe("cam/*");
    let slot = store.slot(&name("cam/a"));
    // The queue takes 50,000 and the subscription wants as much again, of
    // the 93,750 a large message may use (a sixteenth is kept for small
    // ones): the subscription's copy is refused and counted.
    assert_eq!(slot.push_batch(&mut vec![sized("cam/a", 1, 50_000)]), 0);
    assert!(sub.is_empty());
    assert_eq!(store.stats("cam/a").unwrap().dropped, 1);
    assert_eq!(memory.used(), 50_000);
    // A small message may use the reserve.
    assert_eq!(slot.push_batch(&mut vec![sized("cam/a", 1, 100)]), 0);
    assert_eq!(sub.try_recv().unwrap().payload().len(), 100);
}

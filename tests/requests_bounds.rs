//! Request/reply within bounds: what requests waiting for a responder may
//! hold (the memory budget, the queue's bytes, one client's share), a
//! request or a copy that forwarding would take past the maximum frame, an
//! answer from before a host restarted, one client's share of the host's
//! forwarding table, a forwarded request its responder never answers, and
//! an answer the requester's full outbox has no room for.
//! Each ends in a typed error for the one who asked, and no connection of
//! anyone else's is closed.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use socketengine::protocol::{Failure, Header, Kind, Route, STATUS_BUSY};
use socketengine::{Client, ErrorKind, Event, Host, HostBuilder, Relay, Replies, Request, To};
use util::{
    TIMEOUT, client, client_with, host_with, raw_handshake, raw_handshake_small, read_frame,
    wait_until,
};

/// A gate a responder waits at: `open` lets every waiter through.
fn gate() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::bounded(0)
}

/// A host whose responder on `q`, asked `hold`, says so on the returned
/// channel and waits at `held`; it records every payload it answers.
fn held_host(
    f: impl FnOnce(HostBuilder) -> HostBuilder,
    held: Receiver<()>,
) -> (Host, Arc<Mutex<Vec<String>>>, Receiver<()>) {
    let host = host_with(f);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let (started_tx, started) = crossbeam_channel::bounded(1);
    host.on_request("q", move |req: &Request| {
        let text = String::from_utf8_lossy(&req.payload()[..]).into_owned();
        if text == "hold" {
            let _ = started_tx.try_send(());
            let _ = held.recv_timeout(TIMEOUT);
        }
        record.lock().unwrap().push(text);
        Ok("ok")
    })
    .unwrap();
    (host, seen, started)
}

/// Whether a request's one answer is `Busy`, else that it is the answer "ok".
fn busy(replies: Replies) -> bool {
    match replies.one() {
        Err(err) if matches!(err.kind(), ErrorKind::Busy(c) if c == "q") => true,
        other => {
            assert_eq!(&other.unwrap().payload[..], b"ok");
            false
        }
    }
}

fn ask(client: &Client, payload: impl Into<Vec<u8>>) -> Replies {
    let payload = payload.into();
    client.to(To::Host).request("q", payload, TIMEOUT).unwrap()
}

/// Lets the held responder go (it may be waiting already, or about to).
fn release(open: &Sender<()>) {
    open.send_timeout((), TIMEOUT).unwrap();
}

#[test]
fn requests_waiting_for_a_responder_are_charged_to_the_memory_and_busy_past_it() {
    const ASKED: usize = 7;
    let (open, held) = gate();
    let (host, _, started) = held_host(|b| b.memory_limit(1 << 20), held);
    let asker = client(&host, "asker");
    let first = ask(&asker, "hold");
    started.recv_timeout(TIMEOUT).unwrap();
    // While the first waits, requests of 200 KiB: the 1 MiB budget (less
    // its reserve) has room for four at most, and the rest are busy.
    let sent: Vec<Replies> = (0..ASKED)
        .map(|_| ask(&asker, vec![7u8; 200 << 10]))
        .collect();
    let counted = |h: &Host| h.request_stats().queued + h.request_stats().busy as usize;
    assert!(wait_until(TIMEOUT, || counted(&host) == ASKED));
    release(&open);
    assert!(!busy(first));
    let refused: Vec<bool> = sent.into_iter().map(busy).collect();
    let taken = refused.iter().take_while(|&&b| !b).count();
    assert!((1..=4).contains(&taken), "{refused:?}");
    assert!(refused[taken..].iter().all(|&b| b), "{refused:?}");
    assert!(
        !busy(ask(&asker, vec![7u8; 200 << 10])),
        "the room came back"
    );
}

#[test]
fn one_client_cannot_fill_the_responder_queue_for_everyone() {
    let (open, held) = gate();
    let (host, seen, _) = held_host(|b| b.responder_queue_per_client(2), held);
    let (greedy, other) = (client(&host, "greedy"), client(&host, "other"));
    let first = ask(&greedy, "hold");
    let second = ask(&greedy, "2");
    assert!(busy(ask(&greedy, "3")), "its two are waiting");
    let others = ask(&other, "4");
    release(&open);
    assert!(!busy(first) && !busy(second) && !busy(others));
    assert_eq!(*seen.lock().unwrap(), ["hold", "2", "4"]);
    // The queue's bytes are bounded too: a lone request passes whatever
    // its size, the next only if both fit.
    let (open, held) = gate();
    let (host, _, _) = held_host(|b| b.responder_queue_bytes(1000), held);
    let asker = client(&host, "asker");
    let waiting = [ask(&asker, "hold"), ask(&asker, vec![1u8; 600])];
    assert!(busy(ask(&asker, vec![2u8; 600])), "1,200 bytes past 1,000");
    let fits = ask(&asker, vec![3u8; 300]);
    release(&open);
    for replies in waiting.into_iter().chain([fits]) {
        assert!(!busy(replies));
    }
}

#[test]
fn a_request_whose_requester_left_is_not_run() {
    let (open, held) = gate();
    let (host, seen, started) = held_host(|b| b, held);
    let (stays, leaves) = (client(&host, "stays"), client(&host, "leaves"));
    let first = ask(&stays, "hold");
    started.recv_timeout(TIMEOUT).unwrap();
    let orphan = ask(&leaves, "orphan");
    assert!(wait_until(TIMEOUT, || host.request_stats().queued == 1));
    leaves.close();
    drop(orphan);
    let gone = |h: &Host| h.clients().iter().filter(|c| c.connected).count() == 1;
    assert!(wait_until(TIMEOUT, || gone(&host)));
    release(&open);
    assert!(!busy(first) && !busy(ask(&stays, "after")));
    assert_eq!(*seen.lock().unwrap(), ["hold", "after"]);
}

#[test]
fn a_request_its_forwarding_would_take_past_the_maximum_frame_fails_too_large() {
    const MAX: usize = 1024;
    let host = host_with(|b| b.max_frame(MAX));
    let events = host.events();
    let arm = client_with(&host, "a", |b| b.max_frame(MAX));
    arm.on_request("grip", |req| Ok(req.payload().clone()))
        .unwrap();
    let planner = client_with(&host, "planner", |b| b.max_frame(1 << 20));
    // Routed by a 1-byte name (4 bytes of route), the request's body is the
    // host's maximum exactly; the origin's 8 bytes in its place add 4.
    let payload = vec![9u8; MAX - (2 + 1 + 4 + 4 + 8)];
    let err = planner.to("a").request("grip", payload, TIMEOUT).unwrap();
    let err = err.one().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ReplyTooLarge { len, max: MAX } if *len == MAX + 4),
        "{err}"
    );
    // Nobody was cut off: the arm answers what fits.
    let reply = planner.to("a").request("grip", "open", TIMEOUT).unwrap();
    assert_eq!(&reply.one().unwrap().payload[..], b"open");
    assert!(arm.is_connected());
    let lost = events
        .try_iter()
        .filter(|e| matches!(e, Event::Disconnected { .. } | Event::Error { .. }));
    assert_eq!(lost.count(), 0);
}

#[test]
fn a_copy_its_origin_would_take_past_the_maximum_frame_is_refused_with_a_notice() {
    const MAX: usize = 1024;
    let host = host_with(|b| b.max_frame(MAX).relay(Relay::Others));
    let reader = client_with(&host, "b", |b| b.max_frame(MAX));
    let pose = reader.subscribe("pose");
    let sender = client_with(&host, "sender", |b| b.max_frame(1 << 20));
    let events = sender.events();
    // Unrouted, the body is the maximum exactly; the relayed copy adds the
    // origin's 8 bytes. Routed by a 1-byte name, it adds 4.
    sender.write_lock("pose", vec![1u8; MAX - 7]).unwrap();
    sender
        .to("b")
        .write_lock("pose", vec![2u8; MAX - 11])
        .unwrap();
    for _ in 0..2 {
        let (channel, kind) = util::next_undelivered(&events);
        assert_eq!(channel, "pose");
        assert!(
            matches!(&kind, ErrorKind::HostLimit(why) if why.contains("origin")),
            "{kind:?}"
        );
    }
    // The reader stayed, and gets what fits.
    sender.write_lock("pose", "small").unwrap();
    let msg = pose.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(&msg.payload()[..], b"small");
    assert!(reader.is_connected());
}

#[test]
fn an_answer_from_before_a_host_restart_does_not_answer_the_new_hosts_request() {
    let first = Host::builder().addr("127.0.0.1:0").start().unwrap();
    let addr = first.local_addr().to_string();
    let arm = Client::builder()
        .addr(&addr)
        .name("arm")
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect()
        .unwrap();
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let (open, held) = gate();
    arm.on_request("slow", move |req: &Request| {
        if &req.payload()[..] == b"old" {
            started_tx.send(()).unwrap();
            let _ = held.recv_timeout(TIMEOUT);
        }
        Ok(req.payload().clone())
    })
    .unwrap();
    // The first host's request (its id 1) is running when the host goes.
    let old = first.to(arm.id()).request("slow", "old", TIMEOUT).unwrap();
    started.recv_timeout(TIMEOUT).unwrap();
    first.close();
    drop(old);
    let second = Host::builder().addr(&addr).start().unwrap();
    let back = |h: &Host| h.clients().iter().any(|c| c.connected);
    assert!(wait_until(TIMEOUT, || back(&second) && arm.is_connected()));
    // The new host's first request has id 1 too.
    let id = second.clients()[0].id;
    let new = second.to(id).request("slow", "new", TIMEOUT).unwrap();
    release(&open);
    assert_eq!(&new.one().unwrap().payload[..], b"new");
}

#[test]
fn one_client_cannot_fill_the_forwarding_table_for_everyone() {
    let host = host_with(|b| b.heartbeat(None).max_forwards_per_client(2));
    let (_arm, _) = raw_handshake(&host, "arm");
    let (greedy, other) = (client(&host, "greedy"), client(&host, "other"));
    let waiting: Vec<Replies> = (0..2)
        .map(|_| greedy.to("arm").request("q", "", TIMEOUT).unwrap())
        .collect();
    let err = greedy.to("arm").request("q", "", TIMEOUT).unwrap().one();
    let err = err.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooManyRequests { max: 2 }),
        "{err}"
    );
    let others = other.to("arm").request("q", "", TIMEOUT).unwrap();
    assert!(wait_until(TIMEOUT, || host.request_stats().forwarded == 3));
    // The greedy client leaves: its entries go, the other's stays.
    greedy.close();
    assert!(wait_until(TIMEOUT, || host.request_stats().forwarded == 1));
    drop((waiting, others));
}

#[test]
fn a_forwarded_request_never_answered_times_out_at_the_host_and_its_requester_is_told() {
    const FORWARD: Duration = Duration::from_millis(200);
    let host = host_with(|b| b.heartbeat(None).forward_timeout(FORWARD));
    let (_arm, _) = raw_handshake(&host, "arm");
    let planner = client(&host, "planner");
    let replies = planner.to("arm").request("q", "", TIMEOUT).unwrap();
    let err = replies.one().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TimedOut(t) if *t == FORWARD),
        "{err}"
    );
    assert_eq!(host.request_stats().forwarded, 0);
}

#[test]
fn an_answer_a_full_outbox_has_no_room_for_is_replaced_by_busy() {
    const BUDGET: usize = 64 << 10;
    let host = host_with(|b| {
        b.heartbeat(None)
            .write_deadline(None)
            .outbox_budget(BUDGET)
            .send_buffer(4096)
    });
    let (open, held) = gate();
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let arm = client(&host, "arm");
    arm.on_request("grip", move |_| {
        started_tx.send(()).unwrap();
        let _ = held.recv_timeout(TIMEOUT);
        // Most of the budget: what the kernel may still take of the outbox
        // meanwhile leaves no room for it.
        Ok(vec![0u8; BUDGET - (8 << 10)])
    })
    .unwrap();
    // A requester that asks the arm, then reads nothing; its kernel takes
    // a few KiB at most, far less than the answer.
    let (mut asker, asker_id) = raw_handshake_small(&host, "asker");
    let route = Route::Names(vec!["arm".into()]);
    let request = Header {
        route: Some(&route),
        ..Header::new(Kind::Request { id: 5 }, "grip")
    };
    asker
        .write_all(&request.to_bytes(b"open").unwrap())
        .unwrap();
    started.recv_timeout(TIMEOUT).unwrap();
    // While the arm holds its answer, the asker's outbox at the host fills
    // to its budget, to the byte, and again after each turn of the host's
    // loop (a service request through it), until twice in a row the loop
    // has written all the kernel takes and the outbox is still full.
    let full = |len: usize| {
        let write = host.to(asker_id).write("fill", vec![0u8; len]);
        matches!(
            write.map_err(|e| e.into_kind()),
            Err(ErrorKind::Full { .. })
        )
    };
    let mut still = 0;
    for _ in 0..1000 {
        still = match full(1) {
            true => still + 1,
            false => {
                assert!((0..10_000).any(|_| full(16 << 10)));
                assert!((0..100_000).any(|_| full(1)));
                0
            }
        };
        if still == 2 {
            break;
        }
        arm.clients().unwrap();
    }
    assert_eq!(still, 2, "the outbox stays full");
    // Counted as given up: the fills refused so far, then the answer. Only
    // once the host has refused it may the asker read (reading sooner
    // would make the room the answer is to find none of).
    let given_up = || {
        let clients = host.clients();
        let asker = clients.iter().find(|c| c.id == asker_id);
        asker.expect("the asker is connected").dropped
    };
    let refused = given_up();
    release(&open);
    assert!(
        wait_until(TIMEOUT, || given_up() > refused),
        "the answer refused"
    );
    // Read back: what filled the outbox, then the failure in the answer's place.
    let reply = (0..100_000)
        .map(|_| read_frame(&mut asker))
        .find(|frame| matches!(frame.kind, Kind::Reply { .. }))
        .expect("a reply");
    assert_eq!(
        reply.kind,
        Kind::Reply {
            id: 5,
            status: STATUS_BUSY
        }
    );
    let failure = Failure::from_reply(STATUS_BUSY, &reply.payload);
    assert_eq!(failure, Failure::Busy("grip".into()));
    assert_eq!(reply.origin, Some(arm.id().0));
}

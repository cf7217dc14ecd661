//! Descriptors and threads released on disconnect, on a failed connect, and
//! on close (a responder closing its own handle included).
//! Alone in their binary: they count the process's open descriptors and
//! threads, which tests running beside them would move; the tests here take
//! turns for the same reason.

#![allow(clippy::unwrap_used)]

mod util;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socketengine::{Client, To};
use util::{TIMEOUT, client, closed_port_addr, host, wait_until};

/// Held by each test here, so that none counts while another runs.
static ALONE: Mutex<()> = Mutex::new(());

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// This process's event-loop threads (named `socketengine-…`; `/proc` cuts
/// a thread's name to 15 bytes). The test harness's own threads, such as one
/// waiting for `ALONE`, come and go and are not counted.
fn threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.starts_with("socketengine"))
        .count()
}

#[test]
fn disconnected_clients_release_their_descriptors() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let host = host();
    let warm = client(&host, "warm");
    drop(warm);
    let before = open_fds();
    for i in 0..50 {
        let c = client(&host, &format!("gone{i}"));
        c.close();
    }
    // Each closed client held a socket and an event-loop thread's epoll fd;
    // the host side must let go of its two handles on each socket too.
    assert!(
        wait_until(TIMEOUT, || host.clients().iter().all(|c| !c.connected)),
        "host saw every disconnect"
    );
    let after = open_fds();
    assert!(
        after <= before + 2,
        "{before} descriptors before, {after} after"
    );
}

#[test]
fn a_failed_connect_leaves_no_thread_or_descriptor_behind() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let refused = closed_port_addr().to_string();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = silent.local_addr().unwrap().to_string();
    let before = (open_fds(), threads());
    for addr in [&refused, &silent].into_iter().cycle().take(10) {
        let result = Client::builder()
            .addr(addr)
            .connect_timeout(Duration::from_millis(50))
            .connect();
        assert!(result.is_err(), "{addr}");
    }
    // `connect` joined each loop before returning its error: nothing to wait for.
    assert_eq!((open_fds(), threads()), before);
}

#[test]
fn a_responder_closing_its_handle_while_another_thread_closes_it_leaves_no_thread() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let before = threads();
    let host = host();
    let closing = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let (own, seen) = (host.clone(), Arc::clone(&closing));
    host.on_request("stop", move |_| {
        started_tx.send(()).unwrap();
        // Closes its own handle while the test's thread closes it too.
        assert!(wait_until(TIMEOUT, || seen.load(Ordering::Acquire)));
        own.close();
        Ok("closed")
    })
    .unwrap();
    let asker = client(&host, "asker");
    let replies = asker.to(To::Host).request("stop", "", TIMEOUT).unwrap();
    started.recv_timeout(TIMEOUT).unwrap();
    closing.store(true, Ordering::Release);
    host.close();
    // `close` returned: the loop and the dispatcher are joined.
    assert_eq!(threads(), before + 1, "the client's loop alone");
    drop(replies);
    asker.close();
    assert_eq!(threads(), before);
}

//! Descriptors released on disconnect. Alone in its binary: it counts the
//! process's open descriptors, which tests running beside it would move.

#![allow(clippy::unwrap_used)]

mod util;

use util::{TIMEOUT, client, host, wait_until};

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[test]
fn disconnected_clients_release_their_descriptors() {
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

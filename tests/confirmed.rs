//! Confirmed writes: `Ok` once the host has the message, and an error that
//! says why when it may not.

#![allow(clippy::unwrap_used)]

mod util;

use bytes::Bytes;
use socketengine::ErrorKind;
use util::{client, host, host_with};

#[test]
fn a_confirmed_write_is_stored_by_the_host_when_it_returns() {
    let host = host();
    let c = client(&host, "c");
    for i in 0..200u32 {
        c.write_confirmed("count", i.to_string()).unwrap();
        // No waiting: the host stored it before the write returned.
        let latest = host.get("count").unwrap();
        assert_eq!(&latest.payload()[..], i.to_string().as_bytes());
    }
    assert_eq!(host.get_all("count").len(), 200);
    // A route is confirmed once the host has passed it on.
    let other = client(&host, "other");
    let n = c.to("other").write_confirmed("cmd", "go").unwrap();
    assert_eq!(n, 1);
    assert!(util::wait_until(util::TIMEOUT, || other
        .get("cmd")
        .is_some()));
}

#[test]
fn what_the_host_refuses_comes_back_to_the_writer_with_its_payload() {
    let host = host_with(|b| b.memory_limit(1 << 20));
    let c = client(&host, "c");
    let huge = Bytes::from(vec![1u8; (1 << 20) + 1]);
    let err = c.write_confirmed("huge", huge.clone()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::HostLimit(_)), "{err}");
    assert_eq!(err.into_payload(), Some(huge));
    let err = c.to("nobody").write_confirmed("cmd", "x").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownName(n) if n == "nobody"),
        "{err}"
    );
    assert_eq!(err.into_payload(), Some(Bytes::from_static(b"x")));
    // What it keeps is confirmed as ever.
    c.write_confirmed("small", "ok").unwrap();
    assert!(host.get("small").is_some());
}

#[test]
fn a_confirmed_write_to_a_host_that_is_gone_fails_and_a_host_cannot_confirm() {
    let host = host();
    let c = client(&host, "c");
    let err = host.to(c.id()).write_confirmed("x", "y").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unsupported(_)), "{err}");
    host.close();
    let err = c.write_confirmed("lost", "maybe").unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::NotConnected | ErrorKind::TimedOut(_) | ErrorKind::Closed
        ),
        "{err}"
    );
    assert_eq!(err.into_payload(), Some(Bytes::from_static(b"maybe")));
}

//! Zero copy on the image path, shown by counting allocations: a broadcast to
//! four clients allocates no payload; a received image's pixels sit in the
//! one buffer the socket read them into, grown to their exact size as they
//! arrived; and once the application has let go of earlier images, the next
//! one lands in one of their buffers and allocates none.
//!
//! Its own test binary, because it installs a counting global allocator.
#![allow(clippy::unwrap_used)]

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use socketengine::IMAGE_CHANNEL;
use util::{TIMEOUT, client, frame_1080p as frame, host, wait_until};

/// Allocations at least this large are recorded (address and size).
const LARGE: usize = 1 << 20;
const SLOTS: usize = 1024;

struct Counting;

static LARGE_ADDR: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LARGE_SIZE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LARGE_COUNT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Bytes allocated by this thread while `COUNTING` is set.
    static MINE: Cell<usize> = const { Cell::new(0) };
}

#[allow(unsafe_code)]
// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping only reads the layout and the returned address.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc(layout) };
        record(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        record(new, new_size);
        new
    }
}

fn record(ptr: *mut u8, size: usize) {
    let _ = MINE.try_with(|m| m.set(m.get() + size));
    if size >= LARGE {
        let i = LARGE_COUNT.fetch_add(1, Ordering::Relaxed);
        if i < SLOTS {
            LARGE_ADDR[i].store(ptr as usize, Ordering::Relaxed);
            LARGE_SIZE[i].store(size, Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Large allocations recorded from index `from` on.
fn large_since(from: usize) -> Vec<(usize, usize)> {
    let to = LARGE_COUNT.load(Ordering::Relaxed).min(SLOTS);
    (from..to)
        .map(|i| {
            let addr = LARGE_ADDR[i].load(Ordering::Relaxed);
            (addr, LARGE_SIZE[i].load(Ordering::Relaxed))
        })
        .collect()
}

/// Both properties in one test, so no other test's allocations interleave.
#[test]
fn images_are_neither_copied_on_broadcast_nor_on_receive() {
    let host = host();
    let clients: Vec<_> = (0..4).map(|i| client(&host, &format!("view{i}"))).collect();
    assert!(wait_until(TIMEOUT, || host.clients().len() == 4));
    let len = 1920 * 1080 * 3;

    // Broadcast: this thread allocates a little bookkeeping, no payload.
    let img = frame(1);
    let before = MINE.with(Cell::get);
    assert_eq!(host.write(IMAGE_CHANNEL, &img).unwrap(), 4);
    let allocated = MINE.with(Cell::get) - before;
    assert!(
        allocated < 64 * 1024,
        "a broadcast of a {len}-byte image to 4 clients allocated {allocated} bytes"
    );

    // The broadcast image arrives whole at every client.
    for c in &clients {
        assert!(wait_until(TIMEOUT, || c
            .get_image(IMAGE_CHANNEL)
            .is_some_and(|i| i.seq() == 1)));
        assert_eq!(c.get_image(IMAGE_CHANNEL).unwrap().data(), img.data());
    }

    // Receive: the host's image is in a buffer of exactly its size, which
    // the socket read into, grown as the bytes arrived (doubling, so the
    // steps before the last add up to less than twice its size).
    let second = frame(2);
    let mark = LARGE_COUNT.load(Ordering::Relaxed);
    clients[0].write_lock(IMAGE_CHANNEL, &second).unwrap();
    let mut got = None;
    assert!(wait_until(TIMEOUT, || {
        got = host.get_image(IMAGE_CHANNEL).filter(|i| i.seq() == 2);
        got.is_some()
    }));
    let got = got.unwrap();
    assert_eq!(got.data(), second.data());
    let large = large_since(mark);
    assert_eq!(
        large.last(),
        Some(&(got.data().as_ptr() as usize, len)),
        "the received pixels are not in a {len}-byte buffer grown for them: {large:?}"
    );
    let large_bytes: usize = large.iter().map(|(_, s)| s).sum();
    assert!(
        large_bytes < 3 * len,
        "receiving one image allocated {large:?}"
    );

    // Steady state: with the queue drained and a newer image latest, image
    // 2's buffer is free again and image 4 lands in it, allocating nothing.
    drop(got);
    clients[0].write_lock(IMAGE_CHANNEL, frame(3)).unwrap();
    assert!(wait_until(TIMEOUT, || host
        .get_image(IMAGE_CHANNEL)
        .is_some_and(|i| i.seq() == 3)));
    host.get_all(IMAGE_CHANNEL);
    let fourth = frame(4);
    let mark = LARGE_COUNT.load(Ordering::Relaxed);
    clients[0].write_lock(IMAGE_CHANNEL, fourth).unwrap();
    assert!(wait_until(TIMEOUT, || host
        .get_image(IMAGE_CHANNEL)
        .is_some_and(|i| i.seq() == 4)));
    let large = large_since(mark);
    assert!(large.is_empty(), "a steady stream allocated {large:?}");
}

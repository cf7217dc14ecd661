//! Message callbacks: how many 64-byte messages per second reach a callback
//! on the host, beside a reader thread draining the same stream, in one run.
//!
//! * `callback_64B_one_way/get_all` — `throughput`'s `small_64B_one_way`
//!   engine pair: one client writes with unlocked `write` (flush and retry
//!   on `Full`), a reader thread on the host drains the channel with
//!   `get_all_timeout` and counts.
//! * `callback_64B_one_way/callback` — the same writer; the host counts in
//!   a callback (`host.on`), which its dispatcher thread runs on each
//!   message. Its queue ([`callback_queue`](socketengine::HostBuilder::callback_queue))
//!   is twice the writer's window, so nothing is dropped.
//!
//! One iteration is [`BATCH`] messages, timed until all were counted;
//! `thrpt` is messages per second. Read the ratio `callback / get_all`.
//! The writer keeps at most [`WINDOW`] messages uncounted in both.
//!
//! Run with `cargo bench --bench callbacks`.

mod util;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use socketengine::{Client, Host};

use util::harness::engine::{EngineOneWay, write_unlocked};
use util::harness::{Counter, OneWay, OrFail, TIMEOUT};

/// Messages in one iteration.
const BATCH: u64 = 100_000;

/// Most messages the writer may have sent and not yet seen counted.
const WINDOW: u64 = 1 << 16;

/// The payload of every message.
static PAYLOAD: [u8; 64] = [0x5a; 64];

const CHANNEL: &str = "ch";

/// A client streaming to a host whose callback on [`CHANNEL`] counts.
struct CallbackOneWay {
    host: Host,
    client: Client,
    /// Shared with the callback, which adds to it.
    counter: Arc<Counter>,
    sent: u64,
}

impl CallbackOneWay {
    fn start() -> io::Result<CallbackOneWay> {
        let capacity = usize::try_from(2 * WINDOW).or_fail("bench window")?;
        let host = Host::builder()
            .addr("127.0.0.1:0")
            .queue_capacity(capacity)
            .callback_queue(capacity)
            .write_timeout(TIMEOUT)
            .start()
            .or_fail("cannot start the bench host")?;
        let counter = Arc::new(Counter::default());
        let count = Arc::clone(&counter);
        host.on(CHANNEL, move |msg| count.add(1, msg.payload().len() as u64))
            .or_fail("the host's callback")?;
        let client = Client::builder()
            .addr(host.local_addr().to_string())
            .name("bench-writer")
            .write_timeout(TIMEOUT)
            .connect()
            .or_fail("cannot connect the bench client")?;
        Ok(CallbackOneWay {
            host,
            client,
            counter,
            sent: 0,
        })
    }

    fn shutdown(self) {
        self.client.close();
        self.host.close();
    }
}

impl OneWay for CallbackOneWay {
    /// As the harness's engine writer: unlocked, flush and retry on `Full`,
    /// at most [`WINDOW`] uncounted.
    fn send(&mut self, payload: &Bytes) -> io::Result<()> {
        self.sent += 1;
        if self.sent % (WINDOW / 64) == 0 && self.sent - self.counter.messages() > WINDOW {
            self.wait_for(self.sent - WINDOW, "writer waiting for the callback")?;
        }
        write_unlocked(&self.client, payload, |p| self.client.write(CHANNEL, p))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.client.flush().or_fail("flush")
    }

    fn received(&self) -> &Counter {
        &self.counter
    }

    fn wait_for(&self, target: u64, what: &str) -> io::Result<()> {
        self.counter.wait_for(target, what, || {
            let stats = self.host.callback_stats();
            format!("callback stats: {stats:?}")
        })
    }
}

/// Times `BATCH` messages through `pair` per iteration.
fn measure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    pair: &mut impl OneWay,
) {
    let payload = Bytes::from_static(&PAYLOAD);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let target = pair.received().messages() + iters * BATCH;
            let start = Instant::now();
            for _ in 0..iters * BATCH {
                pair.send(&payload).expect("send");
            }
            pair.wait_for(target, id).expect("every message counted");
            start.elapsed()
        });
    });
}

fn callback_64b_one_way(c: &mut Criterion) {
    let mut group = c.benchmark_group("callback_64B_one_way");
    group.throughput(Throughput::Elements(BATCH));
    let mut reader = EngineOneWay::start(CHANNEL, WINDOW).expect("start the reader pair");
    measure(&mut group, "get_all", &mut reader);
    reader.shutdown().expect("stop the reader pair");
    let mut callback = CallbackOneWay::start().expect("start the callback pair");
    measure(&mut group, "callback", &mut callback);
    let dropped = callback.host.callback_stats().dropped;
    assert_eq!(dropped, 0, "the callback missed messages");
    callback.shutdown();
    group.finish();
}

fn main() {
    let mut c = util::config().configure_from_args();
    let ids = [
        "callback_64B_one_way/get_all",
        "callback_64B_one_way/callback",
    ];
    if util::selected(&ids) {
        callback_64b_one_way(&mut c);
    }
    c.final_summary();
}

//! Request/reply round trips beside raw TCP and the engine's own write
//! ping-pong, all of 64 bytes, in one run.
//!
//! * `request_rtt_64B` — one round trip each:
//!   * `raw_tcp`: std sockets, a 4-byte prefix, an echo thread (the
//!     harness's [`RawPingPong`]);
//!   * `write_pingpong`: the engine's ping-pong of `throughput`'s
//!     `pingpong_64B` (a `write_lock`, an echo thread on the host answering
//!     with `host.to(id).write_lock`, the client waiting on a subscription);
//!   * `request_to_host`: `client.request("echo", ..)`, answered by the
//!     host's responder (which hands the payload back) on the host's
//!     dispatcher thread;
//!   * `request_through_host`: `planner.to("arm").request("echo", ..)`: the
//!     host forwards it to the client `arm`, whose responder answers on its
//!     dispatcher thread, and forwards the answer back.
//!
//!   `time` is one round trip. Before the Criterion runs, the group prints
//!   p50 / p90 / p99 / p99.9 of each over 20,000 round trips, measured in
//!   interleaved blocks of 2,000 so that all see the same noise, and the
//!   ratios of p50 to raw TCP's (the target: a request within 1.5 ×).
//! * `requests_64_in_flight` — `request_to_host` with 64 requests sent
//!   before the first answer is taken; `thrpt` is requests per second.
//!
//! Run with `cargo bench --bench requests`; filter with a benchmark name.

mod util;

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use socketengine::{Client, Host, Replies, To};

use util::harness::engine::EnginePingPong;
use util::harness::raw::RawPingPong;
use util::harness::{RoundTrip, TIMEOUT};

/// The payload of every round trip.
const PAYLOAD: [u8; 64] = [0x5a; 64];

/// Requests sent at once by `requests_64_in_flight`.
const IN_FLIGHT: usize = 64;

/// The group of round trips.
const GROUP: &str = "request_rtt_64B";

/// The arrangements, in the order they are printed.
const NAMES: [&str; 4] = [
    "raw_tcp",
    "write_pingpong",
    "request_to_host",
    "request_through_host",
];

/// A host whose responder on `echo` answers with the payload it was asked.
fn echo_host() -> Host {
    let host = Host::builder()
        .addr("127.0.0.1:0")
        .write_timeout(TIMEOUT)
        .start()
        .expect("start the bench host");
    host.on_request("echo", |req| Ok(req.payload().clone()))
        .expect("the host's responder");
    host
}

fn client(host: &Host, name: &str) -> Client {
    Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .write_timeout(TIMEOUT)
        .connect()
        .expect("connect a bench client")
}

/// `request_to_host` and `request_through_host`.
struct Requester {
    host: Host,
    client: Client,
    /// The client the requests go to through the host, if any.
    arm: Option<Client>,
    payload: Bytes,
}

impl Requester {
    fn to_host() -> Requester {
        let host = echo_host();
        let client = client(&host, "planner");
        let payload = Bytes::from_static(&PAYLOAD);
        Requester {
            host,
            client,
            arm: None,
            payload,
        }
    }

    fn through_host() -> Requester {
        let mut requester = Requester::to_host();
        let arm = client(&requester.host, "arm");
        arm.on_request("echo", |req| Ok(req.payload().clone()))
            .expect("the arm's responder");
        requester.arm = Some(arm);
        requester
    }

    fn send(&self) -> Replies {
        let to = match self.arm {
            Some(_) => To::Name("arm".into()),
            None => To::Host,
        };
        let target = self.client.to(to);
        target
            .request("echo", self.payload.clone(), TIMEOUT)
            .expect("send a request")
    }

    fn shutdown(self) {
        self.client.close();
        if let Some(arm) = self.arm {
            arm.close();
        }
        self.host.close();
    }
}

impl RoundTrip for Requester {
    fn round_trip(&mut self) -> io::Result<()> {
        let reply = self.send().one().map_err(io::Error::from)?;
        match reply.payload.len() == PAYLOAD.len() {
            true => Ok(()),
            false => Err(io::Error::other("a short answer")),
        }
    }
}

/// One round trip of `pp`, which must succeed.
fn round_trip(pp: &mut dyn RoundTrip) {
    pp.round_trip().expect("a round trip");
}

/// p50, p90, p99 and p99.9 of `samples` (sorted in place; not empty).
fn percentiles(samples: &mut [Duration]) -> [Duration; 4] {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    [at(0.50), at(0.90), at(0.99), at(0.999)]
}

/// Prints the percentiles of every arrangement, measured in interleaved
/// blocks, and each one's p50 over raw TCP's.
fn report(all: &mut [&mut dyn RoundTrip; 4]) {
    const WARM_UP: usize = 2_000;
    const BLOCK: usize = 2_000;
    const BLOCKS: usize = 10;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); all.len()];
    for pp in all.iter_mut() {
        (0..WARM_UP).for_each(|_| round_trip(&mut **pp));
    }
    for _ in 0..BLOCKS {
        for (pp, s) in all.iter_mut().zip(&mut samples) {
            s.extend((0..BLOCK).map(|_| {
                let start = Instant::now();
                round_trip(&mut **pp);
                start.elapsed()
            }));
        }
    }
    let pct: Vec<[Duration; 4]> = samples.iter_mut().map(|s| percentiles(s)).collect();
    println!(
        "{GROUP} percentiles over {} round trips each:",
        BLOCK * BLOCKS
    );
    for (name, p) in NAMES.iter().zip(&pct) {
        let ratio = p[0].as_secs_f64() / pct[0][0].as_secs_f64();
        println!(
            "  {name:>20}: p50 {:>8.1?}  p90 {:>8.1?}  p99 {:>8.1?}  p99.9 {:>8.1?}  p50 / raw_tcp {ratio:.2}",
            p[0], p[1], p[2], p[3]
        );
    }
}

/// `request_rtt_64B`: every arrangement, side by side.
fn request_rtt(c: &mut Criterion) {
    let payload = Bytes::from_static(&PAYLOAD);
    let mut raw = RawPingPong::start(&PAYLOAD).expect("start the baseline pair");
    let mut write = EnginePingPong::start(payload).expect("start the engine pair");
    let mut to_host = Requester::to_host();
    let mut through = Requester::through_host();
    let ids: Vec<String> = NAMES.iter().map(|n| format!("{GROUP}/{n}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    if util::selected(&ids) {
        report(&mut [&mut raw, &mut write, &mut to_host, &mut through]);
    }
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    let all: [(&str, &mut dyn RoundTrip); 4] = [
        (NAMES[0], &mut raw),
        (NAMES[1], &mut write),
        (NAMES[2], &mut to_host),
        (NAMES[3], &mut through),
    ];
    for (name, pp) in all {
        group.bench_function(name, |b| b.iter(|| round_trip(&mut *pp)));
    }
    group.finish();
    raw.shutdown().expect("stop the baseline pair");
    write.shutdown().expect("stop the engine pair");
    to_host.shutdown();
    through.shutdown();
}

/// `requests_64_in_flight`: 64 requests out before the first answer is taken.
fn requests_in_flight(c: &mut Criterion) {
    let requester = Requester::to_host();
    let mut group = c.benchmark_group("requests_64_in_flight");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.bench_function("request_to_host", |b| {
        b.iter(|| {
            let sent: Vec<Replies> = (0..IN_FLIGHT).map(|_| requester.send()).collect();
            for replies in sent {
                replies.one().expect("an answer");
            }
        })
    });
    group.finish();
    requester.shutdown();
}

fn main() {
    let mut c = util::config().configure_from_args();
    request_rtt(&mut c);
    requests_in_flight(&mut c);
    c.final_summary();
}

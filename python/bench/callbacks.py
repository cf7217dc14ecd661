"""Python callbacks per second: a host's `on` callback (it counts and
returns) called with 64-byte messages a client sends in batches
(`write_many`); the rate is the count over the time from the first write to
the last call. The dispatcher thread takes the GIL for each call: this is
the figure to compare before and after a change to how it does.

    python python/bench/callbacks.py [--rounds 7] [--count 200000]

Host and client are in this process; the median round is printed, with the
process's CPU time per call. A measurement, not a test.
"""

import argparse
import statistics
import threading
import time

import socketengine as se


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=200_000)
    args = parser.parse_args()
    rates, cpus = [], []
    with se.Host("127.0.0.1:0", queue_capacity=1 << 20, callback_queue=1 << 20, callback_queue_bytes=1 << 30) as host, se.Client(host.local_addr, "w") as client:
        seen = [0]
        done = threading.Event()

        def count(_msg):
            seen[0] += 1
            if seen[0] == args.count:
                done.set()

        host.on("c", count)
        batch = [("c", bytes(64))] * 1000
        for _ in range(args.rounds):
            seen[0] = 0
            done.clear()
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.count // len(batch)):
                try:
                    client.write_many(batch)
                except se.FullError as err:
                    client.flush()
                    client.write_many(batch[err.written:])
            if not done.wait(60):
                raise SystemExit(f"only {seen[0]} of {args.count} callbacks in 60 s: {host.callback_stats()}")
            rates.append(args.count / (time.perf_counter() - start))
            cpus.append((time.process_time() - cpu) / args.count)
        stats = host.callback_stats()
    print(f"callbacks/s  median {statistics.median(rates):,.0f}  (min {min(rates):,.0f}, max {max(rates):,.0f})")
    print(f"process CPU per callback  median {statistics.median(cpus) * 1e6:.2f} us")
    print(f"callback_stats: {stats}")


if __name__ == "__main__":
    main()

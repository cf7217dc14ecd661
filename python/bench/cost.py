"""The binding's CPU cost per small message, on each side: the thread CPU
time (`time.thread_time`) the calling thread spends in `write_many` (64-byte
messages, batches of 1,000) and in `get_all`, per message. The engine's own
threads are not counted, and the machine's load sways thread CPU time far
less than it sways rates: this is the figure to compare before and after a
change to the binding's write or read path.

    python python/bench/cost.py [--rounds 7] [--batches 300]

Host and client are in this process (the engine's threads do the I/O); the
median round is printed. A measurement, not a test.
"""

import argparse
import statistics
import time

import socketengine as se


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    writes, reads = [], []
    with se.Host("127.0.0.1:0", queue_capacity=1 << 20) as host, se.Client(host.local_addr, "w") as client:
        batch = [("small", bytes(64))] * 1000
        for _ in range(args.rounds):
            start = time.thread_time()
            for _ in range(args.batches):
                try:
                    client.write_many(batch)
                except se.FullError as err:
                    client.flush()
                    client.write_many(batch[err.written:])
            writes.append((time.thread_time() - start) / (args.batches * len(batch)))
            client.flush()
            client.write_lock("done", b"")
            host.get_all_timeout("done", 5.0)
            start, got = time.thread_time(), 0
            while batch_read := host.get_all("small"):
                got += len(batch_read)
            if got:
                reads.append((time.thread_time() - start) / got)
    print(f"write_many: {statistics.median(writes) * 1e9:.0f} ns per message; "
          f"get_all: {statistics.median(reads) * 1e9:.0f} ns per message (calling thread's CPU)")


if __name__ == "__main__":
    main()

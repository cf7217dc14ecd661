"""Rates from Python to a Python reader on loopback: 64-byte messages sent
with `write_many` and read with `get_all_timeout`, and 1080p RGB frames sent
with `write_image_lock` (from distinct numpy arrays, larger than the caches)
and read with `get_all_timeout`, the reader touching each frame.

    python python/bench/rates.py [--secs 5]

The reader (a Host) is this process; the writer (a Client) is a child
process, so the two do not share a GIL. A measurement, not a test.
"""

import argparse
import subprocess
import sys
import time

import numpy as np

import socketengine as se

BATCH = 1000
FRAME = (1080, 1920, 3)


def write(workload, addr, secs, **options):
    """The child: writes `workload` to the host at `addr` for `secs` seconds
    (a client with `options`)."""
    with se.Client(addr, "writer", **options) as client:
        deadline = time.monotonic() + secs
        if workload == "small":
            batch = [("small", bytes(64))] * BATCH
            while time.monotonic() < deadline:
                try:
                    client.write_many(batch)
                except se.FullError as err:
                    client.flush()
                    client.write_many(batch[err.written:])
        else:
            frames = [np.full(FRAME, i, dtype=np.uint8) for i in range(4)]
            for frame in frames:
                frame.flags.writeable = False  # sent without a copy
            seq = 0
            while time.monotonic() < deadline:
                client.write_image_lock("cam", frames[seq % len(frames)], seq=seq)
                seq += 1
        client.flush()
        client.write_lock("done", b"")


def read(host, workload, secs):
    """Counts what arrives until the writer says it is done; returns the count
    and the seconds from the first arrival to the last."""
    channel = "small" if workload == "small" else "cam"
    child = subprocess.Popen([sys.executable, __file__, "--write", workload, host.local_addr, str(secs)])
    count, first, last, touched = 0, None, None, 0
    while host.get("done") is None and child.poll() is None:
        batch = host.get_all_timeout(channel, 0.2)
        if not batch:
            continue
        now = time.monotonic()
        first = first or now
        last = now
        count += len(batch)
        if workload == "frames":
            for msg in batch:
                pixels = np.asarray(msg.image)
                touched += int(pixels[0, 0, 0]) + int(pixels[-1, -1, -1])
    if child.wait() != 0:
        raise SystemExit(f"the writer failed (exit status {child.returncode})")
    dropped = host.channel_stats(channel).dropped
    return count, (last - first) if first else 0.0, dropped


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secs", type=float, default=5.0)
    parser.add_argument("--write", nargs=3, metavar=("WORKLOAD", "ADDR", "SECS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        workload, addr, secs = args.write
        return write(workload, addr, float(secs))
    for workload in ("small", "frames"):
        with se.Host("127.0.0.1:0", queue_capacity=1 << 20, image_queue_capacity=64) as host:
            count, seconds, dropped = read(host, workload, args.secs)
        rate = count / seconds if seconds else 0.0
        if workload == "small":
            print(f"64 B write_many -> get_all_timeout: {rate:,.0f} msgs/s ({count:,} in {seconds:.2f} s, {dropped} dropped)")
        else:
            gbps = rate * np.prod(FRAME) / 1e9
            print(f"1080p write_image_lock -> get_all_timeout: {rate:,.1f} frames/s, {gbps:.2f} GB/s "
                  f"({count} in {seconds:.2f} s, {dropped} dropped)")


if __name__ == "__main__":
    main()

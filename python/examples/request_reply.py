"""Request and reply both ways: a host answers requests on `add` with a
Python responder (`on_request`), a client asks it; then the host asks a
client by name (`host.to("worker").request(...)`), whose own responder
answers. Responders run on the handle's dispatcher thread; requests wait
without the GIL, and Ctrl-C interrupts them.

    python python/examples/request_reply.py [--count 1000]
"""

import argparse
import statistics
import time

import socketengine as se


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default="127.0.0.1:0", help="where the host listens (default: a free port)")
    parser.add_argument("--count", type=int, default=1000, help="requests to time (default 1000)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds each request may take")
    args = parser.parse_args()

    with se.Host(args.addr) as host, se.Client(host.local_addr, "worker") as worker:
        # The host's responder: JSON in, JSON out (a dict's answer is JSON).
        host.on_request("add", lambda req: {"sum": sum(req.json())})
        # A client's responder, which the host (or another client) asks by name.
        worker.on_request("upper", lambda req: req.payload.decode().upper())

        print("worker asks the host: add [1, 2, 3] ->", worker.request("add", se.Json([1, 2, 3])).json())
        reply = host.to("worker").request("upper", b"hello", timeout=args.timeout).one()
        print("host asks the worker: upper 'hello' ->", bytes(reply.payload).decode())

        try:
            worker.request("missing", b"", timeout=args.timeout)
        except se.NoResponderError as err:
            print("a channel without a responder:", type(err).__name__)

        samples = []
        for i in range(args.count):
            start = time.perf_counter()
            answer = worker.request("add", se.Json([i, 1]), timeout=args.timeout).json()
            samples.append(time.perf_counter() - start)
            assert answer == {"sum": i + 1}
        if samples:
            us = sorted(s * 1e6 for s in samples)
            print(f"{len(us)} requests: p50 {statistics.median(us):.0f} us, "
                  f"p99 {us[min(len(us) - 1, int(len(us) * 0.99))]:.0f} us")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

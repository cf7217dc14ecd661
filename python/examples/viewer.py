"""Shows the frames a camera streamer sends: a `Client` that connects (and
keeps trying until the streamer is there) and reads each frame from a
subscription, without a copy: `numpy.asarray(msg.image)` is a view of the
bytes the socket read.

With OpenCV (`cv2`) and a display it shows them with `imshow` (press q to
quit); without, it prints the rate it receives at once a second.

    python python/examples/viewer.py [--addr 127.0.0.1:7000] [--secs 10] [--count 100]
"""

import argparse
import os
import time

import numpy as np

import socketengine as se


def display():
    """`cv2` if it can show windows here, else None."""
    if not os.environ.get("DISPLAY") and os.name != "nt":
        return None
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default="127.0.0.1:7000", help="the streamer's address (default 127.0.0.1:7000)")
    parser.add_argument("--secs", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--no-window", action="store_true", help="print rates even if OpenCV could show frames")
    args = parser.parse_args()

    cv2 = None if args.no_window else display()
    start = time.monotonic()
    deadline = start + args.secs if args.secs is not None else None
    with se.Client.start(args.addr, "viewer") as client:
        frames = client.subscribe(se.IMAGE_CHANNEL)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not client.wait_connected(left):
            raise SystemExit(f"no streamer at {args.addr}")
        print(f"connected to {client.host_addr}", flush=True)
        total, shown, count, skipped = 0, time.monotonic(), 0, 0
        while args.count is None or total < args.count:
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                break
            msg = frames.recv(timeout=left)
            if msg is not None and msg.image is not None:
                pixels = np.asarray(msg.image)
                total += 1
                count += 1
                if cv2 is not None:
                    frame = pixels if msg.image.format == "bgr8" else pixels[:, :, ::-1]
                    cv2.imshow("socketengine viewer", frame)
                    if cv2.waitKey(1) & 0xFF == ord("q"):
                        break
            now = time.monotonic()
            if now - shown >= 1.0:
                skipped = client.image_stats().skipped
                print(f"{count / (now - shown):6.1f} frames/s, {skipped} skipped so far", flush=True)
                count, shown = 0, now
        print(f"received {total} frames", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

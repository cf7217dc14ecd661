"""Streams camera frames to every viewer that connects: a `Host` that writes
each frame with `write_image` (unlocked: a viewer that falls behind gets the
newest frame, never a backlog).

With OpenCV (`cv2`) it reads a webcam (`--camera 0`); without it, or with
`--synthetic`, it draws a moving bar. It prints the rate it sends at once a
second.

    python python/examples/camera_streamer.py [--addr 127.0.0.1:7000] [--fps 30] [--secs 10]
    python python/examples/viewer.py --addr 127.0.0.1:7000
"""

import argparse
import time

import numpy as np

import socketengine as se


def synthetic(width, height):
    """Frames of a bar moving across a gradient, as RGB numpy arrays."""
    base = np.zeros((height, width, 3), dtype=np.uint8)
    base[:, :, 2] = np.linspace(0, 255, width, dtype=np.uint8)
    frame = base.copy()
    x = 0
    while True:
        np.copyto(frame, base)
        frame[:, x:x + width // 16, 0] = 255
        yield frame
        x = (x + max(1, width // 100)) % width


def webcam(index, width, height):
    """Frames from an OpenCV camera (BGR), or None if there is none."""
    try:
        import cv2
    except ImportError:
        return None
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        return None
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def frames():
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
        finally:
            cap.release()

    return frames()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default="127.0.0.1:7000", help="where viewers connect (default 127.0.0.1:7000)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second at most (default 30)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--camera", type=int, default=0, help="OpenCV camera index (default 0)")
    parser.add_argument("--synthetic", action="store_true", help="draw frames even if OpenCV and a camera are there")
    parser.add_argument("--secs", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many frames")
    args = parser.parse_args()

    frames, fmt = None, "rgb8"
    if not args.synthetic:
        frames, fmt = webcam(args.camera, args.width, args.height), "bgr8"
    if frames is None:
        frames, fmt = synthetic(args.width, args.height), "rgb8"
        print("camera: synthetic frames (no OpenCV or no camera)", flush=True)

    deadline = time.monotonic() + args.secs if args.secs is not None else None
    period = 1.0 / args.fps
    with se.Host(args.addr) as host:
        print(f"streaming on {host.local_addr}", flush=True)
        sent, seq, shown = 0, 0, time.monotonic()
        next_at = time.monotonic()
        for frame in frames:
            now = time.monotonic()
            if (deadline is not None and now >= deadline) or (args.count is not None and seq >= args.count):
                break
            if host.write_image(se.IMAGE_CHANNEL, frame, seq=seq, format=fmt):
                sent += 1
            seq += 1
            if now - shown >= 1.0:
                viewers = sum(c.connected for c in host.clients())
                print(f"{sent / (now - shown):6.1f} frames/s to {viewers} viewer(s)", flush=True)
                sent, shown = 0, now
            next_at += period
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the camera, not synchronising
            else:
                next_at = time.monotonic()
        host.flush()
        print(f"done: {seq} frames", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

#!/usr/bin/env python3
"""The best frame ages a 30 frames/s camera can have over a link that carries
one frame in T ms, with nothing but the link in the way (no queue, no
scheduling): the arithmetic the camera workload's figures are held against.

    python3 benches/shaped/trace/ideal.py [T_MS ...]   (default 52: raw 1080p
                                                        over 1 Gbit)

The sender has one frame in flight at a time and starts the newest capture
the moment the link frees ("newest"), or waits for the next capture so that
every frame leaves as it is taken ("fresh": fewer frames, none waits). The
reader either polls the newest image at 30 Hz (every poll counted, as
`ImageStats` does; or each frame once, at its first poll), at a phase to the
camera's ticks spread evenly over a period and pooled (a reader not locked to
the camera), or waits for each image and gets it as it lands. Each frame's
time on the link varies by up to 2 ms.
"""
import random
import sys

P = 1000 / 30  # ms between captures and between polls


def arrivals(t_ms, fresh, frames, rng):
    """(arrival, capture) of each frame the sender starts."""
    out, free, last = [], 0.0, -1
    while len(out) < frames:
        tick = int(free // P)  # the newest capture, by its index
        start = free
        if tick <= last or (fresh and free > tick * P):
            # Sent already, or not fresh: the next capture, when it comes.
            tick = max(tick, last) + 1
            start = tick * P
        last = tick
        free = start + t_ms + rng.uniform(0, 2)
        out.append((free, tick * P))
    return out


def polls(frames, phase):
    """Ages at every poll, and at each frame's first poll."""
    every, first, i, seen, j = [], [], -1, None, 1
    while True:
        t = j * P + phase
        j += 1
        while i + 1 < len(frames) and frames[i + 1][0] <= t:
            i += 1
        if i + 1 >= len(frames):
            return every, first
        if i < 0:
            continue
        every.append(t - frames[i][1])
        if seen != i:
            first.append(t - frames[i][1])
            seen = i


def pct(values, q):
    values = sorted(values)
    return values[round((len(values) - 1) * q)]


def main():
    rng = random.Random(1)
    for t_ms in [float(a) for a in sys.argv[1:]] or [52.0]:
        for fresh in (False, True):
            every, first, waited, rate = [], [], [], 0
            for k in range(40):
                frames = arrivals(t_ms, fresh, 1000, rng)
                e, f = polls(frames, k * P / 40)
                every += e
                first += f
                waited += [a - c for a, c in frames]
                rate = len(frames) / (frames[-1][0] / 1000)
            policy = "fresh" if fresh else "newest"
            print(f"T {t_ms:.0f} ms, sender {policy}: {rate:.1f} frames/s; "
                  f"polled every poll p50/p99 {pct(every, .5):.0f}/{pct(every, .99):.0f} ms, "
                  f"first poll p99 {pct(first, .99):.0f} ms; "
                  f"waiting reader p50/p99 {pct(waited, .5):.0f}/{pct(waited, .99):.0f} ms")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Per-frame timeline of the camera workload, from a binary built with
camera-trace.patch (see README.md beside this file).

    python3 benches/shaped/trace/analyse.py STDERR_FILE [-v]

For each camera run (raw polled, raw waited, JPEG polled) and each frame the
sender started, in milliseconds:
  queue       capture -> the unlocked write returned (the frame is on the lane)
  wait        capture -> its first chunk taken for the socket (it waited on
              the lane for the frame ahead of it; a newer capture replaces it
              meanwhile, so only the newest waits)
  send        first chunk taken -> last chunk taken (the frame crossing the link)
  first       first chunk taken -> the host saw its image frame
  done        first chunk taken -> the host stored it whole
  ack         first chunk taken -> the acknowledgement covering its last byte
  read        stored -> the reader's first get of it
  arrive_age  capture -> stored (the age a reader that waits sees)
  age         capture -> the reader's first get
  gap         the previous frame's last byte acknowledged -> this frame's
              first chunk taken (negative: it started while the previous
              frame's last window was in flight)
  overlap     bytes of the previous frame unacknowledged when this one started
  win         the image window when it started, bytes
  stalls      during its send, the sum of the pauses of more than 2 ms
              between acknowledgements (the window of about 1 ms of link
              ran dry: neither side's loop ran meanwhile)
"""
import bisect
import sys


def pct(values, q):
    values = sorted(values)
    return values[round((len(values) - 1) * q)] if values else float("nan")


def parse(path):
    runs, cur = [], None
    for line in open(path):
        if not line.startswith("TRACE"):
            continue
        f = line.split()
        if f[1] == "run":
            cur = {"name": f[2], "cap": {}, "start": {}, "moved": {}, "acks": [],
                   "rxfirst": {}, "rxdone": {}, "read": {}}
            runs.append(cur)
        elif cur is None:
            continue
        elif f[1] == "cap":
            cur["cap"][int(f[2])] = (int(f[3]), int(f[4]))
        elif f[1] == "start":
            cur["start"][int(f[2])] = (int(f[3]), int(f[4]), int(f[5]))
        elif f[1] == "moved":
            cur["moved"][int(f[2])] = (int(f[3]), int(f[4]))
        elif f[1] == "ack":
            cur["acks"].append((int(f[2]), int(f[3])))
        else:
            cur[f[1]].setdefault(int(f[2]), int(f[3]))
    return runs


def stalls(acks, start, end):
    times = [at for _, at in acks if start <= at <= end]
    pauses = [(b - a) / 1e6 for a, b in zip(times, times[1:])]
    return sum(p for p in pauses if p > 2)


def frames(run):
    acks = run["acks"]
    totals = [a[0] for a in acks]

    def ack_at(offset):
        i = bisect.bisect_left(totals, offset)
        return acks[i][1] if i < len(acks) else None

    def acked_by(t):
        return max((tot for tot, at in acks if at <= t), default=0)

    ms = lambda a, b: (b - a) / 1e6 if a is not None and b is not None else None
    seqs = sorted(run["start"])
    for n, seq in enumerate(seqs):
        if seq not in run["cap"] or seq not in run["moved"]:
            continue
        cap, queued = run["cap"][seq]
        started, _, window = run["start"][seq]
        moved, end = run["moved"][seq]
        stored, read = run["rxdone"].get(seq), run["read"].get(seq)
        row = dict(seq=seq, queue=ms(cap, queued), wait=ms(cap, started),
                   send=ms(started, moved), first=ms(started, run["rxfirst"].get(seq)),
                   done=ms(started, stored), ack=ms(started, ack_at(end)),
                   read=ms(stored, read), arrive_age=ms(cap, stored), age=ms(cap, read),
                   gap=None, overlap=None, win=window, stalls=stalls(acks, started, moved))
        prev = seqs[n - 1] if n else None
        if prev in run["moved"]:
            row["gap"] = ms(ack_at(run["moved"][prev][1]), started)
            row["overlap"] = run["moved"][prev][1] - acked_by(started)
        yield row


def main():
    for run in parse(sys.argv[1]):
        rows = list(frames(run))
        print(f"== {run['name']}: {len(rows)} frames started of {len(run['cap'])} captured")
        for key in ["queue", "wait", "send", "first", "done", "ack", "read",
                    "arrive_age", "age", "gap", "overlap", "win", "stalls"]:
            # The first two frames go out under the window's starting ceiling.
            v = [r[key] for r in rows[2:] if r[key] is not None]
            if v:
                print(f"{key:10s} n={len(v):3d} min={min(v):9.2f} p50={pct(v, .5):9.2f} "
                      f"p90={pct(v, .9):9.2f} p99={pct(v, .99):9.2f} max={max(v):9.2f}")
        # The frames no pause of the loops held up: what the link and the
        # lane alone made of their ages.
        calm = [r["arrive_age"] for r in rows[2:] if r["stalls"] <= 3 and r["arrive_age"]]
        if calm:
            print(f"arrive_age of the {len(calm)} frames without stalls (3 ms at most): "
                  f"p50={pct(calm, .5):.2f} p99={pct(calm, .99):.2f} max={max(calm):.2f}")
        if "-v" in sys.argv:
            for r in rows:
                print({k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()})


if __name__ == "__main__":
    main()

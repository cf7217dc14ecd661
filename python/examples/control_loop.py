"""A robot's control loop at a fixed rate: each tick it reads the newest
command with `get` (never blocks: no command waiting means the last one
holds) and writes its state. A planner sends commands at its own pace; the
loop never queues them up, it acts on the latest.

By default the planner (a `Host`) runs in this process on a thread, and the
robot connects to it; with `--addr` the robot connects to a host of yours
instead, which sends JSON commands such as `{"speed": 0.5}` on `cmd`.

    python python/examples/control_loop.py [--rate 100] [--secs 5]
"""

import argparse
import statistics
import threading
import time

import socketengine as se


def planner(host, stop, rate):
    """Sends a new speed command `rate` times a second until `stop`."""
    step = 0
    while not stop.wait(1.0 / rate):
        step += 1
        host.write_json("cmd", {"speed": round(0.1 * (step % 10), 1), "step": step})


def control(robot, rate, secs, count):
    """The loop: `rate` ticks a second; returns the ticks' lateness (s) and
    the number of commands seen."""
    period = 1.0 / rate
    position, speed, seen, last_step = 0.0, 0.0, 0, None
    lateness = []
    start = next_tick = time.monotonic()
    ticks = 0
    while time.monotonic() - start < secs and (count is None or ticks < count):
        cmd = robot.get_json("cmd")  # the newest command, or None: never waits
        if cmd is not None and cmd.get("step") != last_step:
            speed, last_step, seen = cmd["speed"], cmd.get("step"), seen + 1
        position += speed * period
        robot.write_json("state", {"position": round(position, 4), "speed": speed, "tick": ticks})
        ticks += 1
        next_tick += period
        pause = next_tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # the loop's own period
        else:
            lateness.append(-pause)
            next_tick = time.monotonic()
    return ticks, seen, lateness


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default=None, help="a host to connect to (default: a planner in this process)")
    parser.add_argument("--rate", type=float, default=100.0, help="control ticks per second (default 100)")
    parser.add_argument("--command-rate", type=float, default=10.0, help="the built-in planner's commands per second")
    parser.add_argument("--secs", type=float, default=5.0, help="how long the loop runs (default 5)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many ticks")
    args = parser.parse_args()

    host, stop, thread = None, threading.Event(), None
    addr = args.addr
    if addr is None:
        host = se.Host("127.0.0.1:0")
        addr = host.local_addr
        thread = threading.Thread(target=planner, args=(host, stop, args.command_rate), daemon=True)
        thread.start()
    try:
        with se.Client(addr, "robot") as robot:
            ticks, seen, lateness = control(robot, args.rate, args.secs, args.count)
            robot.flush()
        late = f", {len(lateness)} late ticks (worst {max(lateness) * 1e3:.2f} ms)" if lateness else ", none late"
        print(f"{ticks} ticks at {args.rate:g} Hz, {seen} new commands{late}")
        if host is not None:
            states = host.get_json("state")
            print(f"the planner's view of the robot: {states}")
            if lateness:
                print(f"median lateness {statistics.median(lateness) * 1e3:.2f} ms")
    finally:
        stop.set()
        if thread is not None:
            thread.join(2.0)
        if host is not None:
            host.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

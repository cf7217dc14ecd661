#!/usr/bin/env bash
# The shaped-link bench: `socketengine bench` across a veth pair between two
# network namespaces, each end shaped by `tc tbf` (MTU 1500), per link rate.
# One command, as root:
#
#     cargo build --release --bin socketengine && sudo benches/shaped/run.sh
#
# Per link and run it prints one JSON object per workload (`loaded`: the
# engine's 64 B ping-pong on the same connection as a flat-out 1080p image
# stream against a raw ping on its own connection beside a raw stream, and
# the goodput of both; `camera`: a 1080p30 camera, raw and JPEG, with a reader
# polling at 30 Hz). docs/PERFORMANCE.md has the figures and how to read them.
#
# Settings (environment): SOCKETENGINE (the binary; default
# target/release/socketengine, or $CARGO_TARGET_DIR/release/socketengine),
# RATES (default "1gbit 300mbit 100mbit"), RUNS (per link, default 3), SECS
# (per measurement, default 5), WORKLOADS (default "loaded camera"), OUT (a
# directory to keep each run's JSON in; default none), ARGS (more arguments
# for every `bench`, e.g. "--image-queue-delay 2"; default none).
#
# The queue: each veth end gets `tbf rate R burst 64kb limit 256kb`, about
# what a switch port or a NIC's transmit ring holds (a few hundred KB, in
# bytes not time, so a slower link queues longer), the same for the engine
# and for raw TCP. Namespaces `se-near` and `se-far` are made, and removed on
# exit (even on error or Ctrl-C); the link carries 10.203.0.0/30 between them
# and nothing else.
set -euo pipefail

NEAR=se-near
FAR=se-far
NEAR_IP=10.203.0.1
FAR_IP=10.203.0.2
BURST=${BURST:-16kb}
LIMIT=${LIMIT:-256kb}
RATES=${RATES:-"1gbit 300mbit 100mbit"}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
WORKLOADS=${WORKLOADS:-"loaded camera"}
OUT=${OUT:-}
ARGS=${ARGS:-}
target_dir=${CARGO_TARGET_DIR:-target}
BIN=${SOCKETENGINE:-$target_dir/release/socketengine}

die() {
    echo "shaped: $*" >&2
    exit 2
}

[ "$(id -u)" = 0 ] || die "root needed (ip netns, tc); run it with sudo"
command -v ip >/dev/null || die "the ip command (iproute2) is missing"
command -v tc >/dev/null || die "the tc command (iproute2) is missing"
[ -x "$BIN" ] || die "no binary at $BIN: cargo build --release --bin socketengine, or set SOCKETENGINE"

cleanup() {
    ip netns del "$NEAR" 2>/dev/null || true
    ip netns del "$FAR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup() {
    cleanup
    ip netns add "$NEAR"
    ip netns add "$FAR"
    ip link add se-n netns "$NEAR" type veth peer name se-f netns "$FAR"
    ip -n "$NEAR" addr add "$NEAR_IP/30" dev se-n
    ip -n "$FAR" addr add "$FAR_IP/30" dev se-f
    for side in "$NEAR se-n" "$FAR se-f"; do
        set -- $side
        ip -n "$1" link set lo up
        ip -n "$1" link set "$2" mtu 1500 up
    done
}

# shape RATE: both ends of the link, so each direction has its own queue.
shape() {
    ip netns exec "$NEAR" tc qdisc replace dev se-n root tbf rate "$1" burst "$BURST" limit "$LIMIT"
    ip netns exec "$FAR" tc qdisc replace dev se-f root tbf rate "$1" burst "$BURST" limit "$LIMIT"
}

setup
for rate in $RATES; do
    shape "$rate"
    for run in $(seq 1 "$RUNS"); do
        for workload in $WORKLOADS; do
            # The load, and how much of the time tasks waited for a CPU
            # (pressure stall information, where the kernel has it).
            psi=$(head -1 /proc/pressure/cpu 2>/dev/null || true)
            echo "# link $rate, run $run, $workload; $(uptime); cpu ${psi:-pressure n/a}" >&2
            json=$(ip netns exec "$NEAR" "$BIN" bench --workload "$workload" --secs "$SECS" \
                --json --listen-netns "$FAR" --listen-ip "$FAR_IP" $ARGS)
            echo "{\"link\":\"$rate\",\"run\":$run,\"report\":$json}"
            if [ -n "$OUT" ]; then
                mkdir -p "$OUT"
                echo "$json" >"$OUT/$rate-$workload-$run.json"
            fi
        done
    done
    ip netns exec "$NEAR" tc -s qdisc show dev se-n >&2
done

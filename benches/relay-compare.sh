#!/usr/bin/env bash
# benches/relay-compare.sh: msrpd's MSRP relay side by side with Kamailio's `msrp` module
# (issue 4, "Benchmark"), on loopback, with the load tool `msrp-load` (benches/load).
#
#   bash benches/relay-compare.sh            # ROUNDS=3 interleaved rounds of every load
#   ROUNDS=1 SCALE=0.2 bash benches/relay-compare.sh   # a quick look
#
# Builds the release binaries, starts `msrp-relay` (relay/src/bin/msrp-relay.rs, one thread)
# on a free loopback port and, if `kamailio` is installed and relay/tests/kamailio/kamailio.cfg
# exists, Kamailio with that config (one TCP worker) on another. Then runs each load ROUNDS
# times, alternating msrpd and Kamailio (msrpd, kamailio, msrpd, kamailio, ...), and prints the
# median of each figure per relay and the ratios msrpd / Kamailio (for p99 latency:
# Kamailio / msrpd, so > 1 means msrpd is better everywhere). Without Kamailio it says so and
# shows msrpd alone.
#
# Loads (per the issue): 1 pair x 100 B with Failure-Report: no, and with the default; 16 pairs x
# 100 B; 1 pair x 64 KiB in 2 KiB chunks; 1 pair x 16 MiB in one chunk (Kamailio cannot: its
# module handles frames below ~11 KB); plus 1 pair x 100 B at a fixed offered rate (RATE
# msgs/s, open loop) for latency at the same offered load. Every client pair AUTHs with HTTP
# Digest (RFC 4976 §5.1) and uses the one-relay To-Path (Bob's Use-Path, Bob's URI), which
# Kamailio relays without connecting to itself. Relay CPU is utime + stime of the relay's
# process(es) from /proc over the run (Kamailio: the main process and all its children), in
# 10 ms ticks, and the same time from the scheduler's clock ("sched": /proc/PID/task/*/schedstat,
# nanoseconds), which does not round a third of a second of CPU to a few percent.
#
# Environment: ROUNDS (3), SCALE (1.0, multiplies message counts), WINDOW (256 messages
# outstanding per pair), RATE (20000), MAX_SECONDS (30 per run), KAMAILIO (kamailio),
# KAMAILIO_CFG (relay/tests/kamailio/kamailio.cfg), OUT (a temp dir: raw result lines and logs).
# Every wait and loop is bounded; the relays are stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
. benches/relay-port.sh
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-1.0}
WINDOW=${WINDOW:-256}
RATE=${RATE:-20000}
MAX_SECONDS=${MAX_SECONDS:-30}
KAMAILIO=${KAMAILIO:-kamailio}
KAMAILIO_CFG=${KAMAILIO_CFG:-$ROOT/relay/tests/kamailio/kamailio.cfg}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
USERS=(--user alice:secret --user bob:secret)

MSRPD_PID=
KAM_PID=
cleanup() {
    local pid
    for pid in $MSRPD_PID $KAM_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $MSRPD_PID $KAM_PID; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# n * SCALE, at least 1.
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s); print (v < 1 ? 1 : v) }'; }

# A loopback TCP port nobody listens on (bounded tries).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Waits until 127.0.0.1:$1 accepts connections (at most 10 s).
wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

echo "==> building (release): msrp-relay, msrp-load"
cargo build --release --quiet -p msrp-relay --bin msrp-relay -p msrp-load --bin msrp-load
RELAY_BIN=$ROOT/target/release/msrp-relay
LOAD_BIN=$ROOT/target/release/msrp-load

# msrpd's relay. Its stdin is a FIFO this script holds open for writing (fd 7): if the script
# dies in any way, the relay sees end of file and stops.
mkfifo "$OUT/msrpd.in"
exec 7<>"$OUT/msrpd.in"
"$RELAY_BIN" --listen 127.0.0.1:0 --host localhost "${USERS[@]}" --allow-auth-over-tcp \
    --threads 1 <"$OUT/msrpd.in" >"$OUT/msrpd.out" 2>"$OUT/msrpd.log" 7>&- &
MSRPD_PID=$!
MSRPD_PORT=$(relay_port "$OUT/msrpd.out" 50)
[ -n "$MSRPD_PORT" ] || { echo "msrp-relay did not start:"; cat "$OUT/msrpd.log"; exit 1; }
echo "==> msrpd relay: pid $MSRPD_PID on 127.0.0.1:$MSRPD_PORT"

# Kamailio, if present.
HAVE_KAM=0
if command -v "$KAMAILIO" >/dev/null 2>&1 && [ -f "$KAMAILIO_CFG" ]; then
    KAM_PORT=$(free_port)
    mkdir -p "$OUT/kamailio.run"
    "$KAMAILIO" -f "$KAMAILIO_CFG" -DD -E -Y "$OUT/kamailio.run" -m 64 -M 8 \
        -A "MSRP_PORT=$KAM_PORT" -A MSRP_CHILDREN=1 </dev/null >"$OUT/kamailio.log" 2>&1 7>&- &
    KAM_PID=$!
    if wait_port "$KAM_PORT"; then
        HAVE_KAM=1
        sleep 0.5 # let it fork every child before the process tree is read
        echo "==> Kamailio $("$KAMAILIO" -v 2>/dev/null | sed -n '1s/^version: //p'): pid $KAM_PID on 127.0.0.1:$KAM_PORT (1 TCP worker)"
    else
        echo "==> Kamailio did not start (log: $OUT/kamailio.log); msrpd alone"
        tail -n 5 "$OUT/kamailio.log" || true
        kill -TERM "$KAM_PID" 2>/dev/null || true
    fi
else
    echo "==> Kamailio not found (need \`$KAMAILIO\` on PATH and $KAMAILIO_CFG); msrpd alone"
fi

# name|msrp-load arguments
LOADS=(
    "1x100B FR:no|--messages $(scaled 200000) --size 100 --failure-report no"
    "1x100B default|--messages $(scaled 100000) --size 100"
    "16x100B default|--pairs 16 --messages $(scaled 10000) --size 100"
    "1x64KiB/2KiB chunks|--messages $(scaled 2000) --size 65536 --chunk 2048"
    "1x16MiB one chunk|--messages $(scaled 40) --size 16777216"
    "1x100B @${RATE}/s|--messages $(scaled $((RATE * 5))) --size 100 --rate $RATE"
)

# run_load RELAY NAME ARGS: one run, its key=value line appended to $OUT/results.
run_load() {
    local relay=$1 name=$2 args=$3 target line rc
    if [ "$relay" = msrpd ]; then
        target=(--relay "127.0.0.1:$MSRPD_PORT" --relay-uri "msrp://localhost:$MSRPD_PORT;tcp"
            --relay-pid "$MSRPD_PID")
    else
        target=(--relay "127.0.0.1:$KAM_PORT" --relay-uri "msrp://127.0.0.1:$KAM_PORT;tcp"
            --relay-pid "$KAM_PID" --relay-tree)
    fi
    rc=0
    # shellcheck disable=SC2086 # $args is a word list on purpose
    line=$(timeout $((MAX_SECONDS + 30)) "$LOAD_BIN" "${target[@]}" "${USERS[@]}" \
        --route recipient --window "$WINDOW" --max-seconds "$MAX_SECONDS" --grace-seconds 5 \
        --label "$relay" $args 2>>"$OUT/load.log") || rc=$?
    [ -n "$line" ] || line="relay=$relay errors=1 first_error=exit_status_$rc"
    echo "load=${name// /_} rc=$rc $line" >>"$OUT/results"
    printf '    %-8s %s\n' "$relay" "$line"
}

: >"$OUT/results"
for round in $(seq "$ROUNDS"); do
    echo "==> round $round of $ROUNDS"
    for entry in "${LOADS[@]}"; do
        name=${entry%%|*}
        args=${entry#*|}
        echo "  -- $name"
        run_load msrpd "$name" "$args"
        if [ "$HAVE_KAM" = 1 ]; then run_load kamailio "$name" "$args"; fi
    done
done

# field KEY: the values of KEY in the key=value lines on stdin.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# The median of numbers on stdin ("-" if none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
# med RELAY LOADNAME KEY: the median of KEY over the successful runs (rc=0).
med() {
    { grep -F "load=${2// /_} rc=0 relay=$1 " "$OUT/results" || true; } | field "$3" | median
}
# ratio A B: A / B with two decimals, "-" if either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

echo
echo "==> medians over $ROUNDS round(s); MB = 10^6 octets; CPU = relay utime+stime (10 ms ticks);"
echo "    sched = the same CPU time from the scheduler's clock (schedstat, ns); raw lines: $OUT/results"
printf '%-22s %-8s %5s %10s %9s %9s %9s %8s %12s %10s %8s %12s\n' \
    load relay ok msgs/s MB/s p50_us p99_us cpu_s msgs/cpu_s MB/cpu_s sched_s msgs/sched_s
RELAYS=(msrpd)
[ "$HAVE_KAM" = 1 ] && RELAYS+=(kamailio)
for entry in "${LOADS[@]}"; do
    name=${entry%%|*}
    for relay in "${RELAYS[@]}"; do
        ok=$(grep -cF "load=${name// /_} rc=0 relay=$relay " "$OUT/results" || true)
        printf '%-22s %-8s %5s %10s %9s %9s %9s %8s %12s %10s %8s %12s\n' "$name" "$relay" \
            "$ok/$ROUNDS" \
            "$(med "$relay" "$name" msgs_per_s)" "$(med "$relay" "$name" mb_per_s)" \
            "$(med "$relay" "$name" p50_us)" "$(med "$relay" "$name" p99_us)" \
            "$(med "$relay" "$name" relay_cpu_s)" "$(med "$relay" "$name" msgs_per_cpu_s)" \
            "$(med "$relay" "$name" mb_per_cpu_s)" "$(med "$relay" "$name" relay_sched_s)" \
            "$(med "$relay" "$name" msgs_per_sched_s)"
    done
done

if [ "$HAVE_KAM" = 1 ]; then
    echo
    echo "==> ratios msrpd / Kamailio (p99: Kamailio / msrpd); '-' where a side has no successful run"
    printf '%-22s %10s %9s %12s %10s %14s %12s %9s\n' load msgs/s MB/s msgs/cpu_s MB/cpu_s \
        msgs/sched_s MB/sched_s p99
    for entry in "${LOADS[@]}"; do
        name=${entry%%|*}
        printf '%-22s %10s %9s %12s %10s %14s %12s %9s\n' "$name" \
            "$(ratio "$(med msrpd "$name" msgs_per_s)" "$(med kamailio "$name" msgs_per_s)")" \
            "$(ratio "$(med msrpd "$name" mb_per_s)" "$(med kamailio "$name" mb_per_s)")" \
            "$(ratio "$(med msrpd "$name" msgs_per_cpu_s)" "$(med kamailio "$name" msgs_per_cpu_s)")" \
            "$(ratio "$(med msrpd "$name" mb_per_cpu_s)" "$(med kamailio "$name" mb_per_cpu_s)")" \
            "$(ratio "$(med msrpd "$name" msgs_per_sched_s)" "$(med kamailio "$name" msgs_per_sched_s)")" \
            "$(ratio "$(med msrpd "$name" mb_per_sched_s)" "$(med kamailio "$name" mb_per_sched_s)")" \
            "$(ratio "$(med kamailio "$name" p99_us)" "$(med msrpd "$name" p99_us)")"
        if [ "$(grep -cF "load=${name// /_} rc=0 relay=kamailio " "$OUT/results" || true)" = 0 ]; then
            why=$(grep -F "load=${name// /_} " "$OUT/results" | grep -F "relay=kamailio " | field first_error | head -n 1)
            echo "    (Kamailio failed this load: ${why:-no result})"
        fi
    done
else
    echo
    echo "Kamailio was not found: no ratios."
fi
echo
echo "host: $(nproc) cores, $(uname -sr); load tool and each relay on one thread / one TCP worker"

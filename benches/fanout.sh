#!/usr/bin/env bash
# benches/fanout.sh: the chat-room mixer's fan-out benchmark (issue 5), with the load tool
# `msrp-fanout` (benches/fanout), for rooms of 10, 100 and 1000 participants.
#
#   bash benches/fanout.sh                    # one round, about 500 000 copies per room size
#   ROUNDS=3 SCALE=2 bash benches/fanout.sh   # medians of 3 rounds, twice the messages
#
# Builds `msrp-fanout` in release. Each run starts the mixer in the tool's own process (one
# runtime thread) on 127.0.0.1:0, joins N participants to one room (SDP offer, TCP connection,
# bodiless SEND to bind), has one of them send 500000/N * SCALE messages of 100 octets of text
# wrapped in CPIM with a window of WINDOW messages in flight, and every other participant count
# the copies; then the baseline: the same frames written by a bare tokio task to N connections
# (the physical limit here). The first run of each round also measures the memory per idle
# participant (IDLE participants joined and bound, no traffic). The table shows the median of
# each figure over the rounds and the issue's targets: >= 500 000 deliveries/s per core (per
# mixer CPU second), >= 70% of the baseline's deliveries/s, <= 16 KiB per idle participant.
#
# Environment: SIZES ("10 100 1000"), ROUNDS (1), SCALE (1.0, multiplies message counts),
# WINDOW (64 messages in flight per sender), IDLE (1000), MAX_SECONDS (10: cap per phase),
# EXTRA (more msrp-fanout arguments, e.g. "--respond"), OUT (a temp dir: raw result lines and
# stderr of each run). Every run is bounded (timeout); the tool stops by itself.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=${SIZES:-10 100 1000}
ROUNDS=${ROUNDS:-1}
SCALE=${SCALE:-1.0}
WINDOW=${WINDOW:-64}
IDLE=${IDLE:-1000}
MAX_SECONDS=${MAX_SECONDS:-10}
EXTRA=${EXTRA:-}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

# Both ends of every connection are in the tool's process.
biggest=$IDLE
for n in $SIZES; do [ "$n" -gt "$biggest" ] && biggest=$n; done
need=$((2 * biggest + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || { echo "open files limit $(ulimit -n) < $need: raise it" >&2; exit 1; }
fi

echo "==> building (release): msrp-fanout"
cargo build --release --quiet -p msrp-fanout --bin msrp-fanout
BIN=$PWD/target/release/msrp-fanout

# messages N: 500000/N * SCALE, at least 1.
messages() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(500000 / n * s); print (v < 1 ? 1 : v) }'; }

: >"$OUT/results"
for round in $(seq "$ROUNDS"); do
    echo "==> round $round of $ROUNDS"
    first=1
    for n in $SIZES; do
        idle=0
        [ "$first" = 1 ] && idle=$IDLE
        first=0
        m=$(messages "$n")
        rc=0
        # shellcheck disable=SC2086 # $EXTRA is a word list on purpose
        line=$(timeout $((4 * MAX_SECONDS + 120)) "$BIN" --participants "$n" --messages "$m" \
            --window "$WINDOW" --idle "$idle" --max-seconds "$MAX_SECONDS" $EXTRA \
            2>>"$OUT/stderr") || rc=$?
        [ -n "$line" ] || line="participants=$n mixer_errors=1 mixer_first_error=exit_status_$rc"
        echo "rc=$rc $line" >>"$OUT/results"
        printf '    N=%-5s rc=%s %s\n' "$n" "$rc" \
            "$(echo "$line" | tr ' ' '\n' | grep -E '^(mixer|base)_deliveries_per_s=|^ratio_deliveries_per_s=' | tr '\n' ' ')"
    done
done

# field KEY: the values of KEY in the key=value lines on stdin.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# The median of numbers on stdin ("-" if none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
# med N KEY: the median of KEY over the successful runs (rc=0) of room size N.
med() { { grep -E "^rc=0 participants=$1 " "$OUT/results" || true; } | field "$2" | median; }
# medall KEY: the median of KEY over every successful run that has it.
medall() { { grep -E "^rc=0 " "$OUT/results" || true; } | field "$1" | median; }

echo
echo "==> medians over $ROUNDS round(s); raw lines: $OUT/results, stderr: $OUT/stderr"
printf '%6s %5s %9s %9s %11s %9s %9s %8s %10s %11s %10s %7s\n' \
    N ok messages msgs/s deliveries/s p50_us p99_us cpu_s deliv/cpu base_deliv/s base/cpu ratio
for n in $SIZES; do
    ok=$(grep -cE "^rc=0 participants=$n " "$OUT/results" || true)
    printf '%6s %5s %9s %9s %11s %9s %9s %8s %10s %11s %10s %7s\n' "$n" "$ok/$ROUNDS" \
        "$(messages "$n")" "$(med "$n" mixer_msgs_per_s)" "$(med "$n" mixer_deliveries_per_s)" \
        "$(med "$n" mixer_p50_us)" "$(med "$n" mixer_p99_us)" "$(med "$n" mixer_server_cpu_s)" \
        "$(med "$n" mixer_deliveries_per_server_cpu_s)" "$(med "$n" base_deliveries_per_s)" \
        "$(med "$n" base_deliveries_per_server_cpu_s)" "$(med "$n" ratio_deliveries_per_s)"
    if [ "$ok" = 0 ]; then
        why=$(grep -E "^rc=[0-9]+ participants=$n " "$OUT/results" | field mixer_first_error | head -n 1)
        echo "    (no clean run: ${why:-see $OUT/stderr})"
    fi
done
echo
echo "memory per idle participant ($IDLE joined and bound, no traffic): $(medall idle_rss_per_participant) octets" \
    "(joins alone: $(medall idle_rss_per_join); a plain connection, both ends: $(medall idle_rss_floor_per_conn))"
echo
echo "targets (issue 5), per room size:"
for n in $SIZES; do
    per=$(med "$n" mixer_deliveries_per_server_cpu_s)
    ratio=$(med "$n" ratio_deliveries_per_s)
    printf '    N=%-5s deliveries per mixer CPU s %s (>= 500000: %s)   mixer/baseline %s (>= 0.70: %s)\n' "$n" \
        "$per" "$(awk -v x="$per" 'BEGIN { if (x == "-") print "-"; else print (x >= 500000 ? "met" : "NOT met") }')" \
        "$ratio" "$(awk -v x="$ratio" 'BEGIN { if (x == "-") print "-"; else print (x >= 0.70 ? "met" : "NOT met") }')"
done
idle=$(medall idle_rss_per_participant)
echo "    memory per idle participant $idle octets (<= 16384: $(awk -v x="$idle" 'BEGIN { if (x == "-") print "-"; else print (x <= 16384 ? "met" : "NOT met") }'))"
echo
echo "host: $(nproc) cores, $(uname -sr); mixer on 1 runtime thread, load on 1, baseline writer on 1,"
echo "all in one process. Short runs (each phase at most $MAX_SECONDS s, ~500k copies per size) and other"
echo "work may be running on this machine: the figures are indicative; CPU per delivery is the steadier one."

#!/usr/bin/env bash
# benches/fanout-ab.sh: the mixer's cost per delivery, an older commit against the working tree,
# counted in instructions (issue 5). This machine's speed swings by up to 2x from one minute to
# the next, which hides a 10 % change in `benches/fanout.sh`'s wall-clock figures; callgrind's
# instruction counts do not swing.
#
#   bash benches/fanout-ab.sh REV                  # e.g. 0658519; rooms of 10, 100 and 1000
#   SIZES="1000" bash benches/fanout-ab.sh REV
#   EXTRA="--respond" bash benches/fanout-ab.sh REV   # recipients answer each copy with a 200
#
# Builds `msrp-fanout` (benches/fanout) at REV, in a temporary git worktree with its own target
# directory, and in the working tree. For each room size N it runs each binary under
# `valgrind --tool=callgrind` twice, without the baseline phase: with M = DELIVERIES/(N-1)
# messages and with 2M. The difference of the two totals, over the M·(N-1) extra deliveries, is
# the cost of one delivery in steady state, joins and start-up left out: for the mixer's runtime
# thread (which also runs the connection writers) and for the whole process (the mixer and the
# load tool's senders and receivers, which are the same code in both builds). Needs valgrind.
# Each run is bounded (the tool's --max-seconds, and `timeout`).
set -euo pipefail

cd "$(dirname "$0")/.."
REV=${1:?usage: bash benches/fanout-ab.sh REV}
SIZES=${SIZES:-10 100 1000}
DELIVERIES=${DELIVERIES:-100000}
EXTRA=${EXTRA:-}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
. benches/old-worktree.sh

# Both ends of every connection are in the tool's process.
biggest=0
for n in $SIZES; do [ "$n" -gt "$biggest" ] && biggest=$n; done
need=$((2 * biggest + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || { echo "open files limit $(ulimit -n) < $need: raise it" >&2; exit 1; }
fi

old_worktree "$REV"
echo "==> building msrp-fanout at $REV and in the working tree (release)"
(cd "$TMP/old" && CARGO_TARGET_DIR="$TMP/target" cargo build --release --quiet -p msrp-fanout --bin msrp-fanout)
cargo build --release --quiet -p msrp-fanout --bin msrp-fanout
cp "$TMP/target/release/msrp-fanout" "$TMP/old.bin"
cp target/release/msrp-fanout "$TMP/new.bin"

# Instructions of one run of binary $1 with room size $2 and $3 messages, as "MIXER TOTAL": the
# mixer's runtime thread (the thread whose profile holds `Task::run_actions`, which every
# version has) and the whole process.
# Checks that every message reached everyone.
count() {
    local out dir mixer total f
    dir=$(mktemp -d -p "$TMP")
    out=$(timeout 900 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$dir/cg.%p" "$TMP/$1.bin" \
        --participants "$2" --messages "$3" --idle 0 --no-baseline --quiet --max-seconds 600 \
        $EXTRA 2>&1)
    grep -q "mixer_deliveries=$(( $3 * ($2 - 1) ))\b" <<<"$out" ||
        { echo "$1 N=$2 M=$3: not every copy arrived:" >&2; echo "$out" >&2; exit 1; }
    total=$(sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' <<<"$out" | tr -d ,)
    mixer=0
    for f in "$dir"/cg.*-*; do
        if grep -q 'Task::run_actions' "$f"; then
            mixer=$(sed -n 's/^totals: *//p' "$f")
        fi
    done
    rm -rf "$dir"
    echo "$mixer $total"
}

printf '%-6s %-16s %12s %28s %28s\n' N binary "messages M" "mixer thread instr/delivery" "whole process instr/delivery"
for n in $SIZES; do
    m=$(( DELIVERIES / (n - 1) ))
    [ "$m" -ge 1 ] || m=1
    for b in old new; do
        read -r mix1 tot1 <<<"$(count "$b" "$n" "$m")"
        read -r mix2 tot2 <<<"$(count "$b" "$n" $((2 * m)))"
        # A failed run (its message is on stderr) leaves these empty.
        [ -n "$tot1" ] && [ -n "$tot2" ] || exit 1
        label=$b
        [ "$b" = old ] && label="old $REV"
        d=$(( m * (n - 1) ))
        printf '%-6s %-16s %12s %28s %28s\n' "$n" "$label" "$m" $(( (mix2 - mix1) / d )) $(( (tot2 - tot1) / d ))
    done
done

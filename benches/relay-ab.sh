#!/usr/bin/env bash
# benches/relay-ab.sh: the relay's cost per message, an older commit against the working tree,
# counted in instructions (issue 4). `benches/relay-compare.sh`'s ratios move by up to 40%
# between runs on this machine, and alternated wall-clock runs of two relays by +-20% per round;
# callgrind's instruction counts move by about 1%.
#
#   bash benches/relay-ab.sh REV                   # e.g. 6dd5163
#   MESSAGES=2000 PAIRS=16 bash benches/relay-ab.sh REV
#   RATE=500 bash benches/relay-ab.sh REV          # paced: one message per wake-up
#
# Builds `msrp-relay` at REV, in a temporary git worktree with its own target directory, and in
# the working tree (`msrp-load` from the working tree drives both). Runs each relay under
# `valgrind --tool=callgrind` (one runtime thread) twice, with M = MESSAGES (default 5000) and
# 2M messages of 100 octets per pair (default report mode, window 64, every pair AUTHs first);
# the difference of the two totals over M·PAIRS is the cost of one relayed message in steady state,
# AUTH and start-up left out. Under valgrind the relay runs some 50 times slower, so a RATE
# meant to pace it must be that much lower than on the bare machine (500 under valgrind is
# about the 20 000 msgs/s row of relay-compare.sh). Needs valgrind. Each run is bounded (the
# load tool's --max-seconds, and `timeout`).
set -euo pipefail

cd "$(dirname "$0")/.."
REV=${1:?usage: bash benches/relay-ab.sh REV}
MESSAGES=${MESSAGES:-5000}
PAIRS=${PAIRS:-1}
RATE=${RATE:-0}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
. benches/old-worktree.sh
. benches/relay-port.sh

old_worktree "$REV"
echo "==> building msrp-relay at $REV and in the working tree, msrp-load in the working tree (release)"
(cd "$TMP/old" && CARGO_TARGET_DIR="$TMP/target" cargo build --release --quiet -p msrp-relay --bin msrp-relay)
cargo build --release --quiet -p msrp-relay --bin msrp-relay -p msrp-load --bin msrp-load
cp "$TMP/target/release/msrp-relay" "$TMP/old.bin"
cp target/release/msrp-relay "$TMP/new.bin"
LOAD=target/release/msrp-load

# Instructions of one run of relay binary $1 relaying $2 messages. Checks that all arrived.
count() {
    local dir port out
    dir=$(mktemp -d -p "$TMP")
    mkfifo "$dir/in"
    # The relay stops at the end of its standard input: the fifo is held open until the end.
    exec 7<>"$dir/in"
    timeout 1200 valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$TMP/$1.bin" \
        --listen 127.0.0.1:0 --host localhost --user alice:secret --user bob:secret \
        --allow-auth-over-tcp --threads 1 <"$dir/in" >"$dir/out" 2>"$dir/log" 7>&- &
    local pid=$!
    port=$(relay_port "$dir/out" 300)
    [ -n "$port" ] || { echo "$1: the relay did not start:" >&2; cat "$dir/log" >&2; exit 1; }
    out=$("$LOAD" --relay "127.0.0.1:$port" --relay-uri "msrp://localhost:$port;tcp" \
        --user alice:secret --user bob:secret --route recipient --pairs "$PAIRS" --window 64 \
        --rate "$RATE" --max-seconds 900 --messages "$2" --size 100 2>&1 || true)
    exec 7>&-
    wait "$pid" || true
    grep -q "delivered=$(( $2 * PAIRS )) " <<<"$out" && grep -q "errors=0" <<<"$out" ||
        { echo "$1 M=$2: not every message arrived:" >&2; echo "$out" >&2; exit 1; }
    sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' "$dir/log" | tr -d ,
    rm -rf "$dir"
}

printf '%-16s %10s %6s %26s\n' binary "messages M" pairs "instructions per message"
for b in old new; do
    c1=$(count "$b" "$MESSAGES")
    c2=$(count "$b" $((2 * MESSAGES)))
    [ -n "$c1" ] && [ -n "$c2" ] || exit 1
    label=$b
    [ "$b" = old ] && label="old $REV"
    printf '%-16s %10d %6d %26d\n' "$label" "$MESSAGES" "$PAIRS" $(( (c2 - c1) / (MESSAGES * PAIRS) ))
done

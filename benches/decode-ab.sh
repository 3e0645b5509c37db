#!/usr/bin/env bash
# benches/decode-ab.sh: the streaming decoder's speed, an older commit against the working tree,
# side by side (issue 2). This machine's speed swings by up to 2x from one minute to the next,
# so a change is judged by alternating the two binaries, not by one criterion run.
#
#   bash benches/decode-ab.sh REV            # e.g. 381eaac; 10 rounds
#   ROUNDS=20 bash benches/decode-ab.sh REV
#
# Builds msrp/examples/decode_loop.rs (1000 back-to-back 100-octet SENDs decoded 300 times per
# run) at REV, in a temporary git worktree with its own target directory, and in the working
# tree. Then runs the two binaries in turn ROUNDS times and prints, for each, the best time per
# frame over all rounds and the median of the rounds' mean times. With valgrind installed it
# also prints instructions per frame (callgrind: N = 11 minus N = 1 passes, over 10 000 frames;
# the loop's own input copies are included, the same for both).
set -euo pipefail

cd "$(dirname "$0")/.."
REV=${1:?usage: bash benches/decode-ab.sh REV}
ROUNDS=${ROUNDS:-10}
. benches/old-worktree.sh

old_worktree "$REV"
if [ ! -f "$TMP/old/msrp/examples/decode_loop.rs" ]; then
    cp msrp/examples/decode_loop.rs "$TMP/old/msrp/examples/decode_loop.rs"
fi
echo "==> building decode_loop at $REV and in the working tree (release)"
(cd "$TMP/old" && CARGO_TARGET_DIR="$TMP/target" cargo build --release --quiet -p msrp --example decode_loop)
cargo build --release --quiet -p msrp --example decode_loop
cp "$TMP/target/release/examples/decode_loop" "$TMP/old.bin"
cp target/release/examples/decode_loop "$TMP/new.bin"

: >"$TMP/old.runs"
: >"$TMP/new.runs"
echo "==> $ROUNDS rounds, each: old then new, 300 passes of 1000 frames"
for _ in $(seq "$ROUNDS"); do
    for b in old new; do
        # "best B ns/frame, mean M ns/frame"
        "$TMP/$b.bin" 300 | awk '{ print $2, $5 }' >>"$TMP/$b.runs"
    done
done

printf '%-10s %16s %22s %20s\n' binary "best ns/frame" "median mean ns/frame" "instructions/frame"
for b in old new; do
    best=$(sort -n -k1 "$TMP/$b.runs" | head -1 | cut -d' ' -f1)
    mean=$(cut -d' ' -f2 "$TMP/$b.runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    instr=-
    if command -v valgrind >/dev/null; then
        count() {
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "$TMP/$b.bin" "$1" 2>&1 |
                sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,
        }
        instr=$(( ($(count 11) - $(count 1)) / 10000 ))
    fi
    label=$b
    [ "$b" = old ] && label="old $REV"
    printf '%-10s %16s %22s %20s\n' "$label" "$best" "$mean" "$instr"
done

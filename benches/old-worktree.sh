# benches/old-worktree.sh: sourced by the A/B scripts (decode-ab.sh, fanout-ab.sh,
# relay-ab.sh), which build an older commit beside the working tree. Sets TMP to a temporary
# directory that is removed on exit, together with the git worktree that `old_worktree REV`
# checks out at $TMP/old.
TMP=$(mktemp -d)
cleanup() {
    git worktree remove --force "$TMP/old" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

old_worktree() {
    git worktree add -q --detach "$TMP/old" "$1"
}

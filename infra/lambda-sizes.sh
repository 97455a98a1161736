#!/usr/bin/env bash
# Prints each function's release binary (its `bootstrap`): size in bytes and MiB, and the CPU
# it was built for. Functions not built (yet) are listed as such; the exit status is 1 only
# when none is found.
#
#   infra/lambda-sizes.sh                  cargo lambda's output: <target dir>/lambda/<fn>/bootstrap
#                                          (the target dir as cargo resolves it: CARGO_TARGET_DIR,
#                                          .cargo/config.toml, or ./target)
#   infra/lambda-sizes.sh .aws-sam/build   sam build's output: <dir>/<Fn>Function/bootstrap
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUNCTIONS=(api tick render deliver)

case "${1:-}" in
    -h | --help)
        sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

# path_of FN: where the bootstrap of function FN is expected.
if [ $# -ge 1 ]; then
    SAM_DIR="$1"
    path_of() { echo "$SAM_DIR/${1^}Function/bootstrap"; }
    WHERE="$SAM_DIR"
else
    TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    path_of() { echo "$TARGET_DIR/lambda/$1/bootstrap"; }
    WHERE="$TARGET_DIR/lambda"
fi

# machine_of FILE: the ELF header's machine field, named.
machine_of() {
    local magic machine
    magic="$(od -An -tx1 -N4 "$1" | tr -d ' \n')"
    if [ "$magic" != "7f454c46" ]; then
        echo "not ELF"
        return
    fi
    machine="$(od -An -tu2 -j18 -N2 --endian=little "$1" | tr -d ' \n')"
    case "$machine" in
        183) echo "arm64" ;;
        62) echo "x86_64" ;;
        *) echo "machine $machine" ;;
    esac
}

echo "release binaries in $WHERE"
printf '%-9s %12s %9s  %s\n' function bytes MiB cpu
found=0
total=0
for fn in "${FUNCTIONS[@]}"; do
    file="$(path_of "$fn")"
    if [ ! -f "$file" ]; then
        printf '%-9s %12s %9s  %s\n' "$fn" - - "not built"
        continue
    fi
    bytes="$(stat -c %s "$file")"
    found=$((found + 1))
    total=$((total + bytes))
    printf '%-9s %12s %9s  %s\n' "$fn" "$bytes" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')" \
        "$(machine_of "$file")"
done
printf '%-9s %12s %9s\n' total "$total" "$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1048576 }')"
[ "$found" -gt 0 ]

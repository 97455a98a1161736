#!/usr/bin/env bash
# The console's browser tests: Debian's Chromium (installed when missing), Playwright from the
# npm registry (pinned by tests/browser/package-lock.json), a debug `herald` binary, then every
# tests/browser/*.test.mjs, one file at a time. Screenshots land in target/console-screenshots.
#
#   infra/browser.sh [FILE...]    run all test files, or only the ones given
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CHROMIUM="${HERALD_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
    echo "[browser] installing Debian's chromium" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q --no-install-recommends chromium > /dev/null \
        || { $SUDO apt-get update -q > /dev/null && $SUDO apt-get install -y -q --no-install-recommends chromium > /dev/null; }
fi
"$CHROMIUM" --version

npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

cargo build -p herald-cli --locked
rm -rf target/console-screenshots

FILES=("$@")
if [ ${#FILES[@]} -eq 0 ]; then
    FILES=(tests/browser/*.test.mjs)
fi
# The gallery is written even when a test fails: its screenshots help most then.
gallery() {
    local dir="$ROOT/target/console-screenshots"
    [ -d "$dir" ] || return 0
    {
        echo '<!doctype html><meta charset="utf-8"><title>Herald console screenshots</title>'
        echo '<h1>Herald console screenshots</h1>'
        for png in "$dir"/*.png; do
            local name
            name="$(basename "$png")"
            echo "<figure><figcaption>${name%.png}</figcaption><img src=\"$name\" alt=\"${name%.png}\" width=\"640\"></figure>"
        done
    } > "$dir/index.html"
    echo "[browser] screenshots: $dir/index.html ($(ls "$dir"/*.png 2> /dev/null | wc -l) pages)" >&2
}
trap gallery EXIT
node --test --test-concurrency=1 "${FILES[@]}"

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
node --test --test-concurrency=1 "${FILES[@]}"
echo "[browser] screenshots: $ROOT/target/console-screenshots" >&2

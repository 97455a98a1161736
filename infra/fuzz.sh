#!/usr/bin/env bash
# Fuzzes the whole API with schemathesis, as `make test` does: a fresh `herald serve --demo` on
# a free loopback port, every operation of its served OpenAPI document, the examples, coverage
# and fuzzing phases, every check. Fails on any server error, any answer that does not match
# the document, and every other check's failure. Bounded: at most HERALD_FUZZ_SECONDS (default
# 240) of fuzzing.
#
#   infra/fuzz.sh [ST_ARG...]   extra arguments go to `st run` (e.g. --include-path-regex runs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${HERALD_TOOLS_VENV:-$ROOT/.tools/venv}"
[ -x "$VENV/bin/st" ] || bash "$ROOT/infra/tools.sh"

cargo build -p herald-cli --locked
WORK="$(mktemp -d "${TMPDIR:-/tmp}/herald-fuzz.XXXXXX")"
SERVER_PID=""
cleanup() {
    [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2> /dev/null || true
    [ -z "$SERVER_PID" ] || wait "$SERVER_PID" 2> /dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$("$VENV/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
# The rate limit is per token; the fuzzer is one token sending as fast as it can. The cron
# endpoints get secrets of this run, so they are fuzzed past their authentication too.
CRON_SECRET="fuzz-$RANDOM$RANDOM$RANDOM"
export CRON_SECRET CRON_TOKEN="$CRON_SECRET"
HERALD_RATE_LIMIT_PER_MINUTE=0 RUST_LOG="${RUST_LOG:-warn}" ./target/debug/herald serve --demo \
    --bind "127.0.0.1:$PORT" --data-dir "$WORK/data" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
TOKEN=""
for _ in $(seq 1 600); do
    TOKEN="$(grep -oE 'Demo admin token \(shown once\): hrld_pat_[0-9a-f]+' "$WORK/server.log" | awk '{print $NF}' || true)"
    [ -n "$TOKEN" ] && break
    kill -0 "$SERVER_PID" 2> /dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.2
done
[ -n "$TOKEN" ] || { echo "[fuzz] herald serve did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

URL="http://127.0.0.1:$PORT"
echo "[fuzz] schemathesis against $URL (at most ${HERALD_FUZZ_SECONDS:-240} s)" >&2
status=0
# One worker: with two, schemathesis's example generation now and then trips over itself (a
# "Runtime Error" from Hypothesis about inconsistent results), which is no finding about Herald.
"$VENV/bin/st" --config-file "$ROOT/infra/schemathesis.toml" run "$URL/swagger/v1/swagger.json" \
    --url "$URL" \
    --header "Authorization: Bearer $TOKEN" \
    --header "X-Cron-Token: $CRON_SECRET" \
    --header "X-Cron-Secret: $CRON_SECRET" \
    --phases examples,coverage,fuzzing \
    --workers 1 \
    --max-time "${HERALD_FUZZ_SECONDS:-240}" \
    --seed 20261207 \
    --request-timeout 30 \
    "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "[fuzz] the server's log (last 40 lines):" >&2
    tail -n 40 "$WORK/server.log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# Herald's full check, as run by `make test` and .ci/run.
#
#   infra/test.sh                   install pinned tools, start emulators + databases, run all steps
#   infra/test.sh -- CMD [ARG...]   same emulators and environment, run CMD instead of the steps
#   infra/test.sh --emulators-only  start the emulators, print the exports, wait for Ctrl-C
#
# HERALD_TEST_CMD='...' (a bash command line) is the same as `-- bash -c '...'`.
#
# Steps (default): cfn-lint template.yaml, sam validate --lint, cargo fmt --check,
# cargo clippy -D warnings (with and without the `aws` feature), cargo test (the workspace, which
# turns `aws` on, then herald-cli without it), schemathesis over the API (infra/fuzz.sh), the
# console's browser tests (infra/browser.sh). The emulators (moto, the SMTP sink) and a private
# PostgreSQL and MariaDB (infra/databases.sh; HERALD_TEST_POSTGRES_*, HERALD_TEST_MYSQL_*),
# a small language model server (infra/model.sh; HERALD_TEST_MODEL_URL) and a local Google
# Drive peer (infra/drive.sh; HERALD_TEST_DRIVE_URL), one each per run, listen on free loopback
# ports only, and are stopped (and their temp dir removed) on any exit, including failures and
# Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE=steps
CMD=()
while [ $# -gt 0 ]; do
    case "$1" in
        --emulators-only) MODE=emulators; shift ;;
        --) shift; MODE=cmd; CMD=("$@"); break ;;
        -h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$MODE" = steps ] && [ -n "${HERALD_TEST_CMD:-}" ]; then
    MODE=cmd
    CMD=(bash -c "$HERALD_TEST_CMD")
fi
if [ "$MODE" = cmd ] && [ ${#CMD[@]} -eq 0 ]; then
    echo "test.sh: '--' needs a command" >&2
    exit 2
fi

T0=$SECONDS
banner() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
info() { echo "[test] $*" >&2; }

# ------------------------------------------------------------------ tools
banner "tools: pinned venv, the test model server and the Drive peer (infra/tools.sh --model --drive)"
bash "$ROOT/infra/tools.sh" --model --drive
VENV="${HERALD_TOOLS_VENV:-$ROOT/.tools/venv}"
PY="$VENV/bin/python"

# ------------------------------------------------------------------ emulators
WORK="$(mktemp -d "${TMPDIR:-/tmp}/herald-test.XXXXXX")"
MOTO_PID=""
SMTP_PID=""
EMULATORS_READY=0
# shellcheck source=infra/databases.sh
source "$ROOT/infra/databases.sh" # functions only; started below
# shellcheck source=infra/model.sh
source "$ROOT/infra/model.sh" # functions only; started below
# shellcheck source=infra/drive.sh
source "$ROOT/infra/drive.sh" # functions only; started below
# (stop_pid comes with them, from infra/loopback-server.sh.)

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ "$rc" -ne 0 ] && [ "$EMULATORS_READY" = 0 ] && [ -d "$WORK" ]; then
        for log in moto smtp postgres mariadb model drive; do
            if [ -s "$WORK/$log.log" ]; then
                info "last lines of the $log log:"
                tail -n 15 "$WORK/$log.log" >&2 || true
            fi
        done
    fi
    stop_pid "$MOTO_PID"
    stop_pid "$SMTP_PID"
    stop_databases
    stop_model_server
    stop_drive_peer
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

http_ok() { # URL
    if command -v curl > /dev/null 2>&1; then
        curl -sf -o /dev/null --max-time 2 "$1"
    else
        "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2> /dev/null
    fi
}

tcp_ok() { # PORT
    "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2> /dev/null
}

# wait_ready PID CHECK ARG: polls CHECK ARG for up to 15 s while PID is alive.
wait_ready() {
    local pid="$1" check="$2" arg="$3"
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2> /dev/null || return 1
        "$check" "$arg" && return 0
        sleep 0.1
    done
    return 1
}

banner "emulators: moto server + SMTP sink on loopback"

# A port found free can be taken before the server binds it: retry with a new one.
for attempt in 1 2 3; do
    MOTO_PORT="$(free_port)"
    "$VENV/bin/python" "$ROOT/infra/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    if wait_ready "$MOTO_PID" http_ok "http://127.0.0.1:$MOTO_PORT/moto-api/"; then
        break
    fi
    stop_pid "$MOTO_PID"
    MOTO_PID=""
    [ "$attempt" -lt 3 ] || { info "moto server did not become ready"; exit 1; }
done

MAILDIR="$WORK/mail"
mkdir -p "$MAILDIR/cur" "$MAILDIR/new" "$MAILDIR/tmp"
for attempt in 1 2 3; do
    SMTP_PORT="$(free_port)"
    "$PY" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
        > "$WORK/smtp.log" 2>&1 &
    SMTP_PID=$!
    if wait_ready "$SMTP_PID" tcp_ok "$SMTP_PORT"; then
        break
    fi
    stop_pid "$SMTP_PID"
    SMTP_PID=""
    [ "$attempt" -lt 3 ] || { info "SMTP sink did not become ready"; exit 1; }
done

banner "databases: PostgreSQL + MariaDB on loopback (infra/databases.sh)"
start_postgres
start_mariadb

banner "model: SmolLM2-135M on the CPU, OpenAI and Anthropic protocols (infra/model.sh)"
# Strings without a maxLength are bounded, so the small model ends its answer.
HERALD_MODEL_STRING_LIMIT="${HERALD_MODEL_STRING_LIMIT:-300}" start_model_server

banner "drive: local Google Drive peer, token endpoint + Drive v3 (infra/drive.sh)"
start_drive_peer

# Nothing may leave loopback: drop profile/session settings and per-service endpoint overrides
# from the caller's shell, then point every SDK at moto.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ROLE_ARN \
    AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^AWS_ENDPOINT_URL_' || true)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true
export SMTP_HOST=127.0.0.1 SMTP_PORT SMTP_MAILDIR="$MAILDIR"
export SAM_CLI_TELEMETRY=0
export PATH="$VENV/bin:$PATH"

EMULATORS_READY=1
info "moto  pid $MOTO_PID  $AWS_ENDPOINT_URL"
info "smtp  pid $SMTP_PID  $SMTP_HOST:$SMTP_PORT -> $SMTP_MAILDIR/new"
if [ "${HERALD_SKIP_AWS_TESTS:-}" = 1 ]; then
    info "warning: HERALD_SKIP_AWS_TESTS=1 is set: the AWS contract tests will be skipped"
fi

case "$MODE" in
    emulators)
        cat << EOF

# Emulators are up. In another shell:
export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export SMTP_HOST=127.0.0.1 SMTP_PORT=$SMTP_PORT SMTP_MAILDIR=$SMTP_MAILDIR
$(database_exports)
$(model_server_exports)
$(drive_peer_exports)
# Ctrl-C here stops them all and removes $WORK.
EOF
        # `wait` on a background sleep returns as soon as a trapped signal arrives.
        while kill -0 "$MOTO_PID" 2> /dev/null && kill -0 "$SMTP_PID" 2> /dev/null && databases_alive \
            && model_server_alive && drive_peer_alive; do
            sleep 1 &
            wait $! || true
        done
        info "an emulator or database exited on its own; logs:"
        tail -n 20 "$WORK/moto.log" "$WORK/smtp.log" "$WORK/postgres.log" "$WORK/mariadb.log" \
            "$WORK/model.log" "$WORK/drive.log" >&2 || true
        exit 1
        ;;
    cmd)
        banner "command: ${CMD[*]}"
        set +e
        "${CMD[@]}"
        rc=$?
        set -e
        exit "$rc"
        ;;
esac

# ------------------------------------------------------------------ steps
banner "1/7 cfn-lint template.yaml"
cfn-lint template.yaml

banner "2/7 sam validate --lint"
sam validate --lint

banner "3/7 cargo fmt --all -- --check"
cargo fmt --all -- --check

banner "4/7 cargo clippy -D warnings: the workspace with every feature, herald-cli without AWS"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
cargo clippy -p herald-cli --all-targets --locked -- -D warnings

banner "5/7 cargo test --workspace --locked, then herald-cli without AWS"
cargo test --workspace --locked
# The `herald` binary as `make run` and infra/fuzz.sh build it: herald-core without `aws`.
cargo test -p herald-cli --locked

banner "6/7 schemathesis over the whole API of herald serve (infra/fuzz.sh)"
bash "$ROOT/infra/fuzz.sh"

banner "7/7 console in a real browser (infra/browser.sh)"
bash "$ROOT/infra/browser.sh"

info "OK: cfn-lint, sam validate, fmt, clippy, tests, the API fuzzer and browser tests passed in $((SECONDS - T0)) s"

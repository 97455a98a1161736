# shellcheck shell=bash
# The test language model server (infra/model-server/server.js: SmolLM2-135M on the CPU through
# node-llama-cpp, speaking OpenAI /v1/chat/completions and Anthropic /v1/messages) for one run.
# It listens on 127.0.0.1 only, on a free port it binds itself (--port 0: no race between
# choosing a port and binding it), and logs to $WORK/model.log. `infra/tools.sh --model`
# installs what it needs (npm packages, .tools/model/*.gguf); this file installs nothing.
#
# Sourced (as infra/test.sh sources infra/databases.sh):
#   start_model_server    start it, wait until GET /health answers (up to 60 s), export
#                         HERALD_TEST_MODEL_URL=http://127.0.0.1:<port>
#   stop_model_server     stop it (TERM, then KILL after 5 s); call it from the cleanup trap
#   model_server_alive    it is still running
#   model_server_exports  the export line, for --emulators-only
# It uses the caller's WORK, info and stop_pid when defined (test.sh's); otherwise it defines
# its own and makes (and removes on stop) a temp folder. For example:
#   bash -c 'source infra/model.sh && trap stop_model_server EXIT && start_model_server && CMD'
#
# Standalone: installs (infra/tools.sh --model), starts the server, runs CMD with
# HERALD_TEST_MODEL_URL set, stops the server on any exit (Ctrl-C too), exits with CMD's status:
#   bash infra/model.sh --run CMD [ARG...]
#
# HERALD_MODEL_PATH overrides the GGUF file; HERALD_MODEL_THREADS, HERALD_MODEL_CONTEXT_SIZE,
# HERALD_MODEL_SEED, HERALD_MODEL_MAX_TOKENS and HERALD_MODEL_API_KEY reach the server as they are;
# HERALD_MODEL_STRING_LIMIT bounds unbounded schema strings (infra/test.sh sets 300).

MODEL_SERVER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_SERVER_PID=""
MODEL_SERVER_OWN_WORK="" # a temp folder made here (no caller's WORK), removed on stop

declare -F info > /dev/null || info() { echo "[model] $*" >&2; }

declare -F stop_pid > /dev/null || stop_pid() {
    local pid="$1"
    [ -n "$pid" ] || return 0
    kill "$pid" 2> /dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
}

model_server_http_ok() { # URL
    if command -v curl > /dev/null 2>&1; then
        curl -sf -o /dev/null --max-time 2 "$1"
    else
        node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(2000)})
            .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
    fi
}

start_model_server() {
    local model="${HERALD_MODEL_PATH:-$MODEL_SERVER_ROOT/.tools/model/SmolLM2-135M-Instruct.Q4_1.gguf}"
    local server="$MODEL_SERVER_ROOT/infra/model-server/server.js" log url="" t0=$SECONDS
    if [ ! -f "$model" ] || [ ! -d "$MODEL_SERVER_ROOT/infra/model-server/node_modules/node-llama-cpp" ]; then
        info "error: the test model server is not installed; run: bash infra/tools.sh --model"
        return 1
    fi
    if [ -z "${WORK:-}" ]; then
        WORK="$(mktemp -d "${TMPDIR:-/tmp}/herald-model.XXXXXX")"
        MODEL_SERVER_OWN_WORK="$WORK"
    fi
    log="$WORK/model.log"
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node "$server" --model "$model" --host 127.0.0.1 --port 0 \
        --string-limit "${HERALD_MODEL_STRING_LIMIT:-0}" > "$log" 2>&1 &
    MODEL_SERVER_PID=$!
    # The ready line carries the port the server bound; /health then proves it answers.
    for _ in $(seq 1 600); do
        if ! kill -0 "$MODEL_SERVER_PID" 2> /dev/null; then
            info "error: the model server exited; last lines of $log:"
            tail -n 15 "$log" >&2 || true
            MODEL_SERVER_PID=""
            return 1
        fi
        url="$(sed -n 's|^model-server ready \(http://127\.0\.0\.1:[0-9]*\) .*|\1|p' "$log")"
        if [ -n "$url" ] && model_server_http_ok "$url/health"; then
            break
        fi
        url=""
        sleep 0.1
    done
    if [ -z "$url" ]; then
        info "error: the model server did not become ready in 60 s; last lines of $log:"
        tail -n 15 "$log" >&2 || true
        stop_model_server
        return 1
    fi
    export HERALD_TEST_MODEL_URL="$url"
    info "model     pid $MODEL_SERVER_PID  $url  $(basename "$model")  (up in $((SECONDS - t0)) s)"
}

stop_model_server() {
    stop_pid "$MODEL_SERVER_PID"
    MODEL_SERVER_PID=""
    if [ -n "$MODEL_SERVER_OWN_WORK" ]; then
        rm -rf "$MODEL_SERVER_OWN_WORK"
        [ "${WORK:-}" != "$MODEL_SERVER_OWN_WORK" ] || WORK=""
        MODEL_SERVER_OWN_WORK=""
    fi
}

model_server_alive() {
    [ -n "$MODEL_SERVER_PID" ] && kill -0 "$MODEL_SERVER_PID" 2> /dev/null
}

model_server_exports() {
    echo "export HERALD_TEST_MODEL_URL=${HERALD_TEST_MODEL_URL:-}"
}

# ------------------------------------------------------------------ standalone: --run CMD
model_run_cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_model_server
    exit "$rc"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        --run) shift ;;
        -h | --help | "")
            sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "model.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    [ $# -gt 0 ] || { echo "model.sh: --run needs a command" >&2; exit 2; }
    bash "$MODEL_SERVER_ROOT/infra/tools.sh" --model
    trap model_run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    start_model_server
    set +e
    "$@"
    rc=$?
    set -e
    exit "$rc"
fi

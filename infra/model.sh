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
# It uses the caller's WORK, info and stop_pid when defined (test.sh's); otherwise
# infra/loopback-server.sh's, and makes (and removes on stop) a temp folder. For example:
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
# shellcheck source=infra/loopback-server.sh
source "$MODEL_SERVER_ROOT/infra/loopback-server.sh"

start_model_server() {
    local model="${HERALD_MODEL_PATH:-$MODEL_SERVER_ROOT/.tools/model/SmolLM2-135M-Instruct.Q4_1.gguf}"
    local t0=$SECONDS
    if [ ! -f "$model" ] || [ ! -d "$MODEL_SERVER_ROOT/infra/model-server/node_modules/node-llama-cpp" ]; then
        info "error: the test model server is not installed; run: bash infra/tools.sh --model"
        return 1
    fi
    if [ -z "${WORK:-}" ]; then
        WORK="$(mktemp -d "${TMPDIR:-/tmp}/herald-model.XXXXXX")"
        MODEL_SERVER_OWN_WORK="$WORK"
    fi
    start_loopback_server "model server" "$WORK/model.log" "model-server ready" 60 \
        env NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node "$MODEL_SERVER_ROOT/infra/model-server/server.js" \
        --model "$model" --host 127.0.0.1 --port 0 --string-limit "${HERALD_MODEL_STRING_LIMIT:-0}" ||
        { stop_model_server; return 1; }
    MODEL_SERVER_PID="$LOOPBACK_PID"
    export HERALD_TEST_MODEL_URL="$LOOPBACK_URL"
    info "model     pid $MODEL_SERVER_PID  $HERALD_TEST_MODEL_URL  $(basename "$model")  (up in $((SECONDS - t0)) s)"
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

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    run_with_loopback_server "${BASH_SOURCE[0]}" --model 2,24 start_model_server stop_model_server "$@"
fi

# shellcheck shell=bash
# What the Node.js test servers (infra/model.sh, infra/drive.sh) share: start one that binds a
# free loopback port itself (--port 0: no race between choosing a port and binding it) and
# prints "<name> ready http://127.0.0.1:<port>…", wait until its /health answers, stop it, and
# the standalone `--run CMD` mode. Sourced; uses the caller's info and stop_pid when defined.

declare -F info > /dev/null || info() { echo "[server] $*" >&2; }

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

loopback_http_ok() { # URL
    if command -v curl > /dev/null 2>&1; then
        curl -sf -o /dev/null --max-time 2 "$1"
    else
        node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(2000)})
            .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
    fi
}

# start_loopback_server WHAT LOG READY SECONDS CMD [ARG...]
# Runs CMD (logging to LOG) until the line "READY http://127.0.0.1:<port>…" appears and
# <url>/health answers, for up to SECONDS; then sets LOOPBACK_PID and LOOPBACK_URL. On failure
# (it exits, or is not ready in time) it says so with the log's last lines, stops it, returns 1.
start_loopback_server() {
    local what="$1" log="$2" ready="$3" seconds="$4" pid url=""
    shift 4
    LOOPBACK_PID=""
    LOOPBACK_URL=""
    : > "$log" # exists before the first look for the ready line
    "$@" >> "$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 $((seconds * 10))); do
        if ! kill -0 "$pid" 2> /dev/null; then
            info "error: the $what exited; last lines of $log:"
            tail -n 15 "$log" >&2 || true
            return 1
        fi
        url="$(sed -n "s|^$ready \\(http://127\\.0\\.0\\.1:[0-9]*\\).*|\\1|p" "$log" | head -n 1)"
        if [ -n "$url" ] && loopback_http_ok "$url/health"; then
            LOOPBACK_PID="$pid"
            LOOPBACK_URL="$url"
            return 0
        fi
        sleep 0.1
    done
    info "error: the $what did not become ready in $seconds s; last lines of $log:"
    tail -n 15 "$log" >&2 || true
    stop_pid "$pid"
    return 1
}

# run_with_loopback_server SCRIPT TOOLS_FLAG HELP_LINES START STOP [--run CMD [ARG...]]
# The standalone mode of SCRIPT: installs (infra/tools.sh TOOLS_FLAG), calls START, runs CMD,
# calls STOP on any exit (Ctrl-C too) and exits with CMD's status; prints SCRIPT's header
# (HELP_LINES, a sed range) without --run.
run_with_loopback_server() {
    local script="$1" tools_flag="$2" help_lines="$3" start="$4" stop="$5"
    shift 5
    set -euo pipefail
    case "${1:-}" in
        --run) shift ;;
        -h | --help | "")
            sed -n "${help_lines}p" "$script" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "$(basename "$script"): unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    [ $# -gt 0 ] || { echo "$(basename "$script"): --run needs a command" >&2; exit 2; }
    bash "$(dirname "$script")/tools.sh" "$tools_flag"
    # shellcheck disable=SC2064 # the stop function's name is fixed now
    trap "trap - EXIT INT TERM HUP; $stop" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    "$start"
    set +e
    "$@"
    local rc=$?
    set -e
    exit "$rc"
}

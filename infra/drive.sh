# shellcheck shell=bash
# The local Google Drive peer (infra/drive-peer/server.js: Google's OAuth 2.0 token endpoint for
# service-account JWT assertions, verified with jose, and the Drive v3 subset Herald's google_drive
# destination uses, in memory, with /_peer/ test controls) for one run. It listens on 127.0.0.1
# only, on a free port it binds itself (--port 0: no race between choosing a port and binding it),
# and logs to $WORK/drive.log. `infra/tools.sh --drive` installs its npm packages; this file
# installs nothing.
#
# Sourced (as infra/test.sh sources infra/model.sh):
#   start_drive_peer      start it, wait until GET /health answers (up to 15 s), export
#                         HERALD_TEST_DRIVE_URL=http://127.0.0.1:<port>
#   stop_drive_peer       stop it (TERM, then KILL after 5 s); call it from the cleanup trap
#   drive_peer_alive      it is still running
#   drive_peer_exports    the export line, for --emulators-only
# It uses the caller's WORK, info and stop_pid when defined (test.sh's); otherwise
# infra/loopback-server.sh's, and makes (and removes on stop) a temp folder. For example:
#   bash -c 'source infra/drive.sh && trap stop_drive_peer EXIT && start_drive_peer && CMD'
#
# Standalone: installs (infra/tools.sh --drive), starts the peer, runs CMD with
# HERALD_TEST_DRIVE_URL set, stops the peer on any exit (Ctrl-C too), exits with CMD's status:
#   bash infra/drive.sh --run CMD [ARG...]
#
# Tests point the token URI at $HERALD_TEST_DRIVE_URL/token and the Drive API base at
# $HERALD_TEST_DRIVE_URL (…/drive/v3/files, …/upload/drive/v3/files); the peer's API and its
# /_peer/ controls are described at the top of infra/drive-peer/server.js.

DRIVE_PEER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRIVE_PEER_PID=""
DRIVE_PEER_OWN_WORK="" # a temp folder made here (no caller's WORK), removed on stop
# shellcheck source=infra/loopback-server.sh
source "$DRIVE_PEER_ROOT/infra/loopback-server.sh"

start_drive_peer() {
    local t0=$SECONDS
    if [ ! -d "$DRIVE_PEER_ROOT/infra/drive-peer/node_modules/jose" ]; then
        info "error: the Drive peer is not installed; run: bash infra/tools.sh --drive"
        return 1
    fi
    if [ -z "${WORK:-}" ]; then
        WORK="$(mktemp -d "${TMPDIR:-/tmp}/herald-drive.XXXXXX")"
        DRIVE_PEER_OWN_WORK="$WORK"
    fi
    start_loopback_server "Drive peer" "$WORK/drive.log" "drive-peer ready" 15 \
        node "$DRIVE_PEER_ROOT/infra/drive-peer/server.js" --port 0 || { stop_drive_peer; return 1; }
    DRIVE_PEER_PID="$LOOPBACK_PID"
    export HERALD_TEST_DRIVE_URL="$LOOPBACK_URL"
    info "drive     pid $DRIVE_PEER_PID  $HERALD_TEST_DRIVE_URL  (up in $((SECONDS - t0)) s)"
}

stop_drive_peer() {
    stop_pid "$DRIVE_PEER_PID"
    DRIVE_PEER_PID=""
    if [ -n "$DRIVE_PEER_OWN_WORK" ]; then
        rm -rf "$DRIVE_PEER_OWN_WORK"
        [ "${WORK:-}" != "$DRIVE_PEER_OWN_WORK" ] || WORK=""
        DRIVE_PEER_OWN_WORK=""
    fi
}

drive_peer_alive() {
    [ -n "$DRIVE_PEER_PID" ] && kill -0 "$DRIVE_PEER_PID" 2> /dev/null
}

drive_peer_exports() {
    echo "export HERALD_TEST_DRIVE_URL=${HERALD_TEST_DRIVE_URL:-}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    run_with_loopback_server "${BASH_SOURCE[0]}" --drive 2,25 start_drive_peer stop_drive_peer "$@"
fi

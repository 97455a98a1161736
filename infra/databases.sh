# shellcheck shell=bash
# Sourced by infra/test.sh: a private PostgreSQL and a private MariaDB server for one test run,
# from Debian's packages (infra/tools.sh installs them). Each listens on 127.0.0.1 only, on a
# free port, keeps its data, socket and pid files under $WORK, and logs to $WORK/<name>.log.
#
#   start_postgres / start_mariadb   init, start, wait until ready, create herald_test and the
#                                    herald_admin / herald_reader logins, export HERALD_TEST_*
#   stop_databases                   stop both (test.sh's cleanup trap calls it on any exit)
#   databases_alive                  both servers still running
#   database_exports                 the export lines, for --emulators-only
#
# Uses test.sh's WORK, info, free_port, wait_ready and stop_pid. Logins (fixed test passwords;
# nothing listens beyond loopback): herald_admin owns herald_test (PostgreSQL: superuser;
# MariaDB: ALL on herald_test.* WITH GRANT OPTION); herald_reader may only read it (PostgreSQL:
# SELECT on every table herald_admin creates in schema public, now or later; MariaDB: SELECT on
# herald_test.*). As root, the servers run as the `postgres` and `mysql` system users.

DB_NAME=herald_test
DB_ADMIN_USER=herald_admin
DB_ADMIN_PASSWORD=admin-pass-1
DB_READER_USER=herald_reader
DB_READER_PASSWORD=reader-pass-1

PG_BIN=""
PG_DATA=""
PG_SOCKDIR=""
PG_PID=""      # the process we started: runuser (as root) or the postmaster itself
MARIADB_PID="" # mariadbd (it drops to --user=mysql itself)
MARIADB_SOCK=""
MARIADB_ADMIN=""

is_root() { [ "$(id -u)" = 0 ]; }

# as_user USER CMD...: CMD as USER when we are root (initdb and postgres refuse root), else as is.
as_user() {
    local user="$1"
    shift
    if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# private_dirs USER DIR...: new mode-700 directories (parents first), owned by USER when root.
private_dirs() {
    local user="$1"
    shift
    mkdir -m 700 "$@"
    if is_root; then chown "$user:" "$@"; fi
}

# find_exe NAME...: the first NAME on PATH or in an sbin directory.
find_exe() {
    local name dir
    for name in "$@"; do
        if command -v "$name" 2> /dev/null; then return 0; fi
        for dir in /usr/sbin /usr/local/sbin; do
            if [ -x "$dir/$name" ]; then echo "$dir/$name" && return 0; fi
        done
    done
    return 1
}

# since T0: seconds since $EPOCHREALTIME was T0, with one decimal.
since() {
    local now="${EPOCHREALTIME/[.,]/}" start="${1/[.,]/}" tenths
    tenths=$(((now - start) / 100000))
    echo "$((tenths / 10)).$((tenths % 10))"
}

# As root, the server's system user must reach $WORK (mktemp made it 700, and TMPDIR's parents
# may be private too); its own directories inside stay 700.
check_reachable() { # USER
    is_root || return 0
    id -u "$1" > /dev/null 2>&1 || { info "error: system user '$1' missing (reinstall its server package)"; exit 1; }
    chmod 711 "$WORK"
    as_user "$1" test -x "$WORK" || {
        info "error: user '$1' cannot reach $WORK; point TMPDIR at a directory others may traverse (e.g. /tmp)"
        exit 1
    }
}

# ------------------------------------------------------------------ PostgreSQL
# Over the server's own socket in $WORK: whatever else holds a raced TCP port cannot answer, nor
# stall the probe. The socket exists only once the TCP port is bound; TCP logins follow.
pg_ready() { "$PG_BIN/pg_isready" -q -t 1 -h "$PG_SOCKDIR" -p "$1"; }

start_postgres() {
    local t0="$EPOCHREALTIME" dir="$WORK/pg" log="$WORK/postgres.log" port="" version
    PG_BIN="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
    PG_BIN="${PG_BIN%/initdb}"
    [ -x "$PG_BIN/initdb" ] || { info "error: PostgreSQL not found (/usr/lib/postgresql/*/bin/initdb); run infra/tools.sh"; exit 1; }
    check_reachable postgres
    PG_DATA="$dir/data"
    PG_SOCKDIR="$dir/run"
    private_dirs postgres "$dir" "$PG_SOCKDIR"
    (umask 077 && printf '%s\n' "$DB_ADMIN_PASSWORD" > "$dir/pwfile")
    if is_root; then chown postgres: "$dir/pwfile"; fi
    as_user postgres "$PG_BIN/initdb" -D "$PG_DATA" --auth=scram-sha-256 --username="$DB_ADMIN_USER" \
        --pwfile="$dir/pwfile" --encoding=UTF8 --no-locale --no-sync --no-instructions >> "$log" 2>&1 \
        || { info "error: PostgreSQL initdb failed"; exit 1; }
    rm -f "$dir/pwfile"

    for attempt in 1 2 3; do
        port="$(free_port)"
        as_user postgres "$PG_BIN/postgres" -D "$PG_DATA" -p "$port" -c listen_addresses=127.0.0.1 \
            -c unix_socket_directories="$PG_SOCKDIR" -c fsync=off -c shared_buffers=16MB >> "$log" 2>&1 &
        PG_PID=$!
        if wait_ready "$PG_PID" pg_ready "$port"; then
            break
        fi
        stop_postgres
        [ "$attempt" -lt 3 ] || { info "error: PostgreSQL did not become ready"; exit 1; }
    done

    # Over TCP with passwords, exactly as the tests connect.
    PGPASSWORD="$DB_ADMIN_PASSWORD" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
        -U "$DB_ADMIN_USER" -d postgres >> "$log" 2>&1 << SQL || { info "error: PostgreSQL setup failed"; exit 1; }
CREATE ROLE $DB_READER_USER LOGIN PASSWORD '$DB_READER_PASSWORD' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE $DB_NAME OWNER $DB_ADMIN_USER;
REVOKE CREATE ON DATABASE $DB_NAME FROM PUBLIC;
GRANT CONNECT ON DATABASE $DB_NAME TO $DB_READER_USER;
\\connect $DB_NAME
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO $DB_READER_USER;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $DB_READER_USER;
ALTER DEFAULT PRIVILEGES FOR ROLE $DB_ADMIN_USER IN SCHEMA public GRANT SELECT ON TABLES TO $DB_READER_USER;
SQL
    version="$(PGPASSWORD="$DB_READER_PASSWORD" "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$port" \
        -U "$DB_READER_USER" -d "$DB_NAME" -c 'SHOW server_version' 2>> "$log")" \
        || { info "error: PostgreSQL: $DB_READER_USER cannot log in over TCP"; exit 1; }

    export HERALD_TEST_POSTGRES_HOST=127.0.0.1 HERALD_TEST_POSTGRES_PORT="$port"
    export HERALD_TEST_POSTGRES_DATABASE="$DB_NAME"
    export HERALD_TEST_POSTGRES_ADMIN_USER="$DB_ADMIN_USER" HERALD_TEST_POSTGRES_ADMIN_PASSWORD="$DB_ADMIN_PASSWORD"
    export HERALD_TEST_POSTGRES_USER="$DB_READER_USER" HERALD_TEST_POSTGRES_PASSWORD="$DB_READER_PASSWORD"
    info "postgres  pid $(head -n 1 "$PG_DATA/postmaster.pid")  127.0.0.1:$port  PostgreSQL $version  (up in $(since "$t0") s)"
}

# SIGINT is PostgreSQL's fast shutdown. It goes to the postmaster itself: runuser answers
# SIGTERM by waiting 2 s and killing its child.
stop_postgres() {
    [ -n "$PG_PID" ] || return 0
    local pm=""
    if [ -r "$PG_DATA/postmaster.pid" ]; then pm="$(head -n 1 "$PG_DATA/postmaster.pid")"; fi
    if [ -n "$pm" ] && kill -INT "$pm" 2> /dev/null; then
        for _ in $(seq 1 100); do
            kill -0 "$PG_PID" 2> /dev/null || break
            sleep 0.1
        done
    fi
    stop_pid "$PG_PID"
    if [ -n "$pm" ] && kill -0 "$pm" 2> /dev/null; then kill -9 "$pm" 2> /dev/null || true; fi
    PG_PID=""
}

# ------------------------------------------------------------------ MariaDB
mariadb_ready() { # SOCKET; answers even before any login works
    "$MARIADB_ADMIN" --no-defaults --protocol=socket --socket="$1" --connect-timeout=1 ping > /dev/null 2>&1
}

start_mariadb() {
    local t0="$EPOCHREALTIME" dir="$WORK/mariadb" log="$WORK/mariadb.log" port="" version
    local mariadbd install_db client owner user_opt=() server_opts
    if ! { mariadbd="$(find_exe mariadbd mysqld)" \
        && install_db="$(find_exe mariadb-install-db mysql_install_db)" \
        && client="$(find_exe mariadb mysql)" \
        && MARIADB_ADMIN="$(find_exe mariadb-admin mysqladmin)"; }; then
        info "error: MariaDB server or client not found; run infra/tools.sh"
        exit 1
    fi
    owner="$(id -un)"
    if is_root; then
        owner=mysql
        user_opt=(--user=mysql)
        check_reachable mysql
    fi
    MARIADB_SOCK="$dir/mysqld.sock"
    private_dirs "$owner" "$dir" "$dir/tmp"
    # Throwaway data: small buffers, no doublewrite, no flush per commit, no checkpoint at exit.
    server_opts=(--datadir="$dir/data" --tmpdir="$dir/tmp" --skip-name-resolve
        --innodb-buffer-pool-size=32M --innodb-log-file-size=8M --performance-schema=OFF
        --innodb-doublewrite=0 --innodb-flush-log-at-trx-commit=0 --innodb-fast-shutdown=3
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci)
    "$install_db" --no-defaults "${user_opt[@]}" --auth-root-authentication-method=normal \
        --skip-test-db "${server_opts[@]}" >> "$log" 2>&1 \
        || { info "error: mariadb-install-db failed"; exit 1; }

    for attempt in 1 2 3; do
        port="$(free_port)"
        "$mariadbd" --no-defaults "${user_opt[@]}" "${server_opts[@]}" --bind-address=127.0.0.1 \
            --port="$port" --socket="$MARIADB_SOCK" --pid-file="$dir/mariadbd.pid" >> "$log" 2>&1 &
        MARIADB_PID=$!
        if wait_ready "$MARIADB_PID" mariadb_ready "$MARIADB_SOCK"; then
            break
        fi
        stop_pid "$MARIADB_PID"
        MARIADB_PID=""
        [ "$attempt" -lt 3 ] || { info "error: MariaDB did not become ready"; exit 1; }
    done

    # root has no password and logs in over the socket (in $WORK) only: its TCP and anonymous
    # accounts from mariadb-install-db are dropped.
    local drop
    drop="$("$client" --no-defaults --protocol=socket --socket="$MARIADB_SOCK" -u root -N -B -e \
        "SELECT GROUP_CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.user
         WHERE user = '' OR (user = 'root' AND host <> 'localhost')" 2>> "$log")" \
        || { info "error: MariaDB: root cannot log in over the socket"; exit 1; }
    [ "$drop" != NULL ] || drop=""
    "$client" --no-defaults --protocol=socket --socket="$MARIADB_SOCK" -u root >> "$log" 2>&1 << SQL \
        || { info "error: MariaDB setup failed"; exit 1; }
${drop:+DROP USER $drop;}
CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '$DB_ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$DB_ADMIN_PASSWORD',
            '$DB_ADMIN_USER'@'localhost' IDENTIFIED BY '$DB_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_ADMIN_USER'@'127.0.0.1', '$DB_ADMIN_USER'@'localhost'
    WITH GRANT OPTION;
CREATE USER '$DB_READER_USER'@'127.0.0.1' IDENTIFIED BY '$DB_READER_PASSWORD',
            '$DB_READER_USER'@'localhost' IDENTIFIED BY '$DB_READER_PASSWORD';
GRANT SELECT ON $DB_NAME.* TO '$DB_READER_USER'@'127.0.0.1', '$DB_READER_USER'@'localhost';
SQL
    version="$(MYSQL_PWD="$DB_READER_PASSWORD" "$client" --no-defaults -h 127.0.0.1 -P "$port" \
        -u "$DB_READER_USER" -N -B "$DB_NAME" -e 'SELECT VERSION()' 2>> "$log")" \
        || { info "error: MariaDB: $DB_READER_USER cannot log in over TCP"; exit 1; }

    export HERALD_TEST_MYSQL_HOST=127.0.0.1 HERALD_TEST_MYSQL_PORT="$port"
    export HERALD_TEST_MYSQL_DATABASE="$DB_NAME"
    export HERALD_TEST_MYSQL_ADMIN_USER="$DB_ADMIN_USER" HERALD_TEST_MYSQL_ADMIN_PASSWORD="$DB_ADMIN_PASSWORD"
    export HERALD_TEST_MYSQL_USER="$DB_READER_USER" HERALD_TEST_MYSQL_PASSWORD="$DB_READER_PASSWORD"
    info "mariadb   pid $MARIADB_PID  127.0.0.1:$port  MariaDB $version  (up in $(since "$t0") s)"
}

# ------------------------------------------------------------------ both
stop_databases() {
    stop_postgres
    stop_pid "$MARIADB_PID"
    MARIADB_PID=""
}

databases_alive() {
    kill -0 "$PG_PID" 2> /dev/null && kill -0 "$MARIADB_PID" 2> /dev/null
}

database_exports() {
    local db
    for db in POSTGRES MYSQL; do
        echo "export HERALD_TEST_${db}_HOST=127.0.0.1 HERALD_TEST_${db}_PORT=$(printenv "HERALD_TEST_${db}_PORT")" \
            "HERALD_TEST_${db}_DATABASE=$DB_NAME"
        echo "export HERALD_TEST_${db}_ADMIN_USER=$DB_ADMIN_USER HERALD_TEST_${db}_ADMIN_PASSWORD=$DB_ADMIN_PASSWORD" \
            "HERALD_TEST_${db}_USER=$DB_READER_USER HERALD_TEST_${db}_PASSWORD=$DB_READER_PASSWORD"
    done
}

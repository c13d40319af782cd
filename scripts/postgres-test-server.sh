#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests that check Scanflow's stores against PostgreSQL.
#
#   eval "$(bash scripts/postgres-test-server.sh start)"   # exports SCANFLOW_TEST_POSTGRES_URL
#   bash scripts/postgres-test-server.sh url               # prints the SQLAlchemy URL
#   bash scripts/postgres-test-server.sh status            # exit 0 when it runs
#   bash scripts/postgres-test-server.sh stop              # stops it and deletes its data
#
# `start` installs Debian's `postgresql` package when no server binaries are found, creates a
# cluster in $SCANFLOW_PG_DIR (default: $TMPDIR/scanflow-pg-test) with a superuser `scanflow`
# and trust authentication, and starts it on 127.0.0.1 only (never another address), on a free
# port, with fsync off (test data only). It is idempotent: if the server already runs, it only
# prints the export line again. Progress goes to stderr; stdout carries only the export line.
# initdb refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

DIR="${SCANFLOW_PG_DIR:-${TMPDIR:-/tmp}/scanflow-pg-test}"
DATA="$DIR/data"
PORT_FILE="$DIR/port"
LOG="$DIR/server.log"
DB_USER=scanflow

log() { echo "postgres-test-server: $*" >&2; }

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_postgres() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    log "installing Debian's postgresql package"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

# Run a command as the server's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    echo "postgresql+psycopg://$DB_USER@127.0.0.1:$(cat "$PORT_FILE")/postgres"
}

running() {
    local bin
    bin=$(pg_bin) || return 1
    [ -f "$DATA/PG_VERSION" ] && [ -f "$PORT_FILE" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

free_port() {
    local p
    for p in $(seq 55432 55531); do
        # Nothing answers on it (bash's /dev/tcp connect fails) -> free.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    log "no free port in 55432-55531"
    return 1
}

start() {
    if running; then
        log "already running on 127.0.0.1:$(cat "$PORT_FILE") (data in $DATA)"
        echo "export SCANFLOW_TEST_POSTGRES_URL='$(url)'"
        return 0
    fi
    local bin t0 port
    t0=$(date +%s%N)
    bin=$(pg_bin) || { install_postgres; bin=$(pg_bin); } || {
        log "no initdb found under /usr/lib/postgresql/*/bin after installing postgresql"
        exit 1
    }
    mkdir -p "$DIR"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { log "user 'postgres' is missing (reinstall postgresql-common)"; exit 1; }
        chown postgres: "$DIR"
    fi
    chmod 700 "$DIR"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        rm -rf "$DATA"
        as_owner "$bin/initdb" -D "$DATA" -U "$DB_USER" --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 \
            || { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    for _ in 1 2 3; do
        port=$(free_port)
        echo "$port" >"$PORT_FILE"
        # 127.0.0.1 only; the unix socket lives in our own directory, not /var/run/postgresql.
        if as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null 2>&1; then
            log "started PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port in $(( ($(date +%s%N) - t0) / 1000000 )) ms (data in $DATA)"
            echo "export SCANFLOW_TEST_POSTGRES_URL='$(url)'"
            return 0
        fi
        log "could not start on port $port; retrying"
    done
    tail -n 20 "$LOG" >&2 || true
    exit 1
}

stop() {
    local bin
    if bin=$(pg_bin) && [ -f "$DATA/PG_VERSION" ]; then
        as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
        log "stopped"
    else
        log "not running"
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) running && url || { log "not running: run '$0 start'"; exit 1; } ;;
    status) running && log "running on 127.0.0.1:$(cat "$PORT_FILE")" || { log "not running"; exit 1; } ;;
    *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac

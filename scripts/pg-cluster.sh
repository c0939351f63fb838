#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL cluster on this machine, for erp-sync's
# integration tests (`ERP_SYNC_TEST_POSTGRES`), locally and in .ci/run.
#
# Usage: scripts/pg-cluster.sh start <dir> [port]   (default port 55432)
#        scripts/pg-cluster.sh stop <dir>
#
# `start` prints exactly one line on stdout, the admin URL
# postgres://postgres@127.0.0.1:<port>/postgres; progress goes to stderr. A cluster
# already running in <dir> is reused. <dir> holds data/ (the cluster), log (the server
# log), initdb.log and the unix socket.
#
# For tests only, never for data that matters: every connection on 127.0.0.1 is trusted
# without a password (--auth=trust), and the server runs with fsync=off,
# synchronous_commit=off and full_page_writes=off, so a crash can lose or corrupt data.
#
# It needs PostgreSQL's server binaries (initdb, pg_ctl), from PATH or
# /usr/lib/postgresql/<newest>/bin; as root with apt-get it installs Debian's
# `postgresql` if they are missing. PostgreSQL refuses to run as root, so as root
# (CI runs as root) the cluster runs as the system user `postgres` (or `erp-sync-pg`,
# created if neither exists), which owns <dir> and must be able to reach it: every
# parent directory of <dir> must be traversable by that user (a `mktemp -d` directory
# is mode 700, so chmod 755 it first).
set -euo pipefail

DEFAULT_PORT=55432
PG_LIB_ROOT=/usr/lib/postgresql
READY_TIMEOUT=60 # seconds

say() { echo "pg-cluster: $*" >&2; }
die() {
  echo "pg-cluster: error: $*" >&2
  exit 1
}
# die_with_log MESSAGE LOGFILE: fails, showing the tail of the server log.
die_with_log() {
  echo "pg-cluster: error: $1" >&2
  if [ -f "$2" ]; then
    echo "pg-cluster: --- last lines of $2:" >&2
    tail -n 30 "$2" >&2
  fi
  exit 1
}
usage() {
  echo "usage: $0 start <dir> [port]   (default port $DEFAULT_PORT)" >&2
  echo "       $0 stop <dir>" >&2
  exit "${1:-2}"
}

# find_pg_bin: sets INITDB, PG_CTL (and PG_ISREADY, possibly empty); fails if not found.
INITDB="" PG_CTL="" PG_ISREADY=""
find_pg_bin() {
  INITDB="$(command -v initdb || true)"
  PG_CTL="$(command -v pg_ctl || true)"
  if [ -z "$INITDB" ] || [ -z "$PG_CTL" ]; then
    INITDB="" PG_CTL=""
    local d dirs=()
    shopt -s nullglob
    dirs=("$PG_LIB_ROOT"/*/bin)
    shopt -u nullglob
    if [ ${#dirs[@]} -gt 0 ]; then
      while IFS= read -r d; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
          INITDB="$d/initdb" PG_CTL="$d/pg_ctl"
          break
        fi
      done < <(printf '%s\n' "${dirs[@]}" | sort -rV)
    fi
  fi
  [ -n "$PG_CTL" ] || return 1
  local bindir
  bindir="$(dirname "$(readlink -f "$PG_CTL")")"
  if [ -x "$bindir/pg_isready" ]; then
    PG_ISREADY="$bindir/pg_isready"
  else
    PG_ISREADY="$(command -v pg_isready || true)"
  fi
}

ensure_pg_bin() {
  find_pg_bin && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    say "PostgreSQL server binaries not found: installing the Debian package postgresql"
    {
      DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
    } >&2 || die "apt-get install postgresql failed"
    find_pg_bin && return 0
    die "installed postgresql, but found no initdb and pg_ctl in PATH or $PG_LIB_ROOT/*/bin"
  fi
  die "PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or $PG_LIB_ROOT/*/bin;" \
    "install PostgreSQL (Debian: apt-get install postgresql) or put its bin directory on PATH"
}

# RUN_AS: the user that runs initdb and the server when we are root (empty: ourselves).
RUN_AS=""
pick_run_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  if id -u postgres >/dev/null 2>&1; then
    RUN_AS=postgres
  else
    RUN_AS=erp-sync-pg
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
      say "creating the system user $RUN_AS (PostgreSQL refuses to run as root)"
      useradd --system --no-create-home "$RUN_AS" >&2
    fi
  fi
}

# as_pg CMD...: runs CMD as RUN_AS (from /, which that user can always enter).
as_pg() {
  if [ -z "$RUN_AS" ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$RUN_AS" -- "$@")
  else
    (cd / && su -s /bin/bash "$RUN_AS" -c "$(printf '%q ' "$@")")
  fi
}

# port_busy PORT: whether something accepts connections on 127.0.0.1:PORT.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

is_running() { # DATA
  [ -f "$1/postmaster.pid" ] && as_pg "$PG_CTL" status -D "$1" >/dev/null 2>&1
}

# wait_ready PORT DATA LOG: waits until the server accepts TCP connections.
wait_ready() {
  local port="$1" data="$2" log="$3" deadline=$((SECONDS + READY_TIMEOUT))
  while :; do
    if [ -n "$PG_ISREADY" ]; then
      "$PG_ISREADY" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 2 && return 0
    elif command -v psql >/dev/null 2>&1; then
      psql -X -q -w -d "postgres://postgres@127.0.0.1:$port/postgres?connect_timeout=2" \
        -c 'select 1' >/dev/null 2>&1 && return 0
    else
      return 0 # pg_ctl start -w already waited for the server to be ready
    fi
    is_running "$data" || die_with_log "the PostgreSQL server in $data is no longer running" "$log"
    [ "$SECONDS" -lt "$deadline" ] ||
      return 1
    sleep 0.5
  done
}

cmd_start() {
  local dir="$1" port="$2"
  [ -n "$dir" ] || usage
  if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    die "invalid port: $port"
  fi
  case "$dir" in
  *"'"* | *$'\n'*) die "the directory's path must not contain a quote or a newline: $dir" ;;
  esac
  ensure_pg_bin
  pick_run_user

  if [ -e "$dir" ] && [ ! -d "$dir" ]; then
    die "$dir exists and is not a directory"
  fi
  if [ -d "$dir" ] && [ ! -d "$dir/data" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir is not empty and holds no cluster (no data/): give a new or empty directory"
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  local data="$dir/data" log="$dir/log"
  if [ -n "$RUN_AS" ]; then
    chown "$RUN_AS:" "$dir"
    as_pg test -w "$dir" -a -x "$dir" ||
      die "the user $RUN_AS cannot reach $dir: every parent directory must be traversable" \
        "by it (for example: chmod 755 \"$(dirname "$dir")\")"
  fi

  if is_running "$data"; then
    local running_port
    running_port="$(sed -n 4p "$data/postmaster.pid")"
    say "reusing the cluster already running in $dir (port $running_port)"
    if [ "$running_port" != "$port" ]; then
      say "note: it listens on port $running_port, not $port"
      port="$running_port"
    fi
    wait_ready "$port" "$data" "$log" ||
      die_with_log "the cluster in $dir accepts no connections on 127.0.0.1:$port after ${READY_TIMEOUT}s" "$log"
  else
    if [ ! -f "$data/PG_VERSION" ]; then
      if [ -e "$data" ] && [ -n "$(ls -A "$data")" ]; then
        die "$data exists but holds no cluster (no PG_VERSION): remove it"
      fi
      say "initdb $data ($("$INITDB" --version); output in $dir/initdb.log)"
      # Trust on loopback is fine for a throwaway test cluster; never for real data.
      as_pg "$INITDB" -D "$data" --auth=trust --username=postgres --encoding=UTF8 \
        --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        die_with_log "initdb failed" "$dir/initdb.log"
    fi
    # The unix socket lives in <dir>; a socket's path has at most 107 bytes, so a
    # longer <dir> gets none (the URL uses TCP anyway).
    local sock="$dir"
    if [ $((${#sock} + ${#port} + 10)) -gt 107 ]; then # 10: "/.s.PGSQL."
      say "note: $dir is too long for a unix socket path; TCP only"
      sock=""
    fi
    # Something else may hold the port (another cluster, say): take the next free one;
    # the URL printed names the port actually used. A server still shutting down may
    # hold it without accepting connections, which only the bind shows: then the start
    # fails with "Address already in use", and the next port is tried as well.
    local tries=0
    while :; do
      [ "$tries" -le 20 ] || die "no free port among $((port - tries))-$port on 127.0.0.1"
      if port_busy "$port"; then
        say "port $port is in use; trying $((port + 1))"
      else
        say "starting PostgreSQL on 127.0.0.1:$port (log: $log)"
        local log_lines=0
        [ -f "$log" ] && log_lines="$(wc -l <"$log")"
        # fsync=off, synchronous_commit=off, full_page_writes=off: fast and unsafe, for tests only.
        if as_pg "$PG_CTL" start -D "$data" -l "$log" -w -t "$READY_TIMEOUT" -o \
          "-c listen_addresses=127.0.0.1 -p $port -k '$sock' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=128MB" >&2; then
          break
        fi
        as_pg "$PG_CTL" stop -D "$data" -m immediate >/dev/null 2>&1 || true
        if ! tail -n +"$((log_lines + 1))" "$log" 2>/dev/null | grep -q "Address already in use"; then
          die_with_log "pg_ctl could not start PostgreSQL in $data (it waits ${READY_TIMEOUT}s at most)" "$log"
        fi
        say "port $port is still bound by another process; trying $((port + 1))"
      fi
      port=$((port + 1))
      tries=$((tries + 1))
    done
    if ! wait_ready "$port" "$data" "$log"; then
      as_pg "$PG_CTL" stop -D "$data" -m immediate >/dev/null 2>&1 || true
      die_with_log "PostgreSQL accepts no connections on 127.0.0.1:$port after ${READY_TIMEOUT}s" "$log"
    fi
  fi
  say "PostgreSQL is ready on 127.0.0.1:$port"
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

cmd_stop() {
  local dir="$1"
  [ -n "$dir" ] || usage
  local data="$dir/data"
  if [ ! -f "$data/postmaster.pid" ]; then
    say "no cluster running in $dir"
    return 0
  fi
  if [ "$(id -u)" -eq 0 ]; then
    local owner
    owner="$(stat -c %U "$data")"
    [ "$owner" = root ] || RUN_AS="$owner"
  fi
  find_pg_bin || die "pg_ctl not found in PATH or $PG_LIB_ROOT/*/bin: cannot stop the cluster in $dir"
  if ! is_running "$data"; then
    say "no cluster running in $dir"
    return 0
  fi
  say "stopping the cluster in $dir"
  if ! as_pg "$PG_CTL" stop -D "$data" -m fast >&2; then
    if is_running "$data"; then
      die "pg_ctl stop failed for $data"
    fi
  fi
}

[ $# -ge 1 ] || usage
case "$1" in
start)
  [ $# -ge 2 ] && [ $# -le 3 ] || usage
  cmd_start "$2" "${3:-$DEFAULT_PORT}"
  ;;
stop)
  [ $# -eq 2 ] || usage
  cmd_stop "$2"
  ;;
-h | --help) usage 0 ;;
*) usage ;;
esac

#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the store tests, as .ci/run uses it:
#
#   eval "$(.ci/postgres.sh start)"   # exports ATTSMS_TEST_DATABASE_URL and ATTSMS_CI_PGDIR
#   trap '.ci/postgres.sh stop' EXIT
#   export ATTSMS_TEST_REQUIRE_POSTGRES=1   # PostgreSQL tests fail, not skip, without a server
#
# Installs the postgresql package where initdb is missing. PostgreSQL refuses to run as root, so
# as root the cluster runs as the `postgres` user. It lives in a temp dir, listens on 127.0.0.1 on
# a free port, authenticates with a password (scram-sha-256), and `stop` deletes it.
set -euo pipefail

pg_bin() {
  if command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
  else
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
  fi
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
    echo "== installing postgresql" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  fi
  local bin dir port password
  bin=$(pg_bin)
  dir=$(mktemp -d /tmp/attsms-ci-pg.XXXXXX)
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$password" > "$dir/pw"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
  chmod 700 "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -U attsms_ci --pwfile "$dir/pw" --auth scram-sha-256 \
    -E UTF8 --locale C --no-sync >/dev/null
  rm -f "$dir/pw"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" \
    start >/dev/null
  echo "export ATTSMS_CI_PGDIR='$dir'"
  echo "export ATTSMS_TEST_DATABASE_URL='postgresql://attsms_ci:$password@127.0.0.1:$port/postgres'"
}

stop() {
  local dir=${ATTSMS_CI_PGDIR:-}
  [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

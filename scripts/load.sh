#!/usr/bin/env bash
# End-to-end load test on loopback: scripts/load.sh sqlite|postgres [SECONDS] [DEMO_SCALE].
# Needs wrk (Debian package). For postgres without LOAD_DATABASE_URL, starts a
# throwaway cluster from Debian's postgresql-15 (as root, like .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-sqlite}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
cargo build --release --locked --bin consentry
if [ "$store" = postgres ] && [ -z "${LOAD_DATABASE_URL:-}" ]; then
  pg_bin=/usr/lib/postgresql/15/bin
  pg_dir=$(mktemp -d)
  chown postgres "$pg_dir"
  pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  trap 'runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w start \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir -c max_connections=200" >/dev/null
  export LOAD_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
fi
exec python3 scripts/load.py "$@"

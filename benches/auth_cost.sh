#!/usr/bin/env bash
# Requests/s of GET /api/health against GET /api/ping with each credential type, side by side,
# in one run: the server pinned to core 0, the load generator (wrk) to core 1.
# Usage: benches/auth_cost.sh [seconds]   (installs wrk from Debian when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
export LABGATE_DB="$dir/bench.db" LABGATE_LISTEN=127.0.0.1:18181 LABGATE_RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn
pw='bench password 0123456789'
echo "$pw" | target/release/labgate user create --email bench@lab.example --role admin --password-stdin >/dev/null
taskset -c 0 target/release/labgate serve 2>"$dir/server.log" &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18181/api/health >/dev/null && break; sleep 0.1; done
login=$(curl -si -XPOST http://127.0.0.1:18181/api/auth/login -H 'content-type: application/json' \
  -d "{\"email\":\"bench@lab.example\",\"password\":\"$pw\"}")
jwt=$(echo "$login" | grep -o '"token":"[^"]*' | cut -d'"' -f4)
cookie=$(echo "$login" | grep -io 'set-cookie: labgate_session=[^;]*' | cut -d' ' -f2)
run() { # name, wrk args...
  local name=$1; shift
  local rps
  rps=$(taskset -c 1 wrk -t1 -c32 -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}')
  printf '%-22s %12s req/s\n' "$name" "$rps"
  echo "$rps"
}
health=$(run "GET /api/health" http://127.0.0.1:18181/api/health | tail -1)
jwt_rps=$(run "GET /api/ping (JWT)" -H "Authorization: Bearer $jwt" http://127.0.0.1:18181/api/ping | tail -1)
cookie_rps=$(run "GET /api/ping (cookie)" -H "Cookie: $cookie" http://127.0.0.1:18181/api/ping | tail -1)
awk -v h="$health" -v j="$jwt_rps" -v c="$cookie_rps" 'BEGIN {
  printf "ratio ping/health: JWT %.2f, cookie %.2f (target >= 0.85)\n", j/h, c/h }'

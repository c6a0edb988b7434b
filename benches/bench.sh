#!/usr/bin/env bash
# labgate measurements, every figure from one run on this machine: the server pinned to core 0,
# the load generator (wrk) to core 1.
#   - GET /api/health against GET /api/ping with each credential type (JWT, cookie, PAT, API key),
#     and the JWT ping again with metrics counted (a metrics listener) against without
#   - noise generation: events/s to a file sink and to a UDP syslog sink (1,000,000 events each)
# Usage: benches/bench.sh [seconds per HTTP row]   (installs wrk from Debian when missing)
# Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v python3 >/dev/null || { echo "python3 is needed for the UDP receiver" >&2; exit 1; }
cargo build --release -q
dir=$(mktemp -d)
port=18181
base=http://127.0.0.1:$port
pid=
udp_pid=
bare_pid=
trap 'kill $pid $udp_pid $bare_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
export LABGATE_DB="$dir/bench.db" LABGATE_LISTEN=127.0.0.1:$port LABGATE_RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn \
  LABGATE_NOISE_DIR="$dir/noise"
pw='bench password 0123456789'
echo "$pw" | target/release/labgate user create --email bench@lab.example --role admin --password-stdin >/dev/null
taskset -c 0 target/release/labgate serve 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do curl -sf $base/api/health >/dev/null && break; sleep 0.1; done
login=$(curl -si -XPOST $base/api/auth/login -H 'content-type: application/json' \
  -d "{\"email\":\"bench@lab.example\",\"password\":\"$pw\"}")
jwt=$(echo "$login" | grep -o '"token":"[^"]*' | cut -d'"' -f4)
cookie=$(echo "$login" | grep -io 'set-cookie: labgate_session=[^;]*' | cut -d' ' -f2)
pat=$(curl -s -XPOST $base/api/tokens -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
  -d '{"name":"bench","expires_in":"30d"}' | grep -o '"token":"[^"]*' | cut -d'"' -f4)
key=$(curl -s -XPOST $base/api/api-keys -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
  -d '{"name":"bench","services":{"platform-status":"read"}}' | grep -o '"key":"[^"]*' | cut -d'"' -f4)

# each row gets a one-second warm-up first, so the order of the rows does not bias them
rps() { taskset -c 1 wrk -t1 -c32 -d1s "$@" >/dev/null; taskset -c 1 wrk -t1 -c32 -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
# the bare actix-web handler first, on the same core, then labgate
# The bench binary itself is started (not `cargo bench`), so its PID is the one to stop.
bare_bin=$(cargo bench -q --bench bare --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("name") == "bare": print(m["executable"])')
BARE_LISTEN=127.0.0.1:18182 taskset -c 0 "$bare_bin" --bench >/dev/null 2>&1 &
bare_pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18182/api/health >/dev/null && break; sleep 0.1; done
bare=$(rps http://127.0.0.1:18182/api/health)
kill $bare_pid 2>/dev/null || true; wait $bare_pid 2>/dev/null || true
health=$(rps $base/api/health)
printf '%-28s %12s req/s\n' "bare actix-web handler" "$bare"
printf '%-28s %12s req/s  (%.2fx bare; target >= 0.7)\n' "GET /api/health" "$health" "$(awk -v a="$health" -v b="$bare" 'BEGIN{print a/b}')"
r_jwt=$(rps -H "Authorization: Bearer $jwt" $base/api/ping)
r_cookie=$(rps -H "Cookie: $cookie" $base/api/ping)
r_pat=$(rps -H "Authorization: token $pat" $base/api/ping)
r_key=$(rps -H "Authorization: Bearer $key" $base/api/ping)
for row in "JWT:$r_jwt" "cookie:$r_cookie" "PAT:$r_pat" "API key:$r_key"; do
  name=${row%%:*}; val=${row##*:}
  printf '%-28s %12s req/s  (%.2fx health; target >= 0.85)\n' "GET /api/ping ($name)" "$val" "$(awk -v a="$val" -v b="$health" 'BEGIN{print a/b}')"
done

# metrics counting (SPEC §14: under 2% of the hot path): the same warm JWT ping with the server
# started again with a metrics listener, against the row above without one
kill $pid; wait $pid 2>/dev/null || true
LABGATE_METRICS_LISTEN=127.0.0.1:18183 taskset -c 0 target/release/labgate serve 2>>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do curl -sf $base/api/health >/dev/null && break; sleep 0.1; done
r_jwt_m=$(rps -H "Authorization: Bearer $jwt" $base/api/ping)
printf '%-28s %12s req/s  (%.3fx without metrics; target >= 0.98)\n' "GET /api/ping (JWT, metrics)" "$r_jwt_m" "$(awk -v a="$r_jwt_m" -v b="$r_jwt" 'BEGIN{print a/b}')"
counted=$(curl -sf http://127.0.0.1:18183/metrics | awk '/^labgate_http_requests_total\{route="\/api\/ping",method="GET",status="200"\}/ {print $2}')
echo "                             ($counted pings counted)"

# noise: a run of 1,000,000 events, timed from the run record
run_rate() { # sink name
  local id st
  id=$(curl -s -XPOST $base/api/noise/run -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
    -d "{\"profile\":\"web-access\",\"count\":1000000,\"sink\":\"$1\"}" | grep -o '"id":"[^"]*' | cut -d'"' -f4)
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1200); do
    st=$(curl -s $base/api/noise/runs/$id -H "Authorization: Bearer $jwt")
    echo "$st" | grep -q '"status":"succeeded"\|"status":"failed"' && break
    sleep 0.05
  done
  local t1; t1=$(date +%s.%N)
  echo "$st" | python3 -c '
import json, sys
r = json.load(sys.stdin)
t = float(sys.argv[2]) - float(sys.argv[1])
n = r["events_sent"]
print("%s, %d events in %.2f s: %.0f events/s" % (r["status"], n, t, n / t))' "$t0" "$t1"
}
printf '%-28s ' "noise -> file sink"; run_rate default
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
s.bind(("127.0.0.1", 18514))
while True:
    s.recv(65536)' &
udp_pid=$!
sleep 0.5 # let the receiver bind before the first datagram
curl -s -XPOST $base/api/noise/sinks -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
  -d '{"name":"udp","kind":"syslog","host":"127.0.0.1","port":18514,"protocol":"udp"}' >/dev/null
printf '%-28s ' "noise -> UDP syslog sink"; run_rate udp
echo "resident memory of the server after the runs: $(ps -o rss= -p $pid | awk '{printf "%.1f MiB", $1/1024}')"

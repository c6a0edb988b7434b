#!/usr/bin/env bash
# SQLite and PostgreSQL side by side (SPEC §10, §15), from one run on this machine: the server
# pinned to core 0, wrk to core 1, PostgreSQL a throw-away cluster on 127.0.0.1 (.ci/postgres.sh).
#   - GET /api/ping per credential (JWT, PAT, API key) as a ratio to GET /api/health on the
#     same engine (target >= 0.85 on both: the warm path never reaches the database)
#   - writes/s at 64 concurrent writers (exercise sessions started, each with its audit record)
#   - PostgreSQL, two nodes: how long after a token is revoked on node A node B refuses it
#     (p50 and p99 of 100 revocations; SPEC §15: within one second)
# Usage: benches/engines.sh [seconds per row]   (installs wrk from Debian when missing)
# Everything runs on 127.0.0.1 and stops by itself; what it starts is stopped by its PID.
# Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q
dir=$(mktemp -d)
# (beside $dir, not in it: the cluster's user must reach its directory)
pgdir=$(mktemp -d /tmp/labgate-bench-pg.XXXXXX)
pid=
pid_b=
trap 'kill $pid $pid_b 2>/dev/null || true; .ci/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
pgport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pgurl=$(.ci/postgres.sh start "$pgdir" "$pgport")
psql -q "$pgurl/postgres" -c 'CREATE DATABASE bench'
pw='bench password 0123456789'
cat >"$dir/write.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/api/sessions/start",
    { ["Content-Type"] = "application/json", ["Authorization"] = os.getenv("AUTH") },
    string.format('{"name":"%s-%d"}', os.getenv("RUN"), n))
end
done = function(s) io.write(string.format("non2xx %d\n", s.errors.status)) end
LUA
rps() { taskset -c 1 wrk -t1 -c32 -d1s "$@" >/dev/null; taskset -c 1 wrk -t1 -c32 -d"${secs}s" "$@" | awk '/Requests/ {print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
wait_up() { for _ in $(seq 100); do curl -sf "$1/api/health" >/dev/null && return; sleep 0.1; done; echo "no server at $1" >&2; exit 1; }
token() { grep -o "\"$1\":\"[^\"]*" | cut -d'"' -f4; }

declare -A row
for engine in sqlite postgres; do
  if [ "$engine" = sqlite ]; then db="$dir/bench.db"; else db="$pgurl/bench"; fi
  export LABGATE_DB="$db" LABGATE_KEY_FILE="$dir/$engine.key" LABGATE_RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn \
    LABGATE_NOISE_DIR="$dir/noise" LABGATE_MAIL_DIR="$dir/mail"
  echo "$pw" | target/release/labgate user create --email bench@lab.example --role admin --password-stdin >/dev/null
  base=http://127.0.0.1:18201
  LABGATE_NODE_ID=a LABGATE_LISTEN=127.0.0.1:18201 taskset -c 0 target/release/labgate serve 2>"$dir/$engine-a.log" &
  pid=$!
  wait_up $base
  jwt=$(curl -s -XPOST $base/api/auth/login -H 'content-type: application/json' \
    -d "{\"email\":\"bench@lab.example\",\"password\":\"$pw\"}" | token token)
  pat=$(curl -s -XPOST $base/api/tokens -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
    -d '{"name":"bench","expires_in":"30d"}' | token token)
  key=$(curl -s -XPOST $base/api/api-keys -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
    -d '{"name":"bench","services":{"platform-status":"read"}}' | token key)
  row[$engine,health]=$(rps $base/api/health)
  row[$engine,jwt]=$(rps -H "Authorization: Bearer $jwt" $base/api/ping)
  row[$engine,pat]=$(rps -H "Authorization: token $pat" $base/api/ping)
  row[$engine,key]=$(rps -H "Authorization: Bearer $key" $base/api/ping)
  w=$(AUTH="token $pat" RUN=$engine taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "$dir/write.lua" $base)
  row[$engine,writes]=$(echo "$w" | awk '/Requests/ {print $2}')
  row[$engine,non2xx]=$(echo "$w" | awk '/non2xx/ {print $2}')
  if [ "$engine" = postgres ]; then
    LABGATE_NODE_ID=b LABGATE_LISTEN=127.0.0.1:18202 taskset -c 0 target/release/labgate serve 2>"$dir/$engine-b.log" &
    pid_b=$!
    wait_up http://127.0.0.1:18202
    lag=$(python3 - "$jwt" <<'PY'
import json, sys, time, urllib.request, urllib.error
jwt = sys.argv[1]
a, b = "http://127.0.0.1:18201", "http://127.0.0.1:18202"
def call(method, url, auth, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
lags = []
for i in range(100):
    status, made = call("POST", a + "/api/tokens", "Bearer " + jwt, {"name": "lag%d" % i, "expires_in": "15d"})
    if status != 201:
        raise SystemExit("POST /api/tokens answered %d: %s" % (status, made[:300]))
    t = json.loads(made)
    secret = "token " + t["token"]
    assert call("GET", b + "/api/ping", secret)[0] == 200
    assert call("DELETE", a + "/api/tokens/" + t["id"], "Bearer " + jwt)[0] == 204
    t0 = time.monotonic()
    while call("GET", b + "/api/ping", secret)[0] != 401:
        if time.monotonic() - t0 > 5:
            raise SystemExit("not refused on B within 5 s")
    lags.append((time.monotonic() - t0) * 1000)
lags.sort()
print("%.1f %.1f" % (lags[len(lags) // 2], lags[int(len(lags) * 0.99) - 1]))
PY
)
    kill $pid_b; wait $pid_b 2>/dev/null || true; pid_b=
  fi
  kill $pid; wait $pid 2>/dev/null || true; pid=
done

printf '%-34s %14s %14s\n' "" "SQLite" "PostgreSQL"
printf '%-34s %10s /s   %10s /s\n' "GET /api/health" "${row[sqlite,health]}" "${row[postgres,health]}"
for c in jwt pat key; do
  name=$(case $c in jwt) echo JWT;; pat) echo PAT;; key) echo "API key";; esac)
  printf '%-34s %8s (%sx) %8s (%sx)   (ratio to health; target >= 0.85)\n' "GET /api/ping ($name)" \
    "${row[sqlite,$c]}" "$(ratio "${row[sqlite,$c]}" "${row[sqlite,health]}")" \
    "${row[postgres,$c]}" "$(ratio "${row[postgres,$c]}" "${row[postgres,health]}")"
done
printf '%-34s %10s /s   %10s /s   (answers not 2xx: %s, %s; target 0)\n' "writes, 64 concurrent writers" \
  "${row[sqlite,writes]}" "${row[postgres,writes]}" "${row[sqlite,non2xx]}" "${row[postgres,non2xx]}"
read -r p50 p99 <<<"$lag"
printf '%-34s %14s %11s ms   (p99 %s ms; target < 1000)\n' "revoked on A, refused on B (p50)" "-" "$p50" "$p99"

#!/usr/bin/env bash
# Storage and memory figures of SPEC §10, from one run on this machine, side by side:
#   - logins/s on one core against the raw argon2id rate of that core (target >= 0.9x)
#   - p99 of authenticated reads during a login storm (target < 10 ms)
#   - peak RSS during a login storm (valid, wrong and unknown-email logins, 32 clients), a
#     failed-login flood and a 64-client mixed run (each target < 100 MiB)
#   - writes/s at 64 concurrent writers (exercise sessions started, each with its audit
#     record), with the count of non-2xx answers (target 0)
# Usage: benches/storage.sh [seconds per row]   (installs wrk from Debian when missing)
# Everything runs on 127.0.0.1 and stops by itself; the server is stopped by its PID.
# Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q
dir=$(mktemp -d)
port=18191
base=http://127.0.0.1:$port
pid=
sampler=
trap 'kill $pid $sampler 2>/dev/null || true; rm -rf "$dir"' EXIT
# Every request carries its own client address (a trusted proxy's header), so the per-client
# login limits of SPEC §1 do not cap the storm; the generic limit is off.
export LABGATE_DB="$dir/bench.db" LABGATE_LISTEN=127.0.0.1:$port LABGATE_RATE_LIMIT_PER_MINUTE=0 \
  LABGATE_TRUSTED_PROXIES=127.0.0.1/32 RUST_LOG=warn LABGATE_NOISE_DIR="$dir/noise"
pw='bench password 0123456789'
echo "$pw" | target/release/labgate user create --email bench@lab.example --role admin --password-stdin >/dev/null
# the storms sign in eight people (one sign-in per person runs at a time, SPEC §4)
for i in 0 1 2 3 4 5 6 7; do
  echo "$pw" | target/release/labgate user create --email "user$i@lab.example" --role viewer --password-stdin >/dev/null
done
taskset -c 0 target/release/labgate serve 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do curl -sf $base/api/health >/dev/null && break; sleep 0.1; done
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
jwt=$(curl -s -XPOST $base/api/auth/login -H 'content-type: application/json' -H 'X-Forwarded-For: 10.9.9.9' \
  -d "{\"email\":\"bench@lab.example\",\"password\":\"$pw\"}" | grep -o '"token":"[^"]*' | cut -d'"' -f4)
# Reads and writes use a personal token: the storms' logins make sessions, and the oldest of a
# user's sessions give way to new ones, so a session's token would stop working midway.
pat=$(curl -s -XPOST $base/api/tokens -H "Authorization: Bearer $jwt" -H 'content-type: application/json' \
  -d '{"name":"bench","expires_in":"15d"}' | grep -o '"token":"[^"]*' | cut -d'"' -f4)
auth="Authorization: token $pat"
export AUTH="token $pat"

rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
# samples RSS every 100 ms into $dir/rss until stopped; prints the peak in MiB
sample_start() { : >"$dir/rss"; (while kill -0 $pid 2>/dev/null; do rss >>"$dir/rss"; sleep 0.1; done) & sampler=$!; }
sample_peak() { kill $sampler 2>/dev/null || true; wait $sampler 2>/dev/null || true; sampler=
  sort -n "$dir/rss" | tail -1 | awk '{printf "%.1f", $1/1024}'; }

cat >"$dir/login.lua" <<LUA
local n = 0
local kinds = { '{"email":"user%d@lab.example","password":"$pw"}',
                '{"email":"user%d@lab.example","password":"wrong password 0123456789"}',
                '{"email":"nobody%d@lab.example","password":"wrong password 0123456789"}' }
request = function()
  n = n + 1
  local body = kinds[(n % 3) + 1]
  if MODE == "valid" then body = kinds[1] elseif MODE == "unknown" then body = kinds[3] end
  body = string.format(body, n % 8)
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "/api/auth/login",
    { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip }, body)
end
LUA
sed -i '1i MODE = os.getenv("MODE") or "mixed"' "$dir/login.lua"
cat >"$dir/write.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  -- headers given here replace wrk's -H ones: the credential comes from $AUTH
  return wrk.format("POST", "/api/sessions/start",
    { ["Content-Type"] = "application/json", ["Authorization"] = os.getenv("AUTH") },
    string.format('{"name":"%s-%d"}', os.getenv("RUN"), n))
end
done = function(s) io.write(string.format("non2xx %d\n", s.errors.status)) end
LUA

raw=$(taskset -c 0 cargo bench -q --bench argon -- "$secs" 2>/dev/null | tail -1)
echo "idle RSS before any login: $(awk -v r="$idle" 'BEGIN{printf "%.1f MiB", r/1024}') (target < 20 MiB)"
echo "RSS after the first login:  $(awk -v r="$(rss)" 'BEGIN{printf "%.1f MiB", r/1024}') (idle plus one 19 MiB argon2 block per hashing worker that ran)"

# 1. logins/s on the server's core (valid logins only) against the raw rate
logins=$(MODE=valid taskset -c 1 wrk -t1 -c32 -d"${secs}s" -s "$dir/login.lua" $base | awk '/Requests\/sec/ {print $2}')
printf '%-44s %10s /s  (raw argon2id %s /s: %.2fx; target >= 0.9)\n' "logins (valid, 32 clients)" "$logins" "$raw" \
  "$(awk -v a="$logins" -v b="$raw" 'BEGIN{print a/b}')"

# 2. reads during a storm of mixed logins, with RSS sampled
sample_start
MODE=mixed taskset -c 1 wrk -t1 -c32 -d"${secs}s" -s "$dir/login.lua" $base >/dev/null &
storm=$!
sleep 1
p99=$(taskset -c 1 wrk -t1 -c4 -d"$((secs - 2))s" --latency -H "$auth" $base/api/ping |
  awk '$1 == "99%" {print $2}')
wait $storm
printf '%-44s %10s     (target < 10ms)\n' "p99 of GET /api/ping during the storm" "$p99"
printf '%-44s %10s MiB (target < 100)\n' "peak RSS, login storm (valid/wrong/unknown)" "$(sample_peak)"

# 3. a flood of failed logins for unknown emails
sample_start
MODE=unknown taskset -c 1 wrk -t1 -c32 -d"${secs}s" -s "$dir/login.lua" $base >/dev/null
printf '%-44s %10s MiB (target < 100)\n' "peak RSS, unknown-email flood" "$(sample_peak)"

# 4. 64 clients, reads and writes mixed
sample_start
taskset -c 1 wrk -t1 -c32 -d"${secs}s" -H "$auth" $base/api/sessions >/dev/null &
reads=$!
w=$(RUN=mixed taskset -c 1 wrk -t1 -c32 -d"${secs}s" -s "$dir/write.lua" $base)
wait $reads
printf '%-44s %10s MiB (target < 100)\n' "peak RSS, 64-client mixed run" "$(sample_peak)"

# 5. writes at 64 concurrent writers
w=$(RUN=writers taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "$dir/write.lua" $base)
printf '%-44s %10s /s  (%s answers not 2xx; target 0)\n' "writes, 64 concurrent writers" \
  "$(echo "$w" | awk '/Requests\/sec/ {print $2}')" "$(echo "$w" | awk '/non2xx/ {print $2}')"
printf '%-44s %10s MiB\n' "RSS after the runs" "$(awk -v r="$(rss)" 'BEGIN{printf "%.1f", r/1024}')"
printf '%-44s %10s bytes (bound 8 MiB)\n' "write-ahead log after the runs" "$(stat -c %s "$dir/bench.db-wal" 2>/dev/null || echo 0)"

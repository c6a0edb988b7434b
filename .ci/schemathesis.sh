#!/usr/bin/env bash
# A bounded property-based run of schemathesis (--checks all) over the whole API document,
# against the release binary, inside a network namespace that has loopback only: sinks the
# generator invents can reach nothing but this namespace. Needs root (ip netns), as CI runs.
# Usage: .ci/schemathesis.sh [max examples per operation]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-25}
bin=${LABGATE_BIN:-target/release/labgate}
[ -x "$bin" ] || cargo build --release -q
command -v schemathesis >/dev/null || pip install -q schemathesis
ns=labgate-st-$$
dir=$(mktemp -d)
ip netns add "$ns"
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns delete "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
inns() { ip netns exec "$ns" "$@"; }
inns ip link set lo up
port=18600
base=http://127.0.0.1:$port
# Started directly (not through a shell function), so $! is the server's own PID: `ip netns
# exec` replaces itself with it, and the cleanup stops exactly that process.
LABGATE_DB=$dir/st.db LABGATE_LISTEN=127.0.0.1:$port LABGATE_RATE_LIMIT_PER_MINUTE=0 \
  LABGATE_MAIL_DIR=$dir/mail LABGATE_NOISE_DIR=$dir/noise RUST_LOG=warn \
  ip netns exec "$ns" "$bin" serve 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do inns curl -sf $base/api/health >/dev/null && break; sleep 0.1; done
token=$(grep -o 'setup token: lgx_[A-Za-z0-9]*' "$dir/server.log" | cut -d' ' -f3)
pw='schemathesis password 0123456789'
inns curl -sf -XPOST $base/api/setup -H 'content-type: application/json' \
  -d "{\"setup_token\":\"$token\",\"email\":\"st@lab.example\",\"password\":\"$pw\"}" >/dev/null
login() { # [totp code]
  inns curl -sf -XPOST $base/api/auth/login -H 'content-type: application/json' \
    -d "{\"email\":\"st@lab.example\",\"password\":\"$pw\"${1:+,\"totp_code\":\"$1\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
totp() { # base32 secret -> the current code (RFC 6238, SHA-1, 6 digits, 30 s)
  python3 -c 'import base64,hmac,struct,sys,time
k = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
h = hmac.new(k, struct.pack(">Q", int(time.time()) // 30), "sha1").digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))' "$1"
}
jwt=$(login)
# The account signs in with a second factor, so an MFA policy the run switches on does not
# hold its credential back.
secret=$(inns curl -sf -XPOST $base/api/auth/mfa/setup -H "authorization: Bearer $jwt" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
recovery=$(inns curl -sf -XPOST $base/api/auth/mfa/validate -H "authorization: Bearer $jwt" \
  -H 'content-type: application/json' -d "{\"code\":\"$(totp "$secret")\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["recovery_codes"][0])')
# A TOTP code is accepted once: the second sign-in uses a recovery code.
jwt=$(login "$recovery")
# A personal access token: routes that end sessions (logout, tenant switch, password change)
# cannot end it, so the whole run keeps its credential.
pat=$(inns curl -sf -XPOST $base/api/tokens -H "authorization: Bearer $jwt" -H 'content-type: application/json' \
  -d '{"name":"schemathesis","expires_in":"30d"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
inns schemathesis --config-file .ci/schemathesis.toml run "$base/api-docs/openapi.json" \
  --checks all -n "$examples" --generation-deterministic \
  -H "Authorization: token $pat" \
  --request-timeout 10 --max-response-time 5 \
  --suppress-health-check all \
  --no-color 2>&1 | tee target/schemathesis-report.txt | tail -40
status=${PIPESTATUS[0]}
if ! kill -0 "$pid" 2>/dev/null; then
  echo "the server died during the run" >&2
  exit 1
fi
exit "$status"

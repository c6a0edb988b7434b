#!/usr/bin/env bash
# Installs the package on this machine and takes it through its life: inspect, lintian, the
# unit's checks, install, `labgate check` as the labgate user, data made, upgrade over itself
# (data and key kept), remove (data kept), purge (data gone). It changes the machine (a user,
# /usr/bin/labgate), so it runs only when asked: LABGATE_PACKAGE_TEST=1 packaging/test-deb.sh DEB
set -euo pipefail
deb=$(realpath "$1")
[ "${LABGATE_PACKAGE_TEST:-}" = 1 ] || { echo "set LABGATE_PACKAGE_TEST=1 to run (it installs the package)" >&2; exit 2; }
fail() { echo "package test: $*" >&2; exit 1; }
step() { echo "== $*"; }
mode() { stat -c '%a %U:%G' "$1"; }

step "contents and control"
contents=$(dpkg-deb -c "$deb")
for want in \
  "-rwxr-xr-x root/root .* ./usr/bin/labgate" \
  "-rw-r--r-- root/root .* ./lib/systemd/system/labgate.service" \
  "-rw-r----- root/root .* ./etc/labgate/labgate.env" \
  "./usr/share/doc/labgate/copyright" \
  "./usr/share/doc/labgate/operating.md" \
  "-rw-r--r-- root/root .* ./usr/share/man/man1/labgate.1.gz"; do
  grep -Eq -- "$want" <<<"$contents" || fail "not in the package: $want"
done
info=$(dpkg-deb -I "$deb")
grep -q '^ Package: labgate' <<<"$info" || fail "control: no Package"
grep -q 'conffiles' <<<"$info" || fail "control: no conffiles"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/labgate/labgate.env ] || fail "conffiles"
size=$(stat -c %s "$deb")
echo "package: $size bytes"

step "the manual page"
man_text=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/man/man1/labgate.1.gz | gunzip)
grep -q '^\.TH labgate 1' <<<"$man_text" || fail "labgate.1 is not a manual page"
grep -q 'scan' <<<"$man_text" || fail "labgate.1 does not list the commands"

step "lintian"
lint=$(lintian --fail-on error --tag-display-limit 0 "$deb") || { echo "$lint"; fail "lintian"; }
echo "$lint"
! grep -q 'no-manual-page' <<<"$lint" || fail "lintian: no manual page"

step "the unit: systemd-analyze security and verify"
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb -x "$deb" "$unpacked"
unit="$unpacked/lib/systemd/system/labgate.service"
exposure=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for labgate.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure level"
awk -v e="$exposure" 'BEGIN{exit !(e <= 2.0)}' || fail "exposure $exposure is over 2.0"
echo "exposure: $exposure"

step "install"
dpkg -P labgate >/dev/null 2>&1 || true
dpkg -i "$deb"
[ "$(mode /usr/bin/labgate)" = "755 root:root" ] || fail "/usr/bin/labgate: $(mode /usr/bin/labgate)"
[ "$(mode /var/lib/labgate)" = "700 labgate:labgate" ] || fail "/var/lib/labgate: $(mode /var/lib/labgate)"
[ "$(mode /etc/labgate/labgate.env)" = "640 root:labgate" ] || fail "labgate.env: $(mode /etc/labgate/labgate.env)"
[ "$(getent passwd labgate | cut -d: -f7)" = /usr/sbin/nologin ] || fail "labgate has a shell"
[ "$(getent passwd labgate | cut -d: -f6)" = /var/lib/labgate ] || fail "labgate's home"
systemd-analyze verify /lib/systemd/system/labgate.service
file /usr/bin/labgate | grep -Eq 'statically linked|static-pie linked' || fail "the installed binary is not static"
/usr/bin/labgate --version | grep -Eq '^labgate [0-9]+\.[0-9]+\.[0-9]+ \(([0-9a-f]{12}|unknown)\)$' || fail "--version"
# On a machine where systemd runs, the package started the service: stop it, so the steps
# below see the state a first start leaves behind only after they made it.
if [ -d /run/systemd/system ]; then
  systemctl stop labgate.service
  systemctl is-active --quiet labgate.service && fail "the service did not stop"
  rm -f /var/lib/labgate/labgate.db* 2>/dev/null || true
fi

# As the unit runs it: the labgate user, the environment file, the state directory.
as_labgate() {
  runuser -u labgate -- sh -c "set -a; . /etc/labgate/labgate.env; set +a; \
    export LABGATE_DB=\${LABGATE_DB:-/var/lib/labgate/labgate.db}; cd /var/lib/labgate && umask 0077 && $*"
}
step "labgate check as the labgate user"
as_labgate /usr/bin/labgate check | tee /dev/stderr | grep -q 'the first start creates it' || fail "check on a new install"
echo 'correct-horse-battery-staple' | as_labgate /usr/bin/labgate user create --email ops@lab.example --role admin --password-stdin >/dev/null
[ "$(mode /var/lib/labgate/labgate.db)" = "600 labgate:labgate" ] || fail "database mode"
[ "$(mode /var/lib/labgate/labgate.db.key)" = "600 labgate:labgate" ] || fail "key file mode"
key_sum=$(sha256sum /var/lib/labgate/labgate.db.key)
as_labgate /usr/bin/labgate check | grep -q '(schema version [0-9]*, 1 users)' || fail "check after the first user"

step "upgrade over itself"
echo '# kept by the operator' >> /etc/labgate/labgate.env
dpkg -i "$deb"
[ "$(sha256sum /var/lib/labgate/labgate.db.key)" = "$key_sum" ] || fail "the key file changed"
as_labgate /usr/bin/labgate check | grep -q '1 users' || fail "data lost on upgrade"
grep -q '^# kept by the operator' /etc/labgate/labgate.env || fail "the operator's settings were replaced"
[ "$(mode /etc/labgate/labgate.env)" = "640 root:labgate" ] || fail "labgate.env after upgrade"

step "remove keeps the data"
dpkg -r labgate
[ ! -e /usr/bin/labgate ] || fail "binary left after remove"
[ -f /var/lib/labgate/labgate.db ] && [ -f /var/lib/labgate/labgate.db.key ] || fail "data removed by remove"
[ -f /etc/labgate/labgate.env ] || fail "settings removed by remove"

step "purge deletes it"
dpkg -P labgate
[ ! -e /var/lib/labgate ] || fail "data left after purge"
[ ! -e /etc/labgate ] || fail "settings left after purge"
echo "package test passed"

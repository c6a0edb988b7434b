#!/usr/bin/env bash
# Builds the Debian package from the static binary, with dpkg-deb alone:
#   packaging/build-deb.sh [BINARY] [OUT_DIR]
# BINARY defaults to the static build (made when missing):
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
# The package installs /usr/bin/labgate, the unit, /etc/labgate/labgate.env (a conffile) and
# the operator guide; its scripts create the labgate user and /var/lib/labgate (0700), migrate
# on upgrade, keep the data on remove and delete it on purge.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
bin=${1:-target/$target/release/labgate}
out=${2:-target/deb}
if [ ! -x "$bin" ]; then
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$target"
fi
file "$bin" | grep -Eq 'statically linked|static-pie linked' || { echo "$bin is not statically linked" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=amd64
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/labgate" \
  "$root/usr/share/doc/labgate" "$root/usr/share/lintian/overrides" "$root/usr/share/man/man1"
install -m 0755 "$bin" "$root/usr/bin/labgate"
# labgate(1), from the binary's own command definitions.
"$bin" man | gzip -9n > "$root/usr/share/man/man1/labgate.1.gz"
chmod 0644 "$root/usr/share/man/man1/labgate.1.gz"
install -m 0644 packaging/labgate.service "$root/lib/systemd/system/labgate.service"
install -m 0640 packaging/labgate.env.example "$root/etc/labgate/labgate.env"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/labgate/copyright"
install -m 0644 README.md "$root/usr/share/doc/labgate/README.md"
install -m 0644 docs/operating.md "$root/usr/share/doc/labgate/operating.md"
install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/labgate"
# The changelog's date is the commit's, so the same tree gives the same package.
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
printf 'labgate (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- labgate maintainers <maintainers@labgate.example>  %s\n' \
  "$version" "$version" "$when" | gzip -9n > "$root/usr/share/doc/labgate/changelog.gz"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
echo /etc/labgate/labgate.env > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: labgate
Version: $version
Architecture: $arch
Maintainer: labgate maintainers <maintainers@labgate.example>
Installed-Size: $size
Depends: adduser
Section: net
Priority: optional
Description: access layer and control API of a security-lab appliance
 labgate signs people and scripts in (passwords, TOTP, sessions, tokens,
 API keys), keeps every tenant's users, roles and credentials with a
 tamper-evident audit trail, limits request rates, and dispatches synthetic
 log traffic into the lab on a schedule. One static binary with an embedded
 SQLite database, run by a hardened systemd unit.
CONTROL
mkdir -p "$out"
deb="$out/labgate_${version}_${arch}.deb"
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"

#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the suite's PostgreSQL pass: Debian's PostgreSQL 15,
# initialised into DIR by an unprivileged user, listening on 127.0.0.1:PORT only, trust
# authentication for that loopback address alone. TLS is on too, with a certificate for
# 127.0.0.1 made here (DIR/server.crt, what a client must trust to verify it).
#   .ci/postgres.sh start DIR PORT   (prints the server's URL)
#   .ci/postgres.sh stop DIR
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
user=nobody
as_user() { if [ "$(id -u)" = 0 ]; then su -s /bin/sh "$user" -c "$1"; else sh -c "$1"; fi; }
case "$1" in
  start)
    dir=$2 port=$3
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$user" "$dir"
    as_user "$bin/initdb -D '$dir/data' -U labgate --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout "$dir/server.key" -out "$dir/server.crt" -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE 2>/dev/null
    chmod 0600 "$dir/server.key"
    [ "$(id -u)" = 0 ] && chown "$user" "$dir/server.key"
    # fsync off: a throw-away cluster; labgate's own durability is tested on SQLite's file.
    as_user "$bin/pg_ctl -D '$dir/data' -l '$dir/server.log' -w -o \"-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=400 -c ssl=on -c ssl_cert_file='$dir/server.crt' -c ssl_key_file='$dir/server.key'\" start >/dev/null"
    echo "postgres://labgate@127.0.0.1:$port"
    ;;
  stop)
    dir=$2
    [ -d "$dir/data" ] && as_user "$bin/pg_ctl -D '$dir/data' -m immediate -w stop >/dev/null" || true
    rm -rf "$dir"
    ;;
esac

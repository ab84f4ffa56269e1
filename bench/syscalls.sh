#!/bin/bash
# Syscalls per hello request of the one process that serves it: wsgi-fpm's
# worker (one thread, spawned: --zygote false), libfcgi's C responder and
# uWSGI (no master), each counted by strace -c over 2,000 requests sent one
# connection at a time by the load generator. A measurement, not a test.
#
#   BUILD=build bench/syscalls.sh
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=$ROOT/$BUILD/bench/wsgi-fpm-loadgen
TMP=$(mktemp -d /tmp/wsgi-fpm-syscalls.XXXXXX)
cp "$ROOT/bench/apps/hello.wsgi" "$TMP/"
N=2000

measure() {  # NAME PID SOCKET
  strace -c -f -q -p "$2" -o "$TMP/$1.strace" &
  local tracer=$!
  sleep 1
  "$LOADGEN" "$3" --requests 200 > /dev/null  # warm
  "$LOADGEN" "$3" --requests $N --connections 1 > "$TMP/$1.load"
  sleep 0.5
  kill -INT $tracer
  wait $tracer 2> /dev/null || true
  echo "== $1: syscalls per request (of the 200 + $N requests)"
  awk -v n=$((N + 200)) '$NF != "total" && $4 ~ /^[0-9]+$/ && $4 / n >= 0.01 {printf "  %-16s %.2f\n", $NF, $4 / n}
                         $NF == "total" {printf "  %-16s %.2f\n", "all", $4 / n}' "$TMP/$1.strace"
}

"$ROOT/$BUILD/src/wsgi-fpm" serve "$TMP/hello.wsgi" --listen "$TMP/w.sock" --threads 1 --allow-root \
  --zygote false --name hello > "$TMP/w.log" 2>&1 &
serve=$!
sleep 3
measure wsgi-fpm "$(pgrep -f 'wsgi:hello' | head -1)" "$TMP/w.sock"
kill $serve; wait $serve 2> /dev/null || true

"$ROOT/$BUILD/bench/fcgi-responder" "$TMP/l.sock" 1 > "$TMP/l.log" 2>&1 &
responder=$!
sleep 1
measure libfcgi $responder "$TMP/l.sock"
kill $responder

uwsgi --plugin python3 --fastcgi-socket "$TMP/u.sock" --wsgi-file "$TMP/hello.wsgi" --disable-logging \
  --die-on-term --need-app > "$TMP/u.log" 2>&1 &
uwsgi=$!
sleep 2
measure uwsgi $uwsgi "$TMP/u.sock"
kill $uwsgi; wait $uwsgi 2> /dev/null || true
rm -rf "$TMP"

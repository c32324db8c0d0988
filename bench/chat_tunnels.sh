#!/bin/bash
# bench/chat_tunnels.sh: memory per open WebSocket tunnel with N chat clients
# (default 1000) on the demo chat, through proxyd and through nginx in the same run.
#
# Both proxies check every client with the demo auth service's cookie login:
# proxyd with forward auth (request_headers: [Cookie], vary: [], so one decision
# serves a credential), nginx with auth_request (a subrequest per handshake,
# Cookie passed as the client sent it). Each runs one process with one event loop
# (proxyd threads: 1; nginx one worker, no master). For each, bench/chat_clients.py
# opens N WebSockets to /chat/chatsocket with the cookie, every client reading;
# then one message is broadcast to all N through the proxy. The figure is the
# growth of the proxy's VmRSS from before the clients connected to after the
# broadcast, divided by the tunnels open.
#
# Usage: bench/chat_tunnels.sh [N]   (run from the source tree after make;
# PROXYD_BUILDDIR names another build folder). Needs nginx (nginx-light) and
# python3-websockets. Raises its open-file limit, so run it as root or with a
# hard limit above 2N + 100.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${1:-1000}
BIN=${PROXYD_BUILDDIR:-.}
PYTHON=${PYTHON:-/usr/bin/python3}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || { echo "nginx is not installed: apt-get install -y nginx-light" >&2; exit 1; }
ulimit -n $((2 * N + 1000))

start() { "$@" & PIDS+=($!); LAST=$!; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

CHAT=$(free_port) AUTH=$(free_port) PROXYD=$(free_port) NGINX_PORT=$(free_port)
start "$BIN/demo/chat" -l "127.0.0.1:$CHAT" -r demo/www/chat --max-clients $((3 * N)) >"$TMP/chat.log" 2>&1
start "$BIN/demo/auth" -l "127.0.0.1:$AUTH" >"$TMP/auth.log" 2>&1
wait_port "$CHAT" && wait_port "$AUTH"

cat >"$TMP/services.yaml" <<EOF
chat: http://127.0.0.1:$CHAT
auth: http://127.0.0.1:$AUTH/check
EOF
cat >"$TMP/proxyd.yaml" <<EOF
listen: 127.0.0.1:$PROXYD
threads: 1
registry: services.yaml
auth:
  service: auth
  cache_ttl: 5m
  vary: []
  request_headers: [Cookie]
  response_headers: [Set-Cookie]
EOF
start "$BIN/proxyd/proxyd" -c "$TMP/proxyd.yaml" 2>"$TMP/proxyd.log"
proxyd_pid=$LAST

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $TMP/nginx/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile $((2 * N + 1000));
events { worker_connections $((2 * N + 500)); }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /chat/ {
            auth_request /_auth;
            proxy_pass http://127.0.0.1:$CHAT/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
        }
        location = /_auth {
            internal;
            proxy_pass http://127.0.0.1:$AUTH/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Uri \$request_uri;
            proxy_set_header X-Forwarded-Service chat;
        }
    }
}
EOF
start "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e stderr 2>"$TMP/nginx.log"
nginx_pid=$LAST
wait_port "$PROXYD" && wait_port "$NGINX_PORT"

# The demo's login: the key once, then its cookie (the same auth service answers both proxies).
curl -s -o /dev/null -c "$TMP/jar" "http://127.0.0.1:$PROXYD/chat/?key=supersecret"
cookie=$(sed 's/^#HttpOnly_//' "$TMP/jar" | awk '!/^#/ && NF >= 7 { print $6 "=" $7 }' | head -n 1)   # curl marks HttpOnly cookies with a #
[ -n "$cookie" ] || { echo "no login cookie from the demo auth service" >&2; exit 1; }
for port in "$PROXYD" "$NGINX_PORT"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -b "$cookie" "http://127.0.0.1:$port/chat/")
    [ "$status" = 200 ] || { echo "the cookie opens no chat page on port $port: $status" >&2; exit 1; }
done

# measure NAME PID PORT: prints the line for one proxy.
measure() {
    local name=$1 pid=$2 port=$3 before after opened failed delivered
    before=$(rss_kib "$pid")
    : >"$TMP/$name.out"
    "$PYTHON" bench/chat_clients.py "ws://127.0.0.1:$port/chat/chatsocket" "$N" "$cookie" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local client=$!
    PIDS+=("$client")
    for _ in $(seq 600); do grep -q '^READY' "$TMP/$name.out" && break; sleep 0.1; done
    read -r _ opened failed < <(grep '^READY' "$TMP/$name.out")
    kill -USR1 "$client"
    for _ in $(seq 200); do grep -q '^DELIVERED' "$TMP/$name.out" && break; sleep 0.1; done
    delivered=$(awk '/^DELIVERED/ { print $2 }' "$TMP/$name.out")
    sleep 1
    after=$(rss_kib "$pid")
    printf '%-7s %5d tunnels (%d failed), broadcast reached %5d: VmRSS %6d -> %6d KiB, %6d bytes per tunnel\n' \
        "$name" "$opened" "$failed" "${delivered:-0}" "$before" "$after" $(((after - before) * 1024 / (opened > 0 ? opened : 1)))
    [ -s "$TMP/$name.err" ] && sed 's/^/  /' "$TMP/$name.err"
    kill "$client"
    wait "$client" 2>/dev/null || true
    sleep 1
}

echo "$N chat clients on the demo chat, one broadcast to all, cookie login through forward auth:"
measure proxyd "$proxyd_pid" "$PROXYD"
measure nginx "$nginx_pid" "$NGINX_PORT"

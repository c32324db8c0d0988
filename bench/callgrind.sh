#!/usr/bin/env bash
# bench/callgrind.sh: instructions per proxied request, counted by valgrind's
# callgrind: repeatable where wall-clock figures are noisy. Measures proxyd
# without forward auth and with auth and a warm cache, over one keepalive
# client connection: (instructions after N requests - after 0) / N.
#
# Run from the top of the tree after `make`:  bench/callgrind.sh
# Options (environment): N (3000), BUILDDIR (.). Needs valgrind, curl, perl.
set -euo pipefail

N=${N:-3000}
BUILDDIR=${BUILDDIR:-.}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"

up=$(free_port); auth=$(free_port)
"$BUILDDIR/t/upstream" -l "127.0.0.1:$up" 2>/dev/null & PIDS+=($!)
"$BUILDDIR/demo/auth" -l "127.0.0.1:$auth" 2>/dev/null & PIDS+=($!)
wait_port "$up"; wait_port "$auth"
printf 'bench: http://127.0.0.1:%s\nauth: http://127.0.0.1:%s/check\n' "$up" "$auth" >"$TMP/services.yaml"

# instructions MODE REQUESTS: callgrind's total for a proxyd run that served REQUESTS.
instructions() {
    local mode=$1 n=$2 port pid
    port=$(free_port)
    printf 'listen: 127.0.0.1:%s\nthreads: 1\nregistry: services.yaml\n' "$port" >"$TMP/proxyd.yaml"
    [ "$mode" = auth ] && printf 'auth:\n  service: auth\n  cache_ttl: 5m\n' >>"$TMP/proxyd.yaml"
    valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "$BUILDDIR/proxyd/proxyd" -c "$TMP/proxyd.yaml" \
        2>"$TMP/valgrind.log" &
    pid=$!
    PIDS+=($pid)
    wait_port "$port" || { cat "$TMP/valgrind.log" >&2; exit 1; }
    curl -s -o /dev/null "http://127.0.0.1:$port/bench/warm?key=supersecret"
    if [ "$n" -gt 0 ]; then
        perl -e 'print qq(url = "http://127.0.0.1:$ARGV[0]/bench/hello?key=supersecret"\noutput = "/dev/null"\n) x $ARGV[1]' \
            "$port" "$n" >"$TMP/urls"
        curl -s -K "$TMP/urls"
    fi
    kill "$pid"
    wait "$pid" || true
    awk '/^summary:/ { print $2 }' "$TMP/cg.out"
}

echo "instructions per request (callgrind, $N requests on one keepalive connection, 1 thread):"
for mode in noauth auth; do
    base=$(instructions "$mode" 0)
    total=$(instructions "$mode" "$N")
    echo "$mode $(( (total - base) / N ))"
done | awk '{ v[$1] = $2; printf "  %-8s %6d\n", $1, $2 } END { printf "  auth/noauth %.2fx (user-space instructions only: the kernel, most of the time under load, is not counted)\n", v["auth"] / v["noauth"] }'

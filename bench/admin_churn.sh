#!/usr/bin/env bash
# bench/admin_churn.sh: proxyd under wrk load while the admin API flips a
# service's URL between two upstreams as fast as it can (every change is
# written and fsynced to services.yaml). Prints the change rate and wrk's
# request rate and errors: the goal is zero failed requests.
#
# Run from the top of the tree after `make`:  bench/admin_churn.sh
# Options (environment): DURATION (10), CONNECTIONS (50), BUILDDIR (.).
# Needs: wrk, perl (apt-get install -y wrk perl).
set -euo pipefail

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
BUILDDIR=${BUILDDIR:-.}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

. "$(dirname "$0")/lib.sh"

one=$(free_port); two=$(free_port); port=$(free_port); admin=$(free_port)
"$BUILDDIR/t/upstream" -l "127.0.0.1:$one" --name one 2>"$TMP/one.log" & PIDS+=($!)
"$BUILDDIR/t/upstream" -l "127.0.0.1:$two" --name two 2>"$TMP/two.log" & PIDS+=($!)
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/admin.token"
chmod 600 "$TMP/admin.token"
echo "svc: http://127.0.0.1:$one" >"$TMP/services.yaml"
cat >"$TMP/proxyd.yaml" <<YAML
listen: 127.0.0.1:$port
threads: 2
registry: services.yaml
admin:
  listen: 127.0.0.1:$admin
  token_file: admin.token
YAML
"$BUILDDIR/proxyd/proxyd" -c "$TMP/proxyd.yaml" 2>"$TMP/proxyd.log" & PIDS+=($!)
wait_port "$port" && wait_port "$admin" || { cat "$TMP/proxyd.log" >&2; exit 1; }

# The flipper: PUTs alternating URLs until the deadline, then prints its counts.
perl -MIO::Socket::INET -e '
    # one write per request: a client that sends headers and body apart meets
    # Nagle and delayed ACKs (40 ms a change) and would measure itself
    my ($admin, $one, $two, $token, $seconds) = @ARGV;
    my ($ok, $bad, $i) = (0, 0, 0);
    my $end = time + $seconds;
    while (time < $end) {
        my $body = sprintf q({"url":"http://127.0.0.1:%d"}), $i++ % 2 ? $one : $two;
        my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $admin) or die "admin: $!";
        print $sock "PUT /services/svc HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer $token\r\n"
            . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
        my $status = (split " ", scalar <$sock> // "")[1] // 0;
        $status == 200 ? $ok++ : $bad++;
    }
    printf "changes: %d applied, %d refused, %.0f per second\n", $ok, $bad, $ok / $seconds;
' "$admin" "$one" "$two" "$(cat "$TMP/admin.token")" "$DURATION" >"$TMP/flips" &
flipper=$!
PIDS+=($flipper)

wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/svc/x" >"$TMP/wrk"
wait "$flipper" || true

echo "proxyd under load while services.yaml is rewritten (${DURATION}s, $CONNECTIONS connections):"
cat "$TMP/flips"
grep -E "Requests/sec|requests in|Non-2xx|Socket errors|99%" "$TMP/wrk" | sed 's/^ */wrk: /'
grep -q "Non-2xx\|Socket errors" "$TMP/wrk" && echo "RESULT: requests failed" || echo "RESULT: no failed request"

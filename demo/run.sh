#!/bin/sh
# demo/run.sh: runs the workshop demo: the weather, auth, chat and noise services and proxyd on conf/.
# Build first (see README.md). Ctrl-C stops them all.
set -eu
cd "$(dirname "$0")/.."   # the source tree: conf/ and the pages' folders (demo/www/) are here
bin=${PROXYD_BUILDDIR:-.}   # where make put the programs (another folder for VPATH builds)
for prog in proxyd/proxyd demo/weather demo/auth demo/chat demo/noise; do
    [ -x "$bin/$prog" ] || { echo "$bin/$prog is not built: run autoreconf -fi && ./configure && make" >&2; exit 1; }
done
# conf/proxyd.yaml plus the admin API on 127.0.0.1:8081 with a token made for this
# run, so the dashboard can be watched: written to a folder of its own, since
# conf/ is what make install copies and holds no token. Settings that have their
# own admin: section are used as they are.
run=$(mktemp -d)
settings=$run/proxyd.yaml
if grep -q '^admin:' conf/proxyd.yaml; then
    settings=conf/proxyd.yaml
    token="of conf/proxyd.yaml's token_file"
else
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$run/admin.token")
    token=$(cat "$run/admin.token")
    {
        sed "s|^registry: services.yaml|registry: \"$PWD/conf/services.yaml\"|" conf/proxyd.yaml
        printf 'admin:\n  listen: 127.0.0.1:8081\n  token_file: admin.token\n  dashboard: "%s/dashboard"\n' "$PWD"
    } >"$settings"
fi
"$bin/proxyd/proxyd" -t -c "$settings"
services=
trap 'kill $services 2>/dev/null; wait; rm -rf "$run"' EXIT
trap 'exit 0' INT TERM
"$bin/demo/weather" -l 127.0.0.1:9001 &
services="$services $!"
"$bin/demo/auth" -l 127.0.0.1:9002 &
services="$services $!"
"$bin/demo/chat" -l 127.0.0.1:9003 -r demo/www/chat &
services="$services $!"
"$bin/demo/noise" -l 127.0.0.1:9004 -r demo/www/noise &
services="$services $!"
echo "demo: try  curl 'http://127.0.0.1:8080/weather/today?key=supersecret'" >&2
echo "demo: in a browser (the key once logs you in with a cookie): http://127.0.0.1:8080/chat/?key=supersecret" >&2
echo "demo: or http://chat.localhost:8080/?key=supersecret; noise: /noise/ to watch, /noise/producer.html to send" >&2
echo "demo: dashboard http://127.0.0.1:8081/dashboard/ with the admin token $token" >&2
"$bin/proxyd/proxyd" -c "$settings" &
services="$services $!"
wait "$!"

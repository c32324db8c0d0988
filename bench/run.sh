#!/usr/bin/env bash
# bench/run.sh: proxyd against nginx, HAProxy and h2o's reverse proxy.
#
# What it measures, on 127.0.0.1 only:
#   1. Throughput, CPU per request and tail latency: one small-JSON upstream
#      (t/upstream, or nginx with UPSTREAM=nginx) pinned to core 1; each proxy
#      with ONE worker pinned to core 0, keep-alive to the upstream; after a
#      short warm-up, `wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency`,
#      pinned to core 1, loads it. The targets: proxyd (this tree), proxyd-old
#      (proxyd as of commit OLD_REV, the libh2o-proxy path before issue 9's
#      engine, built beside in the temporary folder, run with the same
#      settings), nginx, haproxy, h2o. On a shared machine one run is too
#      noisy to compare proxies, so this is done in ROUNDS rounds that
#      interleave the targets: round 1 in the order of ONLY, each later round
#      rotated by one (proxyd proxyd-old nginx haproxy h2o, then proxyd-old
#      nginx haproxy h2o proxyd, ...). Every target is
#      started fresh for each of its runs and stopped after it. Prints each
#      round's raw figures (req/s, p50, p99, non-2xx/3xx responses, socket
#      errors), then per target the median req/s, the min-max req/s and the
#      median p99 (and p50) over the rounds, and proxyd's median req/s over
#      each other's. A run in which the target died, wrk failed or a response
#      was not 2xx/3xx counts in no median.
#      CPU per request: the proxy's user + system CPU time (fields 14 and 15
#      of /proc/PID/stat, clock ticks, summed over the process and any
#      children such as workers of a master) just before and just after the
#      measured run, over the requests wrk reports for it: "cpu us/req", with
#      "cpu%" the proxy's use of its core meanwhile. Other work on the machine
#      slows a proxy but does not add to its CPU time, so this is far less
#      noisy than req/s (and when wrk and the upstream saturate core 1, req/s
#      hardly separates the proxies at all). It is not free of load, though:
#      a proxy starved of its core (low cpu%) handles fewer requests per
#      wake-up and pays more per request, so compare rounds of similar cpu%
#      and prefer a quiet machine. Printed per round and as median
#      and min-max per target, with proxyd's median over each other's
#      (CPU_GOALS: proxyd/proxyd-old <= 1.0x is issue 9's target,
#      proxyd/nginx <= 1.0x its goal).
#   2. Idle keep-alive memory: on a freshly started proxyd (and proxyd-old,
#      nginx and h2o for comparison), VmRSS (of the process and any children)
#      before and after opening IDLE_CONNS client connections that each made
#      one request and stay open idle: (after - before) / connections, in
#      bytes per connection. Once per target, after the rounds.
#   3. With PERF=1: a perf profile of proxyd under the same load, top symbols.
#   4. With AUTH=1 (or ONLY naming proxyd-auth / nginx-auth): the cost of
#      forward auth. The demo auth service (demo/auth: 200 with X-User:
#      workshop for ?key=supersecret) runs pinned to core 1 like the upstream,
#      and two more targets load /hello?key=supersecret through it:
#        proxyd-auth  proxyd with an auth: section (cache_ttl 5m, copy_headers
#                     [X-User]); start-up and the warm-up fill the cache, so
#                     the measured run is proxyd's cached-decision path.
#        nginx-auth   nginx with auth_request to the same service, upstream
#                     keep-alive to both; nginx has no auth cache, so every
#                     request makes an auth subrequest.
#      AUTH=1 runs proxyd, proxyd-auth and nginx-auth, and prints the ratios
#      proxyd-auth/proxyd (target >= 0.9x: a cached check costs little) and
#      proxyd-auth/nginx-auth (target >= 1.5x). The demo auth service's
#      request counter gives each run's auth checks per request (about 0 for
#      proxyd-auth with a warm cache, 1 for nginx-auth).
#   5. Memory per open WebSocket tunnel: a WebSocket echo upstream
#      (bench/ws_echo.py, python3-websockets) pinned to core 1; on a freshly
#      started proxyd and nginx (WS_TARGETS; nginx with proxy_http_version 1.1
#      and the Upgrade/Connection headers, as its documentation shows;
#      haproxy can be added), bench/ws_conns.py opens WS_CONNS tunnels to
#      /ws/echo through the proxy one after another, sends one message on
#      each and waits for its echo, and keeps them all open and silent:
#      VmRSS growth / tunnels, in bytes per tunnel (a tunnel is a client and
#      an upstream connection in the proxy). Afterwards each tunnel must echo
#      once more ("only N still working" otherwise). One probe tunnel comes
#      first: when the proxy does not pass the handshake, the target is
#      reported FAILED with the status the proxy answered and what the echo
#      upstream saw (e.g. proxyd before issue 9's engine: "HTTP 400 instead
#      of 101; ... arrived with Upgrade: ''"), the other figures stand and
#      the exit status is 1. Once per target, after the idle-memory figures.
#
# How to run, from the top of the repo after `make`:
#     bench/run.sh
#     DURATION=30 ROUNDS=5 CONNECTIONS=100 bench/run.sh
#     ONLY="proxyd nginx" bench/run.sh
#     UPSTREAM=nginx PERF=1 bench/run.sh
#     AUTH=1 IDLE_CONNS=0 bench/run.sh    # = ONLY="proxyd proxyd-auth nginx-auth"
#     ONLY="proxyd proxyd-old" ROUNDS=9 IDLE_CONNS=0 WS_CONNS=0 bench/run.sh
#     WS_CONNS=5000 WS_TARGETS="proxyd nginx haproxy" bench/run.sh
#
# Options (environment):
#   BUILDDIR     build tree holding proxyd/proxyd, t/upstream and demo/auth
#                (default .)
#   ROUNDS       rounds of interleaved runs, one run per target each (default 5)
#   DURATION     seconds of each measured wrk run (default 8)
#   WARMUP       seconds of the wrk warm-up before each of them (default 2)
#   CONNECTIONS  wrk connections (default 50)
#   IDLE_CONNS   idle connections for the memory figure (default 2000; 0 skips)
#   ONLY         targets to run, among: proxyd proxyd-old nginx haproxy h2o
#                proxyd-auth nginx-auth (default "proxyd proxyd-old nginx
#                haproxy h2o"; with AUTH=1, "proxyd proxyd-auth nginx-auth")
#   OLD_REV      the commit proxyd-old is built from (default 3ccd938, the
#                last one on libh2o's proxy); needs this checkout's git history
#   OLD_BUILDDIR a build tree of OLD_REV to use instead of building one (e.g.
#                the proxyd-old-src folder of a KEEP_TMP=1 run)
#   AUTH         1: the forward-auth comparison (see 4. above) (default 0)
#   IDLE_TARGETS targets whose idle memory is measured (default "proxyd
#                proxyd-old nginx h2o")
#   WS_CONNS     WebSocket tunnels open at once for the tunnel memory figure
#                (default 1000, with AUTH=1 0; 0 skips)
#   WS_TARGETS   targets whose tunnel memory is measured, among proxyd
#                proxyd-old nginx haproxy (default "proxyd nginx"); like
#                IDLE_TARGETS, only those also in ONLY run
#   PYTHON       the Python 3 with the websockets module (default
#                /usr/bin/python3, Debian's, which python3-websockets serves)
#   UPSTREAM     "t/upstream" (default) or "nginx" (a static JSON from nginx)
#   PERF         1: also profile proxyd under load with perf (default 0)
#   PERF_SECONDS seconds of that profile (default 5)
#   CPU_PROXY, CPU_LOAD  cores for the proxies / for upstream+wrk (default 0 / 1)
#   KEEP_TMP     1: keep the temporary folder (configs, logs, wrk outputs)
#
# Needs (Debian packages): wrk, curl, perl, util-linux (taskset), and for the
# comparison targets nginx-light, haproxy, h2o; git (and the build's own
# autoconf, automake, make, gcc) for proxyd-old; python3-websockets for the
# tunnel figure; linux-perf for PERF=1. nginx-auth
# needs nginx's auth_request module: Debian 12's nginx-light is a transitional
# package to nginx, which has it (`nginx -V 2>&1 | grep auth_request`);
# elsewhere nginx-core or nginx-full has it.
# Default run: about 10 s to build proxyd-old, then ROUNDS x targets x
# (DURATION + WARMUP + 1) seconds (5 x 5 x 11), plus about 15 s of
# idle-memory and 10 s of tunnel measures, so about 5 minutes on 2 cores
# (5 rounds rather than 3: proxyd and proxyd-old differ by less than three
# rounds' spread of CPU per request on a busy machine).
# Exits non-zero when a target failed to start, to answer, or died under load
# (its log is printed), or gave no tunnel figure.
#
# Adding a target: write start_<name> (start the process with start_bg, set
# TARGET_PID, TARGET_URL and IDLE_PATH, and with WS_PORT set a /ws/ route to
# it and WS_PATH; a "-" in the name is "_" in the function's), add <name> to
# ALL_TARGETS (and to DEFAULT_TARGETS if it should run by default, to
# WS_CAPABLE if it routes /ws/) and a line to package_of / check_tools if it
# needs a tool.

# Functions are also called indirectly (cleanup from the trap, start_<target>).
# shellcheck disable=SC2317

set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILDDIR=${BUILDDIR:-.}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
IDLE_CONNS=${IDLE_CONNS:-2000}
UPSTREAM=${UPSTREAM:-t/upstream}
PERF=${PERF:-0}
PERF_SECONDS=${PERF_SECONDS:-5}
CPU_PROXY=${CPU_PROXY:-0}
CPU_LOAD=${CPU_LOAD:-1}
KEEP_TMP=${KEEP_TMP:-0}
AUTH=${AUTH:-0}
OLD_REV=${OLD_REV:-3ccd938}
OLD_BUILDDIR=${OLD_BUILDDIR:-}
if [ "${AUTH:-0}" = 1 ]; then WS_CONNS=${WS_CONNS:-0}; else WS_CONNS=${WS_CONNS:-1000}; fi
PYTHON=${PYTHON:-/usr/bin/python3}    # Debian's, with python3-websockets

DEFAULT_TARGETS="proxyd proxyd-old nginx haproxy h2o"
AUTH_TARGETS="proxyd proxyd-auth nginx-auth"    # AUTH=1
ALL_TARGETS="proxyd proxyd-old nginx haproxy h2o proxyd-auth nginx-auth"
case $AUTH in 0 | 1) ;; *) printf '!! AUTH must be 0 or 1 (got %s)\n' "$AUTH" >&2; exit 1 ;; esac
if [ "$AUTH" = 1 ]; then TARGETS=${ONLY:-$AUTH_TARGETS}; else TARGETS=${ONLY:-$DEFAULT_TARGETS}; fi
IDLE_TARGETS=${IDLE_TARGETS:-proxyd proxyd-old nginx h2o}
WS_TARGETS=${WS_TARGETS:-proxyd nginx}
WS_CAPABLE="proxyd proxyd-old nginx haproxy"    # targets with a /ws/ route to the echo upstream
BASE=proxyd             # the target the ratios are computed for
# The forward-auth ratios (A/B, and the figure it should reach), printed when
# both targets ran.
AUTH_RATIOS="proxyd-auth/proxyd:0.9 proxyd-auth/nginx-auth:1.5"
# The CPU-per-request ratios with a ceiling, A/B:CEILING:WORD (issue 9: the
# new engine must cost no more CPU per request than the libh2o path did; the
# goal is to cost no more than nginx).
CPU_GOALS="proxyd/proxyd-old:1.0:target proxyd/nginx:1.0:goal"
AUTH_KEY=supersecret    # the key demo/auth allows

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-haproxy}
H2O=${H2O:-h2o}

log() { printf '%s\n' "== $*" >&2; }
warn() { printf '%s\n' "!! $*" >&2; }
die() { warn "$*"; exit 1; }

# is_auth_target NAME: true for the targets that go through the auth service.
is_auth_target() { case $1 in *-auth) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- processes

PIDS=()                 # every process this script started and has not stopped
TMP=$(mktemp -d "${TMPDIR:-/tmp}/proxyd-bench.XXXXXX") || die "mktemp failed"

cleanup() {
    local pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$KEEP_TMP" = 1 ]; then warn "temporary files kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME CPU CMD...: starts CMD pinned to CPU, output to $TMP/NAME.log;
# its pid goes to LAST_PID (taskset execs CMD, so the pid is CMD's own).
start_bg() {
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$TMP/$name.log" 2>&1 </dev/null &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# stop_pid PID [SECONDS]: TERM, then KILL after SECONDS (default 3); forgets
# the pid. Returns its exit status (137 when it had to be killed).
stop_pid() {
    local pid=$1 secs=${2:-3} p rc keep=()
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return $rc
}

# stop_target NAME PID [WHEN]: stops a proxy and notes a crash or hang on SIGTERM
# (the figures stand, but the proxy has a shutdown bug worth knowing about).
# The grace period exceeds proxyd's own 10 s drain of open connections.
STOP_SECONDS=12
declare -A SHUTDOWN
stop_target() {
    local name=$1 pid=$2 when=${3:+ (${3})} rc what
    stop_pid "$pid" "$STOP_SECONDS"
    rc=$?
    case $rc in
        0 | 143) return 0 ;;
        137) what="did not exit within $STOP_SECONDS s of SIGTERM (killed)" ;;
        1[3-9][0-9]) what="died of signal $((rc - 128)) ($(kill -l $((rc - 128)))) after SIGTERM" ;;
        *) what="exited with status $rc after SIGTERM" ;;
    esac
    warn "$name$when $what; end of its log:"
    tail -n 5 "$TMP/$name.log" | sed 's/^/    /' >&2
    SHUTDOWN[$name]="${SHUTDOWN[$name]:+${SHUTDOWN[$name]}; }$what$when"
}

# run_wait CMD...: runs CMD in the background and waits for it, so that a
# TERM/INT reaches our trap at once and the cleanup stops CMD too.
run_wait() {
    local pid rc p keep=()
    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid"
    rc=$?
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return $rc
}

# A free loopback TCP port (the kernel's choice; a race is possible but rare).
free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport, "\n"'
}

# wait_http NAME PID URL: waits up to 10 s for a 200 from URL while PID lives.
wait_http() {
    local name=$1 pid=$2 url=$3 code
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            warn "$name exited during start-up; its log:"
            sed 's/^/    /' "$TMP/$name.log" >&2
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    warn "$name did not answer 200 at $url within 10 s (last status: ${code:-none}); its log:"
    sed 's/^/    /' "$TMP/$name.log" >&2
    return 1
}

# tree_pids PID: PID and its descendants (a master's workers), one a line;
# nothing when PID is gone. From the parent field (4) of /proc/*/stat; the
# command name (field 2) may hold spaces and ")", hence the cut at the last ") ".
tree_pids() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
        { pid = $1; sub(/^.*\) /, ""); parent[pid] = $2 }
        END {
            if (!(root in parent)) exit
            tree[root] = 1
            do { more = 0; for (p in parent) if (!(p in tree) && (parent[p] in tree)) { tree[p] = 1; more = 1 } } while (more)
            for (p in tree) print p
        }'
}

# rss_kb PID: VmRSS of PID and its descendants, in kB (shared pages of a
# master and its workers count twice; all targets here run one process).
rss_kb() {
    local p sum=0 kb found=''
    for p in $(tree_pids "$1"); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        [ -n "$kb" ] && sum=$((sum + kb)) found=1
    done
    [ -n "$found" ] && echo "$sum"
}

# cpu_ticks PID: user + system CPU time of PID and its descendants (all their
# threads), in clock ticks (CLK_TCK a second): fields 14 and 15 of
# /proc/PID/stat. Nothing when PID is gone.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
    local p files=()
    for p in $(tree_pids "$1"); do files+=("/proc/$p/stat"); done
    [ ${#files[@]} -gt 0 ] || return 1
    cat "${files[@]}" 2>/dev/null |
        awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# ---------------------------------------------------------------- checks

package_of() {
    case $1 in
        wrk) echo wrk ;; curl) echo curl ;; perl) echo perl ;;
        taskset) echo util-linux ;; nginx) echo nginx-light ;;
        nginx-auth-module) echo "nginx-light (Debian 12; else nginx-core or nginx-full)" ;;
        haproxy) echo haproxy ;; h2o) echo h2o ;; perf) echo linux-perf ;;
        git) echo git ;; autoreconf) echo "autoconf automake" ;; make) echo make ;; gcc) echo gcc ;;
        websockets) echo python3-websockets ;;
    esac
}

check_tools() {
    local missing=() tool t
    local tools="wrk curl perl taskset"
    for t in $TARGETS; do
        case $t in nginx | haproxy | h2o) tools="$tools $t" ;; nginx-auth) tools="$tools nginx" ;; esac
        [ "$t" = proxyd-old ] && [ -z "$OLD_BUILDDIR" ] && tools="$tools git autoreconf make gcc"
    done
    [ "$UPSTREAM" = nginx ] && tools="$tools nginx"
    [ "$PERF" = 1 ] && tools="$tools perf"
    [ -n "$WS_RUN" ] && tools="$tools websockets"
    for tool in $tools; do
        local cmd=$tool
        case $tool in nginx) cmd=$NGINX ;; haproxy) cmd=$HAPROXY ;; h2o) cmd=$H2O ;; esac
        if [ "$tool" = websockets ]; then
            "$PYTHON" -c 'import websockets' 2>/dev/null || missing+=("$(package_of "$tool")")
            continue
        fi
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$(package_of "$tool")")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        die "missing tools; install them with: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    fi
    case " $TARGETS " in
        *" nginx-auth "*)
            "$NGINX" -V 2>&1 | grep -q with-http_auth_request_module ||
                die "nginx-auth: $NGINX lacks the auth_request module; install $(package_of nginx-auth-module)"
            ;;
    esac
}

NEED_AUTH=0
for t in $TARGETS; do
    case " $ALL_TARGETS " in *" $t "*) ;; *) die "unknown target '$t' (known: $ALL_TARGETS)" ;; esac
    is_auth_target "$t" && NEED_AUTH=1
done
case $ROUNDS in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer (got '$ROUNDS')" ;; esac
case $WS_CONNS in '' | *[!0-9]*) die "WS_CONNS must be a whole number (got '$WS_CONNS')" ;; esac
# WS_RUN: the targets whose tunnel memory is measured (in TARGETS and WS_TARGETS).
WS_RUN=''
if [ "$WS_CONNS" -gt 0 ]; then
    for t in $WS_TARGETS; do
        case " $WS_CAPABLE " in *" $t "*) ;; *) die "WS_TARGETS: '$t' has no WebSocket route here (among: $WS_CAPABLE)" ;; esac
        case " $TARGETS " in *" $t "*) WS_RUN+="${WS_RUN:+ }$t" ;; esac
    done
fi
check_tools
BUILDDIR=$(cd "$BUILDDIR" && pwd) || die "BUILDDIR not found"

if [ "$(nproc)" -lt 2 ]; then
    warn "fewer than 2 cores: proxies, upstream and wrk all share core 0"
    CPU_PROXY=0 CPU_LOAD=0
fi

# Enough descriptors for IDLE_CONNS client sockets plus the proxy's end of them.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$IDLE_CONNS" -gt $((NOFILE - 200)) ]; then
    warn "open-file limit is $NOFILE: IDLE_CONNS lowered from $IDLE_CONNS to $((NOFILE - 200))"
    IDLE_CONNS=$((NOFILE - 200))
fi
# A tunnel is two sockets in the proxy, plus WS_CONNS in the client and in the
# echo upstream (which this limit also applies to).
if [ "$NOFILE" != unlimited ] && [ "$WS_CONNS" -gt $(((NOFILE - 200) / 2)) ]; then
    warn "open-file limit is $NOFILE: WS_CONNS lowered from $WS_CONNS to $(((NOFILE - 200) / 2))"
    WS_CONNS=$(((NOFILE - 200) / 2))
fi
MAXCONN=$((IDLE_CONNS > 2 * WS_CONNS ? IDLE_CONNS : 2 * WS_CONNS))
MAXCONN=$((MAXCONN + CONNECTIONS + 1024))

# ---------------------------------------------------------------- the old path

# build_old: proxyd as of OLD_REV (the libh2o-proxy path) for the proxyd-old
# target: OLD_BUILDDIR's when given, else built from `git archive OLD_REV` of
# this checkout in the temporary folder with ./configure's defaults (about
# 10 s). Sets OLD_BIN; returns non-zero (the log's end printed) on failure.
OLD_BIN=''
build_old() {
    local src dir=$TMP/proxyd-old-src blog=$TMP/proxyd-old-build.log
    if [ -n "$OLD_BUILDDIR" ]; then
        [ -x "$OLD_BUILDDIR/proxyd/proxyd" ] || { warn "proxyd-old: $OLD_BUILDDIR/proxyd/proxyd not built"; return 1; }
        OLD_BIN=$(cd "$OLD_BUILDDIR" && pwd)/proxyd/proxyd
        log "proxyd-old: $OLD_BIN (OLD_BUILDDIR)"
        return 0
    fi
    src=$(cd "$BENCH_DIR/.." && pwd)
    if ! git -C "$src" rev-parse -q --verify "$OLD_REV^{commit}" >/dev/null 2>&1; then
        warn "proxyd-old: $OLD_REV is no commit of $src (a git clone with its history is needed; or set OLD_BUILDDIR)"
        return 1
    fi
    log "proxyd-old: building $OLD_REV ($(git -C "$src" log -1 --format=%s "$OLD_REV")) in $dir"
    mkdir -p "$dir"
    if ! {
        git -C "$src" archive "$OLD_REV" | tar -x -C "$dir" &&
            (cd "$dir" && autoreconf -fi && ./configure && make -j"$(nproc)" proxyd/proxyd)
    } >"$blog" 2>&1; then
        warn "proxyd-old: building $OLD_REV failed; end of its log:"
        tail -n 20 "$blog" | sed 's/^/    /' >&2
        return 1
    fi
    OLD_BIN=$dir/proxyd/proxyd
    # A sanitizer or coverage build of the current tree against an optimised
    # old one would compare the builds, not the code.
    if grep -Eq -- '--enable-(sanitizers|coverage)' "$BUILDDIR/config.status" 2>/dev/null; then
        warn "proxyd in $BUILDDIR is a sanitizer or coverage build, proxyd-old a default one: CPU figures do not compare"
    fi
}

# ---------------------------------------------------------------- upstream

start_upstream() {
    UP_PORT=$(free_port)
    case $UPSTREAM in
        t/upstream)
            local bin=$BUILDDIR/t/upstream
            [ -x "$bin" ] || die "$bin not built (run make first, or UPSTREAM=nginx)"
            start_bg upstream "$CPU_LOAD" "$bin" -l "127.0.0.1:$UP_PORT"
            ;;
        nginx)
            mkdir -p "$TMP/upstream-nginx"
            cat >"$TMP/upstream-nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $TMP/upstream-nginx/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/upstream-nginx/body;
    proxy_temp_path $TMP/upstream-nginx/proxy;
    fastcgi_temp_path $TMP/upstream-nginx/fastcgi;
    uwsgi_temp_path $TMP/upstream-nginx/uwsgi;
    scgi_temp_path $TMP/upstream-nginx/scgi;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$UP_PORT;
        default_type application/json;
        location / { return 200 '{"method":"\$request_method","path":"\$uri","from":"nginx"}\n'; }
    }
}
EOF
            start_bg upstream "$CPU_LOAD" "$NGINX" -p "$TMP/upstream-nginx" -c "$TMP/upstream-nginx/nginx.conf" -e stderr
            ;;
        *) die "UPSTREAM must be t/upstream or nginx" ;;
    esac
    UP_PID=$LAST_PID
    wait_http upstream "$UP_PID" "http://127.0.0.1:$UP_PORT/hello" || exit 1
    log "upstream ($UPSTREAM) on 127.0.0.1:$UP_PORT, pid $UP_PID, core $CPU_LOAD"
}

# start_ws_echo: the WebSocket echo upstream (bench/ws_echo.py), pinned like
# the upstream; sets WS_PORT, which adds the /ws/ routes to the targets
# started from then on.
WS_PORT=''
start_ws_echo() {
    local port
    port=$(free_port)
    start_bg ws-echo "$CPU_LOAD" "$PYTHON" "$BENCH_DIR/ws_echo.py" 127.0.0.1 "$port"
    WS_ECHO_PID=$LAST_PID
    wait_http ws-echo "$WS_ECHO_PID" "http://127.0.0.1:$port/" || exit 1
    WS_PORT=$port
    log "WebSocket echo upstream (bench/ws_echo.py) on 127.0.0.1:$WS_PORT, pid $WS_ECHO_PID, core $CPU_LOAD"
}

# start_auth_service: the demo forward-auth service, pinned like the upstream
# (only when an auth target runs). AUTH_URL is its check endpoint.
AUTH_PID=''
start_auth_service() {
    local bin=$BUILDDIR/demo/auth
    [ -x "$bin" ] || die "$bin not built (run make first)"
    AUTH_PORT=$(free_port)
    AUTH_URL=http://127.0.0.1:$AUTH_PORT/check
    start_bg auth "$CPU_LOAD" "$bin" -l "127.0.0.1:$AUTH_PORT"
    AUTH_PID=$LAST_PID
    wait_http auth "$AUTH_PID" "$AUTH_URL?key=$AUTH_KEY" || exit 1
    log "auth service (demo/auth) on 127.0.0.1:$AUTH_PORT, pid $AUTH_PID, core $CPU_LOAD"
}

# auth_count: the demo auth service's request counter (every request but
# /count ones); auth_count_reset: sets it to 0.
auth_count() {
    curl -s --max-time 2 "http://127.0.0.1:$AUTH_PORT/count" | perl -ne 'print $1 if /"requests"\s*:\s*(\d+)/'
}
auth_count_reset() {
    curl -s -o /dev/null --max-time 2 -X POST "http://127.0.0.1:$AUTH_PORT/count/reset"
}

# ---------------------------------------------------------------- targets
# start_<target>: starts the proxy pinned to CPU_PROXY with one worker, on a
# new free port, to the upstream; sets TARGET_PID, TARGET_URL (what wrk loads)
# and IDLE_PATH (the request path of the idle connections). Once the
# WebSocket echo upstream runs (WS_PORT set, after the rounds), the targets
# of WS_CAPABLE also route /ws/ to it and set WS_PATH, the tunnels' path.

# run_proxyd NAME BIN [SETTINGS [SERVICES [QUERY]]]: proxyd (the program BIN)
# with these extra lines in its settings and its registry, loaded at
# /bench/hello[?QUERY].
run_proxyd() {
    local name=$1 bin=$2 settings=${3:-} services=${4:-} query=${5:+?$5}
    local dir=$TMP/$1 port
    [ -x "$bin" ] || { warn "$bin not built (run make first)"; return 1; }
    port=$(free_port)
    mkdir -p "$dir"
    {
        echo "listen: 127.0.0.1:$port"
        echo "threads: 1"
        echo "registry: services.yaml"
        [ -z "$settings" ] || printf '%s\n' "$settings"
    } >"$dir/proxyd.yaml"
    {
        echo "bench: http://127.0.0.1:$UP_PORT"
        [ -z "$WS_PORT" ] || echo "ws: http://127.0.0.1:$WS_PORT"
        [ -z "$services" ] || printf '%s\n' "$services"
    } >"$dir/services.yaml"
    start_bg "$name" "$CPU_PROXY" "$bin" -c "$dir/proxyd.yaml"
    TARGET_PID=$LAST_PID
    TARGET_URL=http://127.0.0.1:$port/bench/hello$query
    IDLE_PATH=/bench/hello$query
    WS_PATH=/ws/echo
}

start_proxyd() {
    run_proxyd proxyd "$BUILDDIR/proxyd/proxyd"
}

# The same settings on proxyd as of OLD_REV (see build_old).
start_proxyd_old() {
    [ -n "$OLD_BIN" ] || { warn "proxyd-old: no build of $OLD_REV"; return 1; }
    run_proxyd proxyd-old "$OLD_BIN"
}

# Forward auth with a warm cache: wait_http's first request makes the one
# check, the warm-up and the measured run are answered from the cache.
start_proxyd_auth() {
    run_proxyd proxyd-auth "$BUILDDIR/proxyd/proxyd" "auth:
  service: auth
  cache_ttl: 5m
  copy_headers: [X-User]" "auth: $AUTH_URL" "key=$AUTH_KEY"
}

# nginx_head DIR: the part of nginx.conf common to the nginx targets, up to
# the inside of the http block.
nginx_head() {
    local dir=$1
    cat <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $MAXCONN; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
EOF
}

start_nginx() {
    local dir=$TMP/nginx port
    port=$(free_port)
    mkdir -p "$dir"
    {
        nginx_head "$dir"
        cat <<EOF
    upstream bench {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 600s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
EOF
        # WebSocket proxying as nginx's documentation shows it; the timeouts
        # only keep silent tunnels open as long as the measure needs.
        [ -z "$WS_PORT" ] || cat <<EOF
        location /ws/ {
            proxy_pass http://127.0.0.1:$WS_PORT;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }
EOF
        printf '    }\n}\n'
    } >"$dir/nginx.conf"
    start_bg nginx "$CPU_PROXY" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e stderr
    TARGET_PID=$LAST_PID
    TARGET_URL=http://127.0.0.1:$port/hello
    IDLE_PATH=/hello
    WS_PATH=/ws/echo
}

# nginx with auth_request: every request makes a subrequest to the auth
# service (nginx caches no decision), keep-alive to it and to the upstream;
# X-User from the auth answer goes upstream, as proxyd's copy_headers does.
# (Unlike proxyd, nginx passes the key upstream in the query string.)
start_nginx_auth() {
    local dir=$TMP/nginx-auth port
    port=$(free_port)
    mkdir -p "$dir"
    {
        nginx_head "$dir"
        cat <<EOF
    upstream upstream_bench {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 600s;
    }
    upstream auth_backend {
        server 127.0.0.1:$AUTH_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 600s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            # The subrequest has no query string of its own (\$arg_key is
            # empty there) but shares the variables of the main request.
            set \$auth_key \$arg_key;
            auth_request /_auth;
            auth_request_set \$auth_user \$upstream_http_x_user;
            proxy_pass http://upstream_bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-User \$auth_user;
        }
        location = /_auth {
            internal;
            proxy_pass http://auth_backend/check?key=\$auth_key;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    start_bg nginx-auth "$CPU_PROXY" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e stderr
    TARGET_PID=$LAST_PID
    TARGET_URL="http://127.0.0.1:$port/hello?key=$AUTH_KEY"
    IDLE_PATH="/hello?key=$AUTH_KEY"
}

start_haproxy() {
    local dir=$TMP/haproxy port ws_route=''
    port=$(free_port)
    mkdir -p "$dir"
    # HAProxy passes WebSocket upgrades in mode http by itself.
    [ -z "$WS_PORT" ] || ws_route="use_backend ws if { path_beg /ws/ }"
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $MAXCONN

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 600s
    timeout server 30s
    timeout http-request 600s
    timeout http-keep-alive 600s

frontend bench
    bind 127.0.0.1:$port
    $ws_route
    default_backend upstream

backend upstream
    server up 127.0.0.1:$UP_PORT
EOF
    [ -z "$WS_PORT" ] || cat >>"$dir/haproxy.cfg" <<EOF

backend ws
    timeout tunnel 600s
    server ws 127.0.0.1:$WS_PORT
EOF
    start_bg haproxy "$CPU_PROXY" "$HAPROXY" -db -f "$dir/haproxy.cfg"
    TARGET_PID=$LAST_PID
    TARGET_URL=http://127.0.0.1:$port/hello
    IDLE_PATH=/hello
    WS_PATH=/ws/echo
}

start_h2o() {
    local dir=$TMP/h2o port
    port=$(free_port)
    mkdir -p "$dir"
    # No access-log directive: h2o then writes no access log.
    cat >"$dir/h2o.conf" <<EOF
num-threads: 1
max-connections: $MAXCONN
http1-request-timeout: 600
http2-idle-timeout: 600
listen:
  host: 127.0.0.1
  port: $port
proxy.timeout.keepalive: 600000
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:$UP_PORT/
EOF
    if ! "$H2O" -t -c "$dir/h2o.conf" >"$dir/check.log" 2>&1; then
        warn "h2o rejected its configuration:"
        sed 's/^/    /' "$dir/check.log" >&2
        return 1
    fi
    start_bg h2o "$CPU_PROXY" "$H2O" -m worker -c "$dir/h2o.conf"
    TARGET_PID=$LAST_PID
    TARGET_URL=http://127.0.0.1:$port/hello
    IDLE_PATH=/hello
}

# start_target NAME: starts it and waits for a 200; returns non-zero on failure.
start_target() {
    TARGET_PID='' TARGET_URL='' IDLE_PATH='' WS_PATH=''
    "start_${1//-/_}" || return 1
    wait_http "$1" "$TARGET_PID" "$TARGET_URL"
}

# ---------------------------------------------------------------- measures

# Per run figures are keyed "target,round": RPS P50 P99 NON2XX SOCKERR, REQS
# (requests wrk made in the measured run), CPU_US (the proxy's CPU
# microseconds per request in it), CPU_PCT (its CPU use in percent of one
# core), and NOTE when the target failed in that run (such a run counts in no
# median). For the auth targets, also CHECKS (requests the auth service got
# during the measured run).
declare -A RPS P50 P99 NON2XX SOCKERR NOTE MEM_BYTES MEM_NOTE FAILED START_FAILED CHECKS REQS CPU_US CPU_PCT

# run_wrk NAME ROUND URL PID: warm-up, then (if PID survived it) the measured
# run; fills RPS, P50, P99, NON2XX, SOCKERR, REQS, CPU_US and CPU_PCT of
# "NAME,ROUND".
run_wrk() {
    local name=$1 k=$1,$2 url=$3 pid=$4 out=$TMP/$1.round$2.wrk t0 t1 ns0 ns1
    RPS[$k]=0
    run_wait taskset -c "$CPU_LOAD" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$url" >/dev/null 2>&1
    sleep 0.3    # let the proxy handle the warm-up's closing connections
    kill -0 "$pid" 2>/dev/null || { warn "$name died during the warm-up"; return 1; }
    is_auth_target "$name" && auth_count_reset
    # The proxy's CPU time around the measured run: whatever else runs on the
    # machine slows the proxy down but does not add to its own CPU time.
    t0=$(cpu_ticks "$pid") ns0=$(date +%s%N)
    run_wait taskset -c "$CPU_LOAD" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url" >"$out" 2>&1
    t1=$(cpu_ticks "$pid") ns1=$(date +%s%N)
    REQS[$k]=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")
    is_auth_target "$name" && CHECKS[$k]=$(auth_count)
    if [ -n "$t0" ] && [ -n "$t1" ] && [ "${REQS[$k]:-0}" -gt 0 ] 2>/dev/null; then
        CPU_US[$k]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${REQS[$k]}" 'BEGIN { printf "%.2f\n", d * 1e6 / hz / n }')
        CPU_PCT[$k]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v ns=$((ns1 - ns0)) 'BEGIN { printf "%.0f\n", d / hz * 1e11 / ns }')
    fi
    sed 's/^/    /' "$out" >&2
    RPS[$k]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    P50[$k]=$(awk '$1 == "50%" { print $2 }' "$out")
    P99[$k]=$(awk '$1 == "99%" { print $2 }' "$out")
    NON2XX[$k]=$(awk -F: '/Non-2xx or 3xx responses/ { gsub(/ /, "", $2); print $2 }' "$out")
    SOCKERR[$k]=$(sed -n 's/^ *Socket errors: *//p' "$out")
    [ -n "${RPS[$k]}" ] || { warn "$name: could not parse wrk output"; RPS[$k]=0; return 1; }
}

# conn_memory KIND NAME: a fresh instance of NAME, its VmRSS before and after
# a helper opened connections through it and holds them: KIND idle,
# IDLE_CONNS keep-alive connections that made one request each
# (idle_conns.pl); KIND ws, WS_CONNS WebSocket tunnels to the echo upstream
# that carried one message each (ws_conns.py). Fills MEM_BYTES (RSS growth
# per connection) and MEM_NOTE of "KIND,NAME"; returns non-zero on failure.
conn_memory() {
    local kind=$1 name=$2 k=$1,$2 out=$TMP/$2.$1 n path what unit client before after line opened failed alive port
    if ! start_target "$name"; then
        FAILED[$name]=1 MEM_NOTE[$k]="failed to start"
        [ -n "$TARGET_PID" ] && stop_pid "$TARGET_PID"
        return 1
    fi
    port=${TARGET_URL#http://127.0.0.1:}
    port=${port%%/*}
    case $kind in
        idle) n=$IDLE_CONNS path=$IDLE_PATH what="idle connections" unit="idle connection"
            client=(perl "$BENCH_DIR/idle_conns.pl") ;;
        ws) n=$WS_CONNS path=$WS_PATH what="WebSocket tunnels" unit=tunnel client=("$PYTHON" "$BENCH_DIR/ws_conns.py") ;;
    esac
    # A few requests first, so that lazily built state (upstream connection,
    # first buffers) is not counted; for tunnels, one tunnel too, which also
    # tells at once whether tunnels pass through this proxy at all.
    for _ in 1 2 3 4 5; do curl -s -o /dev/null "$TARGET_URL"; done
    if [ "$kind" = ws ] && ! ws_probe "$name" "$port" "$path"; then
        MEM_NOTE[$k]="no tunnel opened: $WS_PROBE_ERROR"
        warn "$name: no WebSocket tunnel through it: $WS_PROBE_ERROR"
        stop_target "$name" "$TARGET_PID"
        return 1
    fi
    sleep 0.2
    before=$(rss_kb "$TARGET_PID")
    taskset -c "$CPU_LOAD" "${client[@]}" 127.0.0.1 "$port" "$path" "$n" 120 >"$out" 2>"$out.err" &
    local cpid=$!
    PIDS+=("$cpid")
    for _ in $(seq 1200); do
        grep -q '^READY' "$out" && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.05
    done
    line=$(grep '^READY' "$out")
    if [ -z "$line" ]; then
        warn "$name: $what could not be opened:"
        sed 's/^/    /' "$out.err" >&2
        stop_pid "$cpid"; stop_pid "$TARGET_PID"
        MEM_NOTE[$k]="failed"
        return 1
    fi
    sleep 0.2
    after=$(rss_kb "$TARGET_PID")
    if [ -z "$after" ]; then
        stop_pid "$cpid"
        stop_pid "$TARGET_PID"
        MEM_NOTE[$k]="died while $n $what were open (exit status $?)"
        FAILED[$name]=1
        warn "$name ${MEM_NOTE[$k]}; its log:"
        sed 's/^/    /' "$TMP/$name.log" >&2
        return 1
    fi
    # The helper checks which connections still work (a tunnel: still echoes).
    kill -USR1 "$cpid" 2>/dev/null
    for _ in $(seq 300); do grep -q '^ALIVE' "$out" && break; sleep 0.05; done
    stop_pid "$cpid"
    read -r _ opened failed <<<"$line"
    alive=$(awk '/^ALIVE/ { print $2 }' "$out")
    [ -s "$out.err" ] && sed 's/^/    /' "$out.err" >&2
    if [ "$opened" -gt 0 ]; then
        MEM_BYTES[$k]=$(((after - before) * 1024 / opened))
    fi
    MEM_NOTE[$k]="RSS ${before} kB -> ${after} kB, $opened open"
    [ "$failed" -gt 0 ] && MEM_NOTE[$k]+=", $failed failed"
    [ "${alive:-0}" -lt "$opened" ] && MEM_NOTE[$k]+=", only ${alive:-0} still working after the reading"
    log "$name: ${MEM_BYTES[$k]:-?} bytes per $unit (${MEM_NOTE[$k]})"
    stop_target "$name" "$TARGET_PID"
}

# ws_probe NAME PORT PATH: one WebSocket tunnel through NAME to the echo
# upstream, one message each way. On failure, WS_PROBE_ERROR says why, with
# what the echo upstream said about the handshake it got (if it got one).
WS_PROBE_ERROR=''
ws_probe() {
    local out=$TMP/$1.ws-probe seen reason upstream
    seen=$(wc -l <"$TMP/ws-echo.log")
    run_wait taskset -c "$CPU_LOAD" "$PYTHON" "$BENCH_DIR/ws_conns.py" 127.0.0.1 "$2" "$3" 1 0 >"$out" 2>"$out.err"
    grep -q '^ALIVE 1$' "$out" && return 0
    reason=$(sed -n 's/^ws_conns: [0-9]* of [0-9]* tunnel(s) failed: //p' "$out.err" | head -n 1)
    [ -n "$reason" ] || reason="the tunnel opened but did not carry the second message"
    [ -s "$out.err" ] || [ -s "$out" ] || reason="ws_conns.py gave no answer"
    upstream=$(tail -n +$((seen + 1)) "$TMP/ws-echo.log" | sed -n 's/^ws_echo: //p' | head -n 1)
    if [ -n "$upstream" ]; then
        WS_PROBE_ERROR="$reason; the echo upstream: $upstream"
    else
        WS_PROBE_ERROR="$reason; the echo upstream logged nothing about it"
    fi
    return 1
}

# perf_profile: proxyd under the same wrk load, perf samples for PERF_SECONDS.
perf_profile() {
    local event=cycles data=$TMP/perf.data wpid
    local probe
    if ! probe=$(perf stat -e instructions true 2>&1) || grep -q 'not supported' <<<"$probe"; then
        # No hardware counters (typical in a VM): a software clock still samples.
        if perf record -e cpu-clock -o "$TMP/perf.probe" true >/dev/null 2>&1; then
            event="cpu-clock"
            log "perf: hardware counters unsupported here; sampling with cpu-clock"
        else
            echo "perf is unsupported on this machine (perf stat -e instructions true fails); no profile" >"$TMP/perf.top"
            log "perf unsupported"
            return 0
        fi
    fi
    if ! start_target proxyd; then
        FAILED[proxyd]=1
        [ -n "$TARGET_PID" ] && stop_pid "$TARGET_PID"
        return 1
    fi
    taskset -c "$CPU_LOAD" wrk -t1 -c"$CONNECTIONS" -d"$((PERF_SECONDS + 2))s" "$TARGET_URL" >/dev/null 2>&1 &
    wpid=$!
    PIDS+=("$wpid")
    sleep 1
    run_wait taskset -c "$CPU_LOAD" perf record -e "$event" -F 999 -p "$TARGET_PID" -o "$data" -- sleep "$PERF_SECONDS" \
        >"$TMP/perf.log" 2>&1
    wait "$wpid" 2>/dev/null
    stop_pid "$wpid"
    {
        echo "perf: proxyd, top 15 symbols ($event, ${PERF_SECONDS}s under wrk -c$CONNECTIONS):"
        perf report -i "$data" --stdio --no-children --sort symbol 2>/dev/null |
            grep -E '^ +[0-9.]+%' | head -15
    } >"$TMP/perf.top"
    [ -s "$data" ] || { warn "perf record failed:"; sed 's/^/    /' "$TMP/perf.log" >&2; }
    stop_target proxyd "$TARGET_PID"
}

# ---------------------------------------------------------------- main

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
ROUND_WORD=rounds
[ "$ROUNDS" = 1 ] && ROUND_WORD=round
log "targets: $TARGETS; $ROUNDS $ROUND_WORD of wrk -t1 -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s); proxies on core $CPU_PROXY, upstream and wrk on core $CPU_LOAD"
case " $TARGETS " in
    *" proxyd-old "*) build_old || FAILED[proxyd-old]=1 START_FAILED[proxyd-old]=1 ;;
esac
start_upstream
[ "$NEED_AUTH" = 1 ] && start_auth_service

# upstream_alive: dies (non-zero) when the upstream (or the auth service) is
# gone, which would make every later figure meaningless.
upstream_alive() {
    if ! kill -0 "$UP_PID" 2>/dev/null; then
        warn "the upstream exited; its log:"
        sed 's/^/    /' "$TMP/upstream.log" >&2
        exit 1
    fi
    if [ -n "$AUTH_PID" ] && ! kill -0 "$AUTH_PID" 2>/dev/null; then
        warn "the auth service exited; its log:"
        sed 's/^/    /' "$TMP/auth.log" >&2
        exit 1
    fi
}

# round_order ROUND: the targets in the order of that round (1-based): the
# list rotated left by ROUND - 1.
read -r -a TARGET_LIST <<<"$TARGETS"
round_order() {
    local n=${#TARGET_LIST[@]} i out=()
    for ((i = 0; i < n; i++)); do out+=("${TARGET_LIST[(i + $1 - 1) % n]}"); done
    echo "${out[*]}"
}

declare -A ORDER
for ((r = 1; r <= ROUNDS; r++)); do
    ORDER[$r]=$(round_order "$r")
    log "round $r of $ROUNDS: ${ORDER[$r]}"
    for t in ${ORDER[$r]}; do
        k=$t,$r
        # A target that could not start will not start in a later round either.
        if [ -n "${START_FAILED[$t]:-}" ]; then NOTE[$k]="not started"; continue; fi
        upstream_alive
        log "$t (round $r): starting"
        if ! start_target "$t"; then
            FAILED[$t]=1 START_FAILED[$t]=1 NOTE[$k]="failed to start"
            [ -n "$TARGET_PID" ] && stop_pid "$TARGET_PID"
            continue
        fi
        log "$t (round $r): pid $TARGET_PID, loading $TARGET_URL"
        run_wrk "$t" "$r" "$TARGET_URL" "$TARGET_PID" || NOTE[$k]="no figures"
        # A refused or failed request is cheaper than a proxied one: such a
        # run measures something else.
        [ -z "${NOTE[$k]:-}" ] && [ "${NON2XX[$k]:-0}" != 0 ] && NOTE[$k]="non-2xx/3xx responses"
        if kill -0 "$TARGET_PID" 2>/dev/null; then
            stop_target "$t" "$TARGET_PID" "round $r"
        else
            stop_pid "$TARGET_PID"
            rc=$?
            NOTE[$k]="died under load (exit status $rc)"
            warn "$t ${NOTE[$k]} in round $r; its log:"
            sed 's/^/    /' "$TMP/$t.log" >&2
            FAILED[$t]=1
        fi
    done
done

if [ "$IDLE_CONNS" -gt 0 ]; then
    for t in $TARGETS; do
        case " $IDLE_TARGETS " in *" $t "*) ;; *) continue ;; esac
        [ -n "${START_FAILED[$t]:-}" ] && continue
        upstream_alive
        log "$t: idle memory with $IDLE_CONNS keep-alive connections"
        conn_memory idle "$t"
    done
fi

if [ -n "$WS_RUN" ]; then
    start_ws_echo
    for t in $WS_RUN; do
        [ -n "${START_FAILED[$t]:-}" ] && { MEM_NOTE[ws,$t]="not started"; continue; }
        upstream_alive
        log "$t: memory with $WS_CONNS open WebSocket tunnels"
        conn_memory ws "$t"
    done
    stop_pid "$WS_ECHO_PID"
    WS_PORT=''
fi

case " $TARGETS " in *" proxyd "*) [ "$PERF" = 1 ] && [ -z "${START_FAILED[proxyd]:-}" ] && perf_profile ;; esac

# ---------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1 /proc/loadavg)

# to_us LATENCY: a wrk latency ("850.00us", "16.66ms", "1.02s", "2.00m") in
# microseconds; from_us US: back to wrk's style.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : (u == "h") ? 3.6e9 : -1
        if (v == "" || m < 0) exit 1
        printf "%.2f\n", n * m
    }'
}
from_us() {
    awk -v n="$1" 'BEGIN {
        if (n >= 1e6) printf "%.2fs\n", n / 1e6; else if (n >= 1e3) printf "%.2fms\n", n / 1e3; else printf "%.2fus\n", n
    }'
}

# stats NUMBER...: "median min max" (median of an even count: mean of the
# two middle values); nothing when given no numbers.
stats() {
    [ $# -gt 0 ] || return 0
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}

echo
echo "raw figures per round (wrk -t1 -c$CONNECTIONS -d${DURATION}s after a ${WARMUP}s warm-up, each target started fresh for its run):"
for ((r = 1; r <= ROUNDS; r++)); do
    echo
    echo "round $r: ${ORDER[$r]}"
    printf '%-12s %12s %10s %5s %10s %10s %10s  %s\n' target req/s "cpu us/req" cpu% p50 p99 non-2xx "socket errors"
    for t in ${ORDER[$r]}; do
        k=$t,$r
        if [ "${RPS[$k]:-0}" = 0 ]; then
            printf '%-12s %12s  [%s]\n' "$t" FAILED "${NOTE[$k]:-no figures}"
            continue
        fi
        checks=
        if [ -n "${CHECKS[$k]:-}" ] && [ -n "${REQS[$k]:-}" ]; then
            checks=$(awk -v c="${CHECKS[$k]}" -v n="${REQS[$k]}" \
                'BEGIN { printf "   auth checks: %d for %d requests (%.4f/request)", c, n, (n > 0 ? c / n : 0) }')
        fi
        printf '%-12s %12s %10s %5s %10s %10s %10s  %s%s%s\n' "$t" "${RPS[$k]}" "${CPU_US[$k]:--}" \
            "${CPU_PCT[$k]:--}" "${P50[$k]:--}" "${P99[$k]:--}" \
            "${NON2XX[$k]:-0}" "${SOCKERR[$k]:-none}" "$checks" "${NOTE[$k]:+   [${NOTE[$k]}]}"
    done
done

# Per target, over the rounds in which it ran to the end: MED_RPS, MIN_RPS,
# MAX_RPS, MED_CPU, MIN_CPU, MAX_CPU (CPU us per request), MED_P50, MED_P99,
# N_OK, and the non-2xx sum / rounds with socket errors over all rounds.
declare -A MED_RPS MIN_RPS MAX_RPS MED_CPU MIN_CPU MAX_CPU MED_P50 MED_P99 N_OK SUM_NON2XX ERR_ROUNDS
for t in $TARGETS; do
    rps=() cpu=() p50=() p99=() sum=0 errs=
    for ((r = 1; r <= ROUNDS; r++)); do
        k=$t,$r
        sum=$((sum + ${NON2XX[$k]:-0}))
        [ -n "${SOCKERR[$k]:-}" ] && errs+="${errs:+,}$r"
        if [ "${RPS[$k]:-0}" = 0 ] || [ -n "${NOTE[$k]:-}" ]; then continue; fi
        rps+=("${RPS[$k]}")
        [ -n "${CPU_US[$k]:-}" ] && cpu+=("${CPU_US[$k]}")
        us=$(to_us "${P50[$k]:-}") && p50+=("$us")
        us=$(to_us "${P99[$k]:-}") && p99+=("$us")
    done
    N_OK[$t]=${#rps[@]} SUM_NON2XX[$t]=$sum ERR_ROUNDS[$t]=$errs
    [ ${#rps[@]} -gt 0 ] || continue
    read -r med lo hi <<<"$(stats "${rps[@]}")"
    MED_RPS[$t]=$med MIN_RPS[$t]=$lo MAX_RPS[$t]=$hi
    if [ ${#cpu[@]} -gt 0 ]; then
        read -r med lo hi <<<"$(stats "${cpu[@]}")"
        MED_CPU[$t]=$med MIN_CPU[$t]=$lo MAX_CPU[$t]=$hi
    fi
    if [ ${#p50[@]} -gt 0 ]; then read -r m _ <<<"$(stats "${p50[@]}")"; MED_P50[$t]=$(from_us "$m"); fi
    if [ ${#p99[@]} -gt 0 ]; then read -r m _ <<<"$(stats "${p99[@]}")"; MED_P99[$t]=$(from_us "$m"); fi
done

echo
echo "proxyd benchmark: $ROUNDS $ROUND_WORD of wrk -t1 -c$CONNECTIONS -d${DURATION}s per target, targets interleaved; one worker per proxy (core $CPU_PROXY), upstream $UPSTREAM and wrk on core $CPU_LOAD"
printf '%-12s %12s %17s %10s %13s %10s %10s %7s %8s  %s\n' target "median req/s" "min-max req/s" "cpu us/req" \
    "min-max" "med. p99" "med. p50" rounds non-2xx "socket errors"
for t in $TARGETS; do
    if [ -z "${MED_RPS[$t]:-}" ]; then
        printf '%-12s %12s %17s %10s %13s %10s %10s %7s\n' "$t" FAILED - - - - - "0/$ROUNDS"
        continue
    fi
    cpu_range=-
    [ -n "${MED_CPU[$t]:-}" ] && cpu_range=$(printf '%.1f-%.1f' "${MIN_CPU[$t]}" "${MAX_CPU[$t]}")
    printf '%-12s %12.2f %17s %10s %13s %10s %10s %7s %8s  %s\n' "$t" "${MED_RPS[$t]}" \
        "$(printf '%.0f-%.0f' "${MIN_RPS[$t]}" "${MAX_RPS[$t]}")" "${MED_CPU[$t]:--}" "$cpu_range" \
        "${MED_P99[$t]:--}" "${MED_P50[$t]:--}" \
        "${N_OK[$t]}/$ROUNDS" "${SUM_NON2XX[$t]}" "${ERR_ROUNDS[$t]:+in round(s) ${ERR_ROUNDS[$t]}}${ERR_ROUNDS[$t]:-none}"
done
[ "$ROUNDS" -gt 1 ] || echo "(one round: no spread; ROUNDS=3 or more gives figures worth comparing)"
echo "(cpu us/req: the proxy process's user + system CPU time during the measured run over the requests wrk counted)"

# Auth checks per request of the auth targets, median over their rounds.
if [ "$NEED_AUTH" = 1 ]; then
    echo
    echo "auth checks per request during the measured runs (demo/auth's request counter):"
    for t in $TARGETS; do
        is_auth_target "$t" || continue
        per=()
        for ((r = 1; r <= ROUNDS; r++)); do
            k=$t,$r
            if [ -z "${CHECKS[$k]:-}" ] || ! [ "${REQS[$k]:-0}" -gt 0 ] 2>/dev/null; then continue; fi
            per+=("$(awk -v c="${CHECKS[$k]}" -v n="${REQS[$k]}" 'BEGIN { printf "%.6f\n", c / n }')")
        done
        if [ ${#per[@]} -eq 0 ]; then
            printf '%-12s %s\n' "$t" "-"
            continue
        fi
        read -r med lo hi <<<"$(stats "${per[@]}")"
        printf '%-12s %.4f (min %.4f, max %.4f, %d rounds)\n' "$t" "$med" "$lo" "$hi" "${#per[@]}"
    done
fi

# ratio A B [GOAL]: A's median req/s over B's; "ranges overlap" when their
# min-max intersect, i.e. the rounds do not separate the two; with GOAL,
# whether the ratio reaches it.
ratio() {
    awk -v a="${MED_RPS[$1]}" -v b="${MED_RPS[$2]}" -v n="$1/$2" -v goal="${3:-}" \
        -v alo="${MIN_RPS[$1]}" -v ahi="${MAX_RPS[$1]}" -v blo="${MIN_RPS[$2]}" -v bhi="${MAX_RPS[$2]}" \
        'BEGIN {
            r = a / b
            g = (goal == "") ? "" : sprintf("   target >= %.1fx: %s", goal, (sprintf("%.2f", r) + 0 >= goal + 0) ? "met" : "MISSED")
            printf "%-24s %.2fx (medians)%s%s\n", n, r, g, (alo <= bhi && blo <= ahi) ? "   ranges overlap" : ""
        }'
}

# proxyd's median over each other's (the auth targets have their own ratios).
if [ -n "${MED_RPS[$BASE]:-}" ]; then
    sep=$'\n'
    for t in $TARGETS; do
        [ "$t" = "$BASE" ] && continue
        is_auth_target "$t" && continue
        [ -n "${MED_RPS[$t]:-}" ] || continue
        printf '%s' "$sep"
        sep=
        ratio "$BASE" "$t"
    done
fi

# The forward-auth ratios.
sep=$'\n'
for pair in $AUTH_RATIOS; do
    a=${pair%%/*} b=${pair#*/}
    goal=${b#*:} b=${b%%:*}
    if [ -z "${MED_RPS[$a]:-}" ] || [ -z "${MED_RPS[$b]:-}" ]; then continue; fi
    printf '%s' "$sep"
    sep=
    ratio "$a" "$b" "$goal"
done

# cpu_ratio A B: A's median CPU us per request over B's (below 1: A costs
# less), with the ceiling CPU_GOALS sets for A/B if any; "ranges overlap" as
# for ratio.
cpu_ratio() {
    local pair goal='' word=''
    for pair in $CPU_GOALS; do
        [ "${pair%%:*}" = "$1/$2" ] || continue
        goal=${pair#*:} word=${pair##*:}
        goal=${goal%%:*}
    done
    awk -v a="${MED_CPU[$1]}" -v b="${MED_CPU[$2]}" -v n="$1/$2" -v goal="$goal" -v word="$word" \
        -v alo="${MIN_CPU[$1]}" -v ahi="${MAX_CPU[$1]}" -v blo="${MIN_CPU[$2]}" -v bhi="${MAX_CPU[$2]}" \
        'BEGIN {
            r = a / b
            g = (goal == "") ? "" : sprintf("   %s <= %.1fx: %s", word, goal, (sprintf("%.2f", r) + 0 <= goal + 0) ? "met" : "MISSED")
            printf "%-24s %.2fx (medians)%s%s\n", n, r, g, (alo <= bhi && blo <= ahi) ? "   ranges overlap" : ""
        }'
}

# CPU per request: proxyd's over each other's, and the forward-auth pairs.
cpu_pairs=()
if [ -n "${MED_CPU[$BASE]:-}" ]; then
    for t in $TARGETS; do
        [ "$t" = "$BASE" ] || is_auth_target "$t" || cpu_pairs+=("$BASE/$t")
    done
fi
for pair in $AUTH_RATIOS; do cpu_pairs+=("${pair%%:*}"); done
sep=$'\nCPU per request, A/B (below 1.00x: A costs less):\n'
for pair in "${cpu_pairs[@]}"; do
    a=${pair%%/*} b=${pair#*/}
    if [ -z "${MED_CPU[$a]:-}" ] || [ -z "${MED_CPU[$b]:-}" ]; then continue; fi
    printf '%s' "$sep"
    sep=
    cpu_ratio "$a" "$b"
done

# mem_report KIND TITLE UNIT: the conn_memory figures of KIND.
mem_report() {
    local kind=$1 t k any=''
    for t in $TARGETS; do [ -n "${MEM_NOTE[$kind,$t]:-}" ] && any=1; done
    [ -n "$any" ] || return 0
    echo
    echo "$2"
    for t in $TARGETS; do
        k=$kind,$t
        [ -n "${MEM_NOTE[$k]:-}" ] || continue
        if [ -n "${MEM_BYTES[$k]:-}" ]; then
            printf '%-12s %8s %s   (%s)\n' "$t" "${MEM_BYTES[$k]}" "$3" "${MEM_NOTE[$k]}"
        else
            printf '%-12s %8s   (%s)\n' "$t" FAILED "${MEM_NOTE[$k]}"
        fi
    done
    [ -n "${MEM_NOTE[$kind,nginx]:-}${MEM_NOTE[$kind,nginx-auth]:-}" ] &&
        echo "(nginx allocates its connection table for worker_connections=$MAXCONN at start: that part is in its 'before')"
}
mem_report idle "idle keep-alive memory, $IDLE_CONNS connections (VmRSS growth / connection):" bytes/conn
mem_report ws "WebSocket tunnel memory, $WS_CONNS open at once, each carried one message each way (VmRSS growth / tunnel):" \
    bytes/tunnel

# The 1-minute load average before the run: above ~0.5, other work was
# competing for the two cores and the figures are noisier than usual.
if awk -v a="$LOAD_START" 'BEGIN { exit !(a > 0.5) }'; then
    echo
    echo "note: the load average was $LOAD_START before the run ($LOAD_END after): other work was running, figures are noisy"
fi

if [ -s "$TMP/perf.top" ]; then
    echo
    cat "$TMP/perf.top"
fi

status=0
for t in $TARGETS; do
    if [ -n "${FAILED[$t]:-}" ]; then
        warn "$t failed (see its log above)"
        status=1
    fi
    [ -n "${SHUTDOWN[$t]:-}" ] && warn "$t on shutdown: ${SHUTDOWN[$t]}"
    if [ -n "${MEM_NOTE[ws,$t]:-}" ] && [ -z "${MEM_BYTES[ws,$t]:-}" ]; then
        warn "$t: no WebSocket tunnel figure: ${MEM_NOTE[ws,$t]}"
        status=1
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        k=$t,$r
        if [ "${NON2XX[$k]:-0}" != 0 ] || [ -n "${SOCKERR[$k]:-}" ]; then
            warn "$t, round $r: errors under load: non-2xx/3xx ${NON2XX[$k]:-0}, socket errors ${SOCKERR[$k]:-none}"
        fi
    done
done
exit $status

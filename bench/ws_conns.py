#!/usr/bin/python3
# bench/ws_conns.py HOST PORT PATH N [HOLD_SECONDS]: holds N WebSocket tunnels open through a proxy.
#
# Helper of bench/run.sh (Debian's python3-websockets), the WebSocket counterpart of
# idle_conns.pl: opens N connections to ws://HOST:PORT/PATH one after another, sends one
# message on each and waits for its echo (bench/ws_echo.py is the upstream), so every
# tunnel has carried data both ways, then keeps all of them open and silent.
#
# Prints "READY <opened> <failed>" on stdout once they are open (the first failures'
# reasons go to stderr; after 20 failures it stops trying), then waits (at most
# HOLD_SECONDS, default 120; 0: no wait) for SIGUSR1 or SIGTERM. Then it sends one more
# message on every tunnel, prints "ALIVE <count>" with the number that echoed it, and exits
# without closing handshakes.
import asyncio
import os
import signal
import sys

import websockets

MAX_FAILURES = 20
TIMEOUT = 10  # seconds for one handshake and its echo


def describe(exc):
    """The reason a tunnel failed, in the operator's words."""
    if isinstance(exc, websockets.exceptions.InvalidStatusCode):
        return "the proxy answered the handshake with HTTP %d instead of 101" % exc.status_code
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer within %d s" % TIMEOUT
    return "%s: %s" % (type(exc).__name__, exc)


async def open_one(uri, i):
    ws = await websockets.connect(uri, ping_interval=None, compression=None, open_timeout=TIMEOUT, max_queue=4)
    message = "hello %d" % i
    await ws.send(message)
    echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
    if echo != message:
        raise RuntimeError("echo %r for %r" % (echo, message))
    return ws


async def still_alive(ws, i):
    try:
        message = "alive %d" % i
        await ws.send(message)
        return await asyncio.wait_for(ws.recv(), TIMEOUT) == message
    except Exception:
        return False


async def main(host, port, path, n, hold):
    uri = "ws://%s:%s%s" % (host, port, path)
    tunnels, failed, reasons = [], 0, []
    for i in range(n):
        try:
            tunnels.append(await asyncio.wait_for(open_one(uri, i), TIMEOUT))
        except Exception as exc:
            failed += 1
            reason = describe(exc)
            if reason not in reasons:
                reasons.append(reason)
            if failed >= MAX_FAILURES:
                break
    if failed:
        print("ws_conns: %d of %d tunnel(s) failed: %s" % (failed, n, "; ".join(reasons)), file=sys.stderr, flush=True)
    print("READY %d %d" % (len(tunnels), failed), flush=True)

    if hold > 0:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        try:
            await asyncio.wait_for(done.wait(), hold)
        except asyncio.TimeoutError:
            pass
    alive = await asyncio.gather(*(still_alive(ws, i) for i, ws in enumerate(tunnels)))
    print("ALIVE %d" % sum(alive), flush=True)
    os._exit(0)  # the kernel closes the sockets: no closing handshake for each of N tunnels


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6) or not sys.argv[4].isdigit():
        sys.exit("usage: ws_conns.py HOST PORT PATH N [HOLD_SECONDS]")
    hold = float(sys.argv[5]) if len(sys.argv) == 6 else 120
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), hold))

#!/usr/bin/python3
# bench/chat_clients.py URL N [COOKIE]: N chat clients on one broadcast WebSocket.
#
# Helper of bench/chat_tunnels.sh (Debian's python3-websockets): opens N WebSockets
# to URL (ws://host:port/path), each sending COOKIE as its Cookie header when given,
# with every client reading all the time (a broadcast reaches all of them), and
# prints "READY <opened> <failed>" once they are open. On SIGUSR1 one client sends a
# message; it prints "DELIVERED <count>", the clients that received it within 10 s,
# and waits for the next SIGUSR1; SIGTERM ends it without closing handshakes.
import asyncio
import os
import signal
import sys

import websockets

TIMEOUT = 10


async def reader(ws, got, marker):
    try:
        async for message in ws:
            if marker[0] is not None and marker[0] in message:
                got.add(id(ws))
    except Exception:
        pass


async def main(url, n, cookie):
    headers = {"Cookie": cookie} if cookie else {}
    clients, failed, reason = [], 0, None
    got, marker = set(), [None]
    for _ in range(n):
        try:
            ws = await websockets.connect(url, extra_headers=headers, ping_interval=None, compression=None,
                                          open_timeout=TIMEOUT)
            clients.append(ws)
            asyncio.ensure_future(reader(ws, got, marker))
        except Exception as exc:
            failed += 1
            reason = reason or "%s: %s" % (type(exc).__name__, exc)
            if failed >= 20:
                break
    if reason:
        print("chat_clients: %d failed: %s" % (failed, reason), file=sys.stderr, flush=True)
    print("READY %d %d" % (len(clients), failed), flush=True)

    loop = asyncio.get_running_loop()
    probe, stop = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, probe.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    round_no = 0
    while not stop.is_set():
        waiter = asyncio.ensure_future(probe.wait())
        await asyncio.wait([waiter, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            break
        probe.clear()
        round_no += 1
        got.clear()
        marker[0] = "probe-%d-%d" % (os.getpid(), round_no)
        await clients[0].send(marker[0])
        for _ in range(TIMEOUT * 10):
            if len(got) == len(clients):
                break
            await asyncio.sleep(0.1)
        print("DELIVERED %d" % len(got), flush=True)
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or not sys.argv[2].isdigit():
        sys.exit("usage: chat_clients.py URL N [COOKIE]")
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else None))

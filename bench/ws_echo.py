#!/usr/bin/python3
# bench/ws_echo.py HOST PORT: the WebSocket echo upstream of bench/run.sh (Debian's python3-websockets).
#
# Every text or binary message is sent back unchanged, on any path. A plain GET (no
# Sec-WebSocket-Key) is answered 200 "ok", so that curl can check the server is up. A
# handshake that arrives without "Upgrade: websocket" / "Connection: upgrade" (a proxy
# that dropped them) is refused 400 with the reason, and the reason goes to stderr: the
# benchmark shows it when a proxy's tunnels fail. No keep-alive pings, no compression:
# an open tunnel stays silent unless the client speaks.
import asyncio
import http
import sys

import websockets


async def on_connection(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def check_request(path, headers):
    if "Sec-WebSocket-Key" not in headers:
        return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"ok\n"
    upgrade = headers.get("Upgrade", "")
    connection = [t.strip().lower() for t in headers.get("Connection", "").split(",")]
    if upgrade.lower() != "websocket" or "upgrade" not in connection:
        reason = "handshake for %s arrived with Upgrade: %r, Connection: %r (dropped by the proxy?)" % (
            path,
            upgrade,
            headers.get("Connection", ""),
        )
        print("ws_echo: " + reason, file=sys.stderr, flush=True)
        return http.HTTPStatus.BAD_REQUEST, [("Content-Type", "text/plain")], (reason + "\n").encode()
    return None


async def main(host, port):
    async with websockets.serve(
        on_connection,
        host,
        port,
        process_request=check_request,
        ping_interval=None,
        compression=None,
        backlog=4096,
    ):
        print("READY", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ws_echo.py HOST PORT")
    try:
        asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    except KeyboardInterrupt:
        pass

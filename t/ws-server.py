#!/usr/bin/python3
"""ws-server.py: a WebSocket service for the tests (Debian's python3-websockets): echo and
broadcast, and a JSON line on stdout for every handshake it sees and every connection it
opens and loses, so a test can tell what reached it through proxyd.

usage: ws-server.py PORT

  /echo...       every message (text or binary) comes back unchanged; the text message
                 "__close__" makes the server close the connection (code 4001, "server bye"),
                 "__drop__" makes it drop the TCP connection without a close frame
  /broadcast...  every message goes to every client connected under /broadcast
  /refuse...     the handshake is answered 403 text/plain "refused by the service"

Lines on stdout:
  {"event": "request", "path": ..., "headers": {lowercased name: value, ...}}   every handshake
  {"event": "open", "id": N, "path": ..., "open_now": connections open}
  {"event": "closed", "id": N, "code": close code (1006: no close frame), "open_now": ...}
"""
import asyncio
import http
import itertools
import json
import sys

import websockets

ids = itertools.count(1)
room = set()
open_now = 0


def log(**event):
    print(json.dumps(event), flush=True)


async def on_request(path, headers):
    seen = {}
    for name, value in headers.raw_items():
        name = name.lower()
        seen[name] = seen[name] + ', ' + value if name in seen else value
    log(event='request', path=path, headers=seen)
    if path.startswith('/refuse'):
        return http.HTTPStatus.FORBIDDEN, [('Content-Type', 'text/plain')], b'refused by the service\n'
    return None


async def echo(ws):
    async for message in ws:
        if message == '__close__':
            await ws.close(4001, 'server bye')
            return
        if message == '__drop__':
            ws.transport.abort()
            return
        await ws.send(message)


async def broadcast(ws):
    room.add(ws)
    try:
        async for message in ws:
            websockets.broadcast(room, message)
    finally:
        room.discard(ws)


async def on_connection(ws):
    global open_now
    conn_id = next(ids)
    open_now += 1
    log(event='open', id=conn_id, path=ws.path, open_now=open_now)
    try:
        await (broadcast if ws.path.startswith('/broadcast') else echo)(ws)
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()  # the TCP connection is gone
        open_now -= 1
        log(event='closed', id=conn_id, code=ws.close_code, reason=ws.close_reason, open_now=open_now)


async def main():
    port = int(sys.argv[1])
    async with websockets.serve(on_connection, '127.0.0.1', port, process_request=on_request, ping_interval=None,
                                max_size=None, backlog=2048):
        await asyncio.Future()


asyncio.run(main())

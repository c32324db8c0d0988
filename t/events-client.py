#!/usr/bin/python3
"""events-client.py: clients of the admin listener's GET /events for the tests (Debian's
python3-websockets), driven one command at a time: a JSON object per line on stdin, one
JSON answer per line on stdout. Connections are named; it exits at the end of stdin.

  {"op": "open", "name": "a", "url": "ws://...", "subprotocols": [...], "headers": [[k, v]]}
      -> {"ok": true, "subprotocol": ..., "headers": {response headers, lower case}}
         or {"ok": false, "status": refused handshake's status or null, "headers": {...}, "error": ...}
  {"op": "send", "name": "a", "text": "..."}  or  {"op": "send", "name": "a", "binary": "hex"}
  {"op": "next", "name": "a", "type": "snapshot", "timeout": S}
      -> {"message": the next message of that type (others are skipped), "skipped": [types]}
         or {"timeout": true, "skipped": [...]} or {"closed": true, "code": ..., "reason": ..., "skipped": [...]}
  {"op": "flush", "name": "a"}
      drops the messages that arrived and were not read yet -> {"dropped": N}
  {"op": "received", "name": "a"}
      -> {"texts": [every text message this connection got, as sent]}
  {"op": "wait_closed", "name": "a", "timeout": S}
      -> {"closed": true, "code": ..., "reason": ..., "seconds": ...} or {"closed": false}
  {"op": "many", "prefix": "m", "url": "ws://...", "n": N, "subprotocols": [...]}
      opens N connections at once, named prefix0..prefixN-1, each waiting for its hello
      -> {"opened": ..., "refused": {status: count}}
  {"op": "stall", "name": "s", "port": P, "subprotocols": [...], "rcvbuf": BYTES}
      a raw socket with a small receive buffer that sends the handshake and then reads nothing
      -> {"status": the handshake's status line}
  {"op": "ping_flood", "name": "s", "seconds": S}
      sends masked pings on the stalled socket as fast as it can for S seconds, reading nothing
      -> {"ended": "closed" (the server closed or reset it) or "time", "bytes": sent, "seconds": ...}
  {"op": "drain", "name": "s", "timeout": S}
      reads what the stalled socket was sent until the server closes it
      -> {"eof": true, "bytes": ..., "seconds": ...} or {"eof": false, "bytes": ...}
"""
import asyncio
import base64
import collections
import json
import os
import socket
import time

import websockets

import command_loop

conns = {}
texts = collections.defaultdict(list)
raw = {}


def lower_headers(headers):
    return {k.lower(): v for k, v in headers.raw_items()} if headers is not None else {}


async def op_open(cmd):
    try:
        ws = await websockets.connect(cmd['url'], subprotocols=cmd.get('subprotocols'),
                                      extra_headers=cmd.get('headers', []), ping_interval=None, max_size=None,
                                      max_queue=None, compression=None, open_timeout=cmd.get('timeout', 10))
    except websockets.InvalidStatusCode as e:
        return {'ok': False, 'status': e.status_code, 'headers': lower_headers(getattr(e, 'headers', None)),
                'error': str(e)}
    except Exception as e:
        return {'ok': False, 'status': None, 'headers': {}, 'error': '%s: %s' % (type(e).__name__, e)}
    conns[cmd['name']] = ws
    return {'ok': True, 'subprotocol': ws.subprotocol, 'headers': lower_headers(ws.response_headers)}


async def op_send(cmd):
    message = bytes.fromhex(cmd['binary']) if 'binary' in cmd else cmd['text']
    try:
        await conns[cmd['name']].send(message)
    except websockets.ConnectionClosed as e:
        return {'ok': False, 'error': str(e)}
    return {'ok': True}


async def op_next(cmd, started):
    ws = conns[cmd['name']]
    deadline = started + cmd.get('timeout', 5)
    skipped = []
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.time()))
        except asyncio.TimeoutError:
            return {'timeout': True, 'skipped': skipped}
        except websockets.ConnectionClosed:
            await ws.wait_closed()
            return dict(command_loop.closed_json(ws, started), skipped=skipped)
        if isinstance(message, bytes):
            skipped.append('binary')
            continue
        texts[cmd['name']].append(message)
        decoded = json.loads(message)
        if decoded.get('type') == cmd['type']:
            return {'message': decoded, 'skipped': skipped}
        skipped.append(decoded.get('type'))


async def op_flush(cmd):
    ws = conns[cmd['name']]
    dropped = 0
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), 0.05)
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            return {'dropped': dropped}
        if isinstance(message, str):
            texts[cmd['name']].append(message)
        dropped += 1


async def op_wait_closed(cmd, started):
    return await command_loop.wait_closed(conns[cmd['name']], started, cmd.get('timeout', 5))


async def op_many(cmd):
    refused = collections.Counter()

    async def open_one(i):
        answer = await op_open(dict(cmd, name='%s%d' % (cmd['prefix'], i)))
        if answer['ok']:
            return 1
        refused[str(answer['status'])] += 1
        return 0

    opened = sum(await asyncio.gather(*(open_one(i) for i in range(cmd['n']))))
    return {'opened': opened, 'refused': dict(refused)}


def op_stall(cmd):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cmd.get('rcvbuf', 4096))
    sock.connect(('127.0.0.1', cmd['port']))
    key = base64.b64encode(os.urandom(16)).decode()
    protocols = ''.join('Sec-WebSocket-Protocol: %s\r\n' % p for p in cmd.get('subprotocols', []))
    sock.sendall(('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                  'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n' % (key, protocols)).encode())
    head = b''
    while b'\r\n' not in head:
        chunk = sock.recv(1)  # one byte at a time: nothing past the status line is taken
        if not chunk:
            break
        head += chunk
    raw[cmd['name']] = sock
    return {'status': head.decode(errors='replace').strip()}


def op_ping_flood(cmd, started):
    sock = raw[cmd['name']]
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b'p' * 125))
    frames = (bytes([0x89, 0x80 | 125]) + mask + payload) * 256
    sock.settimeout(0.5)
    total = 0
    while time.time() < started + cmd['seconds']:
        try:
            total += sock.send(frames)
        except socket.timeout:
            continue
        except OSError:  # EPIPE or ECONNRESET: the server closed it
            return {'ended': 'closed', 'bytes': total, 'seconds': round(time.time() - started, 3)}
    return {'ended': 'time', 'bytes': total}


def op_drain(cmd, started):
    sock = raw[cmd['name']]
    sock.settimeout(0.5)
    total = 0
    while time.time() < started + cmd.get('timeout', 30):
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            chunk = b''
        if not chunk:
            return {'eof': True, 'bytes': total, 'seconds': round(time.time() - started, 3)}
        total += len(chunk)
    return {'eof': False, 'bytes': total}


async def run(cmd, started):
    op = cmd['op']
    if op == 'open':
        return await op_open(cmd)
    if op == 'send':
        return await op_send(cmd)
    if op == 'next':
        return await op_next(cmd, started)
    if op == 'flush':
        return await op_flush(cmd)
    if op == 'received':
        return {'texts': texts[cmd['name']]}
    if op == 'wait_closed':
        return await op_wait_closed(cmd, started)
    if op == 'many':
        return await op_many(cmd)
    if op == 'stall':
        return op_stall(cmd)
    if op == 'ping_flood':
        return op_ping_flood(cmd, started)
    if op == 'drain':
        return op_drain(cmd, started)
    return {'error': 'unknown op %s' % op}


def close_all():
    """Connections end without closing handshakes: the test is over."""
    for ws in conns.values():
        ws.transport.abort()
    for sock in raw.values():
        sock.close()


asyncio.run(command_loop.serve(run, close_all))

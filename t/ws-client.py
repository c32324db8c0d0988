#!/usr/bin/python3
"""ws-client.py: WebSocket clients for the tests (Debian's python3-websockets), driven one
command at a time: a JSON object per line on stdin, one JSON answer per line on stdout.
Connections are named, so one driver holds several. It exits at the end of stdin.

  {"op": "open", "name": "a", "url": "ws://...", "origin": "http://...", "headers": [[k, v]]}
      -> {"ok": true} or {"ok": false, "status": refused handshake's status or null, "error": ...}
  {"op": "send", "name": "a", "text": "..."}
  {"op": "send", "name": "a", "random": BYTES}        a binary message of random bytes
      -> {"ok": true, "length": ..., "sha256": ...}
  {"op": "recv", "name": "a", "timeout": S}
      -> {"text": ...} or {"binary": true, "length": ..., "sha256": ...}
         or {"closed": true, "code": ..., "reason": ..., "seconds": ...} or {"timeout": true}
  {"op": "close", "name": "a", "code": 1000}
      -> {"closed": true, "code": the code the other side answered, "seconds": until the TCP connection was gone}
  {"op": "wait_closed", "name": "a", "timeout": S}
      -> {"closed": true, "code": ..., "seconds": ...} or {"closed": false}
  {"op": "chatter", "name": "a", "every": S, "for": S}
      sends a text message every S seconds for S seconds, each must come back
      -> {"sent": ..., "echoed": ...}
  {"op": "many", "url": "ws://...", "n": N, "hold": S}
      opens N connections at once, keeps all open, then each sends a message of its own and
      must get exactly it back; holds them S seconds more, closes them all
      -> {"opened": ..., "echoed": ..., "errors": {error: count}}

"seconds" count from the command. Clients do not ping and take messages of any size.
"""
import asyncio
import collections
import hashlib
import os
import time

import websockets

import command_loop

conns = {}


def connect(cmd):
    return websockets.connect(cmd['url'], origin=cmd.get('origin'), extra_headers=cmd.get('headers', []),
                              ping_interval=None, max_size=None, compression=None, open_timeout=cmd.get('timeout', 10),
                              close_timeout=cmd.get('close_timeout', 10))


def message_json(message):
    if isinstance(message, bytes):
        return {'binary': True, 'length': len(message), 'sha256': hashlib.sha256(message).hexdigest()}
    return {'text': message}


async def op_open(cmd):
    try:
        conns[cmd['name']] = await connect(cmd)
        return {'ok': True}
    except websockets.InvalidStatusCode as e:
        return {'ok': False, 'status': e.status_code, 'error': str(e)}
    except Exception as e:
        return {'ok': False, 'status': None, 'error': '%s: %s' % (type(e).__name__, e)}


async def op_send(cmd):
    message = os.urandom(cmd['random']) if 'random' in cmd else cmd['text']
    try:
        await conns[cmd['name']].send(message)
    except websockets.ConnectionClosed as e:
        return {'ok': False, 'error': str(e)}
    answer = {'ok': True}
    if isinstance(message, bytes):
        answer.update(length=len(message), sha256=hashlib.sha256(message).hexdigest())
    return answer


async def op_recv(cmd, started):
    ws = conns[cmd['name']]
    try:
        return message_json(await asyncio.wait_for(ws.recv(), cmd.get('timeout', 5)))
    except asyncio.TimeoutError:
        return {'timeout': True}
    except websockets.ConnectionClosed:
        await ws.wait_closed()
        return command_loop.closed_json(ws, started)


async def op_close(cmd, started):
    ws = conns[cmd['name']]
    await ws.close(cmd.get('code', 1000), cmd.get('reason', ''))
    return command_loop.closed_json(ws, started)


async def op_wait_closed(cmd, started):
    return await command_loop.wait_closed(conns[cmd['name']], started, cmd.get('timeout', 5))


async def op_chatter(cmd):
    ws = conns[cmd['name']]
    sent = echoed = 0
    deadline = time.time() + cmd['for']
    while time.time() < deadline:
        sent += 1
        try:
            await ws.send('chatter %d' % sent)
            if await asyncio.wait_for(ws.recv(), 5) == 'chatter %d' % sent:
                echoed += 1
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            break
        await asyncio.sleep(cmd['every'])
    return {'sent': sent, 'echoed': echoed}


async def op_many(cmd):
    errors = collections.Counter()
    handshakes = asyncio.Semaphore(cmd.get('parallel', 200))

    async def open_one():
        async with handshakes:
            try:
                return await connect(cmd)
            except Exception as e:
                errors['open: %s' % type(e).__name__] += 1
                return None

    async def echo_one(ws, i):
        try:
            await ws.send('tunnel %d' % i)
            answer = await asyncio.wait_for(ws.recv(), 30)
            if answer == 'tunnel %d' % i:
                return 1
            errors['wrong answer'] += 1
        except Exception as e:
            errors['echo: %s' % type(e).__name__] += 1
        return 0

    socks = await asyncio.gather(*(open_one() for _ in range(cmd['n'])))
    socks = [ws for ws in socks if ws is not None]
    echoed = sum(await asyncio.gather(*(echo_one(ws, i) for i, ws in enumerate(socks))))
    await asyncio.sleep(cmd.get('hold', 0))
    await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)
    return {'opened': len(socks), 'echoed': echoed, 'errors': dict(errors)}


async def run(cmd, started):
    op = cmd['op']
    if op == 'open':
        return await op_open(cmd)
    if op == 'send':
        return await op_send(cmd)
    if op == 'recv':
        return await op_recv(cmd, started)
    if op == 'close':
        return await op_close(cmd, started)
    if op == 'wait_closed':
        return await op_wait_closed(cmd, started)
    if op == 'chatter':
        return await op_chatter(cmd)
    if op == 'many':
        return await op_many(cmd)
    return {'error': 'unknown op %s' % op}


def close_all():
    """Connections end without closing handshakes: the test is over."""
    for ws in conns.values():
        ws.transport.abort()


asyncio.run(command_loop.serve(run, close_all))

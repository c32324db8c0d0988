"""command_loop.py: what the WebSocket test clients (t/ws-client.py,
t/events-client.py) share: the loop (one JSON command per line on stdin, one JSON answer
per line on stdout, so a .t file drives a client step by step) and how a
connection's end is reported."""
import asyncio
import json
import sys
import time


async def serve(run, close_all):
    """Answers each command with `await run(cmd, started)` until stdin ends, then
    calls close_all(). A KeyError names a connection that was never opened."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        started = time.time()
        try:
            answer = await run(cmd, started)
        except KeyError as e:
            answer = {'error': 'no connection %s' % e}
        print(json.dumps(answer), flush=True)
    close_all()


def closed_json(ws, started):
    """How a WebSocket ended, as the clients answer it."""
    return {'closed': True, 'code': ws.close_code, 'reason': ws.close_reason, 'seconds': round(time.time() - started, 3)}


async def wait_closed(ws, started, timeout):
    """Waits for `ws` to end: its closed_json, or {'closed': False} after `timeout` seconds."""
    try:
        await asyncio.wait_for(ws.wait_closed(), timeout)
    except asyncio.TimeoutError:
        return {'closed': False}
    return closed_json(ws, started)

"""command_loop.py: the loop the WebSocket test clients (t/ws-client.py,
t/events-client.py) share: one JSON command per line on stdin, one JSON answer
per line on stdout, so a .t file drives a client step by step."""
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

#!/usr/bin/python3
"""live-client.py: WebSocket clients (Debian's python3-websockets) for the tests of the demo chat and noise
services. Runs one scenario and prints one JSON line with what each client saw; the test file judges it.

  chat URL URL...
      one client per URL (all on one chat service); once all are open, each sends "hello from client I"
      -> {"received": [[messages of client 0], ...]}: every client should hold every message
  noise --producer URL --watcher URL [--watcher URL...] --seconds S --rate R
      the watchers connect, then the producer sends S*R readings {"seq", "level", "source"} at R a second
      -> {"sent": N, "seconds": ..., "watchers": [{"count", "lost", "duplicates", "in_order", "same_levels",
          "one_producer", "max_delay_ms"}]}
  reject URL [--first TEXT] (--text-bytes N | --binary-bytes N | --send TEXT) [--repeat N]
      sends TEXT first (if given), then the bad message (N times, %d in it counting 1, 2, ...), and waits for the
      server to close
      -> {"closed": true, "code": ..., "reason": ..., "replies": [...]} or {"closed": false, "replies": [...]}
  stall URL --messages N --bytes B [--pace-ms MS]
      a client that stops reading (4 KiB receive buffer) and two that read; one of them sends N messages of B bytes,
      one every MS milliseconds (5)
      -> {"reader": messages the reader got, "sender": the sender's own, "stalled": {"received", "closed", "code"}}
  silent URL --seconds S
      a client that stops reading and answering pings, and one that reads; after S seconds
      -> {"silent": {"closed": ...}, "live": {"closed": ...}}

Options before the scenario apply to every connection it opens:
  --header 'NAME: VALUE'   a field sent with every handshake (repeatable): a session cookie, an Origin
  --connect-host ADDR      connect to ADDR (the URL's port), the URL's host still in Host: a proxy's host route

An error (a refused handshake, a connection that failed) is {"error": ...}, with "status" for a refused handshake.
Clients send no pings of their own; the services' pings are answered by the library while a client reads.
"""
import argparse
import asyncio
import json
import socket
import sys
import time
import urllib.parse

import websockets


HANDSHAKE = argparse.Namespace(header=[], connect_host=None)  # the global options, set by main()


def connect(url, **kwargs):
    if HANDSHAKE.connect_host is not None and 'sock' not in kwargs:
        kwargs['host'] = HANDSHAKE.connect_host  # the TCP connection's; Host still comes from the URL
    headers = [tuple(part.strip() for part in field.split(':', 1)) for field in HANDSHAKE.header]
    return websockets.connect(url, ping_interval=None, compression=None, open_timeout=10, close_timeout=5,
                              extra_headers=headers, **kwargs)


async def collect(ws, want, timeout):
    """Messages until `want` arrived, the connection closed or `timeout` seconds passed."""
    got = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want:
            got.append(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    return got


async def chat(args):
    clients = [await connect(url) for url in args.urls]
    for i, ws in enumerate(clients):
        await ws.send('hello from client %d' % i)
    received = await asyncio.gather(*(collect(ws, len(clients), 10) for ws in clients))
    for ws in clients:
        await ws.close()
    return {'received': received}


def judge_watcher(readings, sent):
    """What one watcher got, against what the producer sent (seq -> level)."""
    ns = [r.get('n') for r in readings]
    seqs = [r.get('seq') for r in readings]
    return {
        'count': len(readings),
        'lost': len(set(sent) - set(seqs)),
        'duplicates': len(seqs) - len(set(seqs)),
        'in_order': seqs == sorted(seqs) and all(b == a + 1 for a, b in zip(ns, ns[1:])),
        'same_levels': all(sent.get(r.get('seq')) == r.get('level') for r in readings),
        'one_producer': len({r.get('producer') for r in readings}) == 1,
        'max_delay_ms': round(max((r['_delay'] for r in readings), default=0) * 1000),
    }


async def noise(args):
    total = int(args.seconds * args.rate)
    sent_at = {}
    watchers = [await connect(url) for url in args.watcher]

    async def watch(ws):
        readings = []
        deadline = time.monotonic() + args.seconds + 15
        try:
            while len(readings) < total:
                reading = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
                reading['_delay'] = time.monotonic() - sent_at.get(reading.get('seq'), time.monotonic())
                readings.append(reading)
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            pass
        return readings

    watching = [asyncio.create_task(watch(ws)) for ws in watchers]
    producer = await connect(args.producer)
    levels = {}
    started = time.monotonic()
    for seq in range(1, total + 1):
        # on a fixed schedule, so that late sends do not add up
        await asyncio.sleep(max(0, started + (seq - 1) / args.rate - time.monotonic()))
        levels[seq] = round(0.5 + 0.4 * ((seq * 7919) % 1000 - 500) / 500, 4)
        sent_at[seq] = time.monotonic()
        await producer.send(json.dumps({'seq': seq, 'level': levels[seq], 'source': 'generated'}))
    seconds = time.monotonic() - started
    results = await asyncio.gather(*watching)
    await producer.close()
    for ws in watchers:
        await ws.close()
    return {'sent': total, 'seconds': round(seconds, 2), 'watchers': [judge_watcher(r, levels) for r in results]}


async def reject(args):
    ws = await connect(args.url, max_size=None)
    replies = []
    if args.first is not None:
        await ws.send(args.first)
    if args.text_bytes is not None:
        bad = 'x' * args.text_bytes
    elif args.binary_bytes is not None:
        bad = bytes(args.binary_bytes)
    else:
        bad = args.send
    try:
        for i in range(1, args.repeat + 1):
            await ws.send(bad.replace('%d', str(i)) if isinstance(bad, str) else bad)
        while True:
            message = await asyncio.wait_for(ws.recv(), 10)
            replies.append(message if isinstance(message, str) else '<%d bytes>' % len(message))
    except websockets.ConnectionClosed:
        await ws.wait_closed()
        return {'closed': True, 'code': ws.close_code, 'reason': ws.close_reason, 'replies': replies}
    except asyncio.TimeoutError:
        return {'closed': False, 'replies': replies}


async def stalled_client(url):
    """A client whose receive buffer is small and which reads nothing once its handshake is done."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((HANDSHAKE.connect_host or parts.hostname, parts.port))
    ws = await connect(url, sock=sock, max_size=None)
    ws.transport.pause_reading()
    return ws


async def stall(args):
    stalled = await stalled_client(args.url)
    reader = await connect(args.url)
    sender = await connect(args.url)
    reading = asyncio.create_task(collect(reader, args.messages, 60))
    echoes = asyncio.create_task(collect(sender, args.messages, 60))
    for i in range(args.messages):
        await sender.send('%06d ' % i + 'x' * (args.bytes - 7))
        await asyncio.sleep(args.pace_ms / 1000)  # fast, but not beyond what libh2o 2.2.5 writes (see ws_hub.h)
    got, echoed = await reading, await echoes
    stalled.transport.resume_reading()
    leftover = await collect(stalled, args.messages, 10)
    closed = stalled.closed
    code = stalled.close_code
    for ws in (reader, sender):
        await ws.close()
    return {'reader': len(got), 'sender': len(echoed), 'stalled': {'received': len(leftover), 'closed': closed, 'code': code}}


async def silent(args):
    quiet = await stalled_client(args.url)
    live = await connect(args.url)
    listening = asyncio.create_task(collect(live, 1, args.seconds))
    await asyncio.sleep(args.seconds)
    await listening
    quiet.transport.resume_reading()
    await collect(quiet, 1000, 5)
    answer = {'silent': {'closed': quiet.closed, 'code': quiet.close_code}, 'live': {'closed': live.closed}}
    await live.close()
    return answer


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--header', action='append', default=[])
    parser.add_argument('--connect-host')
    sub = parser.add_subparsers(dest='scenario', required=True)
    sub.add_parser('chat').add_argument('urls', nargs='+')
    p = sub.add_parser('noise')
    p.add_argument('--producer', required=True)
    p.add_argument('--watcher', action='append', required=True)
    p.add_argument('--seconds', type=float, default=30)
    p.add_argument('--rate', type=float, default=10)
    p = sub.add_parser('reject')
    p.add_argument('url')
    p.add_argument('--first')
    p.add_argument('--repeat', type=int, default=1)
    bad = p.add_mutually_exclusive_group(required=True)
    bad.add_argument('--text-bytes', type=int)
    bad.add_argument('--binary-bytes', type=int)
    bad.add_argument('--send')
    p = sub.add_parser('stall')
    p.add_argument('url')
    p.add_argument('--messages', type=int, default=2000)
    p.add_argument('--bytes', type=int, default=4000)
    p.add_argument('--pace-ms', type=float, default=5)
    p = sub.add_parser('silent')
    p.add_argument('url')
    p.add_argument('--seconds', type=float, default=2)
    return parser.parse_args()


def main():
    args = parse_args()
    HANDSHAKE.header, HANDSHAKE.connect_host = args.header, args.connect_host
    scenario = {'chat': chat, 'noise': noise, 'reject': reject, 'stall': stall, 'silent': silent}[args.scenario]
    try:
        answer = asyncio.run(scenario(args))
    except websockets.InvalidStatusCode as e:  # a refused handshake: the test checks the status
        answer = {'error': '%s: %s' % (type(e).__name__, e), 'status': e.status_code}
    except Exception as e:  # a connection that failed: the test shows it
        answer = {'error': '%s: %s' % (type(e).__name__, e)}
    print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""auth-recorder.py: an auth service that records every check and can set cookies of
its own. Each check gets a new number N and is answered STATUS with COUNT fields
"Set-Cookie: sN-I=<value>; Path=/" (I from 1, the value N padded to BYTES with 'x')
and "X-Other: N". Each check is printed as one JSON line {"n": N, "path": ...,
"headers": {lowercased name: [values]}}, so a test sees what reached it.

usage: auth-recorder.py PORT [--status 200] [--count 0] [--bytes 8] [--delay SECONDS]
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
checks = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # proxyd keeps its connections to the auth service alive

    def do_GET(self):
        global checks
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        with lock:  # one line at a time: print() from two threads could interleave them
            checks += 1
            n = checks
            print(json.dumps({'n': n, 'path': self.path, 'headers': headers}), flush=True)
        time.sleep(args.delay)
        body = b'{"check":%d}' % n
        self.send_response(args.status)
        for i in range(1, args.count + 1):
            self.send_header('Set-Cookie', 's%d-%d=%s; Path=/' % (n, i, str(n).rjust(args.bytes, 'x')))
        self.send_header('X-Other', str(n))
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


parser = argparse.ArgumentParser()
parser.add_argument('port', type=int)
parser.add_argument('--status', type=int, default=200)
parser.add_argument('--count', type=int, default=0)
parser.add_argument('--bytes', type=int, default=8)
parser.add_argument('--delay', type=float, default=0)
args = parser.parse_args()
server = ThreadingHTTPServer(('127.0.0.1', args.port), Handler)
server.daemon_threads = True
print('listening', flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)

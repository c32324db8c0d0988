#!/usr/bin/python3
"""stream-server.py: an HTTP/1.1 upstream that streams, for the back-pressure and timeout
tests: large bodies made on the fly and slow event streams, written with plain blocking
sockets, so a write blocks while proxyd does not read and fails once proxyd closed.

usage: stream-server.py PORT

  GET /big?size=BYTES            Content-Length BYTES of a repeating pattern, in 64 KiB writes
  GET /sse?gap=MS&events=N       text/event-stream, chunked: "data: event I" N times, MS apart,
                                 then the last chunk
  anything else                  200 text/plain "ok\n"

One JSON line on stdout per response once it ended:
  {"event": "big" or "sse", "path": ..., "sent": body bytes written, "result": "done" or "error: ..."}
"""
import json
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

BLOCK = bytes(range(256)) * 256  # 64 KiB
log_lock = threading.Lock()


def log(**event):
    with log_lock:  # one whole line at a time: connections end on several threads at once
        sys.stdout.write(json.dumps(event) + '\n')
        sys.stdout.flush()


class Handler(socketserver.BaseRequestHandler):
    def read_head(self):
        data = b''
        while b'\r\n\r\n' not in data:
            more = self.request.recv(65536)
            if not more:
                return None
            data += more
        return data.split(b'\r\n', 1)[0].decode('latin-1')

    def handle(self):
        while True:
            line = self.read_head()
            if line is None:
                return
            target = line.split(' ')[1]
            url = urllib.parse.urlsplit(target)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path.endswith('/big'):
                self.big(target, int(query['size']))
            elif url.path.endswith('/sse'):
                self.sse(target, int(query.get('gap', 1000)), int(query.get('events', 2)))
            else:
                self.request.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n')

    def big(self, target, size):
        sent = 0
        try:
            self.request.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n' % size)
            while sent < size:
                n = min(len(BLOCK), size - sent)
                self.request.sendall(BLOCK[:n])
                sent += n
        except OSError as e:
            log(event='big', path=target, sent=sent, result='error: %s' % e)
            raise
        log(event='big', path=target, sent=sent, result='done')

    def sse(self, target, gap_ms, events):
        sent = 0
        try:
            self.request.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n')
            for i in range(1, events + 1):
                if i > 1:
                    time.sleep(gap_ms / 1000)
                event = b'data: event %d\n\n' % i
                self.request.sendall(b'%x\r\n%s\r\n' % (len(event), event))
                sent += len(event)
            self.request.sendall(b'0\r\n\r\n')
        except OSError as e:
            log(event='sse', path=target, sent=sent, result='error: %s' % e)
            raise
        log(event='sse', path=target, sent=sent, result='done')


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # a closed connection is logged above


Server(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()

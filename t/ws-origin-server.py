#!/usr/bin/python3
"""ws-origin-server.py: a Tornado WebSocket echo service (Debian's python3-tornado) with
Tornado's default check_origin, which accepts a handshake only when the Origin's host is the
Host header it got: behind a proxy that rewrites Host, browsers' handshakes are refused (403).

usage: ws-origin-server.py PORT
Lines on stdout: {"event": "request", "host": ..., "origin": ...} for every handshake,
{"event": "open"} for every accepted one.
"""
import json
import sys

import tornado.ioloop
import tornado.web
import tornado.websocket


def log(**event):
    print(json.dumps(event), flush=True)


class Echo(tornado.websocket.WebSocketHandler):
    def prepare(self):
        log(event='request', host=self.request.headers.get('Host'), origin=self.request.headers.get('Origin'))

    def open(self):
        log(event='open')

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


def main():
    app = tornado.web.Application([(r'/.*', Echo)])
    app.listen(int(sys.argv[1]), address='127.0.0.1')
    tornado.ioloop.IOLoop.current().start()


main()

#!/usr/bin/python3
# tls-server.py: an HTTPS upstream for the tests: answers every request with a
# small JSON body naming the path and the SNI the client sent; logs one line per
# connection. usage: tls-server.py PORT CERT KEY
import http.server, json, ssl, sys

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seen = {}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        body = json.dumps({'path': self.path, 'sni': seen.get(id(self.connection)), 'host': self.headers.get('Host')}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass

def on_sni(sock, name, context):
    seen[id(sock)] = name

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.sni_callback = on_sni
# threads: proxyd keeps a connection per origin in its pool, and a server that serves
# one connection at a time would leave the next one waiting for that idle one to close
server = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
print('listening', flush=True)
server.serve_forever()

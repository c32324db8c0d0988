#!/usr/bin/python3
"""h2request.py: one raw HTTP/2 request (cleartext, prior knowledge) with headers no
well-behaved client would send: many copies, spaces, control characters. Prints
{"status": ..., "headers": {...}, "body": ...} or {"error": ...} as JSON.

usage: h2request.py PORT SPEC.json   where SPEC is
  {"method": "GET", "path": "/x", "authority": "a",
   "headers": [["name", "value"], ...], "repeat": [["x-user", "admin", 80000]]}
or, for an HTTP/1 request upgraded to h2c (answered on stream 1),
  {"upgrade": "POST /x HTTP/1.1\r\n...HTTP2-Settings: SETTINGS\r\n...\r\n\r\nbody"}
or, for clients that leave: one stream per path, each reset (RST_STREAM CANCEL)
once a line arrives on stdin ("reset": "stdin") or at once ("reset": "now"),
  {"paths": ["/a", "/b"], "reset": "stdin", ...}
which prints {"reset": N, "answered": [statuses that came before the reset]} once
proxyd acknowledged a PING sent after the resets (so it has read them).
"""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def read_events(conn, sock, on_event):
    """Feeds what proxyd sends to on_event until it returns True or the connection ends."""
    while True:
        data = sock.recv(65536)
        if not data:
            return False
        for event in conn.receive_data(data):
            if on_event(event):
                sock.sendall(conn.data_to_send())
                return True
        sock.sendall(conn.data_to_send())


def leave(spec, port):
    config = h2.config.H2Configuration(client_side=True)
    conn = h2.connection.H2Connection(config=config)
    sock = socket.create_connection(('127.0.0.1', port), timeout=spec.get('timeout', 10))
    conn.initiate_connection()
    body = spec.get('body', '').encode()
    streams = []
    for path in spec['paths']:
        sid = conn.get_next_available_stream_id()
        headers = [(':method', spec.get('method', 'GET')), (':path', path), (':scheme', 'http'),
                   (':authority', spec.get('authority', '127.0.0.1'))] + [tuple(h) for h in spec.get('headers', [])]
        conn.send_headers(sid, headers, end_stream=not body)
        if body:
            conn.send_data(sid, body, end_stream=True)
        streams.append(sid)
    answered = []
    if spec['reset'] == 'now':  # requests and resets in one write: proxyd reads the resets before it can answer
        for sid in streams:
            conn.reset_stream(sid, error_code=8)  # CANCEL
        streams = []
    sock.sendall(conn.data_to_send())
    if spec['reset'] == 'stdin':
        sys.stdin.readline()
    sock.setblocking(False)
    try:  # what came before the reset
        while True:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    answered.append(int(dict(event.headers)[b':status']))
    except BlockingIOError:
        pass
    sock.setblocking(True)
    for sid in streams:
        if conn.state_machine.state != h2.connection.ConnectionState.CLOSED and sid in conn.streams \
                and not conn.streams[sid].closed:
            conn.reset_stream(sid, error_code=8)  # CANCEL
    conn.ping(b'proxyd!!')
    sock.sendall(conn.data_to_send())
    acked = read_events(conn, sock, lambda e: isinstance(e, h2.events.PingAckReceived))
    print(json.dumps({'reset': len(spec['paths']) - len(answered), 'answered': answered, 'ping': acked}))


def main():
    port = int(sys.argv[1])
    spec = json.loads(open(sys.argv[2]).read()) if sys.argv[2] != '-' else json.load(sys.stdin)
    if 'reset' in spec:
        leave(spec, port)
        return
    headers = [(':method', spec.get('method', 'GET')), (':path', spec.get('path', '/')), (':scheme', 'http'),
               (':authority', spec.get('authority', '127.0.0.1'))]
    headers += [tuple(h) for h in spec.get('headers', [])]
    for name, value, count in spec.get('repeat', []):
        headers += [(name, value)] * count
    body = spec.get('body', '').encode()

    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                       normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    conn.max_outbound_frame_size = 16384
    sock = socket.create_connection(('127.0.0.1', port), timeout=spec.get('timeout', 10))
    result = {'headers': {}}
    data = b''
    if 'upgrade' in spec:
        settings = conn.initiate_upgrade_connection()
        sock.sendall(spec['upgrade'].replace('SETTINGS', settings.decode()).encode())
        while b'\r\n\r\n' not in data:
            more = sock.recv(65536)
            if not more:
                break
            data += more
        head, _, data = data.partition(b'\r\n\r\n')
        result['http1'] = head.decode('utf-8', 'replace').split('\r\n')[0]
        if not result['http1'].startswith('HTTP/1.1 101'):
            result['body'] = data.decode('utf-8', 'replace')
            print(json.dumps(result))
            return
    else:
        conn.initiate_connection()
        conn.send_headers(1, headers, end_stream=not body)
        if body:
            conn.send_data(1, body, end_stream=True)
    sock.sendall(conn.data_to_send())

    chunks = []
    started = time.time()
    try:
        while True:
            if not data:
                data = sock.recv(65536)
            if not data:
                result.setdefault('error', 'closed')
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    for name, value in event.headers:
                        name, value = name.decode(), value.decode()
                        if name == ':status':
                            result['status'] = int(value)
                        else:
                            result['headers'][name] = value
                elif isinstance(event, h2.events.DataReceived):
                    chunks.append(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    result['body'] = b''.join(chunks).decode('utf-8', 'replace')
                elif isinstance(event, h2.events.StreamReset):
                    result['error'] = 'reset %d' % event.error_code
                elif isinstance(event, h2.events.ConnectionTerminated):
                    result.setdefault('error', 'goaway %d' % event.error_code)
            data = b''
            sock.sendall(conn.data_to_send())
            if 'body' in result or 'error' in result:
                break
    except socket.timeout:
        result['error'] = 'timeout'
    except (ConnectionError, h2.exceptions.ProtocolError) as e:
        result.setdefault('error', type(e).__name__)
    result['seconds'] = round(time.time() - started, 3)
    print(json.dumps(result))


main()

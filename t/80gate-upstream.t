# 80gate-upstream.t: attacks on the upstream engine (issue 9) found in review: an upgrade
# answered before its body was sent, a cut response whose end the client cannot tell
# from a complete one, and hop-by-hop nominations that strip the fields proxyd sets.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Errno qw(ECONNRESET);
use Time::HiRes qw(time sleep);
use lib 't';
use Util;

# A raw upstream: `perl -e CODE PORT`, CODE handling each accepted connection $c
# (one at a time), after its request head was read into $head.
sub spawn_raw_upstream {
    my ($code) = @_;
    my $dir = temp_dir();
    my $port = empty_port();
    write_file("$dir/up.pl", <<"EOF");
use strict; use warnings; use IO::Socket::INET;
my \$l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => \$ARGV[0], Listen => 64, ReuseAddr => 1) or die \$!;
\$| = 1;
\$SIG{PIPE} = 'IGNORE';
while (my \$c = \$l->accept) {
    my \$head = '';
    while (\$head !~ /\\r\\n\\r\\n/) { my \$n = sysread(\$c, my \$b, 1); last unless \$n; \$head .= \$b; }
    next unless \$head =~ /\\r\\n\\r\\n/;    # the port probe of spawn()
    $code
    close \$c;
}
EOF
    return spawn(cmd => ['perl', "$dir/up.pl", $port], port => $port);
}

# Reads from $sock until it ends; returns (bytes, how it ended: 'eof', 'reset', 'timeout' or the error).
sub read_all {
    my ($sock, $seconds, $until) = @_;
    my ($data, $end) = ('', 'timeout');
    my $deadline = time + $seconds;
    $sock->blocking(0);
    while (time < $deadline) {
        my $n = sysread($sock, my $buf, 65536);
        if (defined $n) {
            if ($n == 0) { $end = 'eof'; last }
            $data .= $buf;
            last if defined $until && $data =~ $until;
        } elsif ($!{EAGAIN}) {
            sleep 0.01;
        } else {
            $end = $! == ECONNRESET ? 'reset' : "$!";
            last;
        }
    }
    return ($data, $end);
}

my $echo = spawn_upstream('--name', 'echo');

# proxyd (with the `echo` service beside the ones under test) still answers, and said nothing alarming.
sub still_serving {
    my ($proxyd) = @_;
    ok $proxyd->running, 'proxyd is still running';
    my $res = eval { raw_request($proxyd->port, "GET /echo/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3) } // '';
    like $res, qr{^HTTP/1\.1 200 }, 'and answers the next request';
    my $log = $proxyd->log;
    unlike $log, qr/AddressSanitizer|LeakSanitizer|runtime error|Assertion/, 'no sanitizer report or assertion in proxyd\'s log'
        or diag $log;
}

subtest 'an upgrade the upstream answers before it read the request body' => sub {
    my $size = 8 * 1024 * 1024;    # more than the loopback socket buffers take at once
    # 101 at once, then the body is read (late) by HTTP/1 rules, then the new protocol: one echo
    my $up = spawn_raw_upstream(<<'EOF');
    my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
    syswrite $c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-raw\r\nConnection: Upgrade\r\n\r\n";
    select undef, undef, undef, 1;
    my $got = 0;
    while ($got < ($len // 0)) { my $n = sysread($c, my $b, 1 << 20); last unless $n; $got += $n; }
    syswrite $c, "body $got\n";
    my $n = sysread($c, my $msg, 100);
    syswrite $c, "echo $msg\n" if $n;
EOF
    my $proxyd = spawn_proxyd(threads => 1, services => "ws: http://127.0.0.1:@{[$up->port]}\necho: http://127.0.0.1:@{[$echo->port]}\n",
        settings => "max_request_body: 16MiB\n");
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port, Timeout => 5) or die "connect: $!";
    print $c "POST /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: x-raw\r\nConnection: Upgrade\r\nContent-Length: $size\r\n\r\n",
        'b' x $size;
    my ($got, $end) = read_all($c, 15, qr/body \d+\n/);
    like $got, qr{^HTTP/1\.1 101 }, 'the 101 reaches the client';
    like $got, qr/body $size\n/, 'the upstream got the whole body before the tunnel began';
    print $c "ping";
    ($got, $end) = read_all($c, 5, qr/echo/);
    is $got, "echo ping\n", 'then bytes pass through the tunnel';
    close $c;
    still_serving($proxyd);
};

subtest 'a 101 opens a tunnel only if the service really switched' => sub {
    # an endpoint that answers 101 to anything (as a status-echoing one would), then reads HTTP
    my $up = spawn_raw_upstream(<<'EOF');
    my $answer = $head =~ m{/accept-ok} ? "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
               : $head =~ m{/accept-bad} ? "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n" : '';
    my $upgrade = $head =~ m{/no-upgrade} ? '' : $head =~ m{/other-proto} ? "Upgrade: h2c\r\n" : "Upgrade: websocket\r\n";
    syswrite $c, "HTTP/1.1 101 Switching Protocols\r\n${upgrade}Connection: Upgrade\r\n$answer\r\n";
    my $n = sysread($c, my $msg, 1000);
    syswrite $c, "tunnel got: $msg" if $n;
EOF
    my $proxyd = spawn_proxyd(threads => 1, services => "ws: http://127.0.0.1:@{[$up->port]}\necho: http://127.0.0.1:@{[$echo->port]}\n");
    my $key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    my $handshake = sub { "GET /ws/$_[0] HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n$_[1]\r\n" };
    my $res = raw_request($proxyd->port, $handshake->('no-key', ''));
    like $res, qr{\AHTTP/1\.1 400 .*Sec-WebSocket-Key}s, 'a WebSocket handshake without a key: 400, named';
    $res = raw_request($proxyd->port, $handshake->('two-keys', $key . $key));
    like $res, qr{\AHTTP/1\.1 400 }, 'with two keys: 400';
    for my $case (['no-accept', 'without Sec-WebSocket-Accept'], ['accept-bad', 'with a wrong Sec-WebSocket-Accept'],
                  ['no-upgrade', 'without Upgrade'], ['other-proto', 'to a protocol the client did not offer']) {
        my ($path, $what) = @$case;
        $res = raw_request($proxyd->port, $handshake->($path, $key) . "GET /ws/admin HTTP/1.1\r\nHost: x\r\n\r\n", 3);
        like $res, qr{\AHTTP/1\.1 502 .*invalid response from upstream: 101 Switching Protocols}s, "a 101 $what: 502";
        unlike $res, qr/tunnel got/, 'and no byte of the client reaches the service as a tunnel';
    }
    like $proxyd->log, qr/Sec-WebSocket-Accept.*service ws/, 'logged with the service';
    $res = raw_request($proxyd->port, $handshake->('accept-ok', $key) . "hello", 3);
    like $res, qr{\AHTTP/1\.1 101 .*tunnel got: hello}s, 'the right Sec-WebSocket-Accept (RFC 6455\'s own example) opens the tunnel';
    still_serving($proxyd);
};

subtest 'a response cut short is never an orderly close when it has no length of its own' => sub {
    # libh2o chunks only a 200 to HTTP/1.1 clients; other statuses, and anything to an
    # HTTP/1.0 client, go delimited by the close, so a clean close would read as complete
    my $up = spawn_raw_upstream(<<'EOF');
    my ($status) = $head =~ m{^GET /(\d+)};
    syswrite $c, "HTTP/1.1 $status X\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    select undef, undef, undef, 0.3;
EOF
    my $proxyd = spawn_proxyd(threads => 1, services => "cut: http://127.0.0.1:@{[$up->port]}\necho: http://127.0.0.1:@{[$echo->port]}\n");
    for my $case (['201', '1.1'], ['404', '1.1'], ['200', '1.0']) {
        my ($status, $version) = @$case;
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port, Timeout => 5) or die "connect: $!";
        print $c "GET /cut/$status HTTP/$version\r\nHost: x\r\n\r\n";
        my ($got, $end) = read_all($c, 5);
        close $c;
        if (length $got) {
            like $got, qr{^HTTP/1\.1 $status }, "$status to HTTP/$version: the head was relayed";
            unlike $got, qr/^(transfer-encoding|content-length):/mi, "$status to HTTP/$version: the body has no framing of its own";
        }
        isnt $end, 'eof', "$status to HTTP/$version: the cut ends in a reset, not a close a client takes for the end";
    }
    like $proxyd->log, qr/connection closed before the last chunk after the response started, client connection closed, service cut/,
        'logged with the reason and the service';
    still_serving($proxyd);
};

subtest 'a client\'s Connection header cannot remove the fields proxyd and the auth service set' => sub {
    my $auth = spawn_auth();
    my $proxyd = spawn_proxyd(threads => 1,
        services => "echo: http://127.0.0.1:@{[$echo->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n",
        settings => "auth:\n  service: auth\n  copy_headers: [X-User]\n");
    my $res = raw_request($proxyd->port, "GET /echo/who?key=supersecret HTTP/1.1\r\nHost: tenant.example\r\nX-Mine: 1\r\n"
        . "Connection: close, X-User, X-Forwarded-Host, X-Forwarded-Prefix, X-Mine\r\n\r\n", 3);
    like $res, qr{^HTTP/1\.1 200 }, 'allowed';
    my ($body) = $res =~ /\r\n\r\n(.*)\z/s;
    my $h = (eval { decode_json($body // '') } // {})->{headers} // {};
    ok exists $h->{'x-forwarded-for'}, 'the service saw the request';
    is $h->{'x-user'}, 'workshop', 'X-User from the auth service still reaches the service';
    is $h->{'x-forwarded-host'}, 'tenant.example', 'X-Forwarded-Host is still proxyd\'s';
    is $h->{'x-forwarded-prefix'}, '/echo', 'X-Forwarded-Prefix is still proxyd\'s';
    ok !exists $h->{'x-mine'}, 'while a field of the client\'s own that its Connection names is dropped (RFC 9110 7.6.1)';
};

subtest 'HTTP/2: send_timeout on one stalled stream cuts only that stream' => sub {
    my $up = spawn_raw_upstream(<<'EOF');
    if ($head =~ m{^GET /big }) { syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" . ('a' x 1000000) }
    else { select undef, undef, undef, 3; syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow" }
EOF
    my $proxyd = spawn_proxyd(threads => 1, services => "h2: http://127.0.0.1:@{[$up->port]}\necho: http://127.0.0.1:@{[$echo->port]}\n",
        settings => "client:\n  send_timeout: 1s\n");
    # stream 1 is never given stream window (a paused download); the connection window is
    # kept open, so stream 3, a long poll answered after 3 s, can still be delivered
    my $script = write_file(temp_dir() . '/stall.py', <<'EOF');
import socket, sys, time, h2.connection, h2.config, h2.events
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
conn.initiate_connection()
for sid, path in ((1, '/h2/big'), (3, '/h2/poll')):
    conn.send_headers(sid, [(':method', 'GET'), (':path', path), (':scheme', 'http'), (':authority', 'x')], end_stream=True)
s.sendall(conn.data_to_send())
s.settimeout(0.2)
start, body = time.time(), b''
while time.time() - start < 6 and body != b'slow':
    try:
        data = s.recv(65536)
    except socket.timeout:
        continue
    if not data:
        break
    for ev in conn.receive_data(data):
        if isinstance(ev, h2.events.DataReceived):
            if ev.stream_id == 3:
                body += ev.data
            else:
                conn.increment_flow_control_window(ev.flow_controlled_length)
    s.sendall(conn.data_to_send())
print(body.decode())
EOF
    my $out = `/usr/bin/python3 $script @{[$proxyd->port]} 2>&1`;
    like $proxyd->log, qr{GET /h2/big: the client took no response bytes}, 'the stalled stream met send_timeout';
    local $TODO = 'libh2o 2.2.5 has no public call to reset one stream: disconnect_client shuts the whole connection down';
    is $out, "slow\n", 'the other stream on the connection is still answered';
};

done_testing;

# 60websocket.t: WebSocket tunnels through proxyd (issue 9): forward auth on the upgrade, bytes unchanged both ways, close and idle timeout, 1,000 at once, HTTP/2, SIGTERM.
use strict;
use warnings;

# 1,000 tunnels take 2,000 descriptors in proxyd and 1,000 in each Python process: raise the
# soft limit (the hard one allowing) before anything starts, by running this file again under it.
BEGIN {
    my $soft = `sh -c 'ulimit -n'`;
    chomp $soft;
    if ($soft ne 'unlimited' && $soft < 4096 && !$ENV{PROXYD_TEST_NOFILE}) {
        $ENV{PROXYD_TEST_NOFILE} = 4096;
        exec 'sh', '-c', 'ulimit -n "$PROXYD_TEST_NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"', 'sh', $^X, $0, @ARGV;
    }
}

use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Select;
use IO::Socket::INET;
use IPC::Open2;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't';
use Util;

$SIG{PIPE} = 'IGNORE';
my $http = HTTP::Tiny->new(timeout => 15, keep_alive => 0);    # no connection left in proxyd's count
my $PY = '/usr/bin/python3';    # Debian's, with python3-websockets and python3-tornado (packages.txt)

# A WebSocket service: t/ws-server.py (websockets) or t/ws-origin-server.py (Tornado).
sub spawn_ws {
    my ($script) = @_;
    my $port = empty_port();
    return spawn(cmd => [$PY, $script // 't/ws-server.py', $port], port => $port, log => temp_dir() . '/ws.log');
}

# The JSON lines a service wrote: what reached it.
sub events {
    my ($service, $event) = @_;
    return grep { $_->{event} eq $event } map { decode_json($_) } grep {/^\{/} split /\n/, $service->log;
}

# proxyd's established TCP connections on one side: '( dport = :N )' to a service, '( sport = :N )' from its clients.
sub proxyd_conns {
    my ($proxyd, $filter) = @_;
    my $out = `ss -Htnp state established '$filter' 2>&1`;
    die "ss: $out" if $?;
    my $pid = $proxyd->pid;
    return scalar(() = $out =~ /pid=$pid,/g);
}
sub to_service  { proxyd_conns($_[0], "( dport = :@{[$_[1]->port]} )") }
sub from_client { proxyd_conns($_[0], "( sport = :@{[$_[0]->port]} )") }

# An HTTP/1.1 upgrade request on a raw socket: (socket, status, {headers}, body) once the head
# (and a Content-Length body) arrived. The key is RFC 6455's example: its accept value is known.
my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
my $ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
sub raw_upgrade {
    my ($port, $path, @extra) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or die "connect: $!";
    print $sock "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Key: $KEY\r\nSec-WebSocket-Version: 13\r\n" . join('', map {"$_\r\n"} @extra) . "\r\n";
    my $sel = IO::Select->new($sock);
    my ($buf, $head, %headers, $status) = ('');
    my $deadline = time + 10;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($sock, $buf, 65536, length $buf);
        last unless $n;
        if (!defined $head && $buf =~ /\r\n\r\n/) {
            ($head, $buf) = split /\r\n\r\n/, $buf, 2;
            ($status) = $head =~ m{\AHTTP/1\.1 (\d{3}) };
            $headers{ lc $1 } = $2 while $head =~ /^([^:\r\n]+):[ \t]*([^\r\n]*)/mg;
        }
        last if defined $head && ($status // 0) == 101;
        last if defined $head && defined $headers{'content-length'} && length($buf) >= $headers{'content-length'};
    }
    return ($sock, $status, \%headers, $buf);
}

# t/ws-client.py, driven one command at a time; stopped by PID when it goes out of scope.
package WsClient {
    use IPC::Open2;
    use JSON::PP;
    sub new {
        my $pid = open2(my $out, my $in, $PY, 't/ws-client.py');
        return bless { pid => $pid, out => $out, in => $in }, shift;
    }
    sub start {
        my ($self, %cmd) = @_;
        print { $self->{in} } encode_json(\%cmd), "\n";
        $self->{in}->flush;
        $self->{wait} = ($cmd{timeout} // 10) + ($cmd{for} // 0) + ($cmd{hold} // 0) + 60;
    }
    sub finish {
        my ($self) = @_;
        my $sel = IO::Select->new($self->{out});
        my $line = $sel->can_read($self->{wait}) ? readline($self->{out}) : undef;
        return defined $line ? decode_json($line) : { error => 'no answer from ws-client.py' };
    }
    sub cmd { my $self = shift; $self->start(@_); return $self->finish }
    sub ready { IO::Select->new($_[0]{out})->can_read(0) }    # its answer is there
    sub DESTROY { $_[0]->end }
    # Ends the driver: at the end of its input it drops its connections and exits.
    sub end {
        my ($self) = @_;
        local ($?, $!, $@);
        return if $self->{ended}++;
        close $self->{in};
        my $deadline = Time::HiRes::time() + 5;
        Time::HiRes::sleep(0.02) while waitpid($self->{pid}, POSIX::WNOHANG()) == 0 && Time::HiRes::time() < $deadline;
        if (kill 0, $self->{pid}) {
            kill 'KILL', $self->{pid};
            waitpid $self->{pid}, 0;
        }
    }
}

my $auth = spawn_auth();

# proxyd with forward auth in front of $ws under several names; extra service lines in %more.
sub setup {
    my ($ws, %more) = @_;
    my $url = 'http://127.0.0.1:' . $ws->port;
    return spawn_proxyd(settings => "auth:\n  service: auth\n  copy_headers: [X-User]\n" . ($more{settings} // ''),
        services => "auth: http://127.0.0.1:@{[$auth->port]}/check\nws: $url\nkeep: {url: '$url', preserve_host: true}\n"
            . "idle: {url: '$url', websocket_timeout: 1s}\n" . ($more{services} // ''));
}

# Ends the clients (their connections go with them), then stops proxyd: with no tunnel
# left it must exit at once, not after the 10 s grace period that open tunnels get.
sub stop_quickly {
    my ($proxyd, @clients) = @_;
    $_->end for @clients;
    ok wait_for('clients gone', sub { from_client($proxyd) == 0 }, 5), 'the clients are gone';
    my $start = time;
    is $proxyd->stop, 0, 'proxyd exits 0';
    cmp_ok time - $start, '<', 3, sprintf('at once (%.1f s): no tunnel is left open in proxyd', time - $start);
}

sub wsurl { my ($proxyd, $path) = @_; 'ws://127.0.0.1:' . $proxyd->port . $path }

subtest 'echo through forward auth: the key is stripped, the handshake relayed unchanged' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my $c = WsClient->new;
    my $res = $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?t=echo&key=supersecret'));
    ok $res->{ok}, 'the handshake succeeds' or diag explain $res;
    $c->cmd(op => 'send', name => 'a', text => 'hello');
    is_deeply $c->cmd(op => 'recv', name => 'a'), { text => 'hello' }, 'a text message comes back';
    $c->cmd(op => 'send', name => 'a', text => "gr\x{fc}\x{df}e \x{2713}");
    is_deeply $c->cmd(op => 'recv', name => 'a'), { text => "gr\x{fc}\x{df}e \x{2713}" }, 'non-ASCII text unchanged';
    my ($req) = grep { $_->{path} =~ /t=echo/ } events($ws, 'request');
    ok $req, 'the service saw the handshake' or return;
    is $req->{path}, '/echo?t=echo', 'under its own path, without the key';
    unlike encode_json($req), qr/supersecret/, 'the key is nowhere in what the service saw';
    is lc $req->{headers}{upgrade}, 'websocket', 'Upgrade: websocket reaches the service';
    like $req->{headers}{connection}, qr/\bupgrade\b/i, 'Connection: upgrade reaches the service';
    ok $req->{headers}{'sec-websocket-key'}, 'with Sec-WebSocket-Key';
    is $req->{headers}{host}, '127.0.0.1:' . $ws->port, "Host is the service's own (no preserve_host)";
    is $req->{headers}{'x-user'}, 'workshop', 'X-User from the auth service';

    my ($sock, $status, $headers) = raw_upgrade($proxyd->port, '/ws/echo?t=raw&key=supersecret');
    is $status, 101, 'a raw upgrade: 101';
    is $headers->{'sec-websocket-accept'}, $ACCEPT, "the service's Sec-WebSocket-Accept relayed unchanged";
    is lc($headers->{upgrade} // ''), 'websocket', 'with Upgrade: websocket';
    like $headers->{connection} // '', qr/\bupgrade\b/i, 'and Connection: upgrade';
    is $c->cmd(op => 'close', name => 'a')->{code}, 1000, 'closed';
    close $sock;
    unlike $proxyd->log, qr/supersecret/, 'the key is not in proxyd\'s log';
    stop_quickly($proxyd, $c);
};

subtest 'a denied upgrade never reaches the service' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my (undef, $status, $headers, $body) = raw_upgrade($proxyd->port, '/ws/echo?t=denied&key=wrong');
    is $status, 401, 'wrong key: 401, not 101';
    like $headers->{'www-authenticate'} // '', qr/^Bearer realm="proxyd-demo"/, "the auth service's WWW-Authenticate";
    is $body, '{"error":"unauthorized"}', "and its body";
    (undef, $status) = raw_upgrade($proxyd->port, '/ws/echo?t=denied');
    is $status, 401, 'no key: 401';
    (undef, $status) = raw_upgrade($proxyd->port, '/ws/echo?t=denied&key=forbidden');
    is $status, 403, 'key=forbidden: 403';
    my $c = WsClient->new;
    my $res = $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?t=denied&key=wrong'));
    is $res->{status}, 401, 'a WebSocket client is refused with 401' or diag explain $res;
    is scalar(grep { $_->{path} =~ /t=denied/ } events($ws, 'request')), 0, 'the service saw none of the four handshakes';
    is scalar(events($ws, 'open')), 0, 'and no connection';
    stop_quickly($proxyd, $c);
};

subtest "a service's refusal is relayed as an ordinary response" => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my (undef, $status, $headers, $body) = raw_upgrade($proxyd->port, '/ws/refuse?key=supersecret');
    is $status, 403, "the service's 403";
    like $headers->{'content-type'} // '', qr{^text/plain}, 'text/plain';
    is $body, "refused by the service\n", 'its body unchanged';
    stop_quickly($proxyd);
};

subtest 'preserve_host: true: the service sees the client\'s Host (Tornado checks Origin against it)' => sub {
    my $ws = spawn_ws();
    my $tornado = spawn_ws('t/ws-origin-server.py');
    my $turl = 'http://127.0.0.1:' . $tornado->port;
    my $proxyd = setup($ws, services => "origin: $turl\norigin-keep: {url: '$turl', preserve_host: true}\n");
    my $front = '127.0.0.1:' . $proxyd->port;
    my $c = WsClient->new;
    ok $c->cmd(op => 'open', name => 'k', url => wsurl($proxyd, '/keep/echo?t=keep&key=supersecret'))->{ok}, 'websockets service: open';
    my ($req) = grep { $_->{path} =~ /t=keep/ } events($ws, 'request');
    is $req && $req->{headers}{host}, $front, 'it saw the Host the client sent';

    # a browser on proxyd's page sends Origin: http://<proxyd>; Tornado compares it with Host
    my $res = $c->cmd(op => 'open', name => 'p', url => wsurl($proxyd, '/origin/echo?key=supersecret'), origin => "http://$front");
    is $res->{status}, 403, "without preserve_host Tornado refuses the handshake (its Host is the service's own)"
        or diag explain $res;
    my @seen = events($tornado, 'request');
    is $seen[0] && $seen[0]{host}, '127.0.0.1:' . $tornado->port, 'it saw its own address as Host';
    is $seen[0] && $seen[0]{origin}, "http://$front", 'and the Origin unchanged';
    $res = $c->cmd(op => 'open', name => 'o', url => wsurl($proxyd, '/origin-keep/echo?key=supersecret'), origin => "http://$front");
    ok $res->{ok}, 'with preserve_host: true Tornado accepts it' or diag explain $res;
    @seen = events($tornado, 'request');
    is $seen[1] && $seen[1]{host}, $front, "it saw proxyd's address as Host";
    ok wait_for('open', sub { events($tornado, 'open') == 1 }, 5), 'one connection opened';
    $c->cmd(op => 'send', name => 'o', text => 'through tornado');
    is_deeply $c->cmd(op => 'recv', name => 'o'), { text => 'through tornado' }, 'and echoes';
    stop_quickly($proxyd, $c);
};

subtest 'broadcast to two clients' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my $c = WsClient->new;
    ok $c->cmd(op => 'open', name => $_, url => wsurl($proxyd, '/ws/broadcast?key=supersecret'))->{ok}, "client $_ joins"
        for qw(a b);
    $c->cmd(op => 'send', name => 'a', text => 'from a');
    is_deeply $c->cmd(op => 'recv', name => $_), { text => 'from a' }, "$_ gets a's message" for qw(a b);
    $c->cmd(op => 'send', name => 'b', text => 'from b');
    is_deeply $c->cmd(op => 'recv', name => $_), { text => 'from b' }, "$_ gets b's message" for qw(a b);
    is scalar(events($ws, 'open')), 2, 'two connections at the service';
    is to_service($proxyd, $ws), 2, 'two tunnels in proxyd';
    stop_quickly($proxyd, $c);
};

subtest 'binary frames and a 1 MiB message pass unchanged' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my $c = WsClient->new;
    ok $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?key=supersecret'))->{ok}, 'open';
    for my $size (1, 125, 126, 65535, 65536, 1024 * 1024) {    # each payload length encoding of RFC 6455 5.2
        my $sent = $c->cmd(op => 'send', name => 'a', random => $size);
        my $got = $c->cmd(op => 'recv', name => 'a', timeout => 20);
        is_deeply $got, { binary => JSON::PP::true, length => $size, sha256 => $sent->{sha256} }, "$size random bytes come back unchanged";
    }
    $c->cmd(op => 'send', name => 'a', random => 1000) for 1 .. 20;    # pipelined
    is scalar(grep { ($c->cmd(op => 'recv', name => 'a')->{length} // 0) == 1000 } 1 .. 20), 20, 'twenty messages in a row, each whole';
    $c->cmd(op => 'send', name => 'a', text => 'text after binary');
    is_deeply $c->cmd(op => 'recv', name => 'a'), { text => 'text after binary' }, 'then text again';
    stop_quickly($proxyd, $c);
};

subtest 'a close from the client closes the service side, and the other way round' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my $c = WsClient->new;
    my $open = sub {
        my ($name) = @_;
        $c->cmd(op => 'open', name => $name, url => wsurl($proxyd, "/ws/echo?t=$name&key=supersecret"), close_timeout => 5);
        $c->cmd(op => 'send', name => $name, text => 'ping');
        is_deeply $c->cmd(op => 'recv', name => $name), { text => 'ping' }, "$name: open and echoing";
        is to_service($proxyd, $ws), 1, "$name: one tunnel in proxyd";
        my @open = events($ws, q{open});
        return @open ? $open[-1]{id} : -1;
    };
    my $closed_at_service = sub {
        my ($id) = @_;
        my $closed;
        wait_for('service side closed', sub { ($closed) = grep { $_->{id} == $id } events($ws, 'closed') }, 5);
        return $closed;
    };
    my $gone = sub {
        my ($what) = @_;
        ok wait_for('tunnel gone', sub { to_service($proxyd, $ws) == 0 && from_client($proxyd) == 0 }, 3),
            "$what: proxyd holds no connection of the tunnel any more"
            or diag 'to service ' . to_service($proxyd, $ws) . ', from clients ' . from_client($proxyd);
    };

    my $id = $open->('client-close');
    my $res = $c->cmd(op => 'close', name => 'client-close', code => 1000, reason => 'client bye');
    is $res->{code}, 1000, "the client's close handshake is answered by the service";
    cmp_ok $res->{seconds}, '<', 2, 'and its connection is closed at once (not after its 5 s close timeout)';
    my $closed = $closed_at_service->($id);
    is $closed && $closed->{code}, 1000, 'the service saw the close frame';
    is $closed && $closed->{reason}, 'client bye', 'with its reason';
    $gone->('client close');

    $id = $open->('client-vanishes');
    my $pid = $c->{pid};
    kill 'KILL', $pid;    # no close frame, the TCP connection just goes
    waitpid $pid, 0;
    $closed = $closed_at_service->($id);
    ok $closed, 'a client that vanishes: the service sees its connection closed';
    is $closed && $closed->{code}, 1006, 'without a close frame (1006)';
    $gone->('client gone');

    $c = WsClient->new;
    $id = $open->('server-close');
    $c->cmd(op => 'send', name => 'server-close', text => '__close__');
    $res = $c->cmd(op => 'recv', name => 'server-close');
    is $res->{code}, 4001, "the service's close reaches the client";
    is $res->{reason}, 'server bye', 'with its reason';
    cmp_ok $res->{seconds} // 99, '<', 2, 'and the connection ends at once';
    $gone->('server close');

    $id = $open->('server-drop');
    $c->cmd(op => 'send', name => 'server-drop', text => '__drop__');
    $res = $c->cmd(op => 'recv', name => 'server-drop');
    ok $res->{closed}, 'a service that drops its TCP connection: the client sees its connection closed';
    is $res->{code}, 1006, 'without a close frame (1006)';
    cmp_ok $res->{seconds} // 99, '<', 2, 'at once';
    $gone->('server drop');
    ok $proxyd->running, 'proxyd runs';
    stop_quickly($proxyd, $c);
};

subtest 'websocket_timeout: an idle tunnel is closed, an active one is not' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my ($quiet, $busy) = (WsClient->new, WsClient->new);
    ok $quiet->cmd(op => 'open', name => 'q', url => wsurl($proxyd, '/idle/echo?key=supersecret'))->{ok}, 'idle tunnel open';
    ok $busy->cmd(op => 'open', name => 'b', url => wsurl($proxyd, '/idle/echo?key=supersecret'))->{ok}, 'busy tunnel open';
    $busy->start(op => 'chatter', name => 'b', every => 0.25, for => 3);
    my $res = $quiet->cmd(op => 'wait_closed', name => 'q', timeout => 4);
    ok $res->{closed}, 'the idle tunnel is closed (service websocket_timeout: 1s)';
    # counted from this command, which starts after the tunnel's last byte: the 1 s ran from before it
    cmp_ok $res->{seconds} // 0, '>=', 0.5, sprintf('not long before the timeout (%.2f s)', $res->{seconds} // 0);
    cmp_ok $res->{seconds} // 99, '<', 2.5, 'nor long after it';
    $res = $busy->finish;
    cmp_ok $res->{sent}, '>=', 10, 'the busy tunnel sent for 3 s' or diag explain $res;
    is $res->{echoed}, $res->{sent}, 'and every message came back: it was not cut';
    ok wait_for('service side closed', sub { events($ws, 'closed') == 1 }, 3), 'the service saw the idle one closed';
    ok !$busy->cmd(op => 'wait_closed', name => 'b', timeout => 0.01)->{closed}, 'the busy one is still open';
    is to_service($proxyd, $ws), 1, 'one tunnel left in proxyd';
    my $default = WsClient->new;    # the settings' default (5m) for services without their own
    ok $default->cmd(op => 'open', name => 'd', url => wsurl($proxyd, '/ws/echo?key=supersecret'))->{ok}, 'a tunnel to a service without its own timeout';
    ok !$default->cmd(op => 'wait_closed', name => 'd', timeout => 2)->{closed}, 'is not closed after 2 s of silence';
    stop_quickly($proxyd, $quiet, $busy, $default);
};

subtest '1,000 tunnels at once' => sub {
    my $nofile = `sh -c 'ulimit -n'`;
    chomp $nofile;
    plan skip_all => "ulimit -n is $nofile: 1,000 tunnels need 2,000 descriptors and more"
        if $nofile ne 'unlimited' && $nofile < 2200;
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my $rss_before = rss_kib($proxyd->pid);
    my $many = WsClient->new;
    $many->start(op => 'many', url => wsurl($proxyd, '/ws/echo?key=supersecret'), n => 1000, hold => 3, timeout => 60);
    ok wait_for('all open', sub { $many->ready || grep { $_->{open_now} >= 1000 } events($ws, 'open') }, 60),
        'the service has 1,000 connections open at once';
    my $tunnels = to_service($proxyd, $ws);
    is $tunnels, 1000, '1,000 tunnels in proxyd';
    diag sprintf('proxyd RssAnon: %d KiB more with %d tunnels open', rss_kib($proxyd->pid) - $rss_before, $tunnels) unless sanitized();
    my $res = $many->finish;
    is $res->{opened}, 1000, '1,000 handshakes succeeded' or diag explain $res;
    is $res->{echoed}, 1000, 'each tunnel echoed its own message';
    is_deeply $res->{errors}, {}, 'no errors';
    ok $proxyd->running, 'proxyd runs';
    ok wait_for('all closed', sub { to_service($proxyd, $ws) == 0 }, 10), 'all tunnels are gone once the clients closed';
    my $c = WsClient->new;
    $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?key=supersecret'));
    $c->cmd(op => 'send', name => 'a', text => 'after');
    is_deeply $c->cmd(op => 'recv', name => 'a'), { text => 'after' }, 'a new tunnel works';
    is $http->get($proxyd->url('/nosuch/x?key=supersecret'))->{status}, 404, 'plain requests are served';
    stop_quickly($proxyd, $many, $c);
};

subtest 'an upgrade over HTTP/2 gets a clear error' => sub {
    my $ws = spawn_ws();
    my $up = spawn_upstream();
    my $proxyd = setup($ws, services => "up: http://127.0.0.1:@{[$up->port]}\n");
    my $spec_file = temp_dir() . '/spec.json';
    my $h2 = sub {
        my ($spec) = @_;
        write_file($spec_file, encode_json({ authority => '127.0.0.1:' . $proxyd->port, %$spec }));
        return eval { decode_json(`$PY t/h2request.py @{[$proxyd->port]} $spec_file 2>&1`) } // {};
    };
    # libh2o's HTTP/2 front end ends the connection before any handler runs: Upgrade and
    # Connection are connection-specific fields, which make a request malformed (RFC 9113
    # 8.2.2), and libh2o 2.2.5 does not offer RFC 8441's extended CONNECT (:protocol)
    my %refused = (
        'GET with Upgrade and Connection' => [['upgrade', 'websocket'], ['connection', 'upgrade'], ['sec-websocket-key', $KEY],
            ['sec-websocket-version', '13']],
        'GET with Upgrade alone' => [['upgrade', 'websocket']],
        'extended CONNECT (RFC 8441)' => [[':protocol', 'websocket'], ['sec-websocket-version', '13']],
    );
    for my $case (sort keys %refused) {
        my $res = $h2->({ method => $case =~ /CONNECT/ ? 'CONNECT' : 'GET', path => '/ws/echo?t=h2&key=supersecret',
            headers => $refused{$case} });
        is $res->{error}, 'goaway 1', "$case: the connection ends with PROTOCOL_ERROR" or diag explain $res;
        is $h2->({ path => '/up/after?key=supersecret' })->{status}, 200, "$case: proxyd serves the next HTTP/2 connection";
    }
    # a CONNECT reaches proxyd: it is answered there, never tunnelled or forwarded
    my $before = $up->count;
    my $res = $h2->({ method => 'CONNECT', path => '/up/connect?key=supersecret' });
    ok(($res->{status} // 0) >= 400 && ($res->{status} // 0) < 600, 'CONNECT over HTTP/2: an error status') or diag explain $res;
    is $res->{headers}{'content-type'}, 'application/json', 'JSON';
    like eval { decode_json($res->{body})->{error} } // '', qr/upgrade|websocket|HTTP\/2|CONNECT/i, 'says why';
    is $up->count, $before, 'the service saw no CONNECT';
    is scalar(grep { $_->{path} =~ /t=h2/ } events($ws, 'request')), 0, 'nor the WebSocket service a handshake';
    ok $proxyd->running, 'proxyd runs';
    my $c = WsClient->new;
    ok $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?key=supersecret'))->{ok}, 'and an HTTP/1.1 upgrade still works';
    stop_quickly($proxyd, $c);
};

subtest 'SIGTERM: an open tunnel lives through the grace period, then is closed' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws);
    my $c = WsClient->new;
    ok $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?key=supersecret'))->{ok}, 'open';
    my $start = time;
    kill 'TERM', $proxyd->pid;
    sleep 1;
    $c->cmd(op => 'send', name => 'a', text => 'during the grace period');
    is_deeply $c->cmd(op => 'recv', name => 'a'), { text => 'during the grace period' }, 'the tunnel works during the grace period';
    my $res = $c->cmd(op => 'wait_closed', name => 'a', timeout => 15);
    my $closed_after = time - $start;
    ok $res->{closed}, 'the tunnel is closed';
    cmp_ok $closed_after, '>=', 9, sprintf('when the 10 s grace period ends (%.1f s)', $closed_after);
    cmp_ok $closed_after, '<', 13, 'not long after';
    ok wait_for('exit', sub { !$proxyd->running }, 3), sprintf('proxyd exits (%.1f s after SIGTERM)', time - $start);
    is $proxyd->stop, 0, 'with status 0';
    ok wait_for('service side closed', sub { events($ws, 'closed') == 1 }, 3), 'the service saw its connection closed';
};

subtest 'SIGTERM with shutdown_timeout: 1s: the tunnel is closed after a second' => sub {
    my $ws = spawn_ws();
    my $proxyd = setup($ws, settings => "shutdown_timeout: 1s\n");
    my $c = WsClient->new;
    ok $c->cmd(op => 'open', name => 'a', url => wsurl($proxyd, '/ws/echo?key=supersecret'))->{ok}, 'open';
    my $start = time;
    kill 'TERM', $proxyd->pid;
    sleep 0.3;
    $c->cmd(op => 'send', name => 'a', text => 'still there');
    is_deeply $c->cmd(op => 'recv', name => 'a'), { text => 'still there' }, 'the tunnel works at 0.3 s';
    my $res = $c->cmd(op => 'wait_closed', name => 'a', timeout => 10);
    my $closed_after = time - $start;
    ok $res->{closed}, 'the tunnel is closed';
    cmp_ok $closed_after, '<', 5, sprintf('within a few seconds (%.1f s), not after the default 10 s', $closed_after);
    ok wait_for('exit', sub { !$proxyd->running }, 3), sprintf('proxyd exits (%.1f s after SIGTERM)', time - $start);
    is $proxyd->stop, 0, 'with status 0';
};

done_testing;

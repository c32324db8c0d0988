# LiveDemo.pm: helpers for the tests of the live demo services (demo/chat, demo/noise): the services with their pages,
# proxyd in front of them with the demo auth service, t/live-client.py runs, raw handshakes and page checks.
package LiveDemo;
use strict;
use warnings;
use Exporter 'import';
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use Util;

our @EXPORT = qw(spawn_live spawn_gate login live_client live_result handshake page_ok $KEY);

our $KEY = 'supersecret';    # what the demo auth service lets through
my $PY = '/usr/bin/python3';    # Debian's, with python3-websockets (packages.txt)
my $http = HTTP::Tiny->new(timeout => 10);

# demo/chat or demo/noise on a free port with its page from the source tree (the tests run there); extra arguments
# are passed on.
sub spawn_live {
    my ($name, @args) = @_;
    my $port = empty_port();
    return spawn(cmd => [bin("demo/$name"), '-l', "127.0.0.1:$port", '-r', "demo/www/$name", @args], port => $port);
}

# proxyd with forward auth by the demo auth service and its browser login, as conf/proxyd.yaml has them, routing /NAME/
# and the host NAME.localhost to each service of %services (name => guard). The auth service lives as long as proxyd's
# guard.
sub spawn_gate {
    my (%services) = @_;
    my $auth = spawn_auth();
    my $registry = join '', "auth: http://127.0.0.1:@{[$auth->port]}/check\n",
        map {"$_: {url: http://127.0.0.1:@{[$services{$_}->port]}, hosts: [$_.localhost]}\n"} sort keys %services;
    my $proxyd = spawn_proxyd(services => $registry,
        settings => "auth:\n  service: auth\n  request_headers: [Cookie]\n  response_headers: [Set-Cookie]\n");
    $proxyd->{auth} = $auth;
    return $proxyd;
}

# Logs in through the gate as a browser's first visit does: GET $path?key=... with Host $host (default proxyd's
# address). Returns the session cookie the auth service set, as a Cookie field's value ("demo_session=..."), or undef.
sub login {
    my ($proxyd, $path, $host) = @_;
    $host //= '127.0.0.1:' . $proxyd->port;
    my $res = Util::raw_request($proxyd->port, "GET $path?key=$KEY HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
    my ($head) = split /\r\n\r\n/, $res, 2;
    return ($head // '') =~ m{\AHTTP/1\.1 200 .*^set-cookie: (demo_session=[0-9a-f]{32});}ims ? $1 : undef;
}

# Starts `t/live-client.py @args` (its scenarios are described there); returns its guard: it is stopped by PID
# when the guard goes out of scope.
sub live_client {
    my (@args) = @_;
    return spawn(cmd => [$PY, 't/live-client.py', @args], log => Util::temp_dir() . '/live-client.out');
}

# Waits up to $seconds for the run to end and returns its JSON answer ({error => ...} when there is none).
sub live_result {
    my ($client, $seconds) = @_;
    Util::wait_for('live-client.py', sub { !$client->running }, $seconds // 30);
    my $out = $client->log;
    my ($line) = grep {/^\{/} reverse split /\n/, $out;
    return (defined $line ? eval { decode_json($line) } : undef) // { error => "no answer from live-client.py: $out" };
}

# A WebSocket handshake on a raw socket: (socket, status, head). The key is RFC 6455's example; Host is 127.0.0.1:$port
# unless @headers name another. A field's value may be a list: one field each.
sub handshake {
    my ($port, $path, @headers) = @_;
    my %fields = (Host => "127.0.0.1:$port", 'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version' => 13,
        @headers);
    my $host = delete $fields{Host};
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or die "connect: $!";
    print $sock "GET $path HTTP/1.1\r\nHost: $host\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . join('', map { my $n = $_; map {"$n: $_\r\n"} ref $fields{$n} ? @{ $fields{$n} } : $fields{$n} }
            grep { defined $fields{$_} } sort keys %fields) . "\r\n";
    my ($head, $sel, $deadline) = ('', IO::Select->new($sock), time + 10);
    while ($head !~ /\r\n\r\n/ && time < $deadline && $sel->can_read($deadline - time)) {
        sysread($sock, $head, 4096, length $head) or last;
    }
    my ($status) = $head =~ m{\AHTTP/1\.1 (\d{3}) };
    return ($sock, $status // 0, $head);
}

# GET $url: 200, a Content-Type matching $type, and a body matching each of @like. Returns the body.
sub page_ok {
    my ($url, $type, @like) = @_;
    my $res = $http->get($url);
    is $res->{status}, 200, "$url: 200";
    like $res->{headers}{'content-type'} // '', $type, "$url: Content-Type";
    like $res->{content}, $_, "$url: $_" for @like;
    return $res->{content};
}

1;

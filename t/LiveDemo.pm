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

our @EXPORT = qw(spawn_live spawn_gate live_client live_result handshake page_ok $KEY);

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

# proxyd with forward auth by the demo auth service, routing /NAME/ to each service of %services (name => guard).
# The auth service lives as long as proxyd's guard.
sub spawn_gate {
    my (%services) = @_;
    my $auth = spawn_auth();
    my $registry = join '', "auth: http://127.0.0.1:@{[$auth->port]}/check\n",
        map {"$_: http://127.0.0.1:@{[$services{$_}->port]}\n"} sort keys %services;
    my $proxyd = spawn_proxyd(services => $registry, settings => "auth:\n  service: auth\n");
    $proxyd->{auth} = $auth;
    return $proxyd;
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

# A WebSocket handshake on a raw socket: (socket, status, head). The key is RFC 6455's example.
sub handshake {
    my ($port, $path, @headers) = @_;
    my %fields = ('Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version' => 13, @headers);
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or die "connect: $!";
    print $sock "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . join('', map {"$_: $fields{$_}\r\n"} grep { defined $fields{$_} } sort keys %fields) . "\r\n";
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

# 50proxy-slow-clients.t: a request must keep arriving (408 when it stalls), and request bodies held at once fit a budget (503).
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Socket::INET;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);
use lib 't';
use Util;

$SIG{PIPE} = 'IGNORE';    # proxyd may end an upload while the test still writes it
my $up = spawn_upstream();
my $url = 'http://127.0.0.1:' . $up->port;
my $KiB = 1024;
my $MiB = 1024 * $KiB;

sub connect_to {
    my ($proxyd) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port) or die "connect: $!";
    return $sock;
}

# What the server sent, and whether it closed, within $seconds.
sub read_all {
    my ($sock, $seconds) = @_;
    my ($res, $closed) = ('', 0);
    $sock->blocking(0);
    wait_for('close', sub {
        my $n = sysread($sock, my $buf, 65536);
        $res .= $buf if $n;
        $closed = defined $n ? $n == 0 : !$!{EAGAIN};
        return $closed;
    }, $seconds);
    return ($res, $closed);
}

# Bytes of the temporary files proxyd's read buffers spilled into.
sub spilled {
    my ($pid) = @_;
    my $sum = 0;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $target = readlink($fd) // next;
        $sum += (-s $fd) // 0 if $target =~ m{/proxyd\.body\.};
    }
    return $sum;
}

# Started first and checked last: 150 KiB at 10 KiB/s takes 15 s, longer than the
# default 10 s request_timeout, but never stops for long.
my $patient = spawn_proxyd(threads => 1, services => "up: $url\n");
my $idle = connect_to($patient);
my $slow_body = join '', map { chr(97 + $_ % 26) } 1 .. 150 * $KiB;
my $slow_result = temp_dir() . '/slow';
my $slow_pid = fork // die "fork: $!";
if ($slow_pid == 0) {
    my $sock = connect_to($patient);
    print $sock "POST /up/slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: @{[length $slow_body]}\r\nConnection: close\r\n\r\n";
    for my $i (0 .. 14) {
        sleep 1;    # the client's pace
        print $sock substr($slow_body, $i * 10 * $KiB, 10 * $KiB);
    }
    write_file($slow_result, (read_all($sock, 10))[0]);
    POSIX::_exit(0);
}

my $strict = spawn_proxyd(threads => 1, services => "up: $url\n", settings => "client:\n  request_timeout: 1s\n");

subtest 'a body that stalls gets 408 after client.request_timeout' => sub {
    my $count = decode_json(HTTP::Tiny->new->get($up->url('/count'))->{content})->{requests};
    my $sock = connect_to($strict);
    my $start = time;
    print $sock "POST /up/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" . ('s' x 100);
    my ($res, $closed) = read_all($sock, 5);
    my $took = time - $start;
    like $res, qr{^HTTP/1\.1 408 }, 'answered 408';
    like $res, qr{^content-type: application/json\r$}mi, 'JSON';
    like $res, qr{^connection: close\r$}mi, 'Connection: close';
    like $res, qr{\r\n\r\n\{"error":"request timeout"\}\z}, 'says why';
    ok $closed, 'then the connection is closed';
    cmp_ok $took, '>=', 0.9, sprintf('not before request_timeout (%.2f s)', $took);
    cmp_ok $took, '<', 2.5, 'nor long after it';
    like $strict->log, qr{client sent \d+ bytes of a request, then nothing for \d+ms: 408}, 'logged';
    is decode_json(HTTP::Tiny->new->get($up->url('/count'))->{content})->{requests}, $count, 'nothing reached the upstream';
};

subtest 'a head that stalls gets 408 too' => sub {
    my $sock = connect_to($strict);
    print $sock "GET /up/x HTTP/1.1\r\nHost: x\r\n";
    my ($res, $closed) = read_all($sock, 5);
    like $res, qr{^HTTP/1\.1 408 .*\{"error":"request timeout"\}\z}s, 'answered 408';
    ok $closed, 'closed';
};

subtest 'a body that keeps arriving is not cut, however long it takes in all' => sub {
    my $sock = connect_to($strict);
    print $sock "POST /up/trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\nConnection: close\r\n\r\n";
    for (1 .. 6) {
        sleep 0.4;    # the client's pace: 2.4 s in all, with request_timeout 1s
        print $sock 't' x 10;
    }
    my ($res) = read_all($sock, 5);
    like $res, qr{^HTTP/1\.1 200 }, 'answered 200';
    like $res, qr{"body_length":60}, 'the whole body reached the upstream';
};

subtest 'an idle connection gets no 408' => sub {
    my $sock = connect_to($strict);
    my ($res, $closed) = read_all($sock, 1.5);
    is $res, '', 'nothing is sent to a client that has not started a request';
    ok !$closed, 'its connection stays open past request_timeout';
    print $sock "GET /up/after-idle HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    like((read_all($sock, 5))[0], qr{^HTTP/1\.1 200 }, 'and serves the request that comes');
};

subtest 'uploads over client.body_budget get 503, disk stays bounded, an upload within it passes' => sub {
    my $tight = spawn_proxyd(threads => 1, services => "up: {url: $url, max_request_body: 4MiB}\n",
        settings => "client:\n  body_budget: 5MiB\n");
    my $size = 3 * $MiB;
    my @socks = map { connect_to($tight) } 1 .. 4;
    # 2.5 MiB each, the rest held back: four keyless uploads waiting for their last bytes
    for my $sock (@socks) {
        print $sock "POST /up/held HTTP/1.1\r\nHost: x\r\nContent-Length: $size\r\nConnection: close\r\n\r\n";
        print $sock 'u' x ($size - $MiB / 2);
    }
    my @res = ('') x 4;
    $_->blocking(0) for @socks;
    my $answered = sub { scalar grep { $_ =~ /\r\n\r\n\{.*\}\z/s } @res };
    wait_for('answers', sub {
        for my $i (0 .. 3) {
            my $n = sysread($socks[$i], my $buf, 65536);
            $res[$i] .= $buf if $n;
        }
        return $answered->() >= 3;
    }, 5);    # shorter than libh2o's own 10 s request timer, which would close them all
    my @refused = grep { $res[$_] =~ m{^HTTP/1\.1 503 .*\r\n\r\n\{"error":"request body budget exceeded"\}\z}s } 0 .. 3;
    is scalar(@refused), 3, 'three of four get 503, the largest first, until the rest fit';
    like $tight->log, qr{over client\.body_budget: 503}, 'logged';
    ok wait_for('buffers freed', sub { spilled($tight->pid) <= 5 * $MiB }, 2), 'the bodies on disk fit the budget'
        or diag 'spilled: ' . spilled($tight->pid);
    my ($left) = grep { $res[$_] eq '' } 0 .. 3;
    ok defined $left, 'one upload is still waiting' or return;
    $socks[$left]->blocking(1);
    print { $socks[$left] } 'u' x ($MiB / 2);
    my ($res) = read_all($socks[$left], 10);
    like $res, qr{^HTTP/1\.1 200 .*"body_length":$size}s, 'and completes';
    my $ok = HTTP::Tiny->new(timeout => 10)->post($tight->url('/up/after'), { content => 'a' x (1.5 * $MiB) });
    is $ok->{status}, 200, 'a new upload within the budget passes';
    is $tight->stop, 0, 'proxyd exits 0';
};

subtest 'a slow body that keeps arriving is not cut by the default 10 s request_timeout' => sub {
    waitpid $slow_pid, 0;
    my $res = read_file($slow_result);
    like $res, qr{^HTTP/1\.1 200 }, '150 KiB at 10 KiB/s: 200 after 15 s';
    like $res, qr{"body_length":153600}, 'the whole body reached the upstream';
    like $res, qr{"body_sha256":"@{[sha256_hex($slow_body)]}"}, 'unchanged';
};

subtest 'idle keep-alive connections are still closed after 10 s' => sub {
    my ($res, $closed) = read_all($idle, 1);
    is $res, '', 'without a word';
    ok $closed, 'the connection opened 15 s ago is closed';
};

is $strict->stop, 0, 'proxyd exits 0';
is $patient->stop, 0, 'proxyd exits 0';
done_testing;

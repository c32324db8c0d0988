# 50proxy-bodies.t: large responses stream with flat memory; request bodies are bounded and spill to disk.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use lib 't';
use Util;

my $up = spawn_upstream();
my $proxyd = spawn_proxyd(services => "up: http://127.0.0.1:@{[$up->port]}\n", settings => "max_request_body: 24MiB\n",
    threads => 1);
my $http = HTTP::Tiny->new(timeout => 30);
my $MiB = 1024 * 1024;

subtest '100 MB download streams with flat memory' => sub {
    $http->get($proxyd->url('/up/warm'));
    my $before = rss_kib($proxyd->pid);
    my $size = 100 * $MiB;
    my $pid = open(my $curl, '-|', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}',
        $proxyd->url("/up/big?size=$size")) or die "curl: $!";
    my $peak = $before;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        my $now = rss_kib($proxyd->pid) // 0;
        $peak = $now if $now > $peak;
        sleep 0.01;
    }
    my $out = <$curl> // '';
    is $out, "200 $size", 'all 100 MB arrived';
    SKIP: {
        skip 'memory is not measured on a sanitizer build', 1 if sanitized();
        cmp_ok $peak - $before, '<', 16 * 1024, "proxyd's memory grew by less than 16 MiB (it grew by @{[$peak - $before]} KiB)";
    }
};

subtest 'upload within max_request_body' => sub {
    my $body = join '', map { chr(65 + $_ % 26) } 1 .. 10 * $MiB;
    my $res = $http->post($proxyd->url('/up/upload'), { content => $body });
    is $res->{status}, 200, 'status 200';
    my $echo = decode_json($res->{content});
    is $echo->{body_length}, length $body, 'length';
    is $echo->{body_sha256}, sha256_hex($body), 'content';
};

# Sends a body of $size bytes while reading: proxyd may answer (and close) before the
# body is all sent, as a browser would see it. Returns what proxyd sent.
sub upload_reading {
    my ($port, $size) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die $!;
    local $SIG{PIPE} = 'IGNORE';
    syswrite $sock, "POST /up/upload HTTP/1.1\r\nHost: x\r\nContent-Length: $size\r\nConnection: close\r\n\r\n";
    $sock->blocking(0);
    my ($sent, $res, $chunk) = (0, '', 'x' x 65536);
    my $deadline = time + 20;
    while (time < $deadline) {
        my ($r, $w) = ('', '');
        vec($r, fileno $sock, 1) = 1;
        vec($w, fileno $sock, 1) = 1 if $sent < $size;
        select($r, $w, undef, 1);
        if (vec($r, fileno $sock, 1)) {
            my $n = sysread $sock, my $buf, 65536;
            last unless $n;    # closed (or reset)
            $res .= $buf;
        } elsif ($sent < $size && vec($w, fileno $sock, 1)) {
            my $n = syswrite $sock, $chunk, $size - $sent < length $chunk ? $size - $sent : length $chunk;
            $sent += $n if defined $n;
        }
    }
    return $res;
}

subtest 'upload over max_request_body' => sub {
    my $count = decode_json($http->get($up->url('/count'))->{content})->{requests};
    my $res = upload_reading($proxyd->port, 25 * $MiB);
    like $res, qr{^HTTP/1\.1 413 }, 'a client sending a 25 MiB body gets 413';
    $res = raw_request($proxyd->port, "POST /up/upload HTTP/1.1\r\nHost: x\r\nContent-Length: " . 25 * $MiB . "\r\n\r\n");
    like $res, qr{^HTTP/1\.1 413 }, 'status 413 from the Content-Length alone';
    like $res, qr{^content-type: application/json\r$}mi, 'JSON';
    like $res, qr{\{"error":"request body too large"\}}, 'says why';
    $res = raw_request($proxyd->port, "POST /up/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        . join('', map { sprintf("%x\r\n%s\r\n", $MiB, 'z' x $MiB) } 1 .. 25) . "0\r\n\r\n", 10);
    like $res, qr{^HTTP/1\.1 413 }, 'a chunked body over the limit gets 413 too';
    is decode_json($http->get($up->url('/count'))->{content})->{requests}, $count, 'nothing reached the upstream';
};

# Bytes a process has read from sockets and files (rchar in /proc/PID/io).
sub bytes_read {
    my ($pid) = @_;
    return read_file("/proc/$pid/io") =~ /^rchar:\s+(\d+)/m ? $1 : die "no rchar for $pid";
}

# A body held by proxyd (the client has not sent its last byte) is in a temporary file, not in anonymous memory.
subtest 'a large body waiting in proxyd is on disk' => sub {
    my $size = 20 * $MiB;
    my $before = rss_kib($proxyd->pid);
    my $read_before = bytes_read($proxyd->pid);
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port) or die $!;
    print $sock "POST /up/held HTTP/1.1\r\nHost: x\r\nContent-Length: $size\r\nConnection: close\r\n\r\n";
    my $chunk = 'y' x $MiB;
    print $sock $chunk for 1 .. 19;
    print $sock 'y' x ($MiB - 1);
    ok wait_for('proxyd read the body', sub { bytes_read($proxyd->pid) - $read_before >= $size - 1 }),
        'proxyd read all the body sent so far';
    my $held = rss_kib($proxyd->pid);
    SKIP: {
        skip 'memory is not measured on a sanitizer build', 1 if sanitized();
        cmp_ok $held - $before, '<', 8 * 1024, "anonymous memory grew by less than 8 MiB while holding 20 MiB (grew by @{[$held - $before]} KiB)";
    }
    print $sock 'y';
    local $/;
    my $res = <$sock>;
    like $res, qr{^HTTP/1\.1 200 }, 'then forwarded';
    like $res, qr{"body_length":$size}, 'whole';
};

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

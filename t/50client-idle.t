# 50client-idle.t: client.idle_timeout closes idle HTTP/1 keep-alive and HTTP/2 connections.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);
use lib 't';
use Util;

$SIG{PIPE} = 'IGNORE';    # a connection closed too early fails a test instead of ending the script

my $up = spawn_upstream();
my $proxyd = spawn_proxyd(services => "up: http://127.0.0.1:@{[$up->port]}\n", settings => "client:\n  idle_timeout: 1s\n");

sub connect_proxyd {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port, Proto => 'tcp') // die "connect: $!";
}

# Reads what comes (a response, SETTINGS, GOAWAY) until the end of the connection
# or until `until` seconds from now; returns whether it ended, and what came.
sub read_until_closed {
    my ($sock, $until) = @_;
    my $deadline = time + $until;
    my $sel = IO::Select->new($sock);
    my $got = '';
    while ((my $left = $deadline - time) > 0) {
        next unless $sel->can_read($left);
        my $n = sysread($sock, my $buf, 65536);
        return (1, $got) if !$n;    # end of file, or a reset
        $got .= $buf;
    }
    return (0, $got);
}

# One HTTP/1 response with a content-length, read whole (waiting up to 10 s).
sub read_response {
    my ($sock) = @_;
    my $deadline = time + 10;
    my $sel = IO::Select->new($sock);
    my $got = '';
    while ((my $left = $deadline - time) > 0) {
        if ($got =~ /\A(.*?\r\n\r\n)/s) {
            my ($head_len, $head) = (length $1, $1);
            my ($body_len) = $head =~ /^content-length: *(\d+)\r$/mi;
            return $got if defined $body_len && length($got) >= $head_len + $body_len;
        }
        last unless $sel->can_read($left);
        last unless sysread($sock, my $buf, 65536);
        $got .= $buf;
    }
    return $got;
}

subtest 'HTTP/1: an idle keep-alive connection' => sub {
    my $sock = connect_proxyd();
    print $sock "GET /up/a HTTP/1.1\r\nHost: x\r\n\r\n";
    like read_response($sock), qr{^HTTP/1\.1 200 }, 'the first request is answered';
    my ($closed) = read_until_closed($sock, 0.3);
    ok !$closed, 'still open 0.3 s after the response';
    my $start = time;
    ($closed) = read_until_closed($sock, 5);
    ok $closed, 'closed by proxyd within a few seconds';
    cmp_ok time - $start, '>=', 0.3, 'not at once';
};

subtest 'HTTP/1: a connection that never sends a byte' => sub {
    my $sock = connect_proxyd();
    my ($closed) = read_until_closed($sock, 0.3);
    ok !$closed, 'open at 0.3 s';
    ($closed) = read_until_closed($sock, 5);
    ok $closed, 'closed within a few seconds';
};

# the sweep that closes idle connections runs a few times a second: a request
# answered between two sweeps must still restart the idle time
subtest 'HTTP/1: a request keeps the connection' => sub {
    my $sock = connect_proxyd();
    for my $i (1 .. 3) {
        my ($closed) = read_until_closed($sock, 0.6);
        ok !$closed, "open after 0.6 s idle ($i)";
        print $sock "GET /up/b$i HTTP/1.1\r\nHost: x\r\n\r\n";
        like read_response($sock), qr{^HTTP/1\.1 200 }, "request $i answered on the same connection";
    }
};

subtest 'HTTP/2: an idle connection' => sub {
    my $sock = connect_proxyd();
    # the client preface and an empty SETTINGS frame, then nothing
    print $sock "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . pack('nCCCN', 0, 0, 4, 0, 0);
    my ($closed, $got) = read_until_closed($sock, 0.3);
    ok !$closed, 'open at 0.3 s';
    my $more;
    ($closed, $more) = read_until_closed($sock, 5);
    ok $closed, 'closed within a few seconds';
    $got .= $more;
    cmp_ok length($got), '>=', 9, 'proxyd answered the preface';
    my @types;
    while (length($got) >= 9) {    # frame headers: 24-bit length, type, flags, stream
        my ($len_hi, $len_lo, $type) = unpack('CnC', $got);
        push @types, $type;
        substr($got, 0, 9 + ($len_hi << 16 | $len_lo), '');
    }
    ok((grep { $_ == 7 } @types), 'with a GOAWAY') or diag "frame types: @types";
};

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

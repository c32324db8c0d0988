#!/usr/bin/perl
# bench/idle_conns.pl HOST PORT PATH N [HOLD_SECONDS]
#
# Helper of bench/run.sh: opens N keep-alive client connections to HOST:PORT,
# one after another, sends one full "GET PATH HTTP/1.1" request on each and
# reads the whole response (so only one request is ever in flight and the
# proxy needs a single upstream connection), then keeps all of them open and
# idle.
#
# Prints "READY <opened> <failed>" on stdout once every connection is idle,
# then waits (at most HOLD_SECONDS, default 120) for SIGUSR1 or SIGTERM.
# On that signal it checks how many connections the server has not closed,
# prints "ALIVE <count>" and exits.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);

my ($host, $port, $path, $n, $hold) = @ARGV;
die "usage: $0 HOST PORT PATH N [HOLD_SECONDS]\n" unless defined $n && $n =~ /^\d+$/;
$hold = 120 unless defined $hold;
$| = 1;

my $request = "GET $path HTTP/1.1\r\nHost: $host:$port\r\nUser-Agent: proxyd-bench\r\n\r\n";

# Reads one complete HTTP/1.1 response; returns the status code, or undef
# (with a reason in $@) when the connection closed or the response was not
# a keep-alive one.
sub read_response {
    my ($sock) = @_;
    my $buf = '';
    while (1) {
        if ((my $end = index($buf, "\r\n\r\n")) >= 0) {
            my $head = substr($buf, 0, $end);
            my $body = substr($buf, $end + 4);
            my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})} or do { $@ = "bad status line"; return undef };
            if ($head =~ /^Connection:\s*close/mi) { $@ = "server sent Connection: close"; return undef }
            if ($head =~ /^Content-Length:\s*(\d+)/mi) {
                return $status if length($body) >= $1;
            } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
                return $status if $body =~ /(?:^|\r\n)0\r\n(?:.*\r\n)?\r\n\z/s;
            } else {
                $@ = "response has no length (not keep-alive)";
                return undef;
            }
        }
        my $r = sysread($sock, $buf, 65536, length $buf);
        if (!$r) { $@ = defined $r ? "connection closed by server" : "read: $!"; return undef }
    }
}

my @socks;
my $failed = 0;
my $last_error = '';
local $SIG{ALRM} = sub { die "timeout\n" };
for my $i (1 .. $n) {
    my $ok = eval {
        alarm 10;
        my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp')
            or die "connect: $!\n";
        setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
        syswrite($s, $request) == length($request) or die "write: $!\n";
        my $status = read_response($s);
        defined $status or die "$@\n";
        $status == 200 or die "status $status\n";
        alarm 0;
        push @socks, $s;
        1;
    };
    alarm 0;
    if (!$ok) {
        $failed++;
        ($last_error = $@) =~ s/\s+\z//;
        last if $failed >= 20;    # the server refuses connections: stop early
    }
}
print STDERR "idle_conns: $failed connection(s) failed, last error: $last_error\n" if $failed;
print "READY ", scalar(@socks), " $failed\n";

my $stop = 0;
$SIG{USR1} = $SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
my $deadline = time + $hold;
select(undef, undef, undef, 0.05) while !$stop && time < $deadline;

# A connection the server closed is readable and reads EOF.
my $alive = 0;
my $sel = IO::Select->new;
for my $s (@socks) {
    $sel->add($s);
    if ($sel->can_read(0)) {
        my $r = sysread($s, my $junk, 4096);
        $alive++ if $r;    # data (unexpected) but still open
    } else {
        $alive++;
    }
    $sel->remove($s);
}
print "ALIVE $alive\n";
close $_ for @socks;
exit 0;

#!/usr/bin/perl
# raw-upstream.pl: a scripted HTTP/1.1 upstream on plain sockets (not libh2o): answers each request with the
# canned bytes of a case, keeps connections open between requests, and records what reached it.
#
# usage: raw-upstream.pl PORT CASES.json
#
# CASES.json (read again for every request, so a test may change it between requests) maps a case name to a
# list of answers, one per request on the same connection (the last one repeats):
#   {"ok": [[["send", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]]],
#    "flaky": [[["send", "HTTP/1.1 200 OK\r\n..."]], [["close"]]]}
# The case is the request target's last path segment (without the query). An answer is a list of steps:
#   ["send", BYTES]   write BYTES (a latin1 string: any octet) as they are
#   ["sleep", SECS]   wait
#   ["close"]         close the connection now (without a full answer: a crash, a reset keep-alive socket)
#   ["hang"]          send nothing more; keep the connection open until the peer closes it
# After the last step the connection stays open for the next request (keep-alive).
# An unknown case gets a 404 that names it.
#
# Each connection is served by a child process. One line per event goes to stdout, written at once:
#   request {"conn":N,"seq":I,"method":...,"target":...,"head":...,"body":...}   before the answer
#   eof N       the peer closed connection N
#   close N     a ["close"] step closed connection N
# The children leave when the server does (SIGTERM) or when their parent is gone.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw(:sys_wait_h);

my ($port, $cases_file) = @ARGV;
die "usage: raw-upstream.pl PORT CASES.json\n" unless defined $cases_file;
my $json = JSON::PP->new->latin1->canonical;
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128, ReuseAddr => 1)
    or die "listen $port: $!";
my $parent = $$;
my %children;

sub record {
    my ($line) = @_;
    syswrite STDOUT, "$line\n";
}

sub load_cases {
    open my $fh, '<:raw', $cases_file or return {};
    local $/;
    my $text = <$fh>;
    return eval { $json->decode($text) } // {};
}

# Waits until $sock is readable; gives up when the server is gone. Returns the bytes read, '' at EOF.
sub read_some {
    my ($sock) = @_;
    my $sel = IO::Select->new($sock);
    while (1) {
        exit 0 if getppid() != $parent;
        next unless $sel->can_read(0.5);
        my $n = sysread($sock, my $buf, 65536);
        return defined $n ? $buf : '';
    }
}

# Reads one request (head and a Content-Length or chunked body); undef at EOF.
sub read_request {
    my ($sock, $pending) = @_;
    while ($$pending !~ /\r\n\r\n/) {
        my $more = read_some($sock);
        return undef if $more eq '';
        $$pending .= $more;
    }
    my ($head, $rest) = split /\r\n\r\n/, $$pending, 2;
    my ($method, $target) = $head =~ /\A(\S+) (\S+)/;
    my $body = '';
    if ($head =~ /^transfer-encoding:[ \t]*chunked/mi) {
        while (1) {
            my ($line, $size);
            while (1) {
                if ($rest =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/) {
                    ($line, $size) = (length $&, hex $1);
                    last if $size == 0 || length($rest) >= $line + $size + 2;
                }
                my $more = read_some($sock);
                return undef if $more eq '';
                $rest .= $more;
            }
            substr($rest, 0, $line) = '';
            if ($size == 0) {
                until ($rest =~ s/\A(?:[^\r\n]+\r\n)*\r\n//) {    # trailers, then the empty line
                    my $more = read_some($sock);
                    return undef if $more eq '';
                    $rest .= $more;
                }
                last;
            }
            $body .= substr($rest, 0, $size);
            substr($rest, 0, $size + 2) = '';
        }
    } elsif ($head =~ /^content-length:[ \t]*(\d+)/mi) {
        my $len = $1;
        while (length($rest) < $len) {
            my $more = read_some($sock);
            return undef if $more eq '';
            $rest .= $more;
        }
        $body = substr($rest, 0, $len, '');
    }
    $$pending = $rest;
    return { method => $method // '', target => $target // '', head => "$head\r\n\r\n", body => $body };
}

sub answer_for {
    my ($target, $seq) = @_;
    my ($name) = $target =~ m{([^/?]*)(?:\?.*)?\z};
    my $answers = load_cases()->{ $name // '' };
    return [['send', "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: "
            . (length($name // '') + 14) . "\r\n\r\nno such case: " . ($name // '')]]
        unless ref $answers eq 'ARRAY' && @$answers;
    return $answers->[$seq < @$answers ? $seq : $#$answers];
}

# Serves connection $conn until it ends; returns nothing.
sub serve {
    my ($sock, $conn) = @_;
    my $pending = '';
    for (my $seq = 0; ; $seq++) {
        my $req = read_request($sock, \$pending);
        if (!defined $req) {
            record("eof $conn");
            return;
        }
        record('request ' . $json->encode({ conn => $conn, seq => $seq, %$req }));
        for my $step (@{ answer_for($req->{target}, $seq) }) {
            my ($what, $arg) = @$step;
            if ($what eq 'send') {
                local $SIG{PIPE} = 'IGNORE';
                my $off = 0;
                while ($off < length $arg) {
                    my $n = syswrite($sock, $arg, length($arg) - $off, $off);
                    return unless defined $n;
                    $off += $n;
                }
            } elsif ($what eq 'sleep') {
                select(undef, undef, undef, $arg);
            } elsif ($what eq 'close') {
                record("close $conn");
                return;
            } elsif ($what eq 'hang') {
                1 while read_some($sock) ne '';
                record("eof $conn");
                return;
            } else {
                die "unknown step $what\n";
            }
        }
    }
}

$SIG{CHLD} = sub {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $children{$pid};
    }
};
$SIG{TERM} = $SIG{INT} = sub {
    kill 'TERM', keys %children;
    exit 0;
};

my $conns = 0;
while (1) {
    my $sock = $listener->accept;
    unless ($sock) {
        next if $!{EINTR} || $!{ECONNABORTED};
        die "accept: $!";
    }
    my $conn = ++$conns;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = $SIG{INT} = 'DEFAULT';
        $SIG{CHLD} = 'DEFAULT';
        close $listener;
        serve($sock, $conn);
        close $sock;
        POSIX::_exit(0);
    }
    $children{$pid} = 1;
    close $sock;
}

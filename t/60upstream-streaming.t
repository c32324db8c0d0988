# 60upstream-streaming.t: responses stream with back-pressure (issue 9): slow readers cost no memory or disk, stalled ones are dropped after client.send_timeout, silent streams live as long as the service's timeout.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Select;
use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);
use lib 't';
use Util;

$SIG{PIPE} = 'IGNORE';
my $KiB = 1024;
my $MiB = 1024 * $KiB;
# What may sit between the upstream's writes and the client's reads besides proxyd's own
# upstream.buffer (64 KiB): the kernel's socket buffers on loopback (the upstream's send
# buffer, proxyd's receive and send buffers, the client's receive buffer), a few MiB each.
my $IN_FLIGHT = 32 * $MiB;

my $port = empty_port();
my $up = spawn(cmd => ['/usr/bin/python3', 't/stream-server.py', $port], port => $port, log => temp_dir() . '/stream.log');
my $url = "http://127.0.0.1:$port";

# What the upstream reported about the response to $path once it ended (undef while it runs).
sub upstream_result {
    my ($path) = @_;
    my ($r) = grep { $_->{path} eq $path } map { decode_json($_) } grep {/^\{/} split /\n/, $up->log;
    return $r;
}

# proxyd with its own empty TMPDIR (returned too): responses must not be spooled to disk.
sub spawn_streaming {
    my (%opts) = @_;
    my $dir = temp_dir();
    my $tmp = temp_dir();
    local $ENV{TMPDIR} = $tmp;
    return (spawn_proxyd(dir => $dir, %opts), $tmp);
}

# Temporary files proxyd holds open or mapped (libh2o maps its spill files after unlinking
# them; proxyd's template puts them in TMPDIR as proxyd.body.*).
sub temp_files {
    my ($proxyd, $tmp) = @_;
    my $pid = $proxyd->pid;
    my $log = $proxyd->dir . '/proxyd.log';
    my $exe = readlink("/proc/$pid/exe") // '';
    (my $program = $exe) =~ s/ \(deleted\)$//;
    # unlinked files, files in its TMPDIR, and spill files by name (libh2o's default is /tmp/h2o.b.*)
    my $temporary = sub {
        (my $file = $_[0]) =~ s/ \(deleted\)$//;
        return 0 if $file eq $log || $file eq $program || $file =~ m{\.so(?:\.[\d.]+)?$} || $file =~ m{^/memfd:};
        return $_[0] =~ /\(deleted\)$/ || index($file, "$tmp/") == 0 || $file =~ m{/(?:h2o\.b\.|proxyd\.body\.)[^/]*$};
    };
    my %files;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $target = readlink($fd) // next;
        $files{$target} = 1 if $temporary->($target);
    }
    for (split /\n/, read_file("/proc/$pid/maps")) {
        my (undef, undef, undef, undef, undef, $path) = split ' ', $_, 6;
        $files{$path} = 1 if defined $path && $temporary->($path);
    }
    return sort keys %files;
}

# A client with a small receive buffer (64 KiB: no autotuning) that sent GET $path and read
# the response head. Returns (socket, head, body bytes that came with the head).
sub slow_client {
    my ($proxyd, $path) = @_;
    socket(my $sock, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 64 * $KiB) or die "SO_RCVBUF: $!";
    connect($sock, pack_sockaddr_in($proxyd->port, inet_aton('127.0.0.1'))) or die "connect: $!";
    syswrite $sock, "GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my $buf = '';
    my $sel = IO::Select->new($sock);
    while ($buf !~ /\r\n\r\n/ && $sel->can_read(10)) {
        sysread($sock, $buf, 65536, length $buf) or last;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    return ($sock, $head // '', length($body // ''));
}

# Reads $rate bytes a second from $sock for $seconds, calling $tick after every read.
# Returns (bytes read, closed by proxyd).
sub read_slowly {
    my ($sock, $rate, $seconds, $tick) = @_;
    my ($total, $start) = (0, time);
    my $step = 16 * $KiB;
    while (time - $start < $seconds) {
        my $n = sysread($sock, my $buf, $step);
        return ($total, 1) unless $n;
        $total += $n;
        $tick->() if $tick;
        my $wait = $start + $total / $rate - time;    # one clock reading: it may pass the due time in between
        sleep($wait) if $wait > 0;
    }
    return ($total, 0);
}

# Everything left in $sock until proxyd closes it (or $seconds pass): (bytes, closed).
sub drain {
    my ($sock, $seconds) = @_;
    my ($total, $closed) = (0, 0);
    my $sel = IO::Select->new($sock);
    my $deadline = time + $seconds;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($sock, my $buf, 1 << 20);
        if (!$n) {
            $closed = 1;
            last;
        }
        $total += $n;
    }
    return ($total, $closed);
}

subtest 'a slow reader: the upstream is held back, no memory or disk fills up' => sub {
    my ($proxyd, $tmp) = spawn_streaming(threads => 1, services => "big: $url\n");
    my $base = rss_kib($proxyd->pid);
    my $path = '/big?size=' . 200 * $MiB;
    my ($sock, $head, $early) = slow_client($proxyd, "/big$path");
    like $head, qr{^HTTP/1\.1 200 }, 'a 200 MiB response starts';
    like $head, qr{^content-length: 209715200\r?$}mi, 'with its Content-Length';
    my ($max, @spilled) = ($base);
    my ($read) = read_slowly($sock, 2 * $MiB, 4, sub {
        my $rss = rss_kib($proxyd->pid) // 0;
        $max = $rss if $rss > $max;
        @spilled = temp_files($proxyd, $tmp) unless @spilled;
    });
    $read += $early;
    cmp_ok $read, '>', 4 * $MiB, sprintf('the client read %.1f MiB at 2 MiB/s', $read / $MiB);
    is_deeply \@spilled, [], 'proxyd has no temporary file open or mapped';
    is_deeply [glob "$tmp/*"], [], 'nothing in its TMPDIR';
    SKIP: {
        skip 'memory figures of a sanitizer build say nothing', 1 if sanitized();
        cmp_ok $max - $base, '<', 64 * $KiB, sprintf('proxyd RssAnon grew %d KiB (under 64 MiB)', $max - $base);
    }
    close $sock;
    ok wait_for('upstream done', sub { upstream_result($path) }, 10), 'the client left: the upstream connection is closed';
    my $r = upstream_result($path) // {};
    like $r->{result} // '', qr/^error/, 'the upstream saw its write fail' or diag explain $r;
    cmp_ok $r->{sent} // 200 * $MiB, '<', $read + $IN_FLIGHT,
        sprintf('it had written %.1f MiB, what the client read and what the sockets hold: held back', ($r->{sent} // 0) / $MiB);
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'client.send_timeout: a client that stops reading is dropped, and the upstream connection closed' => sub {
    my ($proxyd, $tmp) = spawn_streaming(threads => 1, services => "stall: $url\n", settings => "client:\n  send_timeout: 1s\n");
    my $path = '/big?size=' . 200 * $MiB . '&stall';
    my ($sock, $head, $early) = slow_client($proxyd, "/stall$path");
    like $head, qr{^HTTP/1\.1 200 }, 'the response starts';
    my $stopped = time;    # the client reads nothing more from here on
    ok wait_for('upstream closed', sub { upstream_result($path) }, 15), 'the upstream connection is closed';
    my $took = time - $stopped;
    cmp_ok $took, '>=', 1, sprintf('not before send_timeout (%.1f s after the client stopped)', $took);
    cmp_ok $took, '<', 6, 'nor long after it';
    my $r = upstream_result($path) // {};
    like $r->{result} // '', qr/^error/, 'the upstream saw its write fail' or diag explain $r;
    cmp_ok $r->{sent} // 200 * $MiB, '<', $IN_FLIGHT, sprintf('after %.1f MiB', ($r->{sent} // 0) / $MiB);
    my ($rest, $closed) = drain($sock, 10);
    ok $closed, 'the client connection is closed';
    cmp_ok $early + $rest, '<', 200 * $MiB, sprintf('with the response cut short (%.1f MiB of 200)', ($early + $rest) / $MiB);
    my ($line) = grep {/service stall/} split /\n/, $proxyd->log;
    ok $line, 'a log line names the service' or diag $proxyd->log;
    like $line // '', qr/client.*(?:took no|send|time)/i, 'and says the client took nothing' or diag $line;
    is_deeply [temp_files($proxyd, $tmp)], [], 'no temporary file';
    my $res = HTTP::Tiny->new(timeout => 10)->get($proxyd->url('/stall/big?size=10'));
    is $res->{status}, 200, 'proxyd serves the next request';
    is length($res->{content}), 10, 'whole';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest '20 slow readers at once keep RSS flat' => sub {
    my ($proxyd, $tmp) = spawn_streaming(threads => 2, services => "big: $url\n");
    my $base = rss_kib($proxyd->pid);
    my $size = 64 * $MiB;    # each, never read to the end (the bench reads 1 GiB at 100 KiB/s)
    my $results = temp_dir();
    my @pids;
    for my $i (1 .. 20) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($sock, $head, $early) = slow_client($proxyd, "/big/big?size=$size&reader=$i");
            my ($read, $closed) = read_slowly($sock, 512 * $KiB, 5);
            write_file("$results/$i", encode_json({ head => $head, read => $read + $early, closed => $closed }));
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    my ($max, @spilled) = ($base);
    wait_for('readers done', sub {
        my $rss = rss_kib($proxyd->pid) // 0;
        $max = $rss if $rss > $max;
        @spilled = temp_files($proxyd, $tmp) unless @spilled;
        return 0 == grep { waitpid($_, POSIX::WNOHANG()) == 0 } @pids;
    }, 30);
    my @r = map { eval { decode_json(read_file("$results/$_")) } // {} } 1 .. 20;
    is scalar(grep { ($_->{head} // '') =~ m{^HTTP/1\.1 200 } } @r), 20, 'twenty responses started';
    is scalar(grep { !$_->{closed} && ($_->{read} // 0) > 2 * $MiB } @r), 20, 'each read at its pace for 5 s, none was cut';
    is_deeply \@spilled, [], 'proxyd has no temporary file open or mapped';
    is_deeply [glob "$tmp/*"], [], 'nothing in its TMPDIR';
    SKIP: {
        skip 'memory figures of a sanitizer build say nothing', 1 if sanitized();
        cmp_ok $max - $base, '<', 64 * $KiB, sprintf('proxyd RssAnon grew %d KiB (under 64 MiB)', $max - $base);
    }
    ok wait_for('upstreams closed', sub { 20 == grep { upstream_result("/big?size=$size&reader=$_") } 1 .. 20 }, 10),
        'the readers left: all twenty upstream connections are closed';
    my @held = grep {
        my $u = upstream_result("/big?size=$size&reader=$_") // {};
        ($u->{sent} // $size) < ($r[$_ - 1]{read} // 0) + $IN_FLIGHT
    } 1 .. 20;
    is scalar(@held), 20, 'each upstream had written no more than its reader read and the sockets hold';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'a silent stream lives as long as the service\'s timeout, not io_timeout' => sub {
    my $proxyd = spawn_proxyd(threads => 1, settings => "upstream:\n  io_timeout: 1s\n",
        services => "sse: {url: '$url', timeout: 3s}\nplain: $url\n");
    my $get = sub {
        my ($path, $seconds) = @_;
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port) or die "connect: $!";
        print $sock "GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        my ($res, $closed, $first) = ('', 0);
        my $start = time;
        my $sel = IO::Select->new($sock);
        while (time - $start < $seconds && $sel->can_read($seconds - (time - $start))) {
            my $n = sysread($sock, $res, 65536, length $res);
            if (!$n) {
                $closed = time - $start;
                last;
            }
            $first //= time - $start if $res =~ /event 1/;
        }
        return ($res, $closed, $first);
    };

    my ($res, $closed) = $get->('/sse/sse?gap=2000&events=2', 8);
    like $res, qr{^HTTP/1\.1 200 }, 'an event stream with a 2 s gap';
    like $res, qr{data: event 1\n\n.*data: event 2\n\n}s, 'both events arrive (io_timeout 1s, the service\'s timeout 3s)';
    like $res, qr{\r\n0\r\n\r\n\z}, 'and the last chunk: complete';
    cmp_ok $closed, '>=', 1.9, sprintf('after the gap (%.1f s)', $closed);

    my $first;
    ($res, $closed, $first) = $get->('/sse/sse?gap=6000&events=2', 10);
    like $res, qr{data: event 1\n\n}, 'a stream silent for longer than the service\'s timeout: the first event arrives';
    unlike $res, qr{event 2}, 'the second does not';
    unlike $res, qr{\r\n0\r\n\r\n\z}, 'no last chunk: the client can tell it was cut';
    ok $closed, 'the client connection is closed';
    my $after = ($closed || 99) - ($first // 0);
    cmp_ok $after, '>=', 2.8, sprintf('%.1f s after the first event: not before the service\'s timeout', $after);
    cmp_ok $after, '<', 4.5, 'nor long after it';
    my ($line) = grep {/service sse\b/} split /\n/, $proxyd->log;
    ok $line, 'a log line names the service' or diag $proxyd->log;
    like $line // '', qr/time/i, 'and says it timed out';

    ($res, $closed, $first) = $get->('/plain/sse?gap=3000&events=2', 10);
    like $res, qr{data: event 1\n\n}, 'a service without its own timeout: the first event arrives';
    unlike $res, qr{event 2|\r\n0\r\n\r\n\z}, 'then the stream is cut';
    $after = ($closed || 99) - ($first // 0);
    cmp_ok $after, '>=', 0.8, sprintf('after io_timeout (%.1f s)', $after);
    cmp_ok $after, '<', 2.5, 'not long after it';
    ok((grep {/service plain\b/} split /\n/, $proxyd->log), 'logged with the service name');
    is $proxyd->stop, 0, 'proxyd exits 0';
};

done_testing;

# RawHTTP.pm: test helpers for the upstream engine: the scripted upstream t/raw-upstream.pl, a raw HTTP/1.1
# client that tells a complete response from a cut one, and one HTTP/2 request through t/h2request.py.
package RawHTTP;
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use Time::HiRes qw(time);
use Util;

our @EXPORT = qw(spawn_raw_upstream http1 parse_response header h2_request log_lines);

my $json = JSON::PP->new->latin1->canonical;

# t/raw-upstream.pl on a free port, serving %$cases (see there). Returns a RawHTTP::Upstream, which stops
# the server when it goes out of scope.
sub spawn_raw_upstream {
    my ($cases) = @_;
    my $dir = temp_dir();
    my $self = bless { file => "$dir/cases.json", cases => {} }, 'RawHTTP::Upstream';
    $self->set(%{ $cases // {} });
    my $port = empty_port();
    $self->{guard} = spawn(cmd => [$^X, 't/raw-upstream.pl', $port, $self->{file}], port => $port, log => "$dir/log");
    return $self;
}

# The value of header $name (any case) of a parsed response, repeated fields joined with ", "; undef if absent.
sub header {
    my ($res, $name) = @_;
    my $values = $res->{headers}{ lc $name };
    return $values ? join(', ', @$values) : undef;
}

# Parses what a server sent on one HTTP/1.1 connection: interim (1xx) answers, then the final one. Returns
# { status, reason, headers => { lower-case name => [values] }, interim => [statuses], framing => 'length' |
# 'chunked' | 'close' | 'none', body, complete }. complete: the whole body its framing announced arrived
# (for 'close' framing: $eof is true). status is undef while no final head arrived.
sub parse_response {
    my ($buf, $is_head, $eof) = @_;
    my %res = (interim => [], headers => {}, body => '', complete => 0);
    my $pos = 0;
    while (1) {
        my $end = index($buf, "\r\n\r\n", $pos);
        return \%res if $end < 0;
        my @lines = split /\r\n/, substr($buf, $pos, $end - $pos);
        $pos = $end + 4;
        my ($status, $reason) = (shift(@lines) // '') =~ m{\AHTTP/1\.[01] (\d{3})(?: ([^\r\n]*))?\z} or return \%res;
        if ($status >= 100 && $status < 200 && $status != 101) {
            push @{ $res{interim} }, $status;
            next;
        }
        @res{qw(status reason)} = ($status, $reason // '');
        for (@lines) {
            my ($name, $value) = /\A([^:]+):[ \t]*(.*?)[ \t]*\z/ or next;
            push @{ $res{headers}{ lc $name } }, $value;
        }
        last;
    }
    my $rest = substr($buf, $pos);
    my $te = header(\%res, 'transfer-encoding');
    my $cl = header(\%res, 'content-length');
    if ($is_head || $res{status} == 204 || $res{status} == 304) {
        @res{qw(framing complete)} = ('none', 1);
    } elsif (defined $te && $te =~ /chunked\s*\z/i) {
        $res{framing} = 'chunked';
        while ($rest =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/) {
            my ($line, $size) = (length $&, hex $1);
            if ($size == 0) {
                $res{complete} = 1 if substr($rest, $line) =~ /\A(?:[^\r\n]+\r\n)*\r\n/;
                last;
            }
            last if length($rest) < $line + $size + 2;
            $res{body} .= substr($rest, $line, $size);
            substr($rest, 0, $line + $size + 2) = '';
        }
    } elsif (defined $cl && $cl =~ /\A\d+\z/) {
        $res{framing} = 'length';
        $res{body} = substr($rest, 0, $cl);
        $res{complete} = length($rest) >= $cl ? 1 : 0;
    } else {
        @res{qw(framing body complete)} = ('close', $rest, $eof ? 1 : 0);
    }
    return \%res;
}

# Sends $request (bytes, as they are) on a new connection to $port and reads the response. Options:
# head => 1 (the request is a HEAD), wait_close => seconds to wait for the server to close once the response
# is complete (0: return at once), timeout => overall seconds (5). Returns parse_response's hash plus raw
# (every byte read), closed (the server closed the connection) and seconds.
sub http1 {
    my ($port, $request, %opt) = @_;
    my $started = time;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or return { %{ parse_response('', 0, 1) }, raw => '', closed => 1, seconds => time - $started, error => "connect: $!" };
    $sock->autoflush(1);
    {
        local $SIG{PIPE} = 'IGNORE';
        print $sock $request;
    }
    my $sel = IO::Select->new($sock);
    my ($raw, $closed, $complete_at) = ('', 0, undef);
    my $deadline = $started + ($opt{timeout} // 5);
    my $res = parse_response('', $opt{head}, 0);
    while (time < $deadline) {
        last if defined $complete_at && time - $complete_at >= ($opt{wait_close} // 0);
        next unless $sel->can_read(0.05);
        my $n = sysread($sock, my $buf, 65536);
        if (!$n) {    # EOF, or a reset: both end the connection
            $closed = 1;
            last;
        }
        $raw .= $buf;
        $res = parse_response($raw, $opt{head}, 0);
        $complete_at //= time if $res->{complete} && defined $res->{status};
    }
    close $sock;
    $res = parse_response($raw, $opt{head}, $closed);
    @$res{qw(raw closed seconds)} = ($raw, $closed, time - $started);
    return $res;
}

# One HTTP/2 request (cleartext, prior knowledge) through t/h2request.py with Debian's python3 and python3-h2:
# %spec as h2request.py reads it (method, path, authority, headers, body). Returns its answer: { status,
# headers, body (only when the stream ended cleanly), error (a reset, GOAWAY or close) }.
sub h2_request {
    my ($port, %spec) = @_;
    my $file = temp_dir() . '/spec.json';
    write_file($file, JSON::PP::encode_json({ timeout => 5, %spec }));
    my $out = `/usr/bin/python3 t/h2request.py $port $file 2>&1`;
    return eval { JSON::PP::decode_json($out) } // { error => "h2request.py: $out" };
}

# The lines of $log that contain "service NAME" (NAME as a whole word).
sub log_lines {
    my ($log, $name) = @_;
    return grep { /\bservice \Q$name\E(?![\w-])/ } split /\n/, $log;
}

package RawHTTP::Upstream;

sub port { $_[0]{guard}->port }
sub pid  { $_[0]{guard}->pid }
sub url  { "http://127.0.0.1:" . $_[0]->port . ($_[1] // '') }
sub stop { $_[0]{guard}->stop }

# Adds or replaces cases; the file is replaced at once, so the server never reads half of it.
sub set {
    my ($self, %cases) = @_;
    $self->{cases} = { %{ $self->{cases} }, %cases };
    Util::write_file("$self->{file}.tmp", $json->encode($self->{cases}));
    rename "$self->{file}.tmp", $self->{file} or die "rename: $!";
    return $self;
}

# Every request that reached the server, in order: { conn, seq, method, target, head, body }; only those of
# case $name when given.
sub requests {
    my ($self, $name) = @_;
    my @all = map { $json->decode($_) } $self->{guard}->log =~ /^request (\{.*\})$/mg;
    return @all unless defined $name;
    return grep { $_->{target} =~ m{/\Q$name\E(?:\?.*)?\z} } @all;
}

# The last request of case $name (undef if none).
sub last_request {
    my ($self, $name) = @_;
    my @reqs = $self->requests($name);
    return $reqs[-1];
}

# Whether a ["close"] step closed connection $conn.
sub closed {
    my ($self, $conn) = @_;
    return $self->{guard}->log =~ /^close \Q$conn\E$/m;
}

# Whether the server saw connection $conn closed by its peer.
sub saw_eof {
    my ($self, $conn) = @_;
    return $self->{guard}->log =~ /^eof \Q$conn\E$/m;
}

1;

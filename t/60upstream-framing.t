# 60upstream-framing.t: how proxyd's upstream engine reads responses (issue 9, RFC 9112): valid framing passes,
# malformed framing before the head is a JSON 502, after the head a cut connection, each logged once with the
# service; proxyd (the same process) answers the next request. The upstream is t/raw-upstream.pl, which keeps
# its connections open after every answer: libh2o 2.2.5 aborted on 15 of these answers over such a connection.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't';
use Util;
use RawHTTP;

my $hello = "5\r\nhello\r\n0\r\n\r\n";
sub with_cl { "HTTP/1.1 200 OK\r\nContent-Length: $_[0]\r\n\r\nhello" }
sub with_te { "HTTP/1.1 200 OK\r\nTransfer-Encoding: $_[0]\r\n\r\n$hello" }
sub send_only { [[['send', $_[0]]]] }

# [case (also the service's name), steps of the upstream's answer, expectation]: ok (200 with body 'hello'),
# bad (a JSON 502 whose error matches), cut (the head may have gone out: a 502, or a closed client connection
# without the complete body), head (an answer without a body to a HEAD: the upstream connection is reused).
my $bad_framing = qr/invalid response from upstream: /;
my @cases = (
    # Content-Length (RFC 9112 6.3, 8.6): one decimal; identical values folded; OWS around it is not part of it
    ['cl-folded',           send_only(with_cl('5, 5')),                ok  => 1],
    ['cl-trailing-space',   send_only(with_cl('5 ')),                  ok  => 1],
    ['cl-twice-same',       send_only("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"), ok => 1],
    ['cl-leading-zeros',    send_only(with_cl('005')),                 ok  => 1],
    ['cl-minus',            send_only(with_cl('-1')),                  bad => $bad_framing],
    ['cl-plus',             send_only(with_cl('+5')),                  bad => $bad_framing],
    ['cl-empty',            send_only(with_cl('')),                    bad => $bad_framing],
    ['cl-21-digits',        send_only(with_cl('123456789012345678901')), bad => $bad_framing],
    ['cl-2-to-64',          send_only(with_cl('18446744073709551616')), bad => $bad_framing],
    ['cl-letters',          send_only(with_cl('5x')),                  bad => $bad_framing],
    ['cl-hex',              send_only(with_cl('0x5')),                 bad => $bad_framing],
    ['cl-differ',           send_only(with_cl('5, 6')),                bad => $bad_framing],
    ['cl-twice-differ',     send_only("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"), bad => $bad_framing],
    # Transfer-Encoding (RFC 9112 6.1, 7): only chunked, case-insensitive
    ['te-capital',          send_only(with_te('Chunked')),             ok  => 1],
    ['te-upper',            send_only(with_te('CHUNKED')),             ok  => 1],
    ['te-trailing-space',   send_only(with_te('chunked ')),            ok  => 1],
    ['te-extension-trailer', send_only("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            . "3;name=value\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n"), ok => 1],
    ['te-gzip-chunked',     send_only(with_te('gzip, chunked')),       bad => $bad_framing],
    ['te-chunked-gzip',     send_only(with_te('chunked, gzip')),       bad => $bad_framing],
    ['te-identity',         send_only("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"),
        bad => $bad_framing],
    ['te-chunked-twice',    send_only(with_te('chunked, chunked')),    bad => $bad_framing],
    ['te-two-fields',       send_only("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n$hello"),
        bad => $bad_framing],
    ['te-x',                send_only(with_te('x')),                   bad => $bad_framing],
    ['te-empty',            send_only(with_te('')),                    bad => $bad_framing],
    ['te-and-cl',           send_only("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n$hello"),
        bad => $bad_framing],
    ['cl-and-te',           send_only("HTTP/1.1 200 OK\r\nContent-Length: 19\r\nTransfer-Encoding: chunked\r\n\r\n$hello"),
        bad => $bad_framing],
    # the head
    ['obs-fold',            send_only("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['headers-100',         send_only("HTTP/1.1 200 OK\r\n" . join('', map { "X-H$_: $_\r\n" } 1 .. 99)
            . "Content-Length: 5\r\n\r\nhello"), ok => 1],
    ['headers-101',         send_only("HTTP/1.1 200 OK\r\n" . join('', map { "X-H$_: $_\r\n" } 1 .. 100)
            . "Content-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['head-1500',           send_only("HTTP/1.1 200 OK\r\nX-Big: " . ('a' x 1500) . "\r\nContent-Length: 5\r\n\r\nhello"), ok => 1],
    ['head-3000',           send_only("HTTP/1.1 200 OK\r\nX-Big: " . ('a' x 3000) . "\r\nContent-Length: 5\r\n\r\nhello"),
        bad => $bad_framing],
    ['status-099',          send_only("HTTP/1.1 099 Low\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['status-99',           send_only("HTTP/1.1 99 Low\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['status-600',          send_only("HTTP/1.1 600 High\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['not-http',            send_only("SSH-2.0-OpenSSH_9.2\r\n\r\n"),  bad => $bad_framing],
    ['http-2-0',            send_only("HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    # RFC 9112 5.1: no whitespace between name and colon ("Content-Length : 10" is no Content-Length to some)
    ['space-before-colon',  send_only("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello"), bad => $bad_framing],
    ['header-bare-cr',      send_only("HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['header-nul',          send_only("HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 5\r\n\r\nhello"), bad => $bad_framing],
    ['switching-unasked',   send_only("HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\nhello"),
        bad => $bad_framing],
    ['interim',             send_only("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
            . with_cl(5)), ok => 1],
    ['interim-slow',        [[['send', "HTTP/1.1 100 Continue\r\n\r\n"], ['sleep', 0.3], ['send', with_cl(5)]]], ok => 1],
    ['no-length-close',     [[['send', "HTTP/1.1 200 OK\r\n\r\nhel"], ['sleep', 0.2], ['send', 'lo'], ['close']]], ok => 1],
    ['head-cut',            [[['send', "HTTP/1.1 200 OK\r\nContent-Le"], ['close']]],
        bad => qr/(?:invalid response from upstream: |upstream closed the connection before responding)/],
    ['no-answer',           [[['close']]], bad => qr/upstream closed the connection before responding/],
    # the body, after the head went out
    ['chunk-size-bad',      [[['send', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"], ['sleep', 0.3],
            ['send', "zz\r\nhello\r\n0\r\n\r\n"]]], cut => 1],
    ['chunk-size-huge',     [[['send', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"], ['sleep', 0.3],
            ['send', "10000000000000000\r\nhello\r\n0\r\n\r\n"]]], cut => 1],
    ['cl-close-mid',        [[['send', "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel"], ['sleep', 0.3], ['send', 'lo'],
            ['close']]], cut => 1],
    ['chunked-close-mid',   [[['send', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"], ['sleep', 0.3],
            ['send', "3\r\nab"], ['close']]], cut => 1],
    ['cl-longer',           send_only(with_cl(5) . 'EXTRA'), longer => 1],
    # no body: the next request goes on the same upstream connection
    ['head-length',         send_only("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), head => 'HEAD'],
    ['head-chunked',        send_only("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), head => 'HEAD'],
    ['no-content',          send_only("HTTP/1.1 204 No Content\r\n\r\n"), head => 'GET'],
    ['not-modified',        send_only("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\n"), head => 'GET'],
);

my $up = spawn_raw_upstream({ ok => send_only(with_cl(5)), map { ($_->[0] => $_->[1]) } @cases });
my $services = join '', map { "$_: http://127.0.0.1:@{[$up->port]}\n" } 'ok', map { $_->[0] } @cases;
my ($proxyd, $pid);
start_proxyd();

sub get {
    my ($name, %opt) = @_;
    my $method = $opt{method} // 'GET';
    return http1($proxyd->port, "$method /$name/$name HTTP/1.1\r\nHost: proxyd.test\r\n\r\n", head => $method eq 'HEAD', %opt);
}

sub json_of { eval { decode_json($_[0]{body}) } // {} }

# Waits for one more line naming service $name than $before; says whether there is exactly one more.
sub logged_once {
    my ($name, $before, $re, $what) = @_;
    wait_for('log', sub { log_lines($proxyd->log, $name) > $before }, 3);
    my @lines = log_lines($proxyd->log, $name);
    my @new = @lines[$before .. $#lines];
    is scalar(@new), 1, "$what: one log line names service $name" or diag $proxyd->log;
    like $new[0] // '', $re, "$what: the log line says why" if $re;
}

sub start_proxyd {
    my ($dir) = @_;
    # one worker: one pool, so that a connection an answer left open is the one the next request finds
    $proxyd = spawn_proxyd(threads => 1, services => $services, $dir ? (dir => $dir) : (),
        settings => "upstream:\n  io_timeout: 5s\n  max_response_head: 2KiB\n");
    $pid = $proxyd->pid;
}

# proxyd, the same process, still answers. One that died is started again, so that the other cases still tell
# what they test.
sub still_serving {
    my ($what) = @_;
    unless (ok $proxyd->running && $proxyd->pid == $pid, "$what: proxyd still runs (pid $pid)") {
        diag "proxyd died: exit status " . $proxyd->stop . "; started again";
        start_proxyd($proxyd->dir);
    }
    my $res = get('ok');
    ok $res->{status} && $res->{status} == 200 && $res->{body} eq 'hello', "$what: proxyd answers the next request"
        or diag explain $res;
}

# The upstream connection that carried the last request of $name was closed by proxyd: never reused.
sub upstream_closed {
    my ($name, $what) = @_;
    my $req = $up->last_request($name);
    ok $req && wait_for('eof', sub { $up->saw_eof($req->{conn}) }, 5), "$what: proxyd closed that upstream connection";
}

for my $case (@cases) {
    my ($name, undef, $kind, $arg) = @$case;
    my $before = log_lines($proxyd->log, $name);
    if ($kind eq 'ok') {
        my $res = get($name);
        is $res->{status}, 200, "$name: 200";
        is $res->{body}, 'hello', "$name: the whole body" or diag explain $res;
        ok $res->{complete}, "$name: complete";
        is scalar(grep { /invalid|upstream/ } log_lines($proxyd->log, $name)), 0, "$name: no error logged";
    } elsif ($kind eq 'bad') {
        my $res = get($name);
        is $res->{status}, 502, "$name: 502" or diag explain $res;
        is header($res, 'content-type'), 'application/json', "$name: JSON";
        like json_of($res)->{error}, qr/^$arg/, "$name: the error says what was wrong";
        is json_of($res)->{service}, $name, "$name: names the service";
        logged_once($name, $before, $arg, $name);
        upstream_closed($name, $name) unless $name eq 'no-answer' || $name eq 'head-cut';
    } elsif ($kind eq 'cut') {
        my $res = get($name, timeout => 10, wait_close => 3);
        if (($res->{status} // 0) == 502) {
            is json_of($res)->{service}, $name, "$name: cut before the head went out: a JSON 502 naming the service";
        } else {
            ok $res->{closed} && !$res->{complete} && $res->{framing} =~ /\A(?:length|chunked)\z/,
                "$name: the client connection is closed, the body visibly incomplete" or diag explain $res;
        }
        unlike $res->{body} // '', qr/hellohello|zz/, "$name: nothing after the fault is passed on";
        logged_once($name, $before, undef, $name);
        upstream_closed($name, $name) unless $name =~ /close-mid/;    # those the upstream closed itself
    } elsif ($kind eq 'longer') {
        my $res = get($name, wait_close => 3);
        unlike $res->{raw}, qr/EXTRA/, "$name: no byte beyond Content-Length reaches the client";
        ok $res->{closed} || ($res->{status} // 0) == 502, "$name: the client connection is closed (or a 502)"
            or diag explain $res;
        logged_once($name, $before, undef, $name);
        upstream_closed($name, $name);
    } elsif ($kind eq 'head') {
        my $res = get($name, method => $arg);
        ok defined $res->{status} && $res->{status} =~ /\A(?:200|204|304)\z/, "$name: $arg answered" or diag explain $res;
        cmp_ok $res->{seconds}, '<', 3, "$name: at once: no body is waited for";
        is $res->{body}, '', "$name: no body";
        my $first = $up->last_request($name);
        my $next = get('ok');
        my $second = $up->last_request('ok');
        is $next->{status}, 200, "$name: the next request is answered";
        ok $first && $second && $second->{conn} == $first->{conn} && $second->{seq} == $first->{seq} + 1,
            "$name: on the same upstream connection" or diag explain [$first, $second];
    }
    still_serving($name);
}

# A few of the cases again from an HTTP/2 client.
my %h2 = map { $_->[0] => [ @$_[2, 3] ] } @cases;
for my $name (qw(cl-folded te-capital interim cl-minus cl-empty te-gzip-chunked te-and-cl chunk-size-bad chunked-close-mid)) {
    my ($kind, $arg) = @{ $h2{$name} };
    my $before = log_lines($proxyd->log, $name);
    my $res = h2_request($proxyd->port, path => "/$name/$name", authority => 'proxyd.test');
    if ($kind eq 'ok') {
        is $res->{status}, 200, "HTTP/2 $name: 200";
        is $res->{body}, 'hello', "HTTP/2 $name: the whole body" or diag explain $res;
    } elsif ($kind eq 'bad') {
        is $res->{status}, 502, "HTTP/2 $name: 502" or diag explain $res;
        my $json = eval { decode_json($res->{body} // '') } // {};
        like $json->{error}, qr/^$arg/, "HTTP/2 $name: the error says what was wrong";
        is $json->{service}, $name, "HTTP/2 $name: names the service";
        logged_once($name, $before, undef, "HTTP/2 $name");
    } else {
        if (($res->{status} // 0) == 502) {
            pass "HTTP/2 $name: cut before the head went out: a 502";
        } else {
            ok !defined $res->{body} && ($res->{error} // '') =~ /^(?:reset|goaway|closed)/,
                "HTTP/2 $name: the stream is reset, not ended" or diag explain $res;
        }
        logged_once($name, $before, undef, "HTTP/2 $name");
    }
    still_serving("HTTP/2 $name");
}

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

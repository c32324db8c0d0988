# 60upstream-headers.t: the header fields the engine sends upstream and back (issue 9): hop-by-hop fields removed
# both ways (RFC 9110 7.6.1), Host, X-Forwarded-* and trusted_proxies, preserve_host, Location rewritten, every
# other field and any error answer of the upstream passed untouched.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't';
use Util;
use RawHTTP;

my $ok = [[['send', "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]]];
my $up = spawn_raw_upstream({ echo => $ok });
my $upauth = '127.0.0.1:' . $up->port;
my $services = "h: http://$upauth/base\nph: {url: 'http://$upauth/base', preserve_host: true}\n";
my $proxyd = spawn_proxyd(threads => 1, services => $services);
my $trusting = spawn_proxyd(threads => 1, services => $services, settings => "trusted_proxies: [10.0.0.0/8, 127.0.0.0/8]\n");

# The header fields of a request as the upstream got it: lower-case name => [values].
sub fields_of {
    my ($req) = @_;
    my %h;
    for (split /\r\n/, ($req // {})->{head} // '') {
        push @{ $h{ lc $1 } }, $2 if /\A([^:\s]+):[ \t]*(.*?)[ \t]*\z/;
    }
    return \%h;
}

sub field { my $v = $_[0]{ lc $_[1] }; $v ? join(', ', @$v) : undef }

sub send_raw {
    my ($p, $request, %opt) = @_;
    my $res = http1($p->port, $request, %opt);
    return ($res, fields_of($up->last_request($opt{case} // 'echo')));
}

subtest 'hop-by-hop request fields are not sent upstream' => sub {
    my ($res, $f) = send_raw($proxyd, "GET /h/echo HTTP/1.1\r\nHost: client.example\r\nConnection: close, X-Foo\r\n"
        . "X-Foo: named\r\nx-foo: named too\r\nX-Bar: kept\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
        . "Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nUpgrade: foo/1\r\n\r\n");
    is $res->{status}, 200, 'answered';
    is $up->last_request('echo')->{target}, '/base/echo', 'the path under the service\'s base';
    unlike field($f, 'connection') // '', qr/close|x-foo/i, 'the client\'s Connection is not sent';
    is field($f, 'x-foo'), undef, 'nor the field it names, in any case';
    is field($f, 'x-bar'), 'kept', 'another field is';
    is field($f, $_), undef, "no $_" for qw(keep-alive te trailer proxy-authorization proxy-connection upgrade transfer-encoding);

    ($res, $f) = send_raw($proxyd, "POST /h/echo HTTP/1.1\r\nHost: client.example\r\nTransfer-Encoding: chunked\r\n"
        . "Content-Type: text/plain\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n");
    is $res->{status}, 200, 'a chunked request body: answered';
    is field($f, 'transfer-encoding'), undef, 'goes upstream without Transfer-Encoding';
    is field($f, 'content-length'), '5', 'with a Content-Length';
    is $up->last_request('echo')->{body}, 'hello', 'and the whole body';
    is field($f, 'content-type'), 'text/plain', 'and its Content-Type';
};

subtest 'Host and the X-Forwarded fields' => sub {
    my $forged = "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\n"
        . "X-Forwarded-Host: evil.example\r\nX-Forwarded-Prefix: /evil\r\n";
    my ($res, $f) = send_raw($proxyd, "GET /h/echo HTTP/1.1\r\nHost: client.example\r\n$forged\r\n");
    is field($f, 'host'), $upauth, 'Host: the upstream\'s authority';
    is field($f, 'x-forwarded-for'), '127.0.0.1', 'X-Forwarded-For: the client\'s values dropped (peer not trusted), the peer';
    is field($f, 'x-forwarded-proto'), 'http', 'X-Forwarded-Proto: proxyd\'s';
    is field($f, 'x-forwarded-host'), 'client.example', 'X-Forwarded-Host: the client\'s Host';
    is field($f, 'x-forwarded-prefix'), '/h', 'X-Forwarded-Prefix: the service\'s';

    ($res, $f) = send_raw($proxyd, "GET /ph/echo HTTP/1.1\r\nHost: client.example\r\n\r\n");
    is field($f, 'host'), 'client.example', 'preserve_host: true: the client\'s Host';
    is field($f, 'x-forwarded-prefix'), '/ph', 'and X-Forwarded-Prefix of that service';

    ($res, $f) = send_raw($trusting, "GET /h/echo HTTP/1.1\r\nHost: client.example\r\n$forged\r\n");
    is $res->{status}, 200, 'trusted_proxies: answered';
    is field($f, 'x-forwarded-for'), '203.0.113.9, 198.51.100.1, 127.0.0.1',
        'trusted_proxies [127.0.0.0/8]: the client\'s X-Forwarded-For kept, the peer appended';
    is scalar(@{ $f->{'x-forwarded-for'} // [] }), 1, 'as one field';
    is field($f, 'x-forwarded-prefix'), '/h', 'X-Forwarded-Prefix still proxyd\'s';

    my $h2 = h2_request($proxyd->port, path => '/ph/echo', authority => 'h2.example');
    is $h2->{status}, 200, 'HTTP/2: answered';
    $f = fields_of($up->last_request('echo'));
    is field($f, 'host'), 'h2.example', 'HTTP/2 with preserve_host: Host from :authority';
    is field($f, 'x-forwarded-host'), 'h2.example', 'and X-Forwarded-Host';
    $h2 = h2_request($proxyd->port, path => '/h/echo', authority => 'h2.example');
    is field(fields_of($up->last_request('echo')), 'host'), $upauth, 'HTTP/2 without it: the upstream\'s authority';
};

subtest 'Connection cannot remove what proxyd or the auth service adds' => sub {
    # RFC 9110 7.6.1 lets a client name hop-by-hop fields; the ones proxyd writes itself are not the client's to
    # remove (the "hop-by-hop abuse" of X-Forwarded-For or an identity field)
    my $auth = spawn_auth();
    my $gated = spawn_proxyd(threads => 1, services => $services . "auth: http://127.0.0.1:@{[$auth->port]}/check\n",
        settings => "auth:\n  service: auth\n  copy_headers: [X-User]\n");
    my $named = 'X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Prefix, X-User, Host';
    my ($res, $f) = send_raw($gated,
        "GET /h/echo?key=supersecret HTTP/1.1\r\nHost: client.example\r\nConnection: keep-alive, $named\r\n\r\n");
    is $res->{status}, 200, 'answered';
    is field($f, 'x-user'), 'workshop', 'X-User from the auth service still reaches the service';
    is field($f, 'x-forwarded-for'), '127.0.0.1', 'and X-Forwarded-For';
    is field($f, 'x-forwarded-proto'), 'http', 'and X-Forwarded-Proto';
    is field($f, 'x-forwarded-host'), 'client.example', 'and X-Forwarded-Host';
    is field($f, 'x-forwarded-prefix'), '/h', 'and X-Forwarded-Prefix';
    is field($f, 'host'), $upauth, 'and Host';
    is $gated->stop, 0, 'proxyd exits 0';
};

my $pport = $proxyd->port;
$up->set(
    resp => [[['send', "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: secret\r\n"
        . "Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nServer: raw-upstream/1\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
        . "Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\nX-Custom: Value  With  Spaces\r\nCache-Control: no-store\r\n"
        . join('', map { "Connection: c$_\r\n" } 1 .. 9) . join('', map { "C$_: hop\r\n" } 1 .. 9)
        . "Location: http://$upauth/base/next?x=1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"]]],
    elsewhere => [[['send', "HTTP/1.1 302 Found\r\nLocation: http://other.example/base/next\r\nContent-Length: 0\r\n\r\n"]]],
    maint => [[['send', "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 30\r\n"
        . "Content-Length: 21\r\n\r\ndown for maintenance\n"]]],
    missing => [[['send', "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 17\r\n\r\n<h1>not here</h1>"]]],
    'bad-gateway' => [[['send', "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "13\r\n<p>its own 502</p>\n\r\n0\r\n\r\n"]]],
    unauthorized => [[['send', "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"svc\"\r\n"
        . "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nwho are you?\n"]]],
    'empty-500' => [[['send', "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"]]],
);

subtest 'response fields' => sub {
    my $res = http1($pport, "GET /h/resp HTTP/1.1\r\nHost: client.example\r\n\r\n");
    is $res->{status}, 200, 'answered';
    is $res->{body}, 'hello', 'with the body';
    unlike header($res, 'connection') // '', qr/x-hop|\bc\d/i, 'the upstream\'s Connection is not passed';
    is header($res, $_), undef, "no $_" for qw(x-hop keep-alive proxy-connection upgrade);
    is_deeply [grep { defined header($res, "c$_") } 1 .. 9], [], 'no field named in any of nine Connection fields';
    is_deeply $res->{headers}{'transfer-encoding'} // ['chunked'], ['chunked'], 'Transfer-Encoding: only the front end\'s own';
    is_deeply $res->{headers}{'set-cookie'}, ['a=1; Path=/', 'b=2; HttpOnly'], 'both Set-Cookie fields, in order, unchanged';
    is header($res, 'x-custom'), 'Value  With  Spaces', 'another field unchanged';
    is header($res, 'cache-control'), 'no-store', 'Cache-Control unchanged';
    isnt header($res, 'server'), 'raw-upstream/1', 'Server is proxyd\'s';
    unlike header($res, 'date') // '', qr/2001/, 'Date is proxyd\'s';
    like header($res, 'location'), qr{\A(?:http://client\.example)?/h/next\?x=1\z},
        'Location under the upstream rewritten to /h/ (on the client\'s host)';

    $res = http1($pport, "GET /h/elsewhere HTTP/1.1\r\nHost: client.example\r\n\r\n");
    is $res->{status}, 302, 'a redirect elsewhere passes';
    is header($res, 'location'), 'http://other.example/base/next', 'with its Location unchanged';

    my $h2 = h2_request($pport, path => '/h/resp');
    is $h2->{status}, 200, 'HTTP/2: answered';
    is $h2->{body}, 'hello', 'HTTP/2: the body';
    is_deeply [grep { exists $h2->{headers}{$_} } qw(connection keep-alive transfer-encoding upgrade proxy-connection x-hop)], [],
        'HTTP/2: no hop-by-hop field';
};

subtest 'error answers of the upstream pass untouched' => sub {
    my @cases = (
        ['maint', 503, 'text/plain', "down for maintenance\n", 'retry-after', '30'],
        ['missing', 404, 'text/html', '<h1>not here</h1>'],
        ['bad-gateway', 502, 'text/html', "<p>its own 502</p>\n"],
        ['unauthorized', 401, 'text/plain', "who are you?\n", 'www-authenticate', 'Basic realm="svc"'],
        ['empty-500', 500, undef, ''],
    );
    for my $c (@cases) {
        my ($name, $status, $type, $body, $extra, $value) = @$c;
        my $res = http1($pport, "GET /h/$name HTTP/1.1\r\nHost: client.example\r\n\r\n");
        is $res->{status}, $status, "$name: $status";
        is header($res, 'content-type'), $type, "$name: its Content-Type";
        is $res->{body}, $body, "$name: its body";
        is header($res, $extra), $value, "$name: its $extra" if $extra;
        unlike $proxyd->log, qr{/h/$name}, "$name: not logged as proxyd's error";
    }
    my $h2 = h2_request($pport, path => '/h/maint');
    is $h2->{status}, 503, 'HTTP/2: 503';
    is $h2->{headers}{'content-type'}, 'text/plain', 'HTTP/2: its Content-Type';
    is $h2->{body}, "down for maintenance\n", 'HTTP/2: its body';
};

is $proxyd->stop, 0, 'proxyd exits 0';
is $trusting->stop, 0, 'the one with trusted_proxies exits 0';
done_testing;

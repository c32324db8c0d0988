# 80gate-headers.t: attacks through request headers and framing (issue 7): forged identities,
# forwarding headers, the decision cache across hosts, interim answers and trailers from the
# auth service, header floods over HTTP/2, request smuggling, odd methods and paths, log forging.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use lib 't';
use Util;

my $http = HTTP::Tiny->new(max_redirect => 0, timeout => 10);
my $python = '/usr/bin/python3';    # Debian's, with python3-h2

sub echo_headers {
    my ($res) = @_;
    return (eval { decode_json($res->{content}) } // {})->{headers} // {};
}

# A raw HTTP/1.1 exchange: (status, headers text, body, whether the server closed).
sub raw {
    my ($port, $request) = @_;
    my $res = raw_request($port, $request, 3);
    my ($status) = $res =~ m{^HTTP/1\.1 (\d+)};
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    return ($status // 0, $head // '', $body // '', $res);
}

# One HTTP/2 request through t/h2request.py.
sub h2 {
    my ($port, $spec) = @_;
    my $file = temp_dir() . '/spec.json';
    write_file($file, encode_json($spec));
    my $out = `$python t/h2request.py $port $file 2>&1`;
    my $res = eval { decode_json($out) } // { error => $out };
    $res->{json} = eval { decode_json($res->{body}) } // {} if defined $res->{body};
    return $res;
}

my $up = spawn_upstream('--name', 'up');
my $auth = spawn_auth();
my $services = "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n"
    . "pub: {url: 'http://127.0.0.1:@{[$up->port]}', auth: false}\n";
my $auth_settings = "auth:\n  service: auth\n  copy_headers: [X-User]\n";
my $proxyd = spawn_proxyd(threads => 1, services => $services, settings => $auth_settings);
my $port = $proxyd->port;

subtest 'identity forgery through underscores' => sub {
    for my $svc ('up', 'pub') {
        my ($status, $head, $body) = raw($port, "GET /$svc/who?key=supersecret HTTP/1.1\r\nHost: x\r\nX_User: admin\r\n"
            . "x_uSER: admin\r\nX_Custom: 1\r\nConnection: close\r\n\r\n");
        is $status, 200, "$svc: answered";
        my $h = (eval { decode_json($body) } // {})->{headers} // {};
        ok !(grep { /_/ } keys %$h), "$svc: no header with an underscore reaches the service";
        is $h->{'x-user'}, $svc eq 'up' ? 'workshop' : undef, "$svc: X-User only from the auth service";
    }
    my $proxyd2 = spawn_proxyd(threads => 1, services => $services,
        settings => $auth_settings . "client:\n  underscores_in_headers: true\n");
    my ($status, $head, $body) = raw($proxyd2->port, "GET /up/who?key=supersecret HTTP/1.1\r\nHost: x\r\nX_User: admin\r\n"
        . "X-USER: admin\r\nx_custom: 1\r\nConnection: close\r\n\r\n");
    my $h = (eval { decode_json($body) } // {})->{headers} // {};
    is $h->{x_custom}, '1', 'underscores_in_headers: true keeps other underscored headers';
    ok !exists $h->{x_user}, 'but X_User is X-User to a CGI app: removed';
    is $h->{'x-user'}, 'workshop', 'and X-User is the auth service\'s';
};

subtest 'client forwarding headers are replaced' => sub {
    my $h = echo_headers($http->get($proxyd->url('/up/fwd?key=supersecret'), { headers => {
        'Forwarded' => 'for=6.6.6.6;host=evil', 'X-Real-IP' => '6.6.6.6', 'X-Forwarded-For' => '6.6.6.6',
        'X-Forwarded-Proto' => 'https', 'X-Forwarded-Port' => '443', 'X-Forwarded-Uri' => '/admin',
        'X-Forwarded-Method' => 'DELETE' } }));
    ok !exists $h->{forwarded}, 'Forwarded dropped';
    ok !exists $h->{'x-real-ip'}, 'X-Real-IP dropped';
    is $h->{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For is the peer only';
    is $h->{'x-forwarded-proto'}, 'http', 'X-Forwarded-Proto is proxyd\'s';
    ok !exists $h->{$_}, "$_ dropped" for qw(x-forwarded-port x-forwarded-uri x-forwarded-method);
};

subtest 'the decision cache is keyed by the host the auth service saw' => sub {
    $http->post($auth->url('/count/reset'));
    for my $host ('tenant-a.example', 'tenant-b.example') {
        my ($status) = raw($port, "GET /up/cached?key=supersecret HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
        is $status, 200, "$host allowed";
    }
    is $auth->count, 2, 'tenant B got its own check, not tenant A\'s cached allow';
    my ($status) = raw($port, "GET /up/cached?key=supersecret HTTP/1.1\r\nHost: tenant-b.example\r\nConnection: close\r\n\r\n");
    is $auth->count, 2, 'while the same host is a cache hit';
    my $last = decode_json($http->get($auth->url('/last'))->{content});
    is $last->{headers}{'x-forwarded-host'}, 'tenant-b.example', 'the auth service saw the client\'s host';
};

# An auth service whose interim answers and trailers carry X-User: admin.
sub raw_auth {
    my ($response) = @_;
    my $dir = temp_dir();
    write_file("$dir/response", $response);
    my $aport = empty_port();
    my $server = spawn(cmd => ['perl', 't/raw-server.pl', $aport, "$dir/response"], port => $aport);
    my $px = spawn_proxyd(threads => 1, settings => $auth_settings . "  cache_ttl: 0\n",
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:$aport/check\n");
    return ($server, $px);
}

subtest 'X-User from a 1xx answer of the auth service is not copied' => sub {
    my ($server, $px) = raw_auth("HTTP/1.1 103 Early Hints\r\nX-User: admin\r\n\r\n"
        . "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    my $res = $http->get($px->url('/up/interim?key=k'));
    is $res->{status}, 200, 'allowed by the final answer';
    ok !exists echo_headers($res)->{'x-user'}, 'no X-User: the final answer had none';
    ($server, $px) = raw_auth("HTTP/1.1 100 Continue\r\nX-User: admin\r\n\r\n"
        . "HTTP/1.1 200 OK\r\nX-User: alice\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    is echo_headers($http->get($px->url('/up/interim?key=k')))->{'x-user'}, 'alice', 'the final answer\'s X-User only';
};

subtest 'X-User from a trailer of the auth service is not copied' => sub {
    my ($server, $px) = raw_auth("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . "2\r\nok\r\n0\r\nX-User: admin\r\n\r\n");
    my $res = $http->get($px->url('/up/trailer?key=k'));
    is $res->{status}, 200, 'allowed';
    ok !exists echo_headers($res)->{'x-user'}, 'the trailer\'s X-User is not copied';
};

subtest 'Connection options are bounded, and cannot name away what proxyd adds' => sub {
    my $many = join(', ', map { "x-o$_" } 1 .. 65);
    my $res = raw_request($port, "GET /up/opts?key=supersecret HTTP/1.1\r\nHost: a\r\nConnection: $many\r\n\r\n");
    like $res, qr{\AHTTP/1\.1 400 }, '65 Connection options: 400';
    like $res, qr{more than 64 Connection options}, 'named';
    my $few = join(", ", map { "x-o$_" } 1 .. 62);
    $res = raw_request($port, "GET /up/opts?key=supersecret HTTP/1.1\r\nHost: a\r\nConnection: close, X-User, $few\r\n"
        . "X-O1: gone\r\nX-Keep: kept\r\n\r\n");
    like $res, qr{\AHTTP/1\.1 200 }, '64 options (close, X-User and 62 more) pass';
    my ($body) = $res =~ /\r\n\r\n(.*)\z/s;
    my $seen = decode_json($body)->{headers};
    is $seen->{'x-user'}, 'workshop', 'X-User from the auth service reaches the service although the client named it';
    ok !exists $seen->{'x-o1'}, 'a field the client named is dropped';
    is $seen->{'x-keep'}, 'kept', 'others pass';
};

subtest 'a denial is relayed as the auth service sent it, not rewritten' => sub {
    my ($server, $px) = raw_auth("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"workshop\"\r\n"
        . "Content-Type: text/plain\r\nX-Reason: expired\r\nConnection: close\r\nContent-Length: 12\r\n\r\nlog in first");
    my $res = $http->get($px->url('/up/x?key=k'));
    is $res->{status}, 401, 'status 401';
    is $res->{content}, 'log in first', 'its text/plain body, not JSON';
    is $res->{headers}{'www-authenticate'}, 'Basic realm="workshop"', 'its WWW-Authenticate';
    is $res->{headers}{'content-type'}, 'text/plain', 'its content type';
    is $res->{headers}{'x-reason'}, 'expired', 'and its other fields';
};

subtest 'a denial that sets a cookie is not reused for the next request' => sub {
    my $dir = temp_dir();
    write_file("$dir/response", "HTTP/1.1 302 Found\r\nLocation: /login\r\nSet-Cookie: state=abc\r\n"
        . "Connection: close\r\nContent-Length: 0\r\n\r\n");
    my $aport = empty_port();
    my $server = spawn(cmd => ['perl', 't/raw-server.pl', $aport, "$dir/response"], port => $aport);
    my $px = spawn_proxyd(threads => 1, settings => $auth_settings . "  negative_ttl: 1m\n",
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:$aport/check\n");
    my $noredirect = HTTP::Tiny->new(timeout => 15, max_redirect => 0);
    for my $n (1, 2) {
        my $res = $noredirect->get($px->url('/up/login-flow?key=k'));
        is $res->{status}, 302, "request $n: 302";
        is $res->{headers}{'set-cookie'}, 'state=abc', "request $n: the cookie";
    }
    my @checks = grep { /^request: GET/ } split /\n/, $server->log;
    is scalar(@checks), 2, "both requests were checked: the denial with Set-Cookie was not cached" or diag $server->log;
};

subtest 'HTTP/2 header floods are refused before any work' => sub {
    $http->post($up->url('/count/reset'));
    my $started = time;
    my $res = h2($port, { path => '/up/flood?key=supersecret', repeat => [['x-user', 'admin', 150000]], timeout => 30 });
    is $res->{status}, 431, '150,000 indexed x-user headers: 431';
    is $res->{json}{error}, 'too many header fields', 'named';
    $res = h2($port, { path => '/up/flood?key=supersecret', repeat => [['cookie', 'a=b', 40000]], timeout => 30 });
    is $res->{status}, 431, '40,000 cookies: 431';
    $res = h2($port, { path => '/up/flood?key=supersecret', repeat => [['x-big', 'v' x 4000, 20]] });
    is $res->{status}, 431, '80 KB of header values in 20 fields: 431';
    is $res->{json}{error}, 'header fields too large', 'named';
    is $up->count, 0, 'nothing reached the upstream';
    $res = h2($port, { path => '/up/fine?key=supersecret', repeat => [['cookie', 'a=b', 90]] });
    is $res->{status}, 200, '90 cookies are fine';
    is $http->get($proxyd->url('/up/after?key=supersecret'))->{status}, 200, 'and the worker still answers';
    my $rss = rss_kib($proxyd->pid);
    ok sanitized() || $rss < 100 * 1024, "proxyd stays small (RssAnon $rss KiB)";
    like $proxyd->log, qr{431 too many header fields}, 'logged';
};

subtest 'HTTP/1 header bytes are limited too' => sub {
    my $headers = join '', map { "X-Big-$_: " . ('v' x 2000) . "\r\n" } 1 .. 40;
    my ($status) = raw($port, "GET /up/big?key=supersecret HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n");
    is $status, 431, '80 KB of headers over HTTP/1: 431';
};

subtest 'request smuggling: conflicting framing is refused and the connection closed' => sub {
    $http->post($up->url('/count/reset'));
    my $smuggled = "GET /up/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n";
    my ($status, $head, $body, $all) = raw($port, "POST /pub/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n$smuggled");
    is $status, 400, 'Content-Length and Transfer-Encoding: 400';
    like $head, qr{^connection: close}mi, 'Connection: close';
    is scalar(() = $all =~ m{^HTTP/1\.1 }mg), 1, 'one answer: the smuggled request never ran';
    ($status, $head, $body, $all) = raw($port, "POST /pub/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 45\r\n\r\n"
        . "hello$smuggled");
    is $status, 400, 'two different Content-Lengths: 400';
    is scalar(() = $all =~ m{^HTTP/1\.1 }mg), 1, 'one answer';
    is $up->count, 0, 'nothing reached the upstream';
    ($status, $head, $body) = raw($port, "POST /pub/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
        . "Connection: close\r\n\r\nhello");
    is $status, 200, 'a repeated identical Content-Length is one';
    is eval { decode_json($body)->{body} }, 'hello', 'and the body arrives';
    ($status, $head, $body, $all) = raw($port, "POST /pub/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n$smuggled");
    is $status, 400, 'Transfer-Encoding twice: 400';
    ($status, $head, $body, $all) = raw($port, "POST /pub/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\n");
    is $status, 400, 'Transfer-Encoding from an HTTP/1.0 client: 400';
    ($status, $head, $body) = raw($port, "GET /pub/x HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\nConnection: close\r\n\r\n");
    is $status, 400, 'an obs-folded header line: 400';
    is decode_json($body)->{error}, 'folded or nameless header field', 'named';
    is $up->count, 1, 'only the good request reached the upstream';
};

subtest 'h2c upgrade: an HTTP/1 body is framed by the same rules' => sub {
    $http->post($up->url('/count/reset'));
    my $head = "POST /pub/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        . "HTTP2-Settings: SETTINGS\r\n";
    my $res = h2($port, { upgrade => $head . "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" });
    is $res->{status}, 400, 'Content-Length and Transfer-Encoding through an h2c upgrade: 400';
    is $res->{json}{error}, 'request body in an h2c upgrade', 'named';
    $res = h2($port, { upgrade => $head . "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello" });
    is $res->{status}, 400, 'two Content-Lengths through an h2c upgrade: 400';
    is $up->count, 0, 'nothing reached the upstream';
    $res = h2($port, { upgrade => "GET /pub/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        . "Upgrade: h2c\r\nHTTP2-Settings: SETTINGS\r\n\r\n" });
    is $res->{status}, 200, 'an upgrade without a body still works';
};

subtest 'one credential, one target' => sub {
    $http->post($up->url('/count/reset'));
    my ($status, $head, $body) = raw($port, "GET /up/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer supersecret\r\n"
        . "Authorization: Bearer admin-token\r\nConnection: close\r\n\r\n");
    is $status, 400, 'two Authorization headers: 400';
    is decode_json($body)->{error}, 'repeated Authorization', 'named';
    my $res = h2($port, { path => '/up/x', headers => [['authorization', 'Bearer supersecret'],
        ['authorization', 'Bearer admin-token']] });
    is $res->{status}, 400, 'over HTTP/2 too';
    ($status, $head, $body) = raw($port, "GET /up/x?key=supersecret#junk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is $status, 400, 'a fragment in the target: 400';
    ($status) = raw($port, "GET /up/" . ('a' x 9000) . "?key=supersecret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is $status, 414, 'a 9 KB target: 414';
    $res = h2($port, { path => '/up/' . ('a/' x 5000) });
    is $res->{status}, 414, 'over HTTP/2 too';
    is $up->count, 0, 'nothing reached the upstream';
};

subtest 'headers that reroute a request inside some frameworks are removed' => sub {
    my $h = echo_headers($http->get($proxyd->url('/up/x?key=supersecret'), { headers => {
        'X-Original-URL' => '/admin', 'X-Rewrite-URL' => '/admin', 'X-HTTP-Method-Override' => 'DELETE',
        'X-HTTP-Method' => 'DELETE', 'X-Method-Override' => 'DELETE', 'Proxy' => 'http://evil:1' } }));
    ok !exists $h->{$_}, "$_ dropped" for qw(x-original-url x-rewrite-url x-http-method-override x-http-method
        x-method-override proxy);
};

subtest 'HTTP/2 methods and paths that an HTTP/1 request line cannot carry' => sub {
    $http->post($up->url('/count/reset'));
    my $res = h2($port, { path => '/pub/x HTTP/1.0' });
    is $res->{status}, 400, ':path with a space: 400';
    $res = h2($port, { path => "/pub/x\tX" });
    is $res->{status}, 400, ':path with a tab: 400';
    $res = h2($port, { path => '/pub/x', method => 'GET /y' });
    is $res->{status}, 400, ':method with a space: 400';
    is $res->{json}{error}, 'invalid method', 'named';
    $res = h2($port, { path => "/pub/a\r\nproxyd: forged log line" });
    ok(($res->{status} // 0) == 400 || ($res->{error} // '') =~ /reset|goaway/, ':path with CR/LF refused');
    is $up->count, 0, 'nothing reached the upstream';
    unlike $proxyd->log, qr{^(?:<\d>)?proxyd: forged log line}m, 'no forged line in the log';
    $res = h2($port, { path => "/pub/\x1b[31mred" });
    is $res->{status}, 400, 'a control character in :path: 400';
    unlike $proxyd->log, qr{\x1b}, 'no escape sequence reaches the log';
    like $proxyd->log, qr{\\x1b\[31mred}, 'it is logged escaped';
};

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

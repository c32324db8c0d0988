# 60auth-browser.t: forward auth for browsers: a login that sets a cookie, then the cookie as the credential (auth.request_headers,
# auth.response_headers), auth.vary, X-Forwarded-Proto, and attacks on each.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);
use lib 't';
use Util;

my $http = HTTP::Tiny->new(timeout => 15);
my $PY = '/usr/bin/python3';

# t/auth-recorder.py on a free port: it records every check and sets cookies of its own.
sub spawn_recorder {
    my (@args) = @_;
    my $port = empty_port();
    return spawn(cmd => [$PY, 't/auth-recorder.py', $port, @args], port => $port);
}

# What reached a recorder: its checks in order, each {n, path, headers => {name => [values]}}.
sub checks {
    my ($log) = $_[0]->log =~ /\A(.*\n)?/s;    # whole lines only: a check still being printed is not one yet
    return map { decode_json($_) } grep {/^\{/} split /\n/, $log // '';
}

# The demo auth service's last check: {path, headers => {name => value}}.
sub last_check { decode_json($http->get($_[0]->url('/last'))->{content}) }

# proxyd with "up" and "up2" (one t/upstream) and "auth" (the given service); $auth_settings are more lines of auth:.
sub setup {
    my ($auth, $auth_settings, %opts) = @_;
    my $up = spawn_upstream('--name', 'up');
    my $proxyd = spawn_proxyd(settings => "auth:\n  service: auth\n  copy_headers: [X-User]\n  cache_ttl: 1m\n$auth_settings",
        services => "up: http://127.0.0.1:@{[$up->port]}\nup2: http://127.0.0.1:@{[$up->port]}\n"
            . "auth: http://127.0.0.1:@{[$auth->port]}/check\n" . ($opts{services} // ''));
    return ($up, $proxyd);
}

# One HTTP/1.1 request on its own connection, the fields sent as given (repeated ones
# apart). Options: method, host, local (the client's address), fields.
# Returns (status, {lowercased name => [values]}, body).
sub request {
    my ($proxyd, $path, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port, Timeout => 5,
        $o{local} ? (LocalAddr => $o{local}) : ()) or die "connect: $!";
    print $sock ($o{method} // 'GET') . " $path HTTP/1.1\r\nHost: " . ($o{host} // '127.0.0.1:' . $proxyd->port)
        . "\r\nConnection: close\r\n" . join('', map {"$_\r\n"} @{ $o{fields} // [] }) . "\r\n";
    my ($res, $sel, $deadline) = ('', IO::Select->new($sock), time + 10);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        last unless sysread($sock, $res, 65536, length $res);
    }
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    my ($status) = ($head // '') =~ m{\AHTTP/1\.1 (\d{3}) };
    my %headers;
    push @{ $headers{ lc $1 } }, $2 while ($head // '') =~ /^([^:\r\n]+):[ \t]*([^\r\n]*)/mg;
    return ($status // 0, \%headers, $body // '');
}

# An HTTP/2 request through t/h2request.py: its JSON answer.
sub request_h2 {
    my ($proxyd, $spec) = @_;
    my $file = temp_dir() . '/spec.json';
    write_file($file, encode_json($spec));
    my $out = `$PY t/h2request.py @{[$proxyd->port]} $file 2>&1`;
    return eval { decode_json($out) } // { error => $out };
}

subtest 'a browser logs in with the key once, then its cookie is the credential' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  request_headers: [Cookie]\n  response_headers: [Set-Cookie]\n");
    my ($status, $headers, $body) = request($proxyd, '/up/a?key=supersecret&x=1');
    is $status, 200, 'the key in the query: 200';
    my @set = @{ $headers->{'set-cookie'} // [] };
    is scalar(@set), 1, 'with one Set-Cookie from the auth service';
    like $set[0] // '', qr/^demo_session=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Lax$/, 'the session, HttpOnly, SameSite=Lax';
    my ($session) = ($set[0] // '') =~ /^demo_session=([0-9a-f]{32})/;
    $session //= 'none';
    my $echo = eval { decode_json($body) } // {};
    is $echo->{path}, '/a?x=1', 'the service got the request without the key';
    is $echo->{headers}{'x-user'}, 'workshop', "and the auth service's X-User";
    unlike $body, qr/supersecret/, 'the key reached the service nowhere';

    ($status, $headers, $body) = request($proxyd, '/up/b', fields => ["Cookie: theme=dark; demo_session=$session"]);
    is $status, 200, 'the cookie alone: 200';
    ok !exists $headers->{'set-cookie'}, 'no new cookie';
    my $last = last_check($auth);
    is $last->{path}, '/check', 'the auth service got no key';
    is $last->{headers}{cookie}, "theme=dark; demo_session=$session", 'but the Cookie field (request_headers)';
    is((eval { decode_json($body) } // {})->{headers}{'x-user'}, 'workshop', 'the service got X-User');

    my $before = $up->count;
    ($status, $headers) = request($proxyd, '/up/b', fields => ['Cookie: demo_session=0123456789abcdef0123456789abcdef']);
    is $status, 401, 'a wrong cookie: 401';
    is_deeply $headers->{'set-cookie'}, ['demo_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax'],
        "the denial's Set-Cookie, which clears it, relayed";
    is_deeply $headers->{'www-authenticate'}, ['Bearer realm="proxyd-demo"'], 'with its WWW-Authenticate';
    is((request($proxyd, '/up/b'))[0], 401, 'no cookie and no key: 401');
    is $up->count, $before, 'nothing denied reached the service';

    # the README's example: curl's cookie jar
    my $jar = temp_dir() . '/jar';
    my $url = $proxyd->url('/up/c?key=supersecret');
    is `curl -s -o /dev/null -w '%{http_code}' -c $jar '$url'`, '200', 'curl -c: logged in';
    like read_file($jar), qr/\tdemo_session\t[0-9a-f]{32}$/m, 'the session is in the jar';
    $url = $proxyd->url('/up/d');
    is `curl -s -o /dev/null -w '%{http_code}' -b $jar '$url'`, '200', 'curl -b: the jar alone is enough';
    unlike $proxyd->log, qr/supersecret|$session/, 'neither the key nor the session is logged';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

# A page opened with ?key= names its URL in the Referer of what it loads (Chromium sends the whole URL to its own origin):
# scripts, styles, images, a link followed with the cookie alone.
subtest "the key is removed from the Referer too: no service sees the page's login URL" => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  request_headers: [Cookie]\n  response_headers: [Set-Cookie]\n");
    my $base = $proxyd->url;
    my @cases = (
        ["$base/up/?key=supersecret", "$base/up/", 'the login URL'],
        ["$base/up/?a=1&key=supersecret&b=2", "$base/up/?a=1&b=2", 'the key between other parameters'],
        ["$base/up/?key=supersecret&key=again", "$base/up/", 'every key'],
        ["$base/up/?key", "$base/up/", 'a key without a value'],
        ["$base/up/?monkey=1&keys=2&k%65y=3", "$base/up/?monkey=1&keys=2&k%65y=3", 'other names alone kept, byte for byte'],
        ["$base/up/", "$base/up/", 'a Referer without a query unchanged'],
    );
    for my $case (@cases) {
        my ($referer, $want, $what) = @$case;
        my ($status, undef, $body) = request($proxyd, '/up/page.js?key=supersecret', fields => ["Referer: $referer"]);
        is $status, 200, "$what: 200";
        my $echo = eval { decode_json($body) } // {};
        is $echo->{headers}{referer}, $want, "$what: the service's Referer" or diag $body;
    }
    my ($status, undef, $body) = request($proxyd, '/up/page.js?key=supersecret', fields => ["Referer: $base/up/?key=supersecret",
        "Referer: http://other.example/?key=supersecret"]);
    is $status, 200, 'two Referer fields: 200';
    unlike $body, qr/supersecret/, 'the key is gone from both';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'an answer that passes a cookie to the client is never cached, nor given to another request' => sub {
    my $auth = spawn_recorder('--count', 2, '--delay', 1);
    my ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n");
    my ($status, $headers) = request($proxyd, '/up/x?key=k');
    is $status, 200, 'allowed';
    is_deeply $headers->{'set-cookie'}, ['s1-1=xxxxxxx1; Path=/', 's1-2=xxxxxxx1; Path=/'], 'its two Set-Cookie fields, in order';
    ok !exists $headers->{'x-other'}, 'not X-Other: it is not in response_headers';
    ($status, $headers) = request($proxyd, '/up/x?key=k');
    is_deeply $headers->{'set-cookie'}, ['s2-1=xxxxxxx2; Path=/', 's2-2=xxxxxxx2; Path=/'], 'the same request again: a new check';
    is scalar(checks($auth)), 2, 'two checks (cache_ttl 1m): an allow with a cookie is not cached';

    # five clients with the same credential at once: the first check's cookie is its client's alone
    my @pids;
    my $dir = temp_dir();
    for my $i (1 .. 5) {
        my $pid = fork // die;
        exec 'curl', '-s', '-o', '/dev/null', '-D', "$dir/$i", '--max-time', '20', $proxyd->url('/up/y?key=k') if $pid == 0;
        push @pids, $pid;
    }
    waitpid $_, 0 for @pids;
    my @cookies = map { [read_file("$dir/$_") =~ /^set-cookie: (s\d+)-1=/mgi] } 1 .. 5;
    is_deeply [map { scalar @$_ } @cookies], [1, 1, 1, 1, 1], 'each of the five got one first cookie';
    my %distinct = map { ($_->[0] // '') => 1 } @cookies;
    is scalar(keys %distinct), 5, 'and no two the same' or diag explain \@cookies;
    is scalar(checks($auth)), 7, 'five more checks: none reused another client\'s answer';
    is $proxyd->stop, 0, 'proxyd exits 0';

    $auth = spawn_recorder('--count', 1);
    ($up, $proxyd) = setup($auth, '');
    ($status, $headers) = request($proxyd, '/up/x?key=k');
    is $status, 200, 'without response_headers: allowed';
    ok !exists $headers->{'set-cookie'}, 'the cookie does not reach the client';
    ($status, $headers) = request($proxyd, '/up/x?key=k');
    is scalar(checks($auth)), 1, 'so the allow holds nothing for one client, and is cached';
    ok !exists $headers->{'set-cookie'}, 'the cached allow passes no cookie either';
    is $proxyd->stop, 0, 'proxyd exits 0';

    $auth = spawn_recorder('--count', 0);
    ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n");
    request($proxyd, '/up/x?key=k') for 1 .. 2;
    is scalar(checks($auth)), 1, 'an allow without a cookie is cached as before';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest "a denial's fields, Set-Cookie among them, are relayed; it is not cached" => sub {
    my $auth = spawn_recorder('--status', 401, '--count', 1);
    my ($up, $proxyd) = setup($auth, "  negative_ttl: 1m\n");
    my ($status, $headers) = request($proxyd, '/up/x?key=k');
    is $status, 401, "the auth service's 401";
    is_deeply $headers->{'set-cookie'}, ['s1-1=xxxxxxx1; Path=/'], 'its Set-Cookie, without response_headers';
    is_deeply $headers->{'x-other'}, ['1'], 'and its other fields';
    ($status, $headers) = request($proxyd, '/up/x?key=k');
    is_deeply $headers->{'set-cookie'}, ['s2-1=xxxxxxx2; Path=/'], 'again: a new check';
    is $up->count, 0, 'nothing reached the service';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest "an allow's cookie also reaches a 101 and proxyd's own errors" => sub {
    my $auth = spawn_recorder('--count', 1);
    my $ws_port = empty_port();
    my $ws = spawn(cmd => [$PY, 't/ws-server.py', $ws_port], port => $ws_port, log => temp_dir() . '/ws.log');
    my $down = empty_port();
    my ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n",
        services => "ws: http://127.0.0.1:$ws_port\ndown: http://127.0.0.1:$down\n");
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxyd->port, Timeout => 5) or die;
    print $sock "GET /ws/echo?key=k HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    my ($head, $sel, $deadline) = ('', IO::Select->new($sock), time + 10);
    while ($head !~ /\r\n\r\n/ && time < $deadline && $sel->can_read($deadline - time)) {
        last unless sysread($sock, $head, 4096, length $head);
    }
    like $head, qr{\AHTTP/1\.1 101 }, 'the upgrade is switched';
    like $head, qr{^set-cookie: s1-1=xxxxxxx1; Path=/\r$}mi, 'and the 101 carries the cookie';
    close $sock;
    my ($status, $headers, $body) = request($proxyd, '/down/x?key=k');
    is $status, 502, "a service that is down: proxyd's own 502";
    is_deeply $headers->{'set-cookie'}, ['s2-1=xxxxxxx2; Path=/'], 'with the cookie of the allow';
    like $body, qr/upstream connection failed/, 'and its JSON error';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

# The auth service sees the parts auth.vary names, and a decision is reused for requests that differ elsewhere.
my %variation = (    # part => [how the request differs from the base, what the auth service then sees]
    method => [{ method => 'DELETE' }, 'x-forwarded-method', 'DELETE'],
    path   => [{ path => '/up/b?q=1' }, 'x-forwarded-uri', '/up/b?q=1'],
    host   => [{ host => 'other.example' }, 'x-forwarded-host', 'other.example'],
    client => [{ local => '127.0.0.2' }, 'x-forwarded-for', '127.0.0.2'],
);
my %part_of = (method => 'method', path => 'path', host => 'path', client => 'client');
my %base_shows = (method => 'GET', path => '/up/a', host => 'base.example', client => '127.0.0.1');

for my $vary ('[]', '[method]', '[path]', '[client]', '[client, method]', undef) {
    my %varied = map { $_ => 1 } defined $vary ? $vary =~ /(\w+)/g : qw(method path client);
    subtest 'vary: ' . ($vary // 'the default (method, path, client)') => sub {
        my $auth = spawn_recorder();
        my ($up, $proxyd) = setup($auth, defined $vary ? "  vary: $vary\n" : '');
        my %base = (path => '/up/a', host => 'base.example', fields => ['Authorization: Bearer t1']);
        is((request($proxyd, $base{path}, %base))[0], 200, 'the base request is allowed');
        my ($seen) = checks($auth);
        is_deeply $seen->{headers}{authorization}, ['Bearer t1'], 'the auth service saw the credential';
        is_deeply $seen->{headers}{'x-forwarded-service'}, ['up'], 'the service';
        is_deeply $seen->{headers}{'x-forwarded-proto'}, ['http'], 'and the scheme';
        for my $name (sort keys %variation) {
            my $field = $variation{$name}[1];
            if ($varied{ $part_of{$name} }) {
                is_deeply $seen->{headers}{$field}, [$base_shows{$name}], "the base request's $field";
            } else {
                ok !exists $seen->{headers}{$field}, "no $field" or diag explain $seen->{headers}{$field};
            }
        }
        for my $name (sort keys %variation) {
            my ($how, $field, $shown) = @{ $variation{$name} };
            my %req = (%base, %$how);
            my $before = scalar(checks($auth));
            is((request($proxyd, $req{path}, %req))[0], 200, "another $name: allowed");
            my @all = checks($auth);
            if ($varied{ $part_of{$name} }) {
                is scalar(@all), $before + 1, "another $name: a check of its own";
                is_deeply $all[-1]{headers}{$field}, [$shown], "which showed the auth service $field: $shown";
            } else {
                is scalar(@all), $before, "another $name: the base request's decision is reused";
            }
        }
        my $before = scalar(checks($auth));
        request($proxyd, '/up/a', %base, fields => ['Authorization: Bearer t2']);
        is scalar(checks($auth)), $before + 1, 'another credential: always a check';
        request($proxyd, '/up2/a', %base);
        is scalar(checks($auth)), $before + 2, 'another service: always a check';
        is $proxyd->stop, 0, 'proxyd exits 0';
    };
}

# Behind trusted_proxies the peer is the same proxy for every client: showing it alone keyed every client's
# decision by the proxy, and an auth service that trusts its own network allowed the whole world.
subtest 'vary: [client] behind a trusted proxy: the client is the X-Forwarded-For the service is told' => sub {
    my $auth = spawn_recorder();
    my $up = spawn_upstream('--name', 'up');
    my $proxyd = spawn_proxyd(settings => "trusted_proxies: [127.0.0.1]\nauth:\n  service: auth\n  vary: [client]\n",
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n");
    my @bearer = ('Authorization: Bearer t1');
    my ($status, undef, $body) = request($proxyd, '/up/a', fields => [ @bearer, 'X-Forwarded-For: 203.0.113.7' ]);
    is $status, 200, 'a client behind the proxy';
    my @seen = checks($auth);
    is_deeply $seen[0]{headers}{'x-forwarded-for'}, ['203.0.113.7, 127.0.0.1'], 'the auth service is shown the chain';
    is((eval { decode_json($body) } // {})->{headers}{'x-forwarded-for'}, '203.0.113.7, 127.0.0.1', 'as the service is');
    request($proxyd, '/up/a', fields => [ @bearer, 'X-Forwarded-For: 198.51.100.9' ]);
    @seen = checks($auth);
    is scalar(@seen), 2, "another client behind the same proxy: a check of its own, not the first one's decision";
    is_deeply $seen[1]{headers}{'x-forwarded-for'}, ['198.51.100.9, 127.0.0.1'], 'showing its own address';
    request($proxyd, '/up/a', fields => [ @bearer, 'X-Forwarded-For: 203.0.113.7' ]);
    is scalar(checks($auth)), 2, 'the first client again: its decision is reused';
    request($proxyd, '/up/a', local => '127.0.0.2', fields => [ @bearer, 'X-Forwarded-For: 203.0.113.7' ]);
    @seen = checks($auth);
    is_deeply $seen[-1]{headers}{'x-forwarded-for'}, ['127.0.0.2'], 'from a peer that is no trusted proxy: its address alone';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'vary: [] with the cookie: one check for many paths of a service, per session' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  request_headers: [Cookie]\n  response_headers: [Set-Cookie]\n  vary: []\n");
    my (undef, $headers) = request($proxyd, '/up/login?key=supersecret');
    my ($cookie) = ($headers->{'set-cookie'}[0] // '') =~ /^(demo_session=[0-9a-f]+)/;
    ok $cookie, 'logged in';
    $http->request('DELETE', $auth->url('/count'));
    is((request($proxyd, "/up/page$_", fields => ["Cookie: $cookie"]))[0], 200, "/up/page$_ with the cookie") for 1 .. 10;
    is $auth->count, 1, 'one check for the ten pages';
    is((request($proxyd, '/up/page1', fields => ['Cookie: demo_session=bad']))[0], 401, 'another cookie: its own check, 401');
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'only the listed request headers reach the auth service' => sub {
    my $auth = spawn_recorder();
    my ($up, $proxyd) = setup($auth, "  request_headers: [Cookie, X-Api-Key]\n");
    my @fields = ('Cookie: c=1', 'X-Api-Key: k1', 'X-Secret: s', 'Accept-Language: de', 'User-Agent: evil', 'Referer: http://x/');
    is((request($proxyd, '/up/a', fields => \@fields))[0], 200, 'allowed');
    my ($seen) = checks($auth);
    is_deeply $seen->{headers}{cookie}, ['c=1'], 'Cookie is shown';
    is_deeply $seen->{headers}{'x-api-key'}, ['k1'], 'X-Api-Key is shown';
    ok !exists $seen->{headers}{$_}, "$_ is not" for qw(x-secret accept-language user-agent referer);
    is $proxyd->stop, 0, 'proxyd exits 0';

    $auth = spawn_recorder();
    ($up, $proxyd) = setup($auth, '');
    request($proxyd, '/up/a', fields => ['Cookie: c=1']);
    ($seen) = checks($auth);
    ok !exists $seen->{headers}{cookie}, 'without request_headers, not even Cookie';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'a client cannot smuggle fields into the check' => sub {
    my $auth = spawn_recorder();
    my ($up, $proxyd) = setup($auth, "  request_headers: [Cookie, X-Api-Key]\n  vary: [method, path, client]\n");
    my @forged = ('X-Forwarded-Method: DELETE', 'X-Forwarded-Uri: /up/public', 'X-Forwarded-Host: evil', 'X-Forwarded-For: 10.0.0.1',
        'X-Forwarded-Service: pub', 'X-Forwarded-Proto: https', 'Forwarded: for=10.0.0.1', 'X_Forwarded_Uri: /up/public',
        'X_Api_Key: evil');
    is((request($proxyd, '/up/a', fields => \@forged))[0], 200, 'a request with forged forwarding fields');
    my ($seen) = checks($auth);
    my %expect = ('x-forwarded-method' => 'GET', 'x-forwarded-uri' => '/up/a', 'x-forwarded-host' => '127.0.0.1:' . $proxyd->port,
        'x-forwarded-for' => '127.0.0.1', 'x-forwarded-service' => 'up', 'x-forwarded-proto' => 'http');
    is_deeply $seen->{headers}{$_}, [$expect{$_}], "the auth service saw proxyd's $_ alone" for sort keys %expect;
    ok !exists $seen->{headers}{$_}, "and no $_" for qw(forwarded x_forwarded_uri x-api-key x_api_key);

    request($proxyd, '/up/b', fields => ['Cookie: a=1', 'X-Api-Key: k1', 'Cookie: b=2', 'X-Api-Key: k2']);
    $seen = (checks($auth))[-1];
    is_deeply $seen->{headers}{cookie}, ['a=1; b=2'], 'two Cookie fields: one, joined with "; "';
    is_deeply $seen->{headers}{'x-api-key'}, ['k1, k2'], 'two of another field: one, joined with ", "';

    my $h2 = request_h2($proxyd, { path => '/up/c', headers => [['cookie', 'a=1'], ['cookie', 'b=2']] });
    is $h2->{status}, 200, 'HTTP/2 with its cookie in two fields (RFC 9113 8.2.3)' or diag explain $h2;
    $seen = (checks($auth))[-1];
    is_deeply $seen->{headers}{cookie}, ['a=1; b=2'], 'one Cookie field for the auth service';

    my $before = scalar(checks($auth));
    $h2 = request_h2($proxyd, { path => '/up/d', headers => [['cookie', "a=1\r\nx-injected: 1"]] });
    isnt $h2->{status} // 0, 200, 'HTTP/2: a line break in a Cookie value is never allowed' or diag explain $h2;
    ok !(grep { exists $_->{headers}{'x-injected'} } checks($auth)), 'and nothing injected reached the auth service';
    my ($status) = request($proxyd, '/up/e', fields => ['Cookie: a=1', ' x-folded: 1']);
    isnt $status, 200, 'HTTP/1: an obs-folded line after Cookie is not allowed';
    ok !(grep { exists $_->{headers}{'x-folded'} || grep {/x-folded/} @{ $_->{headers}{cookie} // [] } } checks($auth)),
        'and does not reach the auth service';

    is((request($proxyd, '/up/f', fields => [map {"Cookie: c$_=v"} 1 .. 90]))[0], 200, 'ninety Cookie fields');
    $seen = (checks($auth))[-1];
    is_deeply $seen->{headers}{cookie}, [join '; ', map {"c$_=v"} 1 .. 90], 'reach the auth service as one field, in order';

    my $huge = 'h=' . ('x' x 60000);
    is((request($proxyd, '/up/g', fields => ["Cookie: $huge"]))[0], 200, 'a 60 KB Cookie (under client.max_header_bytes)');
    $seen = (checks($auth))[-1];
    is length($seen->{headers}{cookie}[0] // ''), length($huge), 'reaches the auth service whole';
    $before = scalar(checks($auth));
    is((request($proxyd, '/up/h', fields => ['Cookie: h=' . ('x' x 70000)]))[0], 431, 'a 70 KB one: 431');
    is scalar(checks($auth)), $before, 'and no check';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'with underscores_in_headers, a request_headers name spelt with "_" does not reach the service' => sub {
    my $auth = spawn_recorder();
    my $up = spawn_upstream('--name', 'up');
    my $proxyd = spawn_proxyd(settings => "client:\n  underscores_in_headers: true\n"
            . "auth:\n  service: auth\n  request_headers: [X-Api-Key]\n",
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n");
    my ($status, undef, $body) = request($proxyd, '/up/a', fields => ['X-Api-Key: mine', 'X_Api_Key: someone-else', 'X_Other: 1']);
    is $status, 200, 'allowed';
    my ($seen) = checks($auth);
    is_deeply $seen->{headers}{'x-api-key'}, ['mine'], 'the auth service was shown X-Api-Key';
    my $got = (eval { decode_json($body) } // {})->{headers} // {};
    is $got->{'x-api-key'}, 'mine', 'the service gets it';
    ok !exists $got->{'x_api_key'}, 'but not X_Api_Key, which a CGI app reads as the same HTTP_X_API_KEY';
    is $got->{'x_other'}, '1', 'other names with "_" still pass';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

# Joining the fields one by one copied the value so far each time: 99 Cookie fields of 650 bytes (64 KB, which
# HPACK sends in a few bytes once indexed) took 3 MB per request, and 30 such streams 100 MB.
subtest 'many Cookie fields cost what they weigh, not its square' => sub {
    plan skip_all => 'memory figures say nothing under the sanitizers' if sanitized;
    my $auth = spawn_recorder('--delay', 3);
    my ($up, $proxyd) = setup($auth, "  request_headers: [Cookie]\n  vary: []\n");    # one check for all
    my @cookies = map { [ 'cookie', "c$_=" . ('x' x 640) ] } 1 .. 99;
    my ($before, $max) = (rss_kib($proxyd->pid), 0);
    my $sample = sub { my $rss = rss_kib($proxyd->pid); $max = $rss if $rss > $max };
    my $res = h2_leave($proxyd->port, { paths => [ map {"/up/x$_?key=k"} 1 .. 30 ], headers => \@cookies }, sub {
        wait_for('the check', sub { $sample->(); scalar(checks($auth)) >= 1 });
        wait_for('a while', sub { $sample->(); 0 }, 0.5);    # the check takes 3 s
    });
    is $res->{reset}, 30, 'one HTTP/2 connection, 30 streams of 99 Cookie fields each, waiting on their check' or diag explain $res;
    is scalar(checks($auth)), 1, 'one check for them all';
    is_deeply((checks($auth))[0]{headers}{cookie}, [ join '; ', map { $_->[1] } @cookies ], 'shown one Cookie field');
    my $grown = $max - $before;
    cmp_ok $grown, '<', 40 * 1024, "proxyd grew by $grown KiB for 2 MB of fields";
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'an allow with too many or too large fields fails closed' => sub {
    my $auth = spawn_recorder('--count', 150);
    my ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n");
    my ($status, $headers, $body) = request($proxyd, '/up/x?key=k');
    is $status, 503, '200 with 150 Set-Cookie fields: 503';
    like $body, qr/more than 100 header fields/, 'says why';
    ok !exists $headers->{'set-cookie'}, 'and passes none of them';
    is $proxyd->stop, 0, 'proxyd exits 0';

    $auth = spawn_recorder('--count', 40, '--bytes', 2048);
    ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n");
    ($status, $headers, $body) = request($proxyd, '/up/x?key=k');
    is $status, 503, '200 with 40 Set-Cookie fields of 2 KB: 503';
    like $body, qr/more than 64KiB of header fields/, 'says why';
    is $proxyd->stop, 0, 'proxyd exits 0';
    is $up->count, 0, 'nothing reached the service';

    $auth = spawn_recorder('--count', 20, '--bytes', 1000);
    ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n");
    ($status, $headers) = request($proxyd, '/up/x?key=k');
    is $status, 200, '20 Set-Cookie fields of 1 KB: allowed';
    is_deeply [map {/^(s1-\d+)=/} @{ $headers->{'set-cookie'} // [] }], [map {"s1-$_"} 1 .. 20], 'all twenty, in order';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

done_testing;

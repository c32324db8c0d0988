# 50auth.t: forward auth: allow, deny, fail closed, key stripping, forged headers, the decision cache and coalescing.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use lib 't';
use Util;
use RawHTTP;

my $http = HTTP::Tiny->new(timeout => 15);

sub count { decode_json($http->get($_[0]->url('/count'))->{content})->{requests} }
sub reset_count { $http->request('DELETE', $_[0]->url('/count')) }

# proxyd in front of t/upstream ("up"), a public copy ("pub") and the given auth service.
sub setup {
    my ($auth, $settings, $threads) = @_;
    my $up = spawn_upstream('--name', 'up');
    my $proxyd = spawn_proxyd(admin => 1, threads => $threads, settings => "auth:\n  service: auth\n  copy_headers: [X-User]\n" . ($settings // ''),
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n"
            . "pub: {url: 'http://127.0.0.1:@{[$up->port]}', auth: false}\n");
    return ($up, $proxyd);
}

subtest 'allow, deny, relay' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth);
    my $res = $http->get($proxyd->url('/pub/x?key=supersecret'), { headers => { 'X-User' => 'admin' } });
    my $echo = decode_json($res->{content});
    ok !exists $echo->{headers}{'x-user'}, 'auth: false: a client\'s X-User does not reach the service either';
    is $echo->{path}, '/x', 'nor does its key';
    $res = $http->get($proxyd->url('/up/x?a=1&key=supersecret&b=2'), { headers => { 'X-User' => 'admin' } });
    is $res->{status}, 200, 'key=supersecret: 200';
    $echo = decode_json($res->{content});
    is $echo->{path}, '/x?a=1&b=2', 'the key is stripped from the query upstream';
    is $echo->{headers}{'x-user'}, 'workshop', 'X-User comes from the auth service, the forged one is gone';
    my $last = decode_json($http->get($auth->url('/last'))->{content});
    is $last->{path}, '/check?key=supersecret', 'the auth service got the key';
    is $last->{headers}{'x-forwarded-uri'}, '/up/x?a=1&b=2', 'X-Forwarded-Uri without the key';
    is $last->{headers}{'x-forwarded-method'}, 'GET', 'X-Forwarded-Method';
    is $last->{headers}{'x-forwarded-service'}, 'up', 'X-Forwarded-Service';
    is $last->{headers}{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For';
    is $last->{headers}{'x-forwarded-host'}, '127.0.0.1:' . $proxyd->port, 'X-Forwarded-Host';

    reset_count($up);
    $res = $http->get($proxyd->url('/up/x?key=wrong'));
    is $res->{status}, 401, 'wrong key: 401';
    like $res->{headers}{'www-authenticate'}, qr/^Bearer realm="proxyd-demo"/, 'WWW-Authenticate relayed';
    is_deeply decode_json($res->{content}), { error => 'unauthorized' }, 'the auth service\'s body relayed';
    $res = $http->get($proxyd->url('/up/x?key=forbidden'));
    is $res->{status}, 403, 'key=forbidden: 403';
    is_deeply decode_json($res->{content}), { error => 'forbidden' }, 'with its body';
    $res = HTTP::Tiny->new(max_redirect => 0)->get($proxyd->url('/up/x?key=redirect'));
    is $res->{status}, 302, 'a login redirect goes back as is';
    is $res->{headers}{location}, '/login', 'with its Location';
    is $http->get($proxyd->url('/up/x'))->{status}, 401, 'no key: 401';
    is count($up), 0, 'nothing denied reached the service';

    $res = $http->get($proxyd->url('/up/y'), { headers => { Authorization => 'Bearer supersecret' } });
    is $res->{status}, 200, 'Authorization: Bearer works as the credential';
    $last = decode_json($http->get($auth->url('/last'))->{content});
    is $last->{headers}{authorization}, 'Bearer supersecret', 'and is passed to the auth service';

    reset_count($auth);
    is $http->get($proxyd->url('/pub/x'))->{status}, 200, 'auth: false: no key needed';
    is count($auth), 0, 'and no check';
    is $http->get($proxyd->url('/auth/check?key=supersecret'))->{status}, 404, 'the auth service is not routed';
    unlike $proxyd->log, qr/supersecret/, 'the key never appears in the log';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'the cache' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  cache_ttl: 1s\n");
    reset_count($auth);
    is $http->get($proxyd->url('/up/a?key=supersecret'))->{status}, 200, 'first request';
    is $http->get($proxyd->url('/up/a?key=supersecret'))->{status}, 200, 'second request';
    is count($auth), 1, 'one check: the second was a cache hit';
    is $http->request('DELETE', $proxyd->url('/up/a?key=supersecret'))->{status}, 200, 'another method';
    is $http->get($proxyd->url('/up/b?key=supersecret'))->{status}, 200, 'another path';
    is count($auth), 3, 'each was decided by the auth service itself: a decision is reused only for the same request';
    is $http->get($proxyd->url('/pub/x?key=supersecret'))->{status}, 200, 'a public service';
    is $http->get($proxyd->url('/up/a?key=wrong'))->{status}, 401, 'a deny';
    is $http->get($proxyd->url('/up/a?key=wrong'))->{status}, 401, 'the same deny';
    is count($auth), 4, 'denies are cached too';
    sleep 1.3;
    is $http->get($proxyd->url('/up/a?key=supersecret'))->{status}, 200, 'after cache_ttl';
    is count($auth), 5, 'the allow expired: checked again';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'connections to the auth service are kept alive' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  cache_ttl: 0\n  negative_ttl: 0\n");
    my $port = $auth->port;
    # closed connections already there (spawn's probes, an earlier server on this port) are not proxyd's
    my %before = map { $_ => 1 } split /\n/, `ss -Htn state time-wait '( dport = :$port )' 2>&1`;
    is $http->get($proxyd->url("/up/k?key=k$_"))->{status}, 401, "check $_" for 1 .. 20;
    is count($auth), 20, 'twenty checks reached the auth service';
    # ss is in iproute2 (packages.txt); without it this cannot be told, and must not pass
    my $open = `ss -Htnp state established '( dport = :$port )' 2>&1`;
    is $?, 0, 'ss runs' or diag "ss: $open";
    my $closed = `ss -Htn state time-wait '( dport = :$port )' 2>&1`;
    my $pid = $proxyd->pid;
    cmp_ok scalar(() = $open =~ /pid=$pid,/g), '>=', 1, "proxyd's connection to the auth service stays open after the checks";
    my @new = grep { /:$port\b/ && !$before{$_} } split /\n/, $closed;
    cmp_ok scalar(@new), '<=', 2, 'over kept-alive connections, not one connection each';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'public: true routes the auth service itself' => sub {
    my $auth = spawn_auth();
    my $proxyd = spawn_proxyd(settings => "auth:\n  service: auth\n",
        services => "auth: {url: 'http://127.0.0.1:@{[$auth->port]}', public: true}\n");
    my $res = $http->get($proxyd->url('/auth/login?key=supersecret'));
    is $res->{status}, 200, 'routed';
    is count($auth), 1, 'once: the auth service does not check itself';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'Cache-Control: no-store and max-age' => sub {
    my $auth = spawn_auth('--cache-control', 'no-store');
    my ($up, $proxyd) = setup($auth);
    $http->get($proxyd->url('/up/a?key=supersecret')) for 1 .. 3;
    is count($auth), 3, 'no-store: every request is checked';
    is $proxyd->stop, 0, 'proxyd exits 0';
    my $auth2 = spawn_auth('--cache-control', 'max-age=1');
    ($up, $proxyd) = setup($auth2, "  cache_ttl: 1h\n");
    $http->get($proxyd->url('/up/a?key=supersecret')) for 1 .. 2;
    is count($auth2), 1, 'max-age=1: cached';
    sleep 1.3;
    $http->get($proxyd->url('/up/a?key=supersecret'));
    is count($auth2), 2, 'for at most max-age, not cache_ttl';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'coalescing: concurrent requests with one new key wait on one check' => sub {
    # cache_ttl 0: nothing is cached, so a request that does not join the running check makes its own;
    # the check lasts long enough for curl to open all 200 connections, also on a loaded sanitizer build
    my $auth = spawn_auth('--delay', sanitized() ? '4000' : '2000');
    my ($up, $proxyd) = setup($auth, "  cache_ttl: 0\n  timeout: 10s\n");
    reset_count($auth);
    my $url = $proxyd->url('/up/c?key=supersecret');
    my $list = temp_dir() . '/urls';
    write_file($list, "url = \"$url\"\noutput = \"/dev/null\"\n" x 200);
    # --parallel-immediate: all 200 connections at once, none waits for the first to finish
    my $out = `curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 200 -K $list -w '%{http_code}\\n' 2>/dev/null`;
    my %codes;
    $codes{$_}++ for split /\n/, $out;
    is_deeply \%codes, { 200 => 200 }, '200 times 200';
    is count($auth), 1, 'one call to the auth service: all 200 waited on it';
    is $http->get($url)->{status}, 200, 'a request after the check';
    is count($auth), 2, 'makes a check of its own (cache_ttl 0: the one before was not cached)';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'fail closed' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  timeout: 500ms\n");
    reset_count($up);
    $auth->stop;
    my $res = $http->get($proxyd->url('/up/x?key=supersecret'));
    is $res->{status}, 503, 'auth service down: 503';
    is $res->{headers}{'content-type'}, 'application/json', 'JSON';
    like decode_json($res->{content})->{error}, qr/^auth service unavailable/, 'says why';
    my $slow = spawn_auth('--delay', '3000');
    $proxyd->admin(PUT => '/services/auth', encode_json({ url => 'http://127.0.0.1:' . $slow->port . '/check' }));
    $res = $http->get($proxyd->url('/up/x?key=supersecret'));
    is $res->{status}, 503, 'auth slower than its timeout: 503';
    like decode_json($res->{content})->{error}, qr/timed out/, 'says so';
    my $failing = spawn_auth('--fail');
    $proxyd->admin(PUT => '/services/auth', encode_json({ url => 'http://127.0.0.1:' . $failing->port . '/check' }));
    $res = $http->get($proxyd->url('/up/x?key=supersecret'));
    is $res->{status}, 503, 'auth answering 500: 503';
    $proxyd->admin(DELETE => '/services/auth');
    $res = $http->get($proxyd->url('/up/x?key=supersecret'));
    is $res->{status}, 503, 'no auth entry in the registry: 503';
    like decode_json($res->{content})->{error}, qr/not in the registry/, 'says so';
    is count($up), 0, 'nothing reached the service';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'moving the auth entry through the admin API takes effect at once' => sub {
    my $auth = spawn_auth();
    my $failing = spawn_auth('--fail');
    my ($up, $proxyd) = setup($auth);
    is $http->get($proxyd->url('/up/x?key=supersecret'))->{status}, 200, 'allowed and cached';
    my ($status) = $proxyd->admin(PUT => '/services/auth', encode_json({ url => 'http://127.0.0.1:' . $failing->port . '/check' }));
    is $status, 200, 'auth entry moved';
    is $http->get($proxyd->url('/up/x?key=supersecret'))->{status}, 503, 'the cache was emptied: the new auth service decides';
    is count($failing), 1, 'and was asked';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'a client that leaves during its check costs nothing' => sub {
    my $auth = spawn_auth('--delay', '500');
    my ($up, $proxyd) = setup($auth);
    reset_count($auth);
    reset_count($up);
    # HTTP/2 streams reset while their checks run: libh2o frees each request at once
    # (an HTTP/1 request would be kept until answered). Good keys: a forwarded one would show.
    my $res = h2_leave($proxyd->port, { paths => [map { "/up/gone$_?key=supersecret" } 1 .. 20] },
        sub { wait_for('checks running', sub { count($auth) == 20 }) });
    is $res->{reset}, 20, 'twenty streams reset during their checks' or diag explain $res;
    ok $res->{ping}, 'proxyd read the resets';
    # a check started now is answered after the twenty (same delay, started later)
    is $http->get($proxyd->url('/up/x?key=supersecret'))->{status}, 200, 'proxyd still serves';
    is count($up), 1, 'none of the requests that left was forwarded';
    is $proxyd->stop, 0, 'and exits 0 (clean under the sanitizers)';
};

subtest 'an auth answer with a control character in a header fails closed' => sub {
    my $port = empty_port();
    my $bad = spawn(port => $port, cmd => ['perl', '-MIO::Socket::INET', '-e', <<'PERL', $port]);
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ARGV[0], Listen => 10, ReuseAddr => 1) or die $!;
while (my $c = $l->accept) {
    my $req = ''; $req .= $_ while defined($_ = <$c>) && $_ ne "\r\n";
    print $c "HTTP/1.1 200 OK\r\nX-User: alice\rX-Admin: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    close $c;
}
PERL
    my ($up, $proxyd) = setup($bad);
    my $res = $http->get($proxyd->url('/up/x?key=any'));
    is $res->{status}, 503, 'a bare CR in X-User: 503';
    like decode_json($res->{content})->{error}, qr/control character/, 'says why';
    is count($up), 0, 'nothing reached the service';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'an auth answer with a line that is not a field fails closed' => sub {
    my $auth = spawn_raw_upstream();
    my ($up, $proxyd) = setup($auth, "  response_headers: [Set-Cookie]\n");
    my %answers = (    # what a lenient client could take for framing, or a field without a name
        'a space before the colon' => "HTTP/1.1 401 Unauthorized\r\nContent-Length : 50\r\nContent-Length: 2\r\n\r\nno",
        'a folded line'            => "HTTP/1.1 401 Unauthorized\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nno",
        'no name'                  => "HTTP/1.1 401 Unauthorized\r\n: x\r\nContent-Length: 2\r\n\r\nno",
        'a space in an allow'      => "HTTP/1.1 200 OK\r\nSet-Cookie : a=1\r\nX-User: bob\r\nContent-Length: 0\r\n\r\n",
        'a DEL in a value'         => "HTTP/1.1 200 OK\r\nX-User: bob\x7f\r\nContent-Length: 0\r\n\r\n",
    );
    my $i = 0;
    for my $what (sort keys %answers) {
        $auth->set(check => [[['send', $answers{$what}]]]);
        my $res = http1($proxyd->port, 'GET /up/x' . $i++ . "?key=k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", wait_close => 1);
        is $res->{status}, 503, "$what: 503";
        like $res->{body}, qr/not a field name, a colon and a value|control character/, "saying why";
        ok !(grep { /^\s|\s$/ } keys %{ $res->{headers} }), 'no field of the answer reached the client' or diag $res->{raw};
    }
    is count($up), 0, 'nothing reached the service';
    $auth->set(check => [[['send', "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 2\r\n\r\nno"]]]);
    is http1($proxyd->port, "GET /up/ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", wait_close => 1)->{status}, 401,
        'a well-formed denial is still relayed';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'SIGTERM while HTTP/2 clients that left wait for a check on another thread' => sub {
    my $auth = spawn_auth('--delay', '2000');
    my ($up, $proxyd) = setup($auth, '', 4);
    my @pids;
    for my $i (0 .. 8) {
        my $pid = fork // die;
        if ($pid == 0) {
            exec 'curl', '-s', '-o', '/dev/null', '--http2-prior-knowledge', ($i ? ('--max-time', '0.8') : ()),
                $proxyd->url('/up/x?key=same');
        }
        push @pids, $pid;
    }
    ok wait_for('the check runs', sub { count($auth) == 1 }), 'one check for the nine';
    waitpid $_, 0 for @pids[1 .. $#pids];    # --max-time 0.8: gone while the check runs
    is count($auth), 1, 'still that one check';
    is $proxyd->stop, 0, 'proxyd exits 0';
    waitpid $pids[0], 0;
};

subtest 'without auth: a warning' => sub {
    my $proxyd = spawn_proxyd(services => '');
    like $proxyd->log, qr/forward auth is off/, 'says requests are unchecked';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

done_testing;

# 50admin-ready.t: GET /health and GET /ready answer without the token; /ready follows forward auth's service and checks.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $http = HTTP::Tiny->new(timeout => 15);
my $up = spawn_upstream('--name', 'up');

# GET $path on the admin listener without a token: (status, body).
sub probe {
    my ($p, $path, $method) = @_;
    my ($status, $body) = $p->admin($method // 'GET', $path, undef, token => undef);
    return ($status, $body);
}

sub ready_is {
    my ($p, $status, $body, $name) = @_;
    is_deeply [probe($p, '/ready')], [$status, $body], $name;
}

my $READY = { status => 'ready' };

subtest 'without forward auth' => sub {
    my $p = spawn_proxyd(admin => 1, services => "up: http://127.0.0.1:@{[$up->port]}\n");
    is_deeply [probe($p, '/health')], [200, { status => 'ok' }], '/health without a token: ok, and nothing else';
    ready_is($p, 200, $READY, '/ready without a token: ready');
    is((probe($p, '/ready', 'POST'))[0], 405, 'POST /ready: 405');
    is((probe($p, '/health', 'DELETE'))[0], 405, 'DELETE /health: 405');
    is((probe($p, '/services'))[0], 401, 'the rest still needs the token');
    is((probe($p, '/ready/x'))[0], 401, 'a path under /ready is not /ready');
    my ($status) = $p->admin(DELETE => '/services/up');
    is $status, 204, 'an empty registry';
    ready_is($p, 200, $READY, 'is still ready: no service is needed to serve');
    is $p->stop, 0, 'exit 0';
};

subtest 'forward auth: its service in the registry, its latest check' => sub {
    my $auth = spawn_auth();
    my $auth_port = $auth->port;
    my $p = spawn_proxyd(admin => 1, settings => "auth:\n  service: auth\n  cache_ttl: 1h\n",
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:$auth_port/check\n");
    ready_is($p, 200, $READY, 'ready before any check');
    is $http->get($p->url('/up/x?key=supersecret'))->{status}, 200, 'a request allowed';
    ready_is($p, 200, $READY, 'ready after an allow');
    is $http->get($p->url('/up/x?key=wrong'))->{status}, 401, 'a request denied';
    ready_is($p, 200, $READY, 'a denial is a working check: ready');
    $auth->stop;
    is $http->get($p->url('/up/x?key=other'))->{status}, 503, 'the auth service is down: 503';
    my ($status, $body) = probe($p, '/ready');
    is $status, 503, 'not ready after a failed check';
    is $body->{reason}, 'the latest forward-auth check failed', 'and says why';
    is_deeply [probe($p, '/health')], [200, { status => 'ok' }], 'still alive';
    is $http->get($p->url('/up/x?key=supersecret'))->{status}, 200, 'a cached allow still passes';
    is((probe($p, '/ready'))[0], 503, 'but is not a check: still not ready');

    my $auth2 = spawn_auth();
    ($status) = $p->admin(PUT => '/services/auth', encode_json({ url => "http://127.0.0.1:@{[$auth2->port]}/check" }));
    is $status, 200, 'the auth service moved';
    is $http->get($p->url('/up/x?key=supersecret'))->{status}, 200, 'the new one allows';
    ready_is($p, 200, $READY, 'ready again after a good check');

    ($status) = $p->admin(DELETE => '/services/auth');
    is $status, 204, 'the auth service removed from the registry';
    ($status, $body) = probe($p, '/ready');
    is $status, 503, 'not ready';
    is $body->{reason}, 'forward auth is on and its service is not in the registry', 'and says why';
    unlike encode_json($body), qr/auth2|127\.0\.0\.1|@{[$auth2->port]}|\Q$Util::ADMIN_TOKEN\E/, 'naming no address';
    is $http->get($p->url('/up/y?key=supersecret'))->{status}, 503, '(requests are refused meanwhile)';
    ($status) = $p->admin(PUT => '/services/auth', encode_json({ url => "http://127.0.0.1:@{[$auth2->port]}/check" }));
    is $status, 201, 'back in the registry';
    ready_is($p, 200, $READY, 'ready once it is back: a request refused for want of the service made no failed check')
        or diag $p->log;
    is $p->stop, 0, 'exit 0';
};

# A registry without the auth service at start is refused before anything listens (t/00config.t).

done_testing;

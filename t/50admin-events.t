# 50admin-events.t: GET /events on the admin listener: the token's three ways in and every way it is refused,
# snapshots that count real traffic exactly, and an event for each registry change.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't';
use Util;
use EventsClient;

my $up = spawn_upstream('--name', 'one');
my $auth = spawn_auth();
my $ws_port = empty_port();
my $ws = spawn(cmd => ['/usr/bin/python3', 't/ws-server.py', $ws_port], port => $ws_port, log => temp_dir() . '/ws.log');
my $closed_port = empty_port();    # nothing listens there: proxyd answers 502
my $services = "auth: http://127.0.0.1:@{[$auth->port]}/check\none: http://127.0.0.1:@{[$up->port]}\n"
    . "down: {url: 'http://127.0.0.1:$closed_port', auth: false}\nws: {url: 'http://127.0.0.1:$ws_port', auth: false}\n";
my $proxyd = spawn_proxyd(admin => 1, services => $services, settings => "auth:\n  service: auth\n");
my $http = HTTP::Tiny->new(timeout => 10);
my $c = EventsClient->new($proxyd);
my $T = $Util::ADMIN_TOKEN;

# No answer header and no message may carry the token.
sub no_token_in {
    my ($what, @texts) = @_;
    ok !(grep { index($_ // '', $T) >= 0 } @texts), "$what: the token is not sent back";
}

subtest 'the token as a subprotocol' => sub {
    my $res = $c->cmd(op => 'open', name => 'sub', subprotocols => $c->bearer);
    ok $res->{ok}, 'upgraded';
    is $res->{subprotocol}, 'proxyd-events', 'the answer names proxyd-events';
    is $res->{headers}{'sec-websocket-protocol'}, 'proxyd-events', 'and only it';
    no_token_in('response headers', %{ $res->{headers} });
    my $hello = $c->cmd(op => 'next', name => 'sub', type => 'hello');
    is $hello->{message}{interval_ms}, 1000, 'hello';
    my $snap = $c->snapshot('sub', 3);
    ok $snap, 'a snapshot within a second';
    is $snap->{version}, 1, 'with the registry version';
    is_deeply [ map { $_->{name} } @{ $snap->{services} } ], [qw(auth down one ws)], 'every service, by name';
    is EventsClient::service($snap, 'one')->{url}, 'http://127.0.0.1:' . $up->port, 'with its URL';
    my $next = $c->snapshot('sub', 3);
    ok $next && $next->{time_ms} > $snap->{time_ms}, 'and another one a second later';
    ok abs($next->{interval_s} - 1) < 0.5, "the interval is about a second ($next->{interval_s})";
    no_token_in('messages', @{ $c->cmd(op => 'received', name => 'sub')->{texts} });
};

subtest 'the token as the first message' => sub {
    my $res = $c->cmd(op => 'open', name => 'msg');
    ok $res->{ok}, 'upgraded without a token';
    ok !exists $res->{headers}{'sec-websocket-protocol'}, 'no subprotocol offered, none answered';
    is_deeply $c->cmd(op => 'next', name => 'msg', type => 'hello', timeout => 0.5), { timeout => JSON::PP::true, skipped => [] },
        'nothing is sent before the token';
    $c->cmd(op => 'send', name => 'msg', text => encode_json({ token => $T }));
    ok $c->cmd(op => 'next', name => 'msg', type => 'hello')->{message}, 'hello after {"token": ...}';
    ok $c->snapshot('msg'), 'then snapshots';
    $res = $c->cmd(op => 'open', name => 'msg2', subprotocols => ['proxyd-events']);
    is $res->{subprotocol}, 'proxyd-events', 'with proxyd-events offered alone: answered';
    $c->cmd(op => 'send', name => 'msg2', text => encode_json({ token => $T }));
    ok $c->cmd(op => 'next', name => 'msg2', type => 'hello')->{message}, 'and the token as its first message';
    no_token_in('messages', @{ $c->cmd(op => 'received', name => $_)->{texts} }) for qw(msg msg2);
};

subtest 'the token in Authorization, as for the rest of the API' => sub {
    my $res = $c->cmd(op => 'open', name => 'hdr', headers => [ [ Authorization => "Bearer $T" ] ]);
    ok $res->{ok}, 'upgraded';
    ok $c->cmd(op => 'next', name => 'hdr', type => 'hello')->{message}, 'hello at once';
};

subtest 'refused before the upgrade' => sub {
    my $guess = 'test-admin-token-guess-42';
    my $res = $c->cmd(op => 'open', name => 'x', subprotocols => $c->bearer($guess));
    is $res->{status}, 401, 'a wrong token as a subprotocol: 401';
    like $res->{headers}{'www-authenticate'}, qr/^Bearer /, 'with WWW-Authenticate';
    ok !exists $res->{headers}{'sec-websocket-protocol'}, 'no subprotocol answered';
    $res = $c->cmd(op => 'open', name => 'x', subprotocols => $c->bearer("$T-and-more"));
    is $res->{status}, 401, 'the token with more after it: 401';
    $res = $c->cmd(op => 'open', name => 'x', headers => [ [ Authorization => "Bearer $guess" ] ]);
    is $res->{status}, 401, 'a wrong Authorization: 401';
    $res = $c->cmd(op => 'open', name => 'x', subprotocols => ["bearer.$T"]);
    is $res->{status}, 400, 'the bearer without proxyd-events: 400 (nothing could be answered but the token)';
    $res = $c->cmd(op => 'open', name => 'x', subprotocols => [ 'proxyd-events', "bearer.$T", "bearer.$guess" ]);
    is $res->{status}, 400, 'two bearers: 400';
    $res = $c->cmd(op => 'open', name => 'x', subprotocols => ['chat']);
    is $res->{status}, 400, 'another subprotocol only: 400';
    my $raw = raw_request($proxyd->{admin_port}, "GET /events HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            . "Sec-WebSocket-Protocol: proxyd-events, bearer.$guess\r\n\r\n", 2);
    like $raw, qr{^HTTP/1\.1 401 }, 'raw: 401';
    unlike $raw, qr/\Q$guess\E/, 'the body and headers do not repeat the token tried';
    unlike $proxyd->log, qr/\Q$guess\E|\Q$T\E/, 'nor does the log, the right token neither';
    $raw = raw_request($proxyd->{admin_port}, "GET /events HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
            . "Sec-WebSocket-Protocol: proxyd-events, bearer.$T\r\n\r\n", 2);
    like $raw, qr{^HTTP/1\.1 426 .*^sec-websocket-version: 13\r$}ms, 'version 8: 426 naming 13';
    $raw = raw_request($proxyd->{admin_port}, "GET /events HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: not-base64-of-16-bytes!!\r\nSec-WebSocket-Version: 13\r\n"
            . "Sec-WebSocket-Protocol: proxyd-events, bearer.$T\r\n\r\n", 2);
    like $raw, qr{^HTTP/1\.1 426 }, 'a key that is not 16 bytes of base64: 426';
    my $r = $http->get("http://127.0.0.1:$proxyd->{admin_port}/events", { headers => { Authorization => "Bearer $T" } });
    is $r->{status}, 426, 'a plain GET: 426';
    is $r->{headers}{upgrade}, 'websocket', 'naming websocket';
    $r = $http->post("http://127.0.0.1:$proxyd->{admin_port}/events", { headers => { Authorization => "Bearer $T" } });
    is $r->{status}, 405, 'POST: 405';
    $r = $http->get("http://127.0.0.1:$proxyd->{admin_port}/events");
    is $r->{status}, 426, 'without a token a plain GET learns nothing more than 426';
};

subtest 'refused after the upgrade, with a policy-violation close' => sub {
    my %first = (
        'garbage' => { text => 'garbage' },
        'JSON without a token' => { text => '{"tokens":"x"}' },
        'a wrong token' => { text => encode_json({ token => 'test-admin-token-guess-42' }) },
        'the token with a NUL after it' => { text => encode_json({ token => "$T\0" }) },
        'a token that is a number' => { text => '{"token":42}' },
        'the token as binary' => { binary => unpack('H*', encode_json({ token => $T })) },
        'duplicate keys' => { text => qq({"token":"$T","token":"$T"}) },
    );
    for my $what (sort keys %first) {
        ok $c->cmd(op => 'open', name => 'bad')->{ok}, "$what: upgraded";
        $c->cmd(op => 'send', name => 'bad', %{ $first{$what} });
        my $res = $c->cmd(op => 'next', name => 'bad', type => 'hello');
        is $res->{code}, 1008, "$what: closed with 1008";
        is_deeply $res->{skipped}, [], "$what: nothing was sent before";
    }
    ok $c->cmd(op => 'open', name => 'big')->{ok}, 'a first message of 20 KB';
    $c->cmd(op => 'send', name => 'big', text => 'x' x 20000);
    is $c->cmd(op => 'next', name => 'big', type => 'hello')->{code}, 1009, 'closed with 1009, message too big';
    ok $c->cmd(op => 'open', name => 'url', url => $c->url("?token=$T"))->{ok}, 'the token in the URL';
    my $res = $c->cmd(op => 'next', name => 'url', type => 'hello', timeout => 8);
    is $res->{code}, 1008, 'is no token: closed with 1008';
    ok $res->{seconds} > 4 && $res->{seconds} < 7.5, "after the 5 s the first message is waited for ($res->{seconds} s)";
    like $res->{reason}, qr/no admin token within 5 seconds/, 'saying why';
};

# Snapshots from `from` on until service `name` counted `n` more requests than in `from`.
sub counted {
    my ($from, $name, $n) = @_;
    my $before = EventsClient::service($from, $name)->{totals}{requests};
    my ($snap, @seen) = $c->snapshot_until('sub', sub { EventsClient::service($_[0], $name)->{totals}{requests} >= $before + $n }, 10);
    return ($snap, @seen);
}

sub delta {
    my ($a, $b, $name, @path) = @_;
    my ($x, $y) = (EventsClient::service($a, $name), EventsClient::service($b, $name));
    ($x, $y) = ($x->{$_}, $y->{$_}) for @path;
    return $y - $x;
}

subtest 'snapshots count real traffic exactly' => sub {
    my $s0 = $c->fresh_snapshot('sub');
    my $front = $proxyd->url;
    my %got;
    $got{$_}++ for map { $http->get("$front$_")->{status} } ('/one/a?key=supersecret') x 3;
    $got{ $http->get("$front/one/status?code=503&key=supersecret")->{status} }++;
    $got{ $http->get("$front/one/a?key=forbidden")->{status} }++;
    $got{ $http->get("$front/one/a")->{status} }++;
    $got{ HTTP::Tiny->new(max_redirect => 0)->get("$front/one")->{status} }++;
    $got{ $http->get("$front/down/x")->{status} }++ for 1 .. 2;
    is_deeply \%got, { 200 => 3, 503 => 1, 403 => 1, 401 => 1, 301 => 1, 502 => 2 }, 'the answers, as sent';
    my ($s1, @seen) = counted($s0, 'one', 7);
    ok $s1, 'a snapshot shows them';
    ($s1) = $c->snapshot_until('sub', sub { EventsClient::service($_[0], 'down')->{totals}{responses}{'5xx'} >= 2 }, 5)
        unless EventsClient::service($s1, 'down')->{totals}{responses}{'5xx'} >= 2;
    is delta($s0, $s1, 'one', 'totals', 'requests'), 7, 'one: 7 requests';
    my %classes = map { $_ => delta($s0, $s1, 'one', 'totals', 'responses', $_) } qw(1xx 2xx 3xx 4xx 5xx);
    is_deeply \%classes, { '1xx' => 0, '2xx' => 3, '3xx' => 1, '4xx' => 2, '5xx' => 1 },
        'one: by class, the auth denials and the redirect included';
    is delta($s0, $s1, 'down', 'totals', 'requests'), 2, 'down: 2 requests';
    is delta($s0, $s1, 'down', 'totals', 'responses', '5xx'), 2, "down: 2 of proxyd's own 502";
    my %auth = map { $_ => $s1->{auth}{$_} - $s0->{auth}{$_} } qw(allows denies failures cache_hits cache_misses);
    is_deeply \%auth, { allows => 4, denies => 2, failures => 0, cache_hits => 2, cache_misses => 4 },
        'auth: 4 allowed, 2 denied; the 2 repeats came from the cache';
    ok $s1->{auth}{enabled}, 'auth is on';
    my @rated = grep { (EventsClient::service($_, 'one')->{rps} // 0) > 0 } @seen;
    ok @rated, 'a snapshot had requests per second for one';
    my $sum = 0;
    $sum += EventsClient::service($_, 'one')->{rps} * $_->{interval_s} for @seen;
    ok abs($sum - 7) < 0.01, "rates times their intervals add up to the 7 requests ($sum)";
    my ($lat) = grep { defined EventsClient::service($_, 'one')->{p50_ms} } @seen;
    ok $lat, 'latency quantiles in the interval of the traffic';
    my $one = EventsClient::service($lat, 'one');
    ok $one->{p50_ms} > 0 && $one->{p50_ms} <= $one->{p99_ms}, "0 < p50 ($one->{p50_ms} ms) <= p99 ($one->{p99_ms} ms)";
    ok $one->{p99_ms} < 1000, 'a local upstream answers within a second';
    my ($err) = grep { defined EventsClient::service($_, 'down')->{error_rate} } @seen, $s1;
    is EventsClient::service($err, 'down')->{error_rate}, 1, 'down: every response a 5xx';
    my ($hit) = grep { defined $_->{auth}{cache_hit_rate} } @seen;
    ok $hit && $hit->{auth}{cache_hit_rate} > 0 && $hit->{auth}{cache_hit_rate} < 1, 'a cache hit rate between 0 and 1';
    my $quiet = $c->snapshot_until('sub', sub { EventsClient::service($_[0], 'one')->{rps} == 0 }, 5);
    ok $quiet, 'once traffic stops: 0 requests per second';
    is EventsClient::service($quiet, 'one')->{p50_ms}, undef, 'and no latency';
};

subtest 'open tunnels' => sub {
    my $s0 = $c->fresh_snapshot('sub');
    my $res = $c->cmd(op => 'open', name => 'tunnel', url => 'ws://127.0.0.1:' . $proxyd->port . '/ws/echo');
    ok $res->{ok}, 'a WebSocket through the front end';
    my $s1 = $c->snapshot_until('sub', sub { EventsClient::service($_[0], 'ws')->{tunnels} == 1 }, 5);
    ok $s1, 'one tunnel open';
    is delta($s0, $s1, 'ws', 'totals', 'responses', '1xx'), 1, 'its 101 counted as 1xx';
    $c->cmd(op => 'send', name => 'tunnel', text => '__close__');
    ok $c->cmd(op => 'wait_closed', name => 'tunnel')->{closed}, 'closed by the service';
    my $s2 = $c->snapshot_until('sub', sub { EventsClient::service($_[0], 'ws')->{tunnels} == 0 }, 5);
    ok $s2, 'no tunnel open';
    is delta($s0, $s2, 'ws', 'totals', 'tunnels'), 1, 'one tunnel opened in all';
};

# The next registry event on `sub`, and how long it took from now.
sub next_event {
    my $t0 = time;
    my $res = $c->cmd(op => 'next', name => 'sub', type => 'registry', timeout => 5);
    return ($res->{message}, time - $t0);
}

subtest 'an event for each registry change, at once' => sub {
    my $s0 = $c->fresh_snapshot('sub');
    my $t0 = time;
    my ($status, undef, $r) = $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $up->port }));
    is $status, 201, 'PUT extra';
    my ($ev) = next_event();
    my $took = time - $t0;
    is_deeply $ev, { type => 'registry', cause => 'api', version => 2, services => 5, added => ['extra'], changed => [], removed => [] },
        'an event: api, added extra';
    ok $took < 0.9, sprintf('within %.2f s of the PUT, before the next tick', $took);
    ($status) = $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $up->port, timeout => '5s' }));
    ($ev) = next_event();
    is_deeply [ $ev->{cause}, $ev->{version}, $ev->{changed} ], [ 'api', 3, ['extra'] ], 'PUT again with a timeout: changed';
    ($status) = $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $up->port, timeout => '5s' }));
    ($ev) = next_event();
    is_deeply [ $ev->{version}, $ev->{added}, $ev->{changed}, $ev->{removed} ], [ 4, [], [], [] ], 'the same again: a version, no change';
    ($status) = $proxyd->admin(DELETE => '/services/extra');
    ($ev) = next_event();
    is_deeply [ $ev->{cause}, $ev->{version}, $ev->{removed}, $ev->{services} ], [ 'api', 5, ['extra'], 4 ], 'DELETE: removed';

    my $file = $proxyd->dir . '/services.yaml';
    my $yaml = read_file($file);
    write_file($file, $yaml . "later: http://127.0.0.1:1\n");
    ($status) = $proxyd->admin(POST => '/reload');
    is $status, 200, 'POST /reload after an edit';
    ($ev) = next_event();
    is_deeply [ $ev->{cause}, $ev->{added}, $ev->{changed} ], [ 'reload', ['later'], [] ],
        'reload: the added service only, the others rebuilt the same are unchanged';
    write_file($file, $yaml);
    kill 'HUP', $proxyd->pid;
    ($ev) = next_event();
    is_deeply [ $ev->{cause}, $ev->{removed} ], [ 'reload', ['later'] ], 'SIGHUP: a reload event';
    write_file($file, $yaml . "edited: http://127.0.0.1:2\n");
    ($status) = $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $up->port }));
    is $status, 201, 'a PUT after a hand edit';
    my ($edit) = next_event();
    ($ev) = next_event();
    is_deeply [ $edit->{cause}, $edit->{added} ], [ 'edit', ['edited'] ], 'first the edit, read from disk';
    is_deeply [ $ev->{cause}, $ev->{added} ], [ 'api', ['extra'] ], 'then the change';
    my $s1 = $c->snapshot('sub');
    is $s1->{version}, $ev->{version}, 'the next snapshot is at that version';
    is EventsClient::service($s1, 'one')->{totals}{requests}, EventsClient::service($s0, 'one')->{totals}{requests},
        "the other services' counters were kept";
    is_deeply [ map { $_->{name} } @{ $s1->{services} } ], [qw(auth down edited extra one ws)], 'with every service now there';
};

subtest 'a service keeps its counters by name: edited, deleted and added back' => sub {
    $http->get($proxyd->url('/extra/a?key=supersecret')) for 1 .. 3;
    my $s0 = $c->snapshot_until('sub', sub { EventsClient::service($_[0], 'extra')->{totals}{requests} == 3 }, 5);
    ok $s0, 'extra: 3 requests';
    $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $up->port, timeout => '9s' }));
    $proxyd->admin(DELETE => '/services/extra');
    my $gone = $c->snapshot_until('sub', sub { !EventsClient::service($_[0], 'extra') }, 5);
    ok $gone, 'deleted: not in the snapshot';
    $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $up->port }));
    my $back = $c->snapshot_until('sub', sub { EventsClient::service($_[0], 'extra') }, 5);
    is EventsClient::service($back, 'extra')->{totals}{requests}, 3, 'added back: still 3';
    is EventsClient::service($back, 'extra')->{rps}, undef, 'and no rate for the interval it was away';
};

subtest 'a token a subprotocol cannot carry' => sub {
    local $Util::ADMIN_TOKEN = 'b64/token+with=';    # '/' and '=' are separators, not token characters
    my $other = spawn_proxyd(admin => 1, services => "one: http://127.0.0.1:1\n");
    like $other->log, qr/the admin token holds characters a WebSocket subprotocol cannot/, 'start-up says so';
    my $d = EventsClient->new($other);
    ok $d->cmd(op => 'open', name => 'm', subprotocols => ['proxyd-events'])->{ok}, 'upgraded with proxyd-events alone';
    $d->cmd(op => 'send', name => 'm', text => encode_json({ token => $Util::ADMIN_TOKEN }));
    ok $d->cmd(op => 'next', name => 'm', type => 'hello')->{message}, 'the first message carries it';
    ok $d->cmd(op => 'open', name => 'h', headers => [ [ Authorization => "Bearer $Util::ADMIN_TOKEN" ] ])->{ok},
        'and Authorization';
};

subtest 'SIGTERM with clients connected' => sub {
    my $t0 = time;
    is $proxyd->stop, 0, 'proxyd exits 0';
    ok time - $t0 < 5, 'at once: clients are closed, not waited for';
    ok $c->cmd(op => 'wait_closed', name => 'sub')->{closed}, 'the client saw its connection end';
    unlike $proxyd->log, qr/\Q$T\E/, 'the log never held the token';
};

done_testing;

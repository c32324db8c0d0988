# 50demo-chat.t: the demo chat service (demo/chat), directly and behind proxyd with forward auth: its page, broadcast
# to every client, and the limits that keep one client from hurting the others.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;
use LiveDemo;

my $http = HTTP::Tiny->new(timeout => 10);

sub stats { decode_json($http->get($_[0]->url('/stats'))->{content}) }

sub ws_url {
    my ($server, $path, $key) = @_;
    return "ws://127.0.0.1:@{[$server->port]}$path" . ($key ? "?key=$KEY" : '');
}

subtest 'the page and its files, directly and under /chat/ behind proxyd' => sub {
    my $chat = spawn_live('chat');
    my $proxyd = spawn_gate(chat => $chat);
    for my $base ($chat->url('/'), $proxyd->url('/chat/')) {
        my $q = $base =~ m{/chat/$} ? "?key=$KEY" : '';
        my $html = page_ok("$base$q", qr{^text/html; charset=utf-8$}, qr{<input id="message"}, qr{<button id="send"},
            qr{<form id="chat-form"}, qr{<ul id="messages"}, qr{<script src="chat\.js">}, qr{href="chat\.css"});
        unlike $html, qr{(?:src|href)="(?:/|[a-z]+:)}i, 'every URL in the page is relative';
        my $js = page_ok("${base}chat.js$q", qr{^text/javascript; charset=utf-8$}, qr{socketUrl\('chatsocket'\)},
            qr{new URL\(name, location\.href\)});
        unlike $js, qr{["'`](?:/|wss?://)}, 'the script builds its WebSocket URL from the page\'s own';
        page_ok("${base}chat.css$q", qr{^text/css; charset=utf-8$}, qr{#messages});
        page_ok("${base}favicon.svg$q", qr{^image/svg\+xml}, qr{<svg});
    }
    my $res = HTTP::Tiny->new(max_redirect => 0)->get($proxyd->url("/chat?key=$KEY"));
    is $res->{status}, 301, '/chat alone is redirected ...';
    like $res->{headers}{location}, qr{^/chat/\?key=}, '... to /chat/, where the relative URLs resolve under the prefix';
    is $http->get($proxyd->url('/chat/'))->{status}, 401, 'without the key proxyd refuses the page';
    my (undef, $status) = handshake($proxyd->port, '/chat/chatsocket');
    is $status, 401, 'and the WebSocket';
    is $http->get($chat->url('/nosuch.js'))->{status}, 404, 'a missing file: 404';
    is $http->get($chat->url('/../Makefile.am'))->{status}, 404, 'nothing outside the page\'s folder';
    is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
};

subtest 'every message reaches every client, the sender included' => sub {
    my $chat = spawn_live('chat', '--log-requests');
    my $proxyd = spawn_gate(chat => $chat);
    my ($pp, $host) = ($proxyd->port, "chat.localhost:@{[$proxyd->port]}");
    my @hello = ('hello from client 0', 'hello from client 1');
    # the cookie as a browser gets it: one request with the key, by path and by host
    my ($by_path, $by_host) = (login($proxyd, '/chat/'), login($proxyd, '/', $host));
    ok $by_path && $by_host, 'logged in by path and by host: a session cookie each' or return;
    # with the Origin a browser would send from the page: http://127.0.0.1:PORT (by path), http://chat.localhost:PORT
    my @cases = (
        ['directly', [], ws_url($chat, '/chatsocket')],
        ['through proxyd with the key', [], ws_url($proxyd, '/chat/chatsocket', 1)],
        ['through proxyd with the cookie, by path', ['--header', "Cookie: $by_path", '--header', "Origin: http://127.0.0.1:$pp"],
            ws_url($proxyd, '/chat/chatsocket')],
        ['through proxyd with the cookie, by host', ['--header', "Cookie: $by_host", '--header', "Origin: http://$host",
            '--connect-host', '127.0.0.1'], "ws://$host/chatsocket"],
    );
    for my $case (@cases) {
        my ($how, $options, $url) = @$case;
        my $run = live_result(live_client(@$options, 'chat', $url, $url), 20);
        is_deeply [map { [sort @$_] } @{ $run->{received} // [] }], [\@hello, \@hello], "$how: both clients got both messages"
            or diag explain $run;
        is_deeply $run->{received}[0], $run->{received}[1], "$how: in the same order";
    }
    my $mixed = live_result(live_client('chat', ws_url($chat, '/chatsocket'), ws_url($proxyd, '/chat/chatsocket', 1)), 20);
    is_deeply [map { [sort @$_] } @{ $mixed->{received} // [] }], [\@hello, \@hello],
        'one client direct and one through proxyd share the room';
    my $run = live_result(live_client('--connect-host', '127.0.0.1', 'chat', "ws://$host/chatsocket"), 20);
    is $run->{status}, 401, 'by host without the cookie: 401' or diag explain $run;
    my $log = $chat->log;
    like $log, qr{^chat: request: GET /chatsocket \{.*"cookie":"demo_session=}m, 'the service logged the handshakes it got';
    unlike $log, qr/\Q$KEY\E/, 'the key reached the service in none of them';
    my $stats = stats($chat);
    is $stats->{messages}, 10, '/stats counted the ten messages';
    ok wait_for('closed', sub { stats($chat)->{clients} == 0 }), 'and no client is left';
    is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
};

# Cross-site WebSocket hijacking: with the cookie login, a page of another origin would open the chat in the visitor's
# name (its browser sends the cookie, and no CORS applies to WebSockets). The service checks Origin against the host the
# client asked for: behind proxyd, X-Forwarded-Host.
subtest 'a handshake whose Origin is another site is refused with 403, directly and through proxyd' => sub {
    my $chat = spawn_live('chat');
    my $proxyd = spawn_gate(chat => $chat);
    my ($cp, $pp) = ($chat->port, $proxyd->port);
    my $host = "chat.localhost:$pp";
    my ($by_path, $by_host) = (login($proxyd, '/chat/'), login($proxyd, '/', $host));
    my @cases = (
        # what, port, path, fields, status
        ['directly, no Origin (not a browser)', $cp, '/chatsocket', [], 101],
        ['directly, its own origin', $cp, '/chatsocket', [Origin => "http://127.0.0.1:$cp"], 101],
        ['directly, its origin in capitals', $cp, '/chatsocket', [Origin => "http://LOCALHOST:$cp", Host => "localhost:$cp"], 101],
        ['directly, another site', $cp, '/chatsocket', [Origin => 'http://evil.example'], 403],
        ['directly, another port of its host', $cp, '/chatsocket', [Origin => "http://127.0.0.1:@{[$cp + 1]}"], 403],
        ['directly, its host without the port', $cp, '/chatsocket', [Origin => 'http://127.0.0.1'], 403],
        ['directly, Origin null (a data: URL)', $cp, '/chatsocket', [Origin => 'null'], 403],
        ['directly, another scheme', $cp, '/chatsocket', [Origin => "file://127.0.0.1:$cp"], 403],
        ['directly, an origin with a path', $cp, '/chatsocket', [Origin => "http://127.0.0.1:$cp/x"], 403],
        ['directly, its origin as a prefix', $cp, '/chatsocket', [Origin => "http://127.0.0.1:${cp}0"], 403],
        ['directly, two Origin fields', $cp, '/chatsocket', [Origin => ["http://127.0.0.1:$cp", 'http://evil.example']], 403],
        ['by path, the page\'s origin', $pp, '/chat/chatsocket', [Cookie => $by_path, Origin => "http://127.0.0.1:$pp"], 101],
        ['by path, another site', $pp, '/chat/chatsocket', [Cookie => $by_path, Origin => 'http://evil.example'], 403],
        # what proxyd sends as Host: the service's own address, not the page's
        ['by path, the service\'s address', $pp, '/chat/chatsocket', [Cookie => $by_path, Origin => "http://127.0.0.1:$cp"], 403],
        ['by path, a forged X-Forwarded-Host', $pp, '/chat/chatsocket',
            [Cookie => $by_path, Origin => 'http://evil.example', 'X-Forwarded-Host' => 'evil.example'], 403],
        ['by host, the page\'s origin', $pp, '/chatsocket', [Host => $host, Cookie => $by_host, Origin => "http://$host"], 101],
        ['by host, the same proxy by path', $pp, '/chatsocket', [Host => $host, Cookie => $by_host,
            Origin => "http://127.0.0.1:$pp"], 403],
        ['by host, a sibling host', $pp, '/chatsocket', [Host => $host, Cookie => $by_host, Origin => "http://evil.localhost:$pp"],
            403],
    );
    my @open;
    for my $case (@cases) {
        my ($what, $port, $path, $fields, $want) = @$case;
        my ($sock, $status, $head) = handshake($port, $path, @$fields);
        is $status, $want, "$what: $want" or diag $head;
        like $head, qr/"error":"Origin is not this page's host/, "$what: the answer says why" if $want == 403;
        push @open, $sock if $status == 101;
    }
    is stats($chat)->{clients}, scalar(@open), 'only the accepted handshakes became clients';
    close $_ for @open;
    # the same with python3-websockets: a forged Origin is refused, the page's is let in (above, by path and by host)
    for my $case (['by path', ws_url($proxyd, '/chat/chatsocket'), $by_path, []],
        ['by host', "ws://$host/chatsocket", $by_host, ['--connect-host', '127.0.0.1']]) {
        my ($how, $url, $cookie, $options) = @$case;
        my $run = live_result(live_client('--header', "Cookie: $cookie", '--header', 'Origin: http://evil.example', @$options,
            'chat', $url), 20);
        is $run->{status}, 403, "python3-websockets, $how, with the cookie and a forged Origin: 403" or diag explain $run;
    }
    like $chat->log, qr/^chat: room: handshake refused: Origin is not/m, 'the service logs each refusal';
    is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
};

subtest 'bad input closes that client only' => sub {
    my $chat = spawn_live('chat', '--max-clients', 3);
    my $proxyd = spawn_gate(chat => $chat);
    my $url = ws_url($chat, '/chatsocket');
    my $run = live_result(live_client('reject', $url, '--text-bytes', 4097));
    is $run->{code}, 1009, 'a message over 4096 bytes: 1009' or diag explain $run;
    $run = live_result(live_client('reject', ws_url($proxyd, '/chat/chatsocket', 1), '--text-bytes', 100000));
    is $run->{code}, 1009, 'also through proxyd' or diag explain $run;
    my $before = stats($chat)->{messages};
    $run = live_result(live_client('reject', $url, '--first', 'hi', '--binary-bytes', 10));
    is_deeply [@$run{qw(code reason)}], [1003, 'text messages only'], 'a binary message: 1003' or diag explain $run;
    is stats($chat)->{messages}, $before + 1, 'the text message before it went to the room';
    $run = live_result(live_client('reject', $url, '--send', 'flood', '--repeat', 100));
    is_deeply [@$run{qw(code reason)}], [1008, 'too many messages a second'], '100 messages at once: 1008'
        or diag explain $run;

    my ($sock, $status, $head) = handshake($chat->port, '/chatsocket', 'Sec-WebSocket-Version' => 8);
    is $status, 426, 'WebSocket version 8: 426';
    like $head, qr{^Sec-WebSocket-Version: 13\r$}mi, 'naming version 13';
    ($sock, $status) = handshake($chat->port, '/chatsocket', 'Sec-WebSocket-Key' => 'short');
    is $status, 400, 'a key that is not 24 characters: 400';
    like raw_request($chat->port, "GET /chatsocket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        qr{\AHTTP/1\.1 400 .*"error":"this is a WebSocket endpoint}s, 'a plain GET: 400 saying what the endpoint is';

    my @held = map { (handshake($chat->port, '/chatsocket'))[0] } 1 .. 3;
    (undef, $status) = handshake($chat->port, '/chatsocket');
    is $status, 503, 'a fourth client with --max-clients 3: 503';
    close $_ for @held;
    ok wait_for('closed', sub { stats($chat)->{clients} == 0 }), 'the held connections are gone once closed';
    $run = live_result(live_client('chat', $url, $url), 20);
    is scalar(@{ $run->{received}[1] // [] }), 2, 'the room still works';
    ok $chat->running, 'and the service never stopped';
    is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
};

subtest 'a client that stops reading is dropped; the others get everything' => sub {
    my $chat = spawn_live('chat', '--max-message', 16384, '--max-rate', 100000);
    my $run = live_result(live_client('stall', ws_url($chat, '/chatsocket'), '--messages', 1000, '--bytes', 16000), 90);
    is $run->{reader}, 1000, 'a reading client got all 1,000 messages (16 MB)' or diag explain $run;
    is $run->{sender}, 1000, 'and so did the sender';
    ok $run->{stalled}{closed}, 'the client that read nothing was closed';
    cmp_ok $run->{stalled}{received}, '<', 1000, 'before it got everything';
    is stats($chat)->{dropped}, 1, '/stats: one client dropped';
    my $rss = rss_kib($chat->pid);
    cmp_ok $rss, '<', 64 * 1024, "the service holds $rss KiB (not the 16 MB it sent)" unless sanitized();
    is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
};

subtest 'a client that answers no ping is dropped' => sub {
    my $chat = spawn_live('chat', '--idle-timeout', 1000);
    my $proxyd = spawn_gate(chat => $chat);
    for my $case (['directly', ws_url($chat, '/chatsocket')], ['through proxyd', ws_url($proxyd, '/chat/chatsocket', 1)]) {
        my ($how, $url) = @$case;
        my $run = live_result(live_client('silent', $url, '--seconds', 3));
        ok $run->{silent}{closed}, "$how: the silent client was closed" or diag explain $run;
        ok !$run->{live}{closed}, "$how: the one that reads (and so answers pings) was not";
    }
    is stats($chat)->{dropped}, 2, '/stats: two clients dropped';
    is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
};

done_testing;

# 70browser-chat.t: the demo chat in headless Chromium behind proxyd with the cookie login of conf/proxyd.yaml, by path
# and by host: two pages of one browser, one logged in with the key and one with the cookie alone, talk to each other;
# a browser without the cookie gets 401; a page of another origin cannot use the chat's WebSocket; the key never
# reaches the chat service.
use strict;
use warnings;
use Test::More;
use lib 't';
use Util;
use LiveDemo;

plan skip_all => 'chromium is not installed' unless -x '/usr/bin/chromium';

my $chat = spawn_live('chat', '--log-requests');
my $proxyd = spawn_gate(chat => $chat);
my $pp = $proxyd->port;
my $other = spawn_upstream();    # another origin on the same host: the same site, so the browser sends the cookie there
my $artifacts = artifacts_dir('browser-chat');
my %base = (path => "http://127.0.0.1:$pp/chat/", host => "http://chat.localhost:$pp/");

my $seen = run_scenario(120, 'browser-chat.py', 'login', $pp, $other->url('/'), $artifacts);
ok $seen, 'the scenario ran' or do { done_testing; exit 1 };

for my $how ('path', 'host') {
    my ($a, $b) = @{ $seen->{$how} }{qw(a b)};
    my $base = $base{$how};
    is $a->{url}, "$base?key=$KEY", "by $how: page A logged in with the key";
    is $b->{url}, $base, "by $how: page B came without it";
    is_deeply [@$a{qw(status status_text)}], ['open', 'connected'], "by $how: page A shows it is connected";
    is_deeply [@$b{qw(status status_text)}], ['open', 'connected'], "by $how: and so does page B, with the cookie alone";
    my @cookies = @{ $seen->{$how}{cookies} // [] };
    is_deeply \@cookies, [{ name => 'demo_session', domain => $how eq 'path' ? '127.0.0.1' : 'chat.localhost', path => '/',
        httpOnly => JSON::PP::true, sameSite => 'Lax' }], "by $how: the login's cookie, HttpOnly, SameSite=Lax, for its host"
        or diag explain \@cookies;
    my @both = ("hello from A, by $how", "hello back from B, by $how");
    is_deeply $b->{messages}, \@both, "by $how: what A typed and sent is in B's messages, then B's answer";
    is_deeply $a->{messages}, \@both, "by $how: and both are in A's, once each";
    is $a->{input_after_send}, '', "by $how: the input is emptied once sent";
    is_deeply $a->{errors}, [], "by $how: no console error on page A" or diag explain $a->{errors};
    is_deeply $b->{errors}, [], "by $how: none on page B" or diag explain $b->{errors};
    ok -s "$artifacts/chat-$how-a.png" && -s "$artifacts/chat-$how-b.png", "by $how: screenshots of both pages kept";
}

# Cross-site WebSocket hijacking, as a page on another port of 127.0.0.1 would try it
my $hijack = $seen->{hijack};
my $origin = $other->url;
is $hijack->{origin}, $origin, 'a page of another origin on the same host';
is $hijack->{result}{path}, 'closed 1006', 'cannot open the chat by path: the socket fails' or diag explain $hijack;
ok((grep {m{ws://127\.0\.0\.1:$pp/chat/chatsocket' failed: .*Unexpected response code: 403}} @{ $hijack->{errors} }),
    'with 403: its browser sent the cookie (the same site), proxyd let it through, the chat refused its Origin')
    or diag explain $hijack->{errors};
my $log = $chat->log;
like $log, qr{^chat: request: GET /chatsocket \{.*"origin":"\Q$origin\E".*"cookie":"demo_session=}m,
    "the chat service got that handshake, with the visitor's cookie";
like $log, qr{^chat: room: handshake refused: Origin is not this page's host}m, 'and refused it';
is $hijack->{result}{host}, 'closed 1006', 'nor by host';
ok((grep {m{ws://chat\.localhost:$pp/chatsocket' failed: HTTP Authentication failed}} @{ $hijack->{errors} }),
    'where it is another site: SameSite=Lax keeps the cookie home, and proxyd answers 401') or diag explain $hijack->{errors};

# The key: proxyd removes it from the query and from the Referer the login page's requests carry
like $log, qr{^chat: request: GET /chat\.js \{.*"referer":"\Q$base{path}\E"}m, 'the chat got the page\'s Referer by path ...';
like $log, qr{^chat: request: GET /chat\.js \{.*"referer":"\Q$base{host}\E"}m, '... and by host, each without its query';
unlike $log, qr/\Q$KEY\E/, 'the key reached the chat service in no request';

my $before = $chat->count;
my $fresh = run_scenario(60, 'browser-chat.py', 'fresh', $pp, $other->url('/'), $artifacts);
ok $fresh, 'a browser with a fresh profile ran' or do { done_testing; exit 1 };
for my $how ('path', 'host') {
    my $page = $fresh->{$how};
    like $page->{text}, qr/"error":"unauthorized"/, "by $how: without the cookie the page is proxyd's 401";
    ok !$page->{has_chat}, "by $how: and no chat";
    is_deeply $page->{cookies}, [], "by $how: no cookie was set";
    is $page->{socket}, 'closed 1006', "by $how: its WebSocket fails";
    ok((grep {/401/} @{ $page->{errors} }), "by $how: the console shows the 401") or diag explain $page->{errors};
    ok -s "$artifacts/fresh-$how.png", "by $how: screenshot kept";
}
is $chat->count, $before, 'nothing of it reached the chat service';

is $chat->stop, 0, 'chat exits 0 on SIGTERM (no sanitizer report)' or diag $chat->log;
is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

# 50demo-noise.t: the demo noise service (demo/noise), directly and behind proxyd with forward auth: its pages,
# every reading to every watcher in order for 30 s, and readings it refuses.
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

subtest 'the watcher and producer pages and their files, directly and under /noise/ behind proxyd' => sub {
    my $noise = spawn_live('noise');
    my $proxyd = spawn_gate(noise => $noise);
    for my $base ($noise->url('/'), $proxyd->url('/noise/')) {
        my $q = $base =~ m{/noise/$} ? "?key=$KEY" : '';
        my @pages = (
            page_ok("$base$q", qr{^text/html; charset=utf-8$}, qr{id="count"}, qr{<canvas id="chart"},
                qr{<script src="live\.js">}, qr{<script src="watcher\.js">}, qr{href="producer\.html"}),
            page_ok("${base}producer.html$q", qr{^text/html; charset=utf-8$}, qr{id="sent"}, qr{<script src="producer\.js">}));
        unlike $_, qr{(?:src|href)="(?:/|[a-z]+:)}i, 'every URL in the page is relative' for @pages;
        my @scripts = (page_ok("${base}live.js$q", qr{^text/javascript; charset=utf-8$}, qr{new URL\(name, location\.href\)}),
            page_ok("${base}watcher.js$q", qr{^text/javascript; charset=utf-8$}, qr{liveSocket\('live', }),
            page_ok("${base}producer.js$q", qr{^text/javascript; charset=utf-8$}, qr{liveSocket\('sensor'\)},
                qr{getUserMedia}, qr{createAnalyser}, qr{INTERVAL_MS = 100}, qr{new Worker\('ticker\.js'\)}),
            page_ok("${base}ticker.js$q", qr{^text/javascript; charset=utf-8$}, qr{setInterval\(\(\) => postMessage}));
        unlike $_, qr{["'`](?:/|wss?://)}, 'the scripts build WebSocket URLs from the page\'s own' for @scripts;
        page_ok("${base}noise.css$q", qr{^text/css; charset=utf-8$}, qr{#chart});
        page_ok("${base}favicon.svg$q", qr{^image/svg\+xml}, qr{<svg});
    }
    is $http->get($proxyd->url('/noise/producer.html'))->{status}, 401, 'without the key proxyd refuses the pages';
    my (undef, $status) = handshake($proxyd->port, '/noise/live');
    is $status, 401, 'and the WebSockets';
    is $noise->stop, 0, 'noise exits 0 on SIGTERM (no sanitizer report)' or diag $noise->log;
};

# Three runs side by side, one per service: all clients direct; through proxyd by path with the key; and as a browser
# would, by host with the login's cookie alone (and the page's Origin).
subtest 'one producer, three watchers, 30 s at 10 readings a second: nothing lost, order kept' => sub {
    my $direct = spawn_live('noise');
    my $behind = spawn_live('noise');
    my $by_host = spawn_live('noise', '--log-requests');
    my $proxyd = spawn_gate(noise => $behind, noise2 => $by_host);
    my $host = "noise2.localhost:@{[$proxyd->port]}";
    my $cookie = login($proxyd, '/', $host);
    ok $cookie, 'logged in on the host noise2.localhost: a session cookie';
    my @cookie_by_host = ('--header', "Cookie: $cookie", '--header', "Origin: http://$host", '--connect-host', '127.0.0.1');
    my %runs;
    for my $case (['directly', [], ws_url($direct, '/')], ['through proxyd', [], ws_url($proxyd, '/noise/'), "?key=$KEY"],
        ['by host with the cookie', \@cookie_by_host, "ws://$host/"]) {
        my ($how, $options, $base, $query) = @$case;
        my @watchers = map { ('--watcher', "${base}live" . ($query // '')) } 1 .. 3;
        $runs{$how} = live_client(@$options, 'noise', '--producer', "${base}sensor" . ($query // ''), @watchers,
            '--seconds', 30, '--rate', 10);
    }
    for my $how ('directly', 'through proxyd', 'by host with the cookie') {
        my $run = live_result($runs{$how}, 60);
        is $run->{sent}, 300, "$how: the producer sent 300 readings" or diag explain $run;
        cmp_ok $run->{seconds}, '>=', 29, "$how: over 30 s";
        my $i = 0;
        for my $watcher (@{ $run->{watchers} // [] }) {
            ++$i;
            is_deeply [@$watcher{qw(count lost duplicates)}], [300, 0, 0], "$how: watcher $i counted 300, none lost or twice";
            ok $watcher->{in_order}, "$how: watcher $i got them in order (seq and n)";
            ok $watcher->{same_levels} && $watcher->{one_producer}, "$how: watcher $i got the levels sent";
            cmp_ok $watcher->{max_delay_ms}, '<', 1000, "$how: watcher $i: each within a second ($watcher->{max_delay_ms} ms)";
        }
        is scalar(@{ $run->{watchers} // [] }), 3, "$how: three watchers";
    }
    is stats($direct)->{readings}, 300, 'the direct service relayed 300';
    is stats($behind)->{readings}, 300, 'and so did the one behind proxyd';
    is stats($by_host)->{readings}, 300, 'and the one on its own host';
    my @handshakes = $by_host->log =~ m{^noise: request: GET /(?:sensor|live) (\{.*)$}mg;
    is scalar(@handshakes), 4, 'which got four handshakes';
    is scalar(grep {/"x-forwarded-host":"\Q$host\E"/ && /"cookie":"\Q$cookie\E"/} @handshakes), 4,
        'each for its host, with the cookie';
    is $direct->stop, 0, 'noise (direct) exits 0 on SIGTERM (no sanitizer report)' or diag $direct->log;
    is $behind->stop, 0, 'noise (behind) exits 0 on SIGTERM (no sanitizer report)' or diag $behind->log;
    is $by_host->stop, 0, 'noise (by host) exits 0 on SIGTERM (no sanitizer report)' or diag $by_host->log;
};

subtest 'bad readings close the producer that sent them, and only it' => sub {
    my $noise = spawn_live('noise', '--max-producers', 2);
    my $proxyd = spawn_gate(noise => $noise);
    my $url = ws_url($noise, '/sensor');
    my @cases = (
        ['garbage', [qw(--send garbage)], 1007, qr{^not JSON: '\[' or '\{' expected}],
        ['a list', ['--send', '[1, 2]'], 1007, qr{^a reading is an object}],
        ['a string seq', ['--send', '{"seq": "1", "level": 0.5}'], 1007, qr{^seq must be a whole number}],
        ['a level over 1', ['--send', '{"seq": 1, "level": 1.5}'], 1007, qr{^level must be a number from 0 to 1$}],
        ['an unknown source', ['--send', '{"seq": 1, "level": 0.5, "source": "x"}'], 1007, qr{^source must be}],
        ['a repeated key', ['--send', '{"seq": 1, "seq": 2, "level": 0.5}'], 1007, qr{duplicate object key}],
        ['a seq that does not count up', ['--first', '{"seq": 5, "level": 0.5}', '--send', '{"seq": 5, "level": 0.5}'],
            1007, qr{^seq 5 after 5: seq must count up$}],
        ['a binary message', [qw(--binary-bytes 16)], 1003, qr{^text messages only$}],
        ['a message over 1024 bytes', [qw(--text-bytes 1025)], 1009, qr{^$}],
        ['60 readings at once', ['--send', '{"seq": %d, "level": 0.5}', '--repeat', 60], 1008, qr{^too many messages}],
    );
    for my $case (@cases) {
        my ($what, $args, $code, $reason) = @$case;
        $what eq 'garbage' || $what eq 'a seq that does not count up'
            ? ($url, $what) = (ws_url($proxyd, '/noise/sensor', 1), "$what (through proxyd)")
            : ($url = ws_url($noise, '/sensor'));
        my $run = live_result(live_client('reject', $url, @$args));
        is $run->{code}, $code, "$what: $code" or diag explain $run;
        like $run->{reason} // '', $reason, "$what: the reason says what is wrong";
    }
    my @held = map { (handshake($noise->port, '/sensor'))[0] } 1 .. 2;
    my (undef, $status) = handshake($noise->port, '/sensor');
    is $status, 503, 'a third producer with --max-producers 2: 503';
    close $_ for @held;
    ok $noise->running, 'the service is still up';
    my $before = stats($noise)->{readings};
    cmp_ok $before, '>=', 51, 'it relayed the good readings before a bad one (1 + the 50 a second allowed)';
    cmp_ok $before, '<=', 60, 'and no bad one';
    my $run = live_result(live_client('noise', '--producer', $url, '--watcher', ws_url($noise, '/live'), '--seconds', 1), 20);
    is $run->{watchers}[0]{count}, 10, 'and relays new readings' or diag explain $run;
    is stats($noise)->{readings}, $before + 10, '/stats counted them';
    is $noise->stop, 0, 'noise exits 0 on SIGTERM (no sanitizer report)' or diag $noise->log;
};

done_testing;

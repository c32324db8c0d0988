# 70browser-noise.t: the demo noise meter in headless Chromium behind proxyd with the cookie login, by path and by host:
# a producer page without a microphone (its generated signal) in a tab in the background, the watcher page in front
# counting every reading, 10 a second, none missed, no console error.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;
use LiveDemo;

plan skip_all => 'chromium is not installed' unless -x '/usr/bin/chromium';

my $noise = spawn_live('noise', '--log-requests');
my $proxyd = spawn_gate(noise => $noise);
my $pp = $proxyd->port;
my $artifacts = artifacts_dir('browser-noise');
my %base = (path => "http://127.0.0.1:$pp/noise/", host => "http://noise.localhost:$pp/");

my $seen = run_scenario(120, 'browser-noise.py', $pp, $artifacts);
ok $seen, 'the scenario ran' or do { done_testing; exit 1 };

for my $how ('path', 'host') {
    my $run = $seen->{$how};
    my @counts = @{ $run->{counts} // [] };
    is $run->{producer_url}, "$base{$how}producer.html", "by $how: the producer page came with the cookie alone";
    is $run->{producer}{status}, 'connected', "by $how: the producer is connected";
    is $run->{producer}{source}, 'generated', "by $how: it sends the generated signal";
    like $run->{producer}{'mic-note'}, qr/^no microphone \(\w+\): using a generated signal$/,
        "by $how: and says there is no microphone";
    is $run->{watcher}{status}, 'connected', "by $how: the watcher is connected";
    cmp_ok $counts[-1] // 0, '>', 20, "by $how: its count passed 20 in $run->{seconds} s (@counts)";
    is $run->{producer_visibility}, 'hidden', "by $how: while the producer's tab was in the background";
    cmp_ok $run->{seconds}, '<', 10, "by $how: within 10 s: 10 readings a second, also from a tab in the background";
    ok((!grep { $counts[$_] < $counts[ $_ - 1 ] } 1 .. $#counts), "by $how: the count only rose");
    cmp_ok scalar(grep { $counts[$_] > $counts[ $_ - 1 ] } 1 .. $#counts), '>=', 2, "by $how: step by step, as readings came";
    is $run->{watcher}{missed}, '0', "by $how: missed stayed 0";
    is $run->{watcher}{source}, 'generated', "by $how: the watcher shows the producer's source";
    like $run->{watcher}{db}, qr/^-\d+\.\d$/, "by $how: and its level in dBFS ($run->{watcher}{db})";
    cmp_ok $run->{producer}{sent}, '>=', $counts[-1] // 0, "by $how: the producer sent at least as many ($run->{producer}{sent})";
    is_deeply $run->{watcher_errors}, [], "by $how: no console error on the watcher" or diag explain $run->{watcher_errors};
    is_deeply $run->{producer_errors}, [], "by $how: nor on the producer" or diag explain $run->{producer_errors};
    ok -s "$artifacts/noise-$how-watcher.png" && -s "$artifacts/noise-$how-producer.png", "by $how: screenshots kept";
}

my $stats = decode_json(HTTP::Tiny->new(timeout => 10)->get($noise->url('/stats'))->{content});
cmp_ok $stats->{readings}, '>', 40, "the service relayed $stats->{readings} readings";
is $stats->{dropped}, 0, 'and dropped no client';
my @handshakes = $noise->log =~ m{^noise: request: GET /(sensor|live) }mg;
is_deeply [sort @handshakes], [qw(live live sensor sensor)], 'one watcher and one producer handshake by path and by host';
unlike $noise->log, qr/\Q$KEY\E/, 'the key reached the noise service in no request';
is $noise->stop, 0, 'noise exits 0 on SIGTERM (no sanitizer report)' or diag $noise->log;
is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

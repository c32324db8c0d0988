# 50admin-events-limits.t: GET /events is bounded: at most 64 clients, 16 of them without a token yet, and a client
# that does not read what it is sent is dropped instead of growing proxyd's memory.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use lib 't';
use Util;
use EventsClient;

subtest 'at most 64 clients' => sub {
    my $proxyd = spawn_proxyd(admin => 1, services => "one: http://127.0.0.1:1\n");
    my $c = EventsClient->new($proxyd);
    my $res = $c->cmd(op => 'many', prefix => 'm', n => 70, subprotocols => $c->bearer);
    is $res->{opened}, 64, '64 of 70 opened at once';
    is_deeply $res->{refused}, { 503 => 6 }, 'the others: 503 before the upgrade';
    $res = $c->cmd(op => 'open', name => 'late');
    is $res->{status}, 503, 'a client without a token too';
    is $res->{headers}{'retry-after'}, '5', 'with Retry-After';
    ok $c->snapshot('m63'), 'the last one admitted gets snapshots';
    my ($status) = $proxyd->admin(GET => '/services');
    is $status, 200, 'the rest of the admin API is unaffected';
    undef $c;    # its connections end
    my $d = EventsClient->new($proxyd);
    ok wait_for('a place', sub { $d->cmd(op => 'open', name => 'again', subprotocols => $d->bearer)->{ok} }, 10),
        'once they left, clients are admitted again';
};

subtest 'at most 16 without a token' => sub {
    my $proxyd = spawn_proxyd(admin => 1, services => "one: http://127.0.0.1:1\n");
    my $c = EventsClient->new($proxyd);
    my $res = $c->cmd(op => 'many', prefix => 'anon', n => 20);
    is $res->{opened}, 16, '16 of 20 without a token opened';
    is_deeply $res->{refused}, { 503 => 4 }, 'the others: 503';
    ok $c->open_authorized('good')->{message}, 'a client with the token still gets in';
    is $c->cmd(op => 'next', name => 'anon0', type => 'hello', timeout => 8)->{code}, 1008, 'the silent ones are closed after 5 s';
    ok wait_for('a place', sub { $c->cmd(op => 'open', name => 'anon-again')->{ok} }, 5), 'which makes room again';
};

subtest 'a client that does not read is dropped, one that reads is not' => sub {
    # about 750 KB a snapshot: larger than the 512 KiB a client may fall behind, so a reader is
    # judged by what waits besides the snapshot being sent
    my $services = join '', map { sprintf "service-with-a-long-name-%04d: http://127.0.0.1:1/a/path/to/make/the/snapshot/bigger\n", $_ }
        1 .. 3000;
    my $proxyd = spawn_proxyd(admin => 1, services => $services);
    my $c = EventsClient->new($proxyd);
    my $res = $c->cmd(op => 'stall', name => 'slow', port => $proxyd->{admin_port}, subprotocols => $c->bearer, rcvbuf => 4096);
    like $res->{status}, qr{^HTTP/1\.1 101 }, 'a reader that stops after the 101';
    ok $c->open_authorized('fast')->{message}, 'and one that reads';
    my $first = $c->snapshot('fast', 3);
    is scalar @{ $first->{services} // [] }, 3000, 'a snapshot of 3000 services';
    ok length(JSON::PP::encode_json($first)) > 512 * 1024, 'larger than 512 KiB';
    ok wait_for('dropped', sub { $proxyd->log =~ /fell \d+ messages \(\d+ bytes\) behind: dropped/ }, 30), 'the slow one is dropped';
    $res = $c->cmd(op => 'drain', name => 'slow', timeout => 30);
    ok $res->{eof}, "its connection ends once what was sent is read ($res->{bytes} bytes)";
    $c->cmd(op => 'flush', name => 'fast');
    my @more = map { $c->snapshot('fast', 3) } 1 .. 3;
    is scalar(grep { $_ && @{ $_->{services} } == 3000 } @more), 3, 'the reader keeps getting every snapshot';
    my $drops = () = $proxyd->log =~ /behind: dropped/g;
    is $drops, 1, 'only the slow one was dropped';
    is $proxyd->stop, 0, 'proxyd exits cleanly';
};

# wslay answers each ping with a queued pong: one that never reads them made proxyd grow by 300 MB a second.
subtest 'a client that pings and never reads the pongs is dropped, with or without a token' => sub {
    my $proxyd = spawn_proxyd(admin => 1, services => "one: http://127.0.0.1:1\n");
    my $c = EventsClient->new($proxyd);
    for my $case (['without a token', []], ['with the token', $c->bearer]) {
        my ($what, $protocols) = @$case;
        my $before = rss_kib($proxyd->pid);
        my $res = $c->cmd(op => 'stall', name => $what, port => $proxyd->{admin_port}, subprotocols => $protocols, rcvbuf => 4096);
        like $res->{status}, qr{^HTTP/1\.1 101 }, "$what: upgraded";
        $res = $c->cmd(op => 'ping_flood', name => $what, seconds => 4);
        is $res->{ended}, 'closed', "$what: the flood is cut off" or diag explain $res;
        my $grown = rss_kib($proxyd->pid) - $before;
        cmp_ok $grown, '<', 20 * 1024, "$what: proxyd grew by $grown KiB, not by the pongs";
    }
    my $drops = () = $proxyd->log =~ /messages behind, pinging: dropped/g;
    is $drops, 2, 'both were dropped, and the log says why';
    my ($status) = $proxyd->admin(GET => '/services');
    is $status, 200, 'the admin API still answers';
    is $proxyd->stop, 0, 'proxyd exits cleanly';
};

done_testing;

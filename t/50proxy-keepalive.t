# 50proxy-keepalive.t: connections to an upstream are pooled and reused.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $up = spawn_upstream();
my $proxyd = spawn_proxyd(services => "up: http://127.0.0.1:@{[$up->port]}\n", threads => 1);

my %conns;
for my $i (1 .. 10) {
    # a new client connection each time: reuse must come from proxyd's pool, not the client's keepalive
    my $res = HTTP::Tiny->new(keep_alive => 0)->get($proxyd->url("/up/r$i"));
    is $res->{status}, 200, "request $i";
    $conns{ decode_json($res->{content})->{conn} }++;
}
is scalar(keys %conns), 1, 'ten requests from ten client connections used one upstream connection';

# Parallel requests need parallel connections; afterwards they are reused too.
my @pids;
for (1 .. 4) {
    my $pid = fork // die;
    if ($pid == 0) {
        HTTP::Tiny->new->get($proxyd->url('/up/slow?ms=300'));
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
my %after;
$after{ decode_json(HTTP::Tiny->new(keep_alive => 0)->get($proxyd->url('/up/x'))->{content})->{conn} }++ for 1 .. 8;
cmp_ok scalar(keys %after), '<=', 4, 'later requests reuse the pooled connections';

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

# 50admin-metrics.t: GET /metrics after real traffic, read by prometheus_client's own text parser; exact counts.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IPC::Open2;
use lib 't';
use Util;

my $http = HTTP::Tiny->new(timeout => 15);
my $up = spawn_upstream('--name', 'up');
my $auth = spawn_auth();
my $closed = empty_port();
my $proxyd = spawn_proxyd(admin => 1, settings => "auth:\n  service: auth\n  cache_ttl: 1h\n",
    services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n"
        . "pub: {url: 'http://127.0.0.1:@{[$up->port]}', auth: false}\n"
        . "down: {url: 'http://127.0.0.1:$closed', auth: false}\n");

# The exposition parsed by prometheus_client: (families, {"name{l=v,...}" => value}), or dies.
sub scrape {
    my ($status, undef, $res) = $proxyd->admin(GET => '/metrics');
    die "GET /metrics: $status\n" unless $status == 200;
    my $pid = open2(my $from, my $to, '/usr/bin/python3', 't/metrics-parse.py');
    print $to $res->{content};
    close $to;
    my $json = do { local $/; <$from> };
    waitpid $pid, 0;
    die "the parser refused the text:\n$res->{content}\n" if $? != 0;
    my $parsed = decode_json($json);
    my %samples;
    for my $s (@{ $parsed->{samples} }) {
        my ($name, $labels, $value) = @$s;
        my $key = $name . '{' . join(',', map {"$_=$labels->{$_}"} sort keys %$labels) . '}';
        $samples{$key} = $value;
    }
    return ($parsed->{families}, \%samples, $res);
}

subtest 'the token' => sub {
    my ($status) = $proxyd->admin(GET => '/metrics', undef, token => undef);
    is $status, 401, 'no token: 401';
    ($status) = $proxyd->admin(GET => '/metrics', undef, token => 'wrong');
    is $status, 401, 'wrong token: 401';
    ($status) = $proxyd->admin(POST => '/metrics', '');
    is $status, 405, 'POST: 405';
};

subtest 'before any traffic' => sub {
    my ($families, $samples, $res) = scrape();
    is $res->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8', 'Content-Type of format 0.0.4';
    my %types = (proxyd_requests => 'counter', proxyd_responses => 'counter', proxyd_upstream_latency_seconds => 'histogram',
        proxyd_tunnels_open => 'gauge', proxyd_auth_requests => 'counter', proxyd_auth_cache_hits => 'counter',
        proxyd_auth_cache_misses => 'counter', proxyd_registry_version => 'gauge');
    is_deeply { map { $_ => $families->{$_}{type} } keys %$families }, \%types, 'every family with its TYPE';
    ok !(grep { $_->{help} eq '' } values %$families), 'and a HELP text';
    is $samples->{'proxyd_requests_total{service=pub}'}, 0, 'a service with no requests yet shows 0';
    is $samples->{'proxyd_registry_version{}'}, 1, 'registry version 1';
};

# pub (no auth): 3 answered 200, one slow 200, a 404 and a 503 from the service
$http->get($proxyd->url('/pub/x')) for 1 .. 3;
is $http->get($proxyd->url('/pub/slow?ms=300'))->{status}, 200, 'a slow answer';
is $http->get($proxyd->url('/pub/status?code=404'))->{status}, 404, 'a 404 from the service';
is $http->get($proxyd->url('/pub/status?code=503'))->{status}, 503, 'a 503 from the service';
# down: nothing listens, proxyd answers 502 without a response head
is $http->get($proxyd->url('/down/x'))->{status}, 502, 'a service that is down: 502';
# up (forward auth): allowed twice (the second from the cache), denied once, then the auth service is gone
is $http->get($proxyd->url('/up/x?key=supersecret'))->{status}, 200, 'allowed';
is $http->get($proxyd->url('/up/x?key=supersecret'))->{status}, 200, 'allowed from the cache';
is $http->get($proxyd->url('/up/x?key=wrong'))->{status}, 401, 'denied';
$auth->stop;
is $http->get($proxyd->url('/up/x?key=other'))->{status}, 503, 'the auth service is down: 503';

# A request is counted by its status once libh2o frees it, a moment after the client has the answer.
ok wait_for('counted', sub { ((scrape())[1]{'proxyd_responses_total{class=5xx,service=up}'} // 0) == 1 }),
    'every answer is counted';

subtest 'after traffic: exact counts' => sub {
    my ($families, $s) = scrape();
    my %want = (
        'proxyd_requests_total{service=pub}' => 6,
        'proxyd_responses_total{class=2xx,service=pub}' => 4,
        'proxyd_responses_total{class=4xx,service=pub}' => 1,
        'proxyd_responses_total{class=5xx,service=pub}' => 1,
        'proxyd_responses_total{class=1xx,service=pub}' => 0,
        'proxyd_responses_total{class=3xx,service=pub}' => 0,
        'proxyd_upstream_latency_seconds_count{service=pub}' => 6,
        'proxyd_upstream_latency_seconds_bucket{le=+Inf,service=pub}' => 6,
        'proxyd_upstream_latency_seconds_bucket{le=0.262144,service=pub}' => 5,
        'proxyd_upstream_latency_seconds_bucket{le=0.524288,service=pub}' => 6,
        'proxyd_requests_total{service=down}' => 1,
        'proxyd_responses_total{class=5xx,service=down}' => 1,
        'proxyd_upstream_latency_seconds_count{service=down}' => 0,
        'proxyd_requests_total{service=up}' => 4,
        'proxyd_responses_total{class=2xx,service=up}' => 2,
        'proxyd_responses_total{class=4xx,service=up}' => 1,
        'proxyd_responses_total{class=5xx,service=up}' => 1,
        'proxyd_upstream_latency_seconds_count{service=up}' => 2,
        'proxyd_requests_total{service=auth}' => 0,
        'proxyd_tunnels_open{service=pub}' => 0,
        'proxyd_auth_requests_total{result=allow}' => 2,
        'proxyd_auth_requests_total{result=deny}' => 1,
        'proxyd_auth_requests_total{result=fail}' => 1,
        'proxyd_auth_cache_hits_total{}' => 1,
        'proxyd_auth_cache_misses_total{}' => 3,
        'proxyd_registry_version{}' => 1,
    );
    is $s->{$_}, $want{$_}, $_ for sort keys %want;
    my $sum = $s->{'proxyd_upstream_latency_seconds_sum{service=pub}'};
    ok $sum >= 0.3 && $sum < 5, "latency sum in seconds: $sum";
    my @pub = sort { $a->[0] <=> $b->[0] }
        map { /^proxyd_upstream_latency_seconds_bucket\{le=([^,]+),service=pub\}$/ ? [$1 eq '+Inf' ? 9**9**9 : $1, $s->{$_}] : () }
        keys %$s;
    is scalar @pub, 18, '18 buckets';
    ok !(grep { $pub[$_][1] < $pub[$_ - 1][1] } 1 .. $#pub), 'cumulative';
};

subtest 'a service name with odd characters' => sub {
    for my $name ('a%22b', 'a%5Cb', 'a%0Ab', 'A', 'a%7Db') {
        my ($status, $body) = $proxyd->admin(PUT => "/services/$name", encode_json({ url => 'http://127.0.0.1:1' }));
        is $status, 400, "PUT /services/$name: 400";
    }
    my ($status) = $proxyd->admin(PUT => '/services/x_-9', encode_json({ url => 'http://127.0.0.1:1' }));
    is $status, 201, 'the odd characters a name may hold: _ and -';
    my (undef, $s) = scrape();
    is $s->{'proxyd_requests_total{service=x_-9}'}, 0, 'the new service is shown, the text still parses';
    is $s->{'proxyd_registry_version{}'}, 2, 'registry version 2';
    is scalar(grep {/^proxyd_requests_total/} keys %$s), 5, 'and no other service appeared';
};

done_testing;

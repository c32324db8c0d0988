# 50auth-edges.t: forward auth at its edges: eviction at cache_size, a clear during a check, SIGTERM during checks, HTTP/1.0 without Host.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $http = HTTP::Tiny->new(timeout => 15);

# proxyd in front of t/upstream ("up") with the given auth service.
sub setup {
    my ($auth, $settings, $threads) = @_;
    my $up = spawn_upstream('--name', 'up');
    my $proxyd = spawn_proxyd(admin => 1, threads => $threads, settings => "auth:\n  service: auth\n" . ($settings // ''),
        services => "up: http://127.0.0.1:@{[$up->port]}\nauth: http://127.0.0.1:@{[$auth->port]}/check\n");
    return ($up, $proxyd);
}

# curl in the background: returns (pid, file that will hold "STATUS").
sub start_curl {
    my ($url) = @_;
    my $out = temp_dir() . '/status';
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', $out or die;
        exec 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', $url or die;
    }
    return ($pid, $out);
}

subtest 'the oldest decision is evicted at cache_size' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth, "  cache_size: 2\n");
    my $get = sub { $http->get($proxyd->url("/up/$_[0]?key=supersecret"))->{status} };
    is $get->($_), 200, "/up/$_" for qw(a b c);
    is $auth->count, 3, 'three checks';
    is $get->('b'), 200, 'b again';
    is $auth->count, 3, 'b was still cached';
    is $get->('a'), 200, 'a again';
    is $auth->count, 4, 'a, the oldest, was evicted when c came: checked again';
    is $get->('b'), 200, 'b again';
    is $auth->count, 4, 'b, used since, stayed';
    is $get->('c'), 200, 'c again';
    is $auth->count, 5, 'c, now the oldest, made room for a';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'the auth entry moves while a check runs' => sub {
    my $slow = spawn_auth('--delay', '1500');
    my $failing = spawn_auth('--fail');
    my ($up, $proxyd) = setup($slow);
    my $url = $proxyd->url('/up/x?key=supersecret');
    my ($pid, $out) = start_curl($url);
    ok wait_for('check running', sub { $slow->count == 1 }), 'a check runs at the old auth service';
    my ($status) = $proxyd->admin(PUT => '/services/auth', encode_json({ url => 'http://127.0.0.1:' . $failing->port . '/check' }));
    is $status, 200, 'auth entry moved';
    is $http->get($url)->{status}, 503, 'the same request now does not join the old check: the new auth service decides';
    is $failing->count, 1, 'which was asked';
    waitpid $pid, 0;
    is read_file($out), '200', 'the request that waited on the old check got its answer';
    is $http->get($url)->{status}, 503, 'and that old allow was not cached';
    is $failing->count, 2, 'the new auth service was asked again';
    is $slow->count, 1, 'the old one was not';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'SIGTERM while requests wait on checks' => sub {
    my $auth = spawn_auth('--delay', '1000');
    my ($up, $proxyd) = setup($auth, '', 4);
    # distinct paths are distinct checks, so the auth service's count shows every request arrived
    # (50auth.t has clients sharing one check at SIGTERM)
    my @clients = map { [start_curl($proxyd->url("/up/$_?key=supersecret"))] } qw(p q r s);
    ok wait_for('checks running', sub { $auth->count == 4 }), 'four checks run';
    is $proxyd->stop, 0, 'SIGTERM: proxyd exits 0';
    for (@clients) {
        waitpid $_->[0], 0;
        is read_file($_->[1]), '200', 'a request waiting on a check was answered before the exit';
    }
    is $up->count, 4, 'all four reached the service';
};

subtest 'HTTP/1.0 without Host: a forged X-Forwarded-Host goes nowhere' => sub {
    my $auth = spawn_auth();
    my ($up, $proxyd) = setup($auth);
    my $res = raw_request($proxyd->port, "GET /up/h?key=supersecret HTTP/1.0\r\nX-Forwarded-Host: evil.example\r\n\r\n");
    like $res, qr{^HTTP/1\.1 200 }, 'forwarded';
    my ($body) = $res =~ /\r\n\r\n(.*)\z/s;
    my $echo = decode_json($body);
    ok !exists $echo->{headers}{'x-forwarded-host'}, 'the service gets no X-Forwarded-Host (there was no Host)'
        or diag $echo->{headers}{'x-forwarded-host'};
    my $last = decode_json($http->get($auth->url('/last'))->{content});
    ok !exists $last->{headers}{'x-forwarded-host'}, 'nor does the auth service'
        or diag $last->{headers}{'x-forwarded-host'};
    is $proxyd->stop, 0, 'proxyd exits 0';
};

done_testing;

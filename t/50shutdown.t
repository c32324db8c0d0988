# 50shutdown.t: shutdown_timeout: how long SIGTERM waits for requests in flight before closing them.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't';
use Util;

my $up = spawn_upstream();
my $services = "svc: http://127.0.0.1:@{[$up->port]}\n";

# Starts curl on `path`; returns its pid and a handle reading its body and status code.
sub start_request {
    my ($proxyd, $path) = @_;
    my $before = $up->count;
    my $pid = open(my $out, '-|', 'curl', '-s', '-m', '30', '-w', ' %{http_code}', $proxyd->url($path)) or die "curl: $!";
    ok wait_for('upstream got it', sub { $up->count > $before }), 'the request reached the upstream';
    return ($pid, $out);
}

subtest 'shutdown_timeout: 1s cuts off a slow request' => sub {
    my $proxyd = spawn_proxyd(services => $services, settings => "shutdown_timeout: 1s\n");
    my ($pid, $out) = start_request($proxyd, '/svc/slow?ms=20000');
    my $start = time;
    is $proxyd->stop, 0, 'SIGTERM: exit 0';
    my $took = time - $start;
    cmp_ok $took, '>=', 0.8, sprintf('after the grace period (%.1f s)', $took);
    cmp_ok $took, '<', 5, 'within a few seconds, not when the request would end';
    my $got = join '', <$out>;
    close $out;
    unlike $got, qr/ 200\z/, 'the request was cut off, not answered' or diag $got;
    like $proxyd->log, qr/cutting off requests still running after the grace period/, 'the log says so';
};

subtest 'shutdown_timeout: 5s lets a request in flight finish' => sub {
    my $proxyd = spawn_proxyd(services => $services, settings => "shutdown_timeout: 5s\n");
    my ($pid, $out) = start_request($proxyd, '/svc/slow?ms=2000');
    my $start = time;
    is $proxyd->stop, 0, 'SIGTERM: exit 0';
    my $took = time - $start;
    my $got = join '', <$out>;
    close $out;
    like $got, qr/ 200\z/, 'the request in flight finished with 200' or diag $got;
    cmp_ok $took, '>=', 1, sprintf('proxyd waited for it (%.1f s)', $took);
    cmp_ok $took, '<', 4.5, 'and exited once it was done, before the 5 s';
};

done_testing;

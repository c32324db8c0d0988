# 50proxy-errors.t: upstream failures become JSON 502 and 504, logged with the service name.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $up = spawn_upstream();
my $closed = empty_port();
my $proxyd = spawn_proxyd(services => <<"YAML", settings => "upstream:\n  io_timeout: 5s\n");
refused: http://127.0.0.1:$closed
unresolvable: http://nosuch.invalid:80
slow: {url: http://127.0.0.1:@{[$up->port]}, timeout: 300ms}
ok: http://127.0.0.1:@{[$up->port]}
YAML
my $http = HTTP::Tiny->new(timeout => 10);

sub json_error {
    my ($path, $status, $error, $name) = @_;
    my $res = $http->get($proxyd->url($path));
    is $res->{status}, $status, "$path: $status";
    is $res->{headers}{'content-type'}, 'application/json', "$path: JSON";
    my $body = eval { decode_json($res->{content}) } // {};
    like $body->{error}, $error, "$path: error says what happened";
    is $body->{service}, $name, "$path: names the service";
}

json_error('/refused/x', 502, qr/^upstream connection failed: connection/, 'refused');
json_error('/unresolvable/x', 502, qr/^upstream connection failed: /, 'unresolvable');
json_error('/slow/slow?ms=3000', 504, qr/^upstream timed out$/, 'slow');

my $res = $http->get($proxyd->url('/ok/slow?ms=500'));
is $res->{status}, 200, 'the settings\' 5s io_timeout lets a 500ms answer through';
$res = $http->get($proxyd->url('/ok/status?code=502'));
is $res->{status}, 502, 'a 502 from the upstream itself passes through';
is_deeply decode_json($res->{content}), { status => 502 }, 'with its own body';

my $log = $proxyd->log;
like $log, qr{GET /refused/x: 502 upstream connection failed: connection .*, service refused}, 'refused is logged';
like $log, qr{GET /slow/slow: 504 upstream timed out, service slow}, 'timeout is logged, without the query';
unlike $log, qr{ms=3000}, 'query strings are not logged';

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

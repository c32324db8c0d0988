# 50proxy-body-limits.t: max_request_body per service (services.yaml and the admin API); libh2o's cap follows the registry.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $up = spawn_upstream();
my $url = 'http://127.0.0.1:' . $up->port;
# no max_request_body in the settings: the 1 MiB default
my $proxyd = spawn_proxyd(admin => 1, threads => 1, services => <<"YAML");
big: {url: $url, max_request_body: 2MiB}
small: $url
YAML
my $http = HTTP::Tiny->new(timeout => 15);
my $MiB = 1024 * 1024;
my $body = 'b' x (1.5 * $MiB);

sub upstream_count { decode_json($http->get($up->url('/count'))->{content})->{requests} }

# Only the head: libh2o answers from the Content-Length before reading any body.
sub head_only {
    my ($service, $length) = @_;
    return raw_request($proxyd->port, "POST /$service/x HTTP/1.1\r\nHost: x\r\nContent-Length: $length\r\n\r\n", 2);
}

subtest 'a service with max_request_body: 2MiB takes 1.5 MiB, one with the default refuses it' => sub {
    my $res = $http->post($proxyd->url('/big/upload'), { content => $body });
    is $res->{status}, 200, 'big: 200';
    is decode_json($res->{content})->{body_length}, length $body, 'the whole body reached the upstream';
    my $count = upstream_count();
    $res = $http->post($proxyd->url('/small/upload'), { content => $body });
    is $res->{status}, 413, 'small: 413';
    is $res->{headers}{'content-type'}, 'application/json', 'JSON';
    is_deeply decode_json($res->{content}), { error => 'request body too large', service => 'small' }, 'says why and where';
    is upstream_count(), $count, 'nothing reached the upstream';
    like $proxyd->log, qr{POST /small/upload: 413 request body too large, service small}, 'logged';
    like head_only('big', 3 * $MiB), qr{^HTTP/1\.1 413 }, 'over the largest limit: 413 from the Content-Length alone';
};

subtest 'the admin API accepts, shows and saves max_request_body' => sub {
    my ($status, $got) = $proxyd->admin(GET => '/services/big');
    is $got->{max_request_body}, '2MiB', 'GET shows the services.yaml option';
    ($status, $got) = $proxyd->admin(PUT => '/services/small', encode_json({ url => $url, max_request_body => '2MiB' }));
    is $status, 200, 'PUT: 200';
    is $got->{max_request_body}, '2MiB', 'answers with it';
    like read_file($proxyd->dir . '/services.yaml'), qr{^small: \{url: '?\Q$url\E'?, max_request_body: 2MiB\}$}m,
        'long form in the file';
    is $http->post($proxyd->url('/small/upload'), { content => $body })->{status}, 200, 'small now takes 1.5 MiB';
    ($status, $got) = $proxyd->admin(PUT => '/services/small', encode_json({ url => $url, max_request_body => 'lots' }));
    is $status, 400, 'a bad size: 400';
    is $got->{field}, 'max_request_body', 'names the field';
};

subtest "libh2o's cap follows the largest limit in the registry" => sub {
    my ($status) = $proxyd->admin(PUT => '/services/huge', encode_json({ url => $url, max_request_body => '4MiB' }));
    is $status, 201, 'a service with 4MiB';
    my $res = $http->post($proxyd->url('/huge/upload'), { content => 'h' x (3 * $MiB) });
    is $res->{status}, 200, '3 MiB to it: 200';
    $res = $http->post($proxyd->url('/big/upload'), { content => 'h' x (3 * $MiB) });
    is $res->{status}, 413, 'to a 2MiB service: 413';
    like $res->{content}, qr{"service":"big"}, 'from proxyd, once the body was read';
    ($status) = $proxyd->admin(DELETE => '/services/huge');
    is $status, 204, 'removed';
    like head_only('big', 3 * $MiB), qr{^HTTP/1\.1 413 (?!.*"service")}s, 'the cap is 2MiB again: 413 up front';
};

subtest 'the option survives a restart' => sub {
    is $proxyd->stop, 0, 'proxyd exits 0';
    my $again = spawn_proxyd(admin => 1, threads => 1, dir => $proxyd->dir);
    my (undef, $got) = $again->admin(GET => '/services');
    is $got->{services}{small}{max_request_body}, '2MiB', 'read back from the file';
    is $http->post($again->url('/small/upload'), { content => $body })->{status}, 200, 'and applied';
    is $again->stop, 0, 'proxyd exits 0';
};

done_testing;

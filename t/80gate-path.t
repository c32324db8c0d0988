# 80gate-path.t: one canonical path per request (issue 7): what is routed is what the auth
# service is shown, what the cache key covers and what the upstream gets; nothing climbs out
# of its service; encoded slashes and NULs only where a service opts in.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $http = HTTP::Tiny->new(max_redirect => 0, timeout => 10);

# A raw request (clients such as curl would normalise these paths themselves):
# (status, decoded JSON body).
sub raw_get {
    my ($port, $path, $method) = @_;
    my $res = raw_request($port, ($method // 'GET') . " $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    my ($status) = $res =~ m{^HTTP/1\.1 (\d+)};
    my ($body) = $res =~ m{\r\n\r\n(.*)\z}s;
    return ($status // 0, eval { decode_json($body) } // {});
}

# docs is public (auth: false) and shares its upstream host with the protected
# "internal" paths; weather is allowed by the auth service under /weather/public/ only.
my $up = spawn_upstream('--name', 'up');
my $auth = spawn_auth('--allow-prefix', '/weather/public/');
my $proxyd = spawn_proxyd(admin => 1, settings => "auth:\n  service: auth\n  cache_ttl: 30s\n", services => <<"YAML");
docs: {url: 'http://127.0.0.1:@{[$up->port]}/docs', auth: false}
weather: http://127.0.0.1:@{[$up->port]}/weather
files: {url: 'http://127.0.0.1:@{[$up->port]}/files', auth: false, allow_encoded_slash: true, allow_encoded_nul: true}
auth: http://127.0.0.1:@{[$auth->port]}/check
YAML
my $port = $proxyd->port;

subtest 'no escape from a public service\'s base path' => sub {
    $http->post($up->url('/count/reset'));
    for my $path ('/docs//../internal/users', '/docs/%2e%2e/internal/users', '/docs/..%2finternal/users',
        '/docs/%2E%2E%2Finternal/users', '/docs/x/../../internal/users', '/docs/./../internal/users',
        '/docs/x/..%2F..%2Finternal', '/docs/.%2e/internal', '/docs/..;/internal/users', '/docs/x/..;jsessionid=1/y') {
        my ($status, $body) = raw_get($port, $path);
        is $status, 400, "$path: 400";
        like $body->{error}, qr/climbs above its service|dot-segment with parameters/, 'says why';
    }
    is $up->count, 0, 'the upstream saw none of them';
    my ($status, $echo) = raw_get($port, '/docs/a//b/./c/../d');
    is $status, 200, 'a path that stays inside docs';
    is $echo->{path}, '/docs/a/b/d', 'reaches the upstream in its canonical form';
};

subtest 'the auth service is shown the path that goes upstream' => sub {
    $http->post($up->url('/count/reset'));
    for my $path ('/weather/public/../admin', '/weather/public/%2e%2e/admin', '/weather/public/..%2Fadmin',
        '/weather/public//..//admin', '/weather/public/x/../../admin') {
        my ($status, $body) = raw_get($port, "$path?key=supersecret");
        is $status, 403, "$path: the auth service refuses /weather/admin";
        my $last = decode_json($http->get($auth->url('/last'))->{content});
        is $last->{headers}{'x-forwarded-uri'}, '/weather/admin', 'it was shown the canonical path';
    }
    is $up->count, 0, 'and /admin never reached the upstream';
    my ($status, $echo) = raw_get($port, '/weather/public/a/../%74oday?key=supersecret&x=%2F');
    is $status, 200, 'an allowed path';
    is $echo->{path}, '/weather/public/today?x=%2F', 'upstream path';
    my $last = decode_json($http->get($auth->url('/last'))->{content});
    is $last->{headers}{'x-forwarded-uri'}, '/weather/public/today?x=%2F', 'is what the auth service was shown';
    is $last->{path}, '/check?key=supersecret', 'with the key passed to it alone';
};

subtest 'the cache key covers the canonical path' => sub {
    $http->post($auth->url('/count/reset'));
    my ($status) = raw_get($port, '/weather/public/cached?key=supersecret');
    is $status, 200, 'allowed';
    ($status) = raw_get($port, '/weather/public/./cached?key=supersecret');
    ($status) = raw_get($port, '/weather/public//%63ached?key=supersecret');
    is $status, 200, 'spellings of the same path';
    is $auth->count, 1, 'are one decision';
};

subtest 'encoded slashes and NULs' => sub {
    $http->post($up->url('/count/reset'));
    for my $path ('/docs/a%2Fb', '/docs/a%2fb', '/docs/a%5Cb', '/docs/a\\b', '/docs/%2F') {
        my ($status, $body) = raw_get($port, $path);
        is $status, 400, "$path: 400";
        is $body->{error}, 'encoded slash or backslash in path', 'named';
    }
    my ($status, $body) = raw_get($port, '/docs/a%00b');
    is $status, 400, '%00: 400';
    is $body->{error}, 'encoded NUL in path', 'named';
    is $up->count, 0, 'the upstream saw none';
    ($status, $body) = raw_get($port, '/weather%00x/today?key=supersecret');
    is $status, 404, '/weather%00x/ is not weather';
    ($status, $body) = raw_get($port, '/files/a%2fb/c%00d');
    is $status, 200, 'a service that opts in';
    is $body->{path}, '/files/a%2Fb/c%00d', 'gets them encoded, inside their segment';
    ($status, $body) = raw_get($port, '/files/a%2F..%2Fb');
    is $body->{path}, '/files/b', 'an encoded slash beside ".." still separates';
    ($status, $body) = raw_get($port, '/docs/a%zzb');
    is $status, 400, 'a malformed %-escape: 400';
    ($status, $body) = raw_get($port, '/docs/%c0%ae%c0%ae/internal');
    is $status, 400, 'an overlong UTF-8 dot: 400';
    is $body->{error}, 'overlong UTF-8 in path', 'named';
};

subtest 'the admin API does not decode names' => sub {
    my ($status, $body) = $proxyd->admin('PUT', '/services/weather%00junk', '{"url":"http://127.0.0.1:1"}');
    is $status, 400, 'PUT /services/weather%00junk: 400';
    is $body->{field}, 'name', 'names the field';
    ($status, $body) = $proxyd->admin('GET', '/services/weather');
    is $body->{url}, 'http://127.0.0.1:' . $up->port . '/weather', 'weather is unchanged';
    ($status) = $proxyd->admin('DELETE', '/services/w%65ather');
    is $status, 400, 'DELETE of an encoded name: 400';
    ($status) = $proxyd->admin('GET', '/services/weather');
    is $status, 200, 'weather is still there';
    ($status, $body) = $proxyd->admin('PUT', '/services/news', '{"url":"http://127.0.0.1:1","allow_encoded_slash":true}');
    is $status, 201, 'allow_encoded_slash through the API';
    like read_file($proxyd->dir . '/services.yaml'), qr/news: \{url: .*allow_encoded_slash: true\}/, 'and into the file';
};

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

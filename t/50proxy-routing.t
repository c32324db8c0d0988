# 50proxy-routing.t: requests reach the right service with the right path, query, method, headers and body.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use lib 't';
use Util;

my $up = spawn_upstream('--name', 'up');
my $other = spawn_upstream('--name', 'other');
my $proxyd = spawn_proxyd(services => <<"YAML");
up: http://127.0.0.1:@{[$up->port]}
based: http://127.0.0.1:@{[$other->port]}/api/v1/
YAML
my $http = HTTP::Tiny->new(max_redirect => 0, timeout => 10);

# What the upstream saw, from its echo.
sub echo_of {
    my ($res) = @_;
    return eval { decode_json($res->{content}) } // {};
}

subtest 'path and query go to the service' => sub {
    my $res = $http->get($proxyd->url('/up/today?x=1&y=%41'));
    is $res->{status}, 200, 'status';
    my $echo = echo_of($res);
    is $echo->{name}, 'up', 'reached the up service';
    is $echo->{path}, '/today?x=1&y=%41', 'path and query, encoding kept';
    is $echo->{method}, 'GET', 'method';
    like $res->{headers}{'content-type'}, qr{^application/json}, 'response headers pass through';
};

subtest 'base path of the service URL' => sub {
    my $echo = echo_of($http->get($proxyd->url('/based/x/y?z=1')));
    is $echo->{name}, 'other', 'reached based';
    is $echo->{path}, '/api/v1/x/y?z=1', 'base path prepended';
    $echo = echo_of($http->get($proxyd->url('/based/')));
    is $echo->{path}, '/api/v1/', 'service root';
};

subtest 'forwarding headers' => sub {
    my $res = $http->get($proxyd->url('/up/h'),
        { headers => { 'X-Custom' => 'abc', 'X-Forwarded-Host' => 'forged', 'X-Forwarded-Prefix' => '/forged' } });
    my $h = echo_of($res)->{headers};
    is $h->{host}, '127.0.0.1:' . $up->port, 'Host is the upstream\'s';
    is $h->{'x-custom'}, 'abc', 'request headers pass through';
    is $h->{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For';
    is $h->{'x-forwarded-proto'}, 'http', 'X-Forwarded-Proto';
    is $h->{'x-forwarded-host'}, '127.0.0.1:' . $proxyd->port, 'X-Forwarded-Host is the client\'s Host, not a forged one';
    is $h->{'x-forwarded-prefix'}, '/up', 'X-Forwarded-Prefix';
};

subtest 'every method, with a body' => sub {
    for my $method (qw(GET POST PUT PATCH DELETE OPTIONS)) {
        my $body = "body of $method " . ('x' x 1000);
        my $res = $http->request($method, $proxyd->url('/up/m'), { content => $body,
            headers => { 'Content-Type' => 'text/plain' } });
        is $res->{status}, 200, "$method status";
        my $echo = echo_of($res);
        is $echo->{method}, $method, "$method reached the upstream";
        is $echo->{body_sha256}, sha256_hex($body), "$method body arrived whole";
        is $echo->{headers}{'content-type'}, 'text/plain', "$method Content-Type";
    }
    my $res = $http->request('HEAD', $proxyd->url('/up/m'));
    is $res->{status}, 200, 'HEAD status';
    is $res->{content} // '', '', 'HEAD has no body';
};

subtest 'redirects' => sub {
    my $res = $http->get($proxyd->url('/up'));
    is $res->{status}, 301, '/up redirects';
    is $res->{headers}{location}, '/up/', 'to /up/';
    is_deeply decode_json($res->{content}), { location => '/up/' }, 'with a JSON body';
    $res = $http->get($proxyd->url('/up?a=b'));
    is $res->{headers}{location}, '/up/?a=b', 'keeping the query';
    $res = $http->get($proxyd->url('/up/redirect?to=/landing'));
    is $res->{status}, 302, 'upstream redirect goes to the client, not followed';
    is $res->{headers}{location}, $proxyd->url('/up/landing'), 'Location rewritten under /up/';
};

# Raw requests: clients such as curl would normalise these paths themselves.
sub raw_get {
    my ($path) = @_;
    my $res = raw_request($proxyd->port, "GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    my ($status) = $res =~ m{^HTTP/1\.1 (\d+)};
    my ($body) = $res =~ m{\r\n\r\n(.*)\z}s;
    return ($status // 0, eval { decode_json($body) } // {});
}

subtest 'path normalisation' => sub {
    my ($status, $echo) = raw_get('/up/./a//b/%7Euser/c/../d?q=%2F');
    is $status, 200, 'a path with dot-segments, empty segments and encodings';
    is_deeply [$echo->{name}, $echo->{path}], ['up', '/a/b/~user/d?q=%2F'], 'goes upstream in its canonical form, query as sent';
    ($status, $echo) = raw_get('/up/%2e%2e%2fup/x');
    is $status, 400, 'an encoded ".." is a ".." too';
    ($status, $echo) = raw_get('/%75p/caf%c3%a9/%41%2a%7e');
    is_deeply [$echo->{name}, $echo->{path}], ['up', '/caf%C3%A9/A%2A~'],
        'unreserved characters decoded (also in the name), others kept in upper case';
    ($status, $echo) = raw_get('/up/dir/..');
    is $echo->{path}, '/', 'a final ".." leaves a trailing slash';
    for my $path ('/a/../up/today', '/up/../based/x', '/up/../../../etc/passwd', '/../up/x', '/based/a/../../up/z') {
        ($status, $echo) = raw_get($path);
        is $status, 400, "$path: leaving a service through .. is refused";
        is $echo->{error}, 'path climbs above its service', 'and says why';
    }
};

subtest 'HTTP/1.0 client' => sub {
    my $res = raw_request($proxyd->port, "GET /up/old HTTP/1.0\r\n\r\n");
    like $res, qr{^HTTP/1\.[01] 200 }, 'status 200';
    my ($body) = $res =~ m{\r\n\r\n(.*)\z}s;
    my $echo = eval { decode_json($body) } // {};
    is $echo->{path}, '/old', 'body from the upstream';
    ok !exists $echo->{headers}{'x-forwarded-host'}, 'no X-Forwarded-Host without a Host header';
    $res = raw_request($proxyd->port, "POST /up/old HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello");
    ($body) = $res =~ m{\r\n\r\n(.*)\z}s;
    is eval { decode_json($body)->{body} }, 'hello', 'HTTP/1.0 body forwarded';
    like $res, qr{^Connection: close}mi, 'and the connection closed';
};

subtest 'unknown service' => sub {
    my $res = $http->get($proxyd->url('/nosuch/x'));
    is $res->{status}, 404, 'status 404';
    is $res->{headers}{'content-type'}, 'application/json', 'JSON';
    is_deeply decode_json($res->{content}), { error => 'unknown service', service => 'nosuch' }, 'body';
    $res = $http->get($proxyd->url('/'));
    is $res->{status}, 404, '/ is 404';
    like $proxyd->log, qr{GET /nosuch/x: 404 unknown service, service nosuch}, 'logged with the service name';
};

is $proxyd->stop, 0, 'proxyd exits 0 on SIGTERM';
done_testing;

# 50admin-api.t: every admin endpoint and status; bad input leaves the registry and services.yaml exactly as they were.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $one = spawn_upstream('--name', 'one');
my $two = spawn_upstream('--name', 'two');
my $proxyd = spawn_proxyd(admin => 1, services => "one: http://127.0.0.1:@{[$one->port]}\n");
my $file = $proxyd->dir . '/services.yaml';
my $http = HTTP::Tiny->new(timeout => 10);

sub routed_to {
    my ($service) = @_;
    my $res = $http->get($proxyd->url("/$service/x"));
    return $res->{status} == 200 ? decode_json($res->{content})->{name} : $res->{status};
}

subtest 'the token' => sub {
    my ($status, $body, $res) = $proxyd->admin(GET => '/services', undef, token => undef);
    is $status, 401, 'no token: 401';
    like $res->{headers}{'www-authenticate'}, qr/^Bearer /, 'with WWW-Authenticate';
    like $body->{error}, qr/Bearer/, 'JSON error';
    ($status) = $proxyd->admin(GET => '/services', undef, token => 'wrong');
    is $status, 401, 'wrong token: 401';
    ($status) = $proxyd->admin(GET => '/services', undef, token => "$Util::ADMIN_TOKEN-and-more");
    is $status, 401, 'a longer token with the right prefix: 401';
    ($status) = $proxyd->admin(GET => '/services');
    is $status, 200, 'right token: 200';
};

subtest 'the admin listener and the front end are separate' => sub {
    my $listening = qr/^<6>proxyd: listening on 127\.0\.0\.1:$proxyd->{port} with 2 threads; admin API on 127\.0\.0\.1:$proxyd->{admin_port}; registry \S+\/services\.yaml$/m;
    ok wait_for('log', sub { $proxyd->log =~ $listening }), 'the log names the admin address' or diag $proxyd->log;
    is $http->get($proxyd->url('/services'))->{status}, 404, 'front end: /services is just an unknown service';
    my ($status) = $proxyd->admin(GET => '/one/x');
    is $status, 404, 'admin: proxied paths are not served';
};

subtest 'GET /health and /services' => sub {
    my ($status, $body, $res) = $proxyd->admin(GET => '/health', undef, token => undef);
    is $status, 200, '/health needs no token';
    is_deeply $body, { status => 'ok' }, 'and tells nothing but that proxyd answers';
    ($status, $body) = $proxyd->admin(GET => '/health', undef, token => 'wrong');
    is_deeply [$status, $body], [200, { status => 'ok' }], 'a wrong token changes nothing';
    ($status, $body, $res) = $proxyd->admin(GET => '/services');
    is $status, 200, '/services';
    is $res->{headers}{'content-type'}, 'application/json', 'JSON';
    is $res->{headers}{etag}, '"1"', 'ETag is the version';
    is_deeply $body, { version => 1, services => { one => { url => 'http://127.0.0.1:' . $one->port } } }, 'body';
    ($status, $body) = $proxyd->admin(GET => '/services/one');
    is_deeply $body, { name => 'one', url => 'http://127.0.0.1:' . $one->port }, '/services/one';
    ($status) = $proxyd->admin(GET => '/services/nope');
    is $status, 404, 'unknown service: 404';
};

subtest 'PUT creates and replaces, DELETE removes, each visible at once' => sub {
    my ($status, $body, $res) = $proxyd->admin(PUT => '/services/extra', encode_json({ url => 'http://127.0.0.1:' . $two->port }));
    is $status, 201, 'create: 201';
    is $res->{headers}{etag}, '"2"', 'version 2';
    is_deeply $body, { name => 'extra', url => 'http://127.0.0.1:' . $two->port }, 'answers with the service';
    is routed_to('extra'), 'two', 'the next request is routed';
    like read_file($file), qr{^extra: http://127\.0\.0\.1:\d+$}m, 'written to services.yaml';
    ($status, $body, $res) = $proxyd->admin(PUT => '/services/one',
        encode_json({ url => 'http://127.0.0.1:' . $two->port, timeout => '5s' }));
    is $status, 200, 'replace: 200';
    is $body->{timeout}, '5s', 'long-form options';
    is routed_to('one'), 'two', 'one now goes to two';
    like read_file($file), qr{^one: \{url: '?http://127\.0\.0\.1:\d+'?, timeout: 5s\}$}m, 'long form in the file';
    ($status, $body, $res) = $proxyd->admin(DELETE => '/services/extra');
    is $status, 204, 'delete: 204';
    is $res->{headers}{etag}, '"4"', 'version 4: one per change';
    is routed_to('extra'), 404, 'gone at once';
    unlike read_file($file), qr{^extra:}m, 'and from the file';
    ($status) = $proxyd->admin(DELETE => '/services/extra');
    is $status, 404, 'deleting again: 404';
};

subtest 'If-Match' => sub {
    my (undef, undef, $res) = $proxyd->admin(GET => '/services');
    my $etag = $res->{headers}{etag};
    my ($status) = $proxyd->admin(PUT => '/services/a', '{"url":"http://127.0.0.1:1"}', headers => { 'If-Match' => $etag });
    is $status, 201, 'current version: applied';
    ($status, my $body) = $proxyd->admin(PUT => '/services/b', '{"url":"http://127.0.0.1:1"}', headers => { 'If-Match' => $etag });
    is $status, 412, 'stale version: 412';
    like $body->{error}, qr/version/, 'says why';
    ($status) = $proxyd->admin(DELETE => '/services/a', undef, headers => { 'If-Match' => $etag });
    is $status, 412, 'DELETE with a stale version: 412';
    ($status) = $proxyd->admin(GET => '/services/b');
    is $status, 404, 'nothing was created';
    ($status) = $proxyd->admin(DELETE => '/services/a');
    is $status, 204, 'cleanup';
};

subtest 'If-None-Match: * creates and never replaces' => sub {
    my $before_file = read_file($file);
    my (undef, $before) = $proxyd->admin(GET => '/services/one');
    my ($status, $body) = $proxyd->admin(PUT => '/services/one', '{"url":"http://127.0.0.1:1"}',
        headers => { 'If-None-Match' => '*' });
    is $status, 412, 'a service of that name exists: 412';
    is $body->{error}, "a service named 'one' exists already (If-None-Match: *)", 'says so';
    my (undef, $after) = $proxyd->admin(GET => '/services/one');
    is_deeply $after, $before, 'it is unchanged';
    is read_file($file), $before_file, 'and so is services.yaml';
    ($status, $body) = $proxyd->admin(PUT => '/services/fresh', '{"url":"http://127.0.0.1:1"}',
        headers => { 'If-None-Match' => '*' });
    is $status, 201, 'a new name: created';
    ($status) = $proxyd->admin(PUT => '/services/fresh', '{"url":"http://127.0.0.1:2"}', headers => { 'If-None-Match' => '*' });
    is $status, 412, 'the same again: 412';
    (undef, my $fresh) = $proxyd->admin(GET => '/services/fresh');
    is $fresh->{url}, 'http://127.0.0.1:1', 'the first one stays';
    $before_file = read_file($file);
    for my $case ([ PUT => '"7"' ], [ PUT => 'W/"7"' ], [ DELETE => '*' ]) {
        my ($method, $value) = @$case;
        ($status, $body) = $proxyd->admin($method => '/services/fresh', $method eq 'PUT' ? '{"url":"http://127.0.0.1:3"}' : undef,
            headers => { 'If-None-Match' => $value });
        is $status, 400, "$method with If-None-Match: $value: 400";
        like $body->{error}, qr/^If-None-Match: only \* is supported, on PUT/, 'naming the header';
    }
    is read_file($file), $before_file, 'services.yaml unchanged';
    ($status) = $proxyd->admin(DELETE => '/services/fresh');
    is $status, 204, 'cleanup';
};

subtest 'bad input changes nothing' => sub {
    my $before_file = read_file($file);
    my (undef, $before) = $proxyd->admin(GET => '/services');
    my @cases = (
        ['/services/Bad', '{"url":"http://127.0.0.1:1"}', 400, 'name', 'bad name'],
        ['/services/x', '{"url":"ftp://127.0.0.1:1"}', 400, 'url', 'bad URL'],
        ['/services/x', '{"url":"http://"}', 400, 'url', 'URL without host'],
        ['/services/x', '{"url":"http://user@127.0.0.1:1"}', 400, 'url', 'URL with user@', qr/credentials/],
        ['/services/x', '{"url":"http://u:p@127.0.0.1:1/"}', 400, 'url', 'URL with user:password@', qr/credentials/],
        ['/services/x', '{"url":"http://127.0.0.1:1/a\\u0001b"}', 400, 'url', 'URL with a control character', qr/control character/],
        ['/services/x', '{"url":"http://127.0.0.1:1/a\\r\\nX-Evil: 1"}', 400, 'url', 'URL with CR LF', qr/control character/],
        ['/services/x', '{"url":"http://127.0.0.1:1/a\\u007fb"}', 400, 'url', 'URL with DEL', qr/control character/],
        ['/services/x', '{"url":"http://127.0.0.1:1","retries":3}', 400, 'retries', 'unknown option'],
        ['/services/x', '{"url":42}', 400, 'url', 'wrong type'],
        ['/services/x', '{"url":"http://127.0.0.1:1","timeout":"soon"}', 400, 'timeout', 'bad timeout'],
        ['/services/x', '{}', 400, 'url', 'url missing'],
        ['/services/x', 'url=http://127.0.0.1:1', 400, undef, 'not JSON'],
        ['/services/x', '["http://127.0.0.1:1"]', 400, undef, 'not an object'],
        ['/services/x', '{"url":"http://127.0.0.1:1","url":"http://127.0.0.1:2"}', 400, undef, 'duplicate key'],
        ['/services/x', '{"url":"http://127.0.0.1:1","pad":"' . ('x' x 70000) . '"}', 413, undef, 'body over 64 KiB'],
    );
    for my $case (@cases) {
        my ($path, $body, $want, $field, $name, $why) = @$case;
        my ($status, $json, $res) = $proxyd->admin(PUT => $path, $body);
        is $status, $want, "$name: $want";
        is $res->{headers}{'content-type'}, 'application/json', "$name: JSON";
        ok length($json->{error} // ''), "$name: says why ($json->{error})";
        is $json->{field}, $field, "$name: names the field" if defined $field;
        like $json->{error}, $why, "$name: the reason" if defined $why;
    }
    is read_file($file), $before_file, 'services.yaml is byte-identical';
    my (undef, $after) = $proxyd->admin(GET => '/services');
    is_deeply $after, $before, 'the registry and its version are unchanged';
};

subtest 'methods and paths' => sub {
    my ($status, undef, $res) = $proxyd->admin(POST => '/services/one', '{}');
    is $status, 405, 'POST /services/one: 405';
    is $res->{headers}{allow}, 'GET, PUT, DELETE', 'Allow';
    ($status, undef, $res) = $proxyd->admin(POST => '/services', '{}');
    is $status, 405, 'POST /services: 405';
    is $res->{headers}{allow}, 'GET', 'with Allow (RFC 9110)';
    ($status, undef, $res) = $proxyd->admin(GET => '/reload');
    is $status, 405, 'GET /reload: 405';
    is $res->{headers}{allow}, 'POST', 'with Allow';
    ($status) = $proxyd->admin(GET => '/nothing');
    is $status, 404, 'unknown endpoint: 404';
};

subtest 'POST /reload' => sub {
    write_file($file, "one: http://127.0.0.1:@{[$one->port]}\nhand: http://127.0.0.1:@{[$two->port]}\n");
    my ($status, $body) = $proxyd->admin(POST => '/reload');
    is $status, 200, 'good file: 200';
    is $body->{status}, 'reloaded', 'reloaded';
    is routed_to('hand'), 'two', 'hand-written entry routes';
    my $version = $body->{version};
    write_file($file, "one: http://127.0.0.1:@{[$one->port]}\nhand: [oops\n");
    ($status, $body) = $proxyd->admin(POST => '/reload');
    is $status, 400, 'bad file: 400';
    like $body->{error}, qr{services\.yaml:3:1: }, 'names file:line:column';
    is routed_to('hand'), 'two', 'running registry unchanged';
    (undef, $body) = $proxyd->admin(GET => '/services');
    is $body->{version}, $version, 'version unchanged';
    ($status, $body) = $proxyd->admin(PUT => '/services/z', '{"url":"http://127.0.0.1:1"}');
    is $status, 409, 'an API change over an invalid hand edit: 409';
    like $body->{error}, qr{changed on disk and cannot be built on; fix it or reload: .*services\.yaml:3:1: }, 'says why';
    like read_file($file), qr/\[oops/, 'the operator\'s file is not overwritten';
    write_file($file, "one: http://127.0.0.1:@{[$one->port]}\n");
    ($status) = $proxyd->admin(POST => '/reload');
    is $status, 200, 'fixed';
};

subtest 'a hand edit without SIGHUP is read before the next API change' => sub {
    write_file($file, read_file($file) . "edited: http://127.0.0.1:@{[$two->port]}\n");
    my ($status) = $proxyd->admin(PUT => '/services/api', encode_json({ url => 'http://127.0.0.1:' . $one->port }));
    is $status, 201, 'API change applied';
    my $content = read_file($file);
    like $content, qr{^edited: }m, 'the hand edit survived';
    like $content, qr{^api: }m, 'next to the API change';
    is routed_to('edited'), 'two', 'and both route';
    is routed_to('api'), 'one', 'the API change routes too';
};

is $proxyd->stop, 0, 'proxyd exits 0';

subtest 'the token file must exist, hold a token and be private' => sub {
    my $dir = temp_dir();
    write_file("$dir/services.yaml", '');
    my $cmd = bin('proxyd/proxyd');
    my $try = sub {
        write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:@{[empty_port()]}\nadmin:\n  token_file: admin.token\n");
        my $out = `$cmd -c $dir/proxyd.yaml 2>&1`;
        return ($? >> 8, $out);
    };
    my ($rc, $out) = $try->();
    is $rc, 1, 'missing: exit 1';
    like $out, qr{admin token file .*admin\.token: No such file}, 'says so';
    write_file("$dir/admin.token", "\n");
    chmod 0600, "$dir/admin.token";
    ($rc, $out) = $try->();
    like $out, qr{admin\.token: empty}, 'empty: refused';
    write_file("$dir/admin.token", "secret\n");
    chmod 0640, "$dir/admin.token";
    ($rc, $out) = $try->();
    is $rc, 1, 'group-readable: exit 1';
    like $out, qr{readable by group or others \(mode 640\)}, 'says which';
    ($rc, $out) = proxyd_check("$dir/proxyd.yaml");
    is $rc, 1, '-t checks it too';
};

subtest 'admin on a host name' => sub {
    my $dir = temp_dir();
    my $port = empty_port();
    write_file("$dir/admin.token", "$Util::ADMIN_TOKEN\n");
    chmod 0600, "$dir/admin.token";
    my $p = spawn_proxyd(dir => $dir, services => "one: http://127.0.0.1:@{[$one->port]}\n",
        settings => "admin:\n  listen: localhost:$port\n  token_file: admin.token\n");
    ok wait_for('admin', sub { Util::port_open($port) }), 'admin.listen: localhost:<port> listens';
    my $res = $http->get("http://localhost:$port/services", { headers => { Authorization => "Bearer $Util::ADMIN_TOKEN" } });
    is $res->{status}, 200, 'and answers' or diag $p->log;
    ok wait_for('log', sub { $p->log =~ /; admin API on localhost:$port; / }), 'the log names it as written' or diag $p->log;
    is $p->stop, 0, 'exit 0';
};

subtest 'admin on a unix socket' => sub {
    my $dir = temp_dir();
    my $sock = "$dir/admin.sock";
    write_file("$dir/admin.token", "$Util::ADMIN_TOKEN\n");
    chmod 0600, "$dir/admin.token";
    my $p = spawn_proxyd(dir => $dir, services => "one: http://127.0.0.1:@{[$one->port]}\n",
        settings => "admin:\n  listen: unix:$sock\n  token_file: admin.token\n");
    ok wait_for('socket', sub { -S $sock }), 'the socket exists';
    ok wait_for('log', sub { $p->log =~ /; admin API on unix:\Q$sock\E; / }), 'the log names it' or diag $p->log;
    is sprintf('%o', (stat $sock)[2] & 0777), '600', 'only its owner may use it';
    my $out = `curl -s --unix-socket $sock -H 'Authorization: Bearer $Util::ADMIN_TOKEN' http://admin/services`;
    like $out, qr/"version":1/, 'curl --unix-socket reaches it';
    # a second proxyd (another listen port) given the same socket must not take it over
    my $second = temp_dir();
    write_file("$second/proxyd.yaml", "listen: 127.0.0.1:@{[empty_port()]}\nregistry: $dir/services.yaml\n"
        . "admin:\n  listen: unix:$sock\n  token_file: $dir/admin.token\n");
    my $cmd = bin('proxyd/proxyd');
    my $refused = `timeout -k 1 10 $cmd -c '$second/proxyd.yaml' 2>&1`;    # a regression would run on
    is $? >> 8, 1, 'a second proxyd on the same admin socket exits 1';
    like $refused, qr/admin listen \Q$sock\E: Address already in use \(another process listens there\)/, 'and says why';
    $out = `curl -s --unix-socket $sock -H 'Authorization: Bearer $Util::ADMIN_TOKEN' http://admin/services`;
    like $out, qr/"version":1/, 'the first one still answers on it';
    is $p->stop, 0, 'exit 0';
    ok !-e $sock, 'the socket is removed at exit';
    $p = spawn_proxyd(dir => $dir, settings => "admin:\n  listen: unix:$sock\n  token_file: admin.token\n");
    ok wait_for('socket', sub { -S $sock }), 'a socket file nobody listens on does not stop the next start';
    is $p->stop, 0, 'exit 0';
};

done_testing;

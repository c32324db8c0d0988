# 00config.t: the settings and registry files: defaults, every kind of error with file:line:column, -t, -V, -h.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use lib 't';
use Util;

my $dir = temp_dir();

# Writes a settings file and a registry file, runs proxyd -t, returns (exit code, output).
sub check {
    my ($settings, $services) = @_;
    write_file("$dir/services.yaml", $services // "weather: http://127.0.0.1:9001\n");
    write_file("$dir/proxyd.yaml", $settings);
    return proxyd_check("$dir/proxyd.yaml");
}

subtest 'a good configuration' => sub {
    my ($rc, $out) = check(<<'YAML', <<'SERVICES');
listen: [127.0.0.1:8080, "[::1]:8080", "*:8081"]
threads: 2
registry: services.yaml
shutdown_timeout: 30s
max_request_body: 1MiB
auth:
  service: auth
  timeout: 2s
  cache_ttl: 0
  negative_ttl: 5s
  cache_size: 1000
  copy_headers: [X-User, X-Roles]
  request_headers: [Cookie]
  response_headers: [Set-Cookie]
  vary: []
upstream:
  connect_timeout: 250ms
  io_timeout: 2m
YAML
weather: http://127.0.0.1:9001
auth: http://127.0.0.1:9002/check
secure: https://weather.example:8443/v1/
long: {url: http://localhost:9003, timeout: 5s}
SERVICES
    is $rc, 0, 'exit 0';
    like $out, qr/configuration OK \(4 services\)/, 'says OK and counts the services';
};

subtest 'the upstream engine\'s settings' => sub {
    my ($rc, $out) = check(<<'YAML', <<'SERVICES');
listen: 127.0.0.1:8080
registry: services.yaml
upstream:
  connect_timeout: 250ms
  io_timeout: 2m
  websocket_timeout: 10m
  buffer: 128k
  max_response_head: 1KiB
  keepalive: 0
client:
  send_timeout: 30s
  idle_timeout: 75s
trusted_proxies: [127.0.0.1, 10.0.0.0/8, "fd00::/8", "::1"]
YAML
weather: {url: http://127.0.0.1:9001, preserve_host: true, websocket_timeout: 1s}
chat: {url: http://127.0.0.1:9002, preserve_host: false}
SERVICES
    is $rc, 0, 'exit 0' or diag $out;
    like $out, qr/configuration OK \(2 services\)/, 'says OK';
    ($rc, $out) = check("trusted_proxies: 192.0.2.7\nupstream:\n  keepalive: 100000\n  max_response_head: 1024\n");
    is $rc, 0, 'one address instead of a list, the largest keepalive, the smallest head limit' or diag $out;
};

subtest 'the shipped example configuration' => sub {
    my ($rc, $out) = proxyd_check('conf/proxyd.yaml');
    is $rc, 0, 'conf/proxyd.yaml passes -t' or diag $out;
};

subtest 'an empty registry is allowed' => sub {
    my ($rc, $out) = check("listen: 127.0.0.1:8080\n", "");
    is $rc, 0, 'exit 0';
    like $out, qr/\(0 services\)/, 'no services';
};

my @bad_settings = (
    ["listen: 127.0.0.1:8080\nthreads: [1\n", qr{proxyd\.yaml:\d+:\d+: .*flow}i, 'broken YAML'],
    ["listen: 127.0.0.1:8080\nworkers: 2\n", qr{proxyd\.yaml:2:1: workers: unknown key}, 'unknown key'],
    ["upstream:\n  read_timeout: 5s\n", qr{proxyd\.yaml:2:3: upstream\.read_timeout: unknown key}, 'unknown nested key'],
    ["threads: two\n", qr{proxyd\.yaml:1:10: threads: 'two' is not a whole number}, 'wrong type'],
    ["threads: 0\n", qr{proxyd\.yaml:1:10: threads:}, 'zero threads'],
    ["listen: 127.0.0.1\n", qr{proxyd\.yaml:1:9: listen: '127\.0\.0\.1' is not an address}, 'listen without port'],
    ["listen: 127.0.0.1:70000\n", qr{proxyd\.yaml:1:9: listen:}, 'port out of range'],
    ["upstream:\n  io_timeout: 5\n", qr{proxyd\.yaml:2:15: upstream\.io_timeout: '5' is not a duration}, 'duration without unit'],
    ["max_request_body: lots\n", qr{proxyd\.yaml:1:19: max_request_body: 'lots' is not a size}, 'bad size'],
    ["threads: 1\nthreads: 2\n", qr{proxyd\.yaml:2:1: threads: repeated key}, 'repeated key'],
    ["- listen\n", qr{proxyd\.yaml:1:1: settings: expected a mapping}, 'not a mapping'],
    ["auth:\n  service: auth\n  ttl: 5s\n", qr{proxyd\.yaml:3:3: auth\.ttl: unknown key}, 'unknown auth key'],
    ["auth:\n  cache_ttl: forever\n", qr{proxyd\.yaml:2:14: auth\.cache_ttl: 'forever' is not a duration}, 'bad cache_ttl'],
    ["auth:\n  service: Auth\n", qr{proxyd\.yaml:2:12: auth\.service: invalid service name}, 'bad auth service name'],
    ["auth:\n  copy_headers: [\"X User\"]\n", qr{proxyd\.yaml:2:18: auth\.copy_headers: 'X User' is not a header name},
        'bad header name'],
    ["auth:\n  cache_size: 0\n", qr{proxyd\.yaml:2:15: auth\.cache_size:}, 'zero cache size'],
    ["auth:\n  copy_headers: [Content-Length]\n", qr{auth\.copy_headers: 'Content-Length' cannot be copied}, 'framing header'],
    ["auth:\n  request_headers: [Cookie, X-Forwarded-For]\n",
        qr{proxyd\.yaml:2:29: auth\.request_headers: 'X-Forwarded-For' is set by proxyd}, 'request_headers naming a forwarding field'],
    ["auth:\n  response_headers: [Set-Cookie, Content-Length]\n",
        qr{proxyd\.yaml:2:34: auth\.response_headers: 'Content-Length' is hop-by-hop or framing}, 'response_headers naming a framing field'],
    ["auth:\n  vary: [path, query]\n", qr{proxyd\.yaml:2:16: auth\.vary: 'query' is not method, path or client}, 'unknown vary part'],
    ["auth:\n  vary: path\n", qr{proxyd\.yaml:2:9: auth\.vary: expected a list}, 'vary not a list'],
    ["upstream:\n  io_timeout: 25h\n", qr{upstream\.io_timeout: '25h' is not a duration from 1ms to 24h}, 'timeout too long'],
    ["admin:\n  listen: nowhere\n", qr{proxyd\.yaml:2:11: admin\.listen: 'nowhere' is not an address}, 'bad admin address'],
    ["client:\n  max_headers: 500\n", qr{proxyd\.yaml:2:16: client\.max_headers: '500' is not a whole number from 1 to 100},
        'too many headers allowed'],
    ["client:\n  underscores_in_headers: yes\n", qr{client\.underscores_in_headers: 'yes' is not true or false}, 'bad boolean'],
    ["client:\n  max_header_bytes: 0\n", qr{client\.max_header_bytes: '0' is not a size}, 'zero header bytes'],
    ["client:\n  request_timeout: 0\n", qr{client\.request_timeout: '0' is not a duration}, 'zero request timeout'],
    ["shutdown_timeout: 0\n", qr{proxyd\.yaml:1:19: shutdown_timeout: '0' is not a duration from 1ms to 24h}, 'zero shutdown timeout'],
    ["shutdown_timeout: 25h\n", qr{shutdown_timeout: '25h' is not a duration}, 'shutdown timeout too long'],
    ["client:\n  idle_timeout: 0\n", qr{proxyd\.yaml:2:17: client\.idle_timeout: '0' is not a duration}, 'zero idle timeout'],
    ["client:\n  idle_timeout: forever\n", qr{client\.idle_timeout: 'forever' is not a duration}, 'bad idle timeout'],
    ["client:\n  max_target_bytes: 8 KB\n", qr{client\.max_target_bytes: '8 KB' is not a size}, 'bad target size'],
    ["client:\n  keepalive: 5s\n", qr{client\.keepalive: unknown key}, 'unknown client key'],
    ["registry: missing.yaml\n", qr{missing\.yaml: No such file}, 'missing registry'],
    # the upstream engine's settings (issue 9)
    ["upstream:\n  max_response_head: 1023\n", qr{proxyd\.yaml:2:22: upstream\.max_response_head: at least 1KiB},
        'response head limit under 1KiB'],
    ["upstream:\n  max_response_head: lots\n", qr{proxyd\.yaml:2:22: upstream\.max_response_head: 'lots' is not a size},
        'bad response head limit'],
    ["upstream:\n  keepalive: 100001\n", qr{proxyd\.yaml:2:14: upstream\.keepalive: '100001' is not a whole number from 0 to 100000},
        'too many idle connections'],
    ["upstream:\n  keepalive: -1\n", qr{proxyd\.yaml:2:14: upstream\.keepalive: '-1' is not a whole number}, 'negative keepalive'],
    ["upstream:\n  buffer: big\n", qr{proxyd\.yaml:2:11: upstream\.buffer: 'big' is not a size}, 'bad buffer'],
    ["upstream:\n  buffer: 0\n", qr{proxyd\.yaml:2:11: upstream\.buffer: '0' is not a size}, 'zero buffer'],
    ["upstream:\n  websocket_timeout: 5\n", qr{proxyd\.yaml:2:22: upstream\.websocket_timeout: '5' is not a duration},
        'websocket_timeout without unit'],
    ["upstream:\n  idle_timeout: 5s\n", qr{proxyd\.yaml:2:3: upstream\.idle_timeout: unknown key}, 'unknown upstream key'],
    ["client:\n  send_timeout: soon\n", qr{proxyd\.yaml:2:17: client\.send_timeout: 'soon' is not a duration}, 'bad send_timeout'],
    ["client:\n  send_timeout: 0\n", qr{proxyd\.yaml:2:17: client\.send_timeout: '0' is not a duration}, 'zero send_timeout'],
    ["trusted_proxies: 10.0.0.1/8\n",
        qr{proxyd\.yaml:1:18: trusted_proxies: '10\.0\.0\.1/8' is not an address or CIDR block: use 10\.0\.0\.0/8}, 'host bits set'],
    ["trusted_proxies: [127.0.0.1, bogus]\n", qr{proxyd\.yaml:1:30: trusted_proxies: 'bogus' is not an address or CIDR block},
        'a bad entry in a flow list'],
    ["trusted_proxies:\n  - 10.0.0.0/8\n  - fd00::1/8\n", qr{proxyd\.yaml:3:5: trusted_proxies: 'fd00::1/8' is not an address},
        'a bad IPv6 entry in a block list'],
    ["trusted_proxies: [10.0.0.0/33]\n", qr{proxyd\.yaml:1:19: trusted_proxies: '10\.0\.0\.0/33'}, 'prefix too long'],
    ["trusted_proxies: {a: b}\n", qr{proxyd\.yaml:1:18: trusted_proxies: expected}, 'a mapping'],
    ["trusted_proxies: [[10.0.0.0/8]]\n", qr{proxyd\.yaml:1:19: trusted_proxies: expected}, 'a nested list'],
);
for my $case (@bad_settings) {
    my ($yaml, $re, $name) = @$case;
    my ($rc, $out) = check($yaml);
    is $rc, 1, "$name: exit 1";
    like $out, $re, "$name: message" or diag $out;
}

my @bad_services = (
    ["weather: http://127.0.0.1:9001\n  bad: indent\n", qr{services\.yaml:\d+:\d+: }, 'broken YAML'],
    ["Weather: http://127.0.0.1:9001\n", qr{services\.yaml:1:1: invalid service name 'Weather'}, 'upper case name'],
    ["-weather: http://127.0.0.1:9001\n", qr{services\.yaml:1:1: invalid service name '-weather'}, 'name starting with -'],
    [('a' x 64) . ": http://127.0.0.1:9001\n", qr{services\.yaml:1:1: invalid service name}, 'name too long'],
    ["weather: ftp://127.0.0.1:9001\n", qr{services\.yaml:1:10: weather: invalid URL 'ftp://127\.0\.0\.1:9001'}, 'ftp URL'],
    ["weather: 127.0.0.1:9001\n", qr{services\.yaml:1:10: weather: invalid URL}, 'URL without scheme'],
    ["weather: http://127.0.0.1:99999\n", qr{services\.yaml:1:10: weather: invalid URL}, 'bad port'],
    ["weather: http://\n", qr{services\.yaml:1:10: weather: invalid URL}, 'no host'],
    ["weather: http://127.0.0.1:0\n", qr{services\.yaml:1:10: weather: invalid URL}, 'port 0'],
    ["weather: http://127.0.0.1:9001/?x=1\n", qr{services\.yaml:1:10: weather: invalid URL .*query}, 'URL with query'],
    ["weather: http://user\@127.0.0.1:9001\n", qr{services\.yaml:1:10: weather: invalid URL .*credentials}, 'URL with user@'],
    ["weather: http://user:pw\@127.0.0.1:9001/\n", qr{services\.yaml:1:10: weather: invalid URL .*credentials},
        'URL with user:password@'],
    ["weather: \"http://127.0.0.1:9001/a\\tb\"\n", qr{services\.yaml:1:10: weather: invalid URL .*control character},
        'URL with a tab'],
    ["weather: \"http://127.0.0.1:9001/a\\x01b\"\n", qr{services\.yaml:1:10: weather: invalid URL .*control character},
        'URL with a control character'],
    ["weather: \"http://127.0.0.1:9001/a\\rX-Evil: 1\"\n", qr{services\.yaml:1:10: weather: invalid URL .*control character},
        'URL with a CR'],
    ["weather: {url: http://127.0.0.1:9001, retries: 3}\n", qr{services\.yaml:1:39: weather\.retries: unknown option},
        'unknown option'],
    ["weather: {timeout: 5s}\n", qr{services\.yaml:1:10: weather: the url option is missing}, 'long form without url'],
    ["weather: {url: http://127.0.0.1:9001, timeout: soon}\n", qr{services\.yaml:1:48: weather\.timeout: 'soon'},
        'bad timeout'],
    ["weather: http://127.0.0.1:9001\nweather: http://127.0.0.1:9002\n", qr{services\.yaml:2:1: weather: service defined twice},
        'duplicate service'],
    ["weather: [http://127.0.0.1:9001]\n", qr{services\.yaml:1:10: weather: expected a URL}, 'list instead of URL'],
    ["weather: {url: http://127.0.0.1:9001, preserve_host: maybe}\n",
        qr{services\.yaml:1:54: weather\.preserve_host: 'maybe' is not true or false}, 'bad preserve_host'],
    ["weather: {url: http://127.0.0.1:9001, websocket_timeout: soon}\n",
        qr{services\.yaml:1:58: weather\.websocket_timeout: 'soon' is not a duration}, 'bad websocket_timeout'],
    ["weather: {url: http://127.0.0.1:9001, websocket_timeout: 0s}\n",
        qr{services\.yaml:1:58: weather\.websocket_timeout: '0s' is not a duration}, 'zero websocket_timeout'],
);
for my $case (@bad_services) {
    my ($yaml, $re, $name) = @$case;
    my ($rc, $out) = check("registry: services.yaml\n", $yaml);
    is $rc, 1, "registry $name: exit 1";
    like $out, $re, "registry $name: message" or diag $out;
}

subtest 'one YAML document per file' => sub {
    my $settings = "listen: 127.0.0.1:8080\nregistry: services.yaml\n";
    my ($rc, $out) = check($settings, "---\nweather: http://127.0.0.1:9001\n---\nother: http://127.0.0.1:9002\n");
    is $rc, 1, 'services.yaml with two documents: exit 1';
    like $out, qr{services\.yaml:3:1: only one YAML document is allowed}, 'where the second one starts' or diag $out;
    ($rc, $out) = check("---\nlisten: 127.0.0.1:8080\n---\nregistry: services.yaml\n");
    is $rc, 1, 'proxyd.yaml with two documents: exit 1';
    like $out, qr{proxyd\.yaml:3:1: only one YAML document is allowed}, 'where the second one starts' or diag $out;
    ($rc, $out) = check("---\n$settings...\n", "---\nweather: http://127.0.0.1:9001\n...\n");
    is $rc, 0, 'one document with its --- and ... markers is fine' or diag $out;
    # a reload of a registry with two documents is refused too
    my $p = spawn_proxyd(services => "weather: http://127.0.0.1:9001\n");
    write_file($p->dir . '/services.yaml', "weather: http://127.0.0.1:9001\n---\nother: http://127.0.0.1:9002\n");
    kill 'HUP', $p->pid;
    ok wait_for('refused', sub { $p->log =~ /reload refused.*services\.yaml:2:1: only one YAML document is allowed/ }),
        'SIGHUP: a registry with two documents is refused' or diag $p->log;
    is $p->stop, 0, 'proxyd exits 0';
};

subtest 'proxyd does not start on a bad registry' => sub {
    my $port = empty_port();
    write_file("$dir/services.yaml", "weather: gopher://x\n");
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:$port\n");
    my $cmd = bin('proxyd/proxyd');
    my $out = `$cmd -c $dir/proxyd.yaml 2>&1`;
    is $? >> 8, 1, 'exit 1';
    like $out, qr{services\.yaml:1:10: weather: invalid URL}, 'names file:line:column';
};

subtest 'auth.service must name a registry entry' => sub {
    my ($rc, $out) = check("listen: 127.0.0.1:8080\nauth:\n  service: gate\n",
        "weather: http://127.0.0.1:9001\nauth: http://127.0.0.1:9002\n");
    is $rc, 1, '-t exits 1';
    like $out, qr{\Q$dir\E/proxyd\.yaml: auth\.service 'gate' is not an entry of the registry \Q$dir\E/services\.yaml},
        'names the settings file, the service and the registry' or diag $out;
    unlike $out, qr/configuration OK/, 'and does not say OK';
    ($rc, $out) = check("listen: 127.0.0.1:8080\nauth: {}\n");
    is $rc, 1, 'the default service name "auth" missing: exit 1';
    like $out, qr{auth\.service 'auth' is not an entry}, 'names the default' or diag $out;
    ($rc, $out) = check("listen: 127.0.0.1:8080\nauth:\n  service: gate\n", "gate: http://127.0.0.1:9002\n");
    is $rc, 0, 'present: exit 0' or diag $out;
    ($rc, $out) = check("listen: 127.0.0.1:8080\n", "{}\n");
    is $rc, 0, 'auth off: no entry needed' or diag $out;

    my $port = empty_port();
    write_file("$dir/services.yaml", "weather: http://127.0.0.1:9001\n");
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:$port\nauth:\n  service: gate\n");
    my $cmd = bin('proxyd/proxyd');
    $out = `$cmd -c $dir/proxyd.yaml 2>&1`;
    is $? >> 8, 1, 'start-up: exit 1';
    like $out, qr{proxyd\.yaml: auth\.service 'gate' is not an entry of the registry .*services\.yaml}, 'start-up: says why'
        or diag $out;
    ok !Util::port_open($port), 'nothing listens';
};

subtest 'an address in use stops start-up' => sub {
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    write_file("$dir/services.yaml", "weather: http://127.0.0.1:9001\n");
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:@{[$busy->sockport]}\n");
    my $cmd = bin('proxyd/proxyd');
    my $out = `$cmd -c $dir/proxyd.yaml 2>&1`;
    is $? >> 8, 1, 'exit 1';
    like $out, qr{listen 127\.0\.0\.1:\d+: Address already in use}, 'names the address and the reason';
};

subtest 'command line' => sub {
    my $cmd = bin('proxyd/proxyd');
    like `$cmd -V`, qr/^proxyd \d+\.\d+/, '-V prints the version';
    is $? >> 8, 0, '-V exits 0';
    like `$cmd --help`, qr/usage: proxyd .*-c, --config FILE.*-t, --test/s, '--help prints usage';
    `$cmd --bogus 2>/dev/null`;
    is $? >> 8, 1, 'unknown option exits 1';
    my $out = `$cmd -t -c $dir/nonexistent.yaml 2>&1`;
    is $? >> 8, 1, 'missing settings file exits 1';
    like $out, qr{nonexistent\.yaml: No such file or directory}, 'and says so';
};

done_testing;

# 60auth-relay.t: answers of the auth service and of upstreams reach the client untouched, whatever their type (issue 9); only errors proxyd decides itself are its JSON.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use lib 't';
use Util;

# t/raw-server.pl answering every request with exactly $response; its stdout (one line per request) in its log.
sub spawn_raw {
    my ($response) = @_;
    my $dir = temp_dir();
    my $port = empty_port();
    write_file("$dir/response", $response);
    return spawn(cmd => ['perl', 't/raw-server.pl', $port, "$dir/response"], port => $port, log => "$dir/log");
}

sub requests_seen { scalar(() = $_[0]->log =~ /^request: \S/mg) }    # spawn's probes send nothing

# A complete response with Content-Length and Connection: close.
sub response {
    my ($status, $headers, $body) = @_;
    return "HTTP/1.1 $status\r\n" . join('', map {"$_\r\n"} @$headers) . 'Content-Length: ' . length($body)
        . "\r\nConnection: close\r\n\r\n$body";
}

# GET $path over HTTP/1.1: (status, {lowercased name => [values]}, body).
sub get {
    my ($proxyd, $path) = @_;
    my $res = raw_request($proxyd->port, "GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10);
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    my ($status) = ($head // '') =~ m{\AHTTP/1\.1 (\d{3}) };
    my %headers;
    my $lines = ($head // q{}) . "\r\n";
    push @{ $headers{ lc $1 } }, $2 while $lines =~ /^([^:\r\n]+):[ \t]*([^\r\n]*)\r$/mg;
    return ($status, \%headers, $body // '');
}

# GET $path over HTTP/2 (t/h2request.py): its JSON answer.
sub get_h2 {
    my ($proxyd, $path) = @_;
    my $spec = temp_dir() . '/spec.json';
    write_file($spec, encode_json({ path => $path }));
    return eval { decode_json(`/usr/bin/python3 t/h2request.py @{[$proxyd->port]} $spec 2>&1`) } // {};
}

my $up = spawn_upstream();

subtest 'a text/plain 401 from the auth service reaches the client as it was sent' => sub {
    my $body = "Please log in.\nThis text is the auth service's own.\n";
    my $auth = spawn_raw(response('401 Unauthorized', ['Content-Type: text/plain; charset=utf-8', 'WWW-Authenticate: Basic realm="x"',
        'X-Auth-Detail: expired'], $body));
    my $proxyd = spawn_proxyd(settings => "auth:\n  service: auth\n  negative_ttl: 1m\n",
        services => "auth: http://127.0.0.1:@{[$auth->port]}/check\nup: http://127.0.0.1:@{[$up->port]}\n");
    my ($status, $headers, $got) = get($proxyd, '/up/x?key=whatever');
    is $status, 401, 'status 401';
    is_deeply $headers->{'www-authenticate'}, ['Basic realm="x"'], 'its WWW-Authenticate, once and unchanged';
    is_deeply $headers->{'content-type'}, ['text/plain; charset=utf-8'], 'its Content-Type';
    is $got, $body, 'its body, byte for byte (not a JSON rewrite)';
    is_deeply $headers->{'content-length'}, [length $body], 'with a matching Content-Length';
    is requests_seen($auth), 1, 'one check';
    ($status, $headers, $got) = get($proxyd, '/up/x?key=whatever');
    is $status, 401, 'the same request again (a cached deny): 401';
    is_deeply $headers->{'www-authenticate'}, ['Basic realm="x"'], 'the same WWW-Authenticate';
    is $got, $body, 'the same body';
    is requests_seen($auth), 1, 'and no second check';
    my $h2 = get_h2($proxyd, '/up/y?key=whatever');
    is $h2->{status}, 401, 'over HTTP/2: 401' or diag explain $h2;
    is $h2->{headers}{'www-authenticate'}, 'Basic realm="x"', 'its WWW-Authenticate';
    is $h2->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'its Content-Type';
    is $h2->{body}, $body, 'its body';
    is $up->count, 0, 'nothing reached the service';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest 'a text/html 403 and a redirect with a body pass the same way' => sub {
    my $html = "<!doctype html><title>No</title><p>Not for you.</p>\n";
    my $forbidden = spawn_raw(response('403 Forbidden', ['Content-Type: text/html'], $html));
    my $proxyd = spawn_proxyd(settings => "auth:\n  service: auth\n",
        services => "auth: http://127.0.0.1:@{[$forbidden->port]}/check\nup: http://127.0.0.1:@{[$up->port]}\n");
    my ($status, $headers, $got) = get($proxyd, '/up/x?key=whatever');
    is $status, 403, 'status 403';
    is_deeply $headers->{'content-type'}, ['text/html'], 'text/html';
    is $got, $html, 'its body unchanged';
    is $proxyd->stop, 0, 'proxyd exits 0';

    my $login = "Moved to the login page.\n";
    my $redirect = spawn_raw(response('302 Found', ['Location: https://login.example/?next=%2Fup', 'Content-Type: text/plain'], $login));
    $proxyd = spawn_proxyd(settings => "auth:\n  service: auth\n",
        services => "auth: http://127.0.0.1:@{[$redirect->port]}/check\nup: http://127.0.0.1:@{[$up->port]}\n");
    ($status, $headers, $got) = get($proxyd, '/up/x?key=whatever');
    is $status, 302, 'status 302';
    is_deeply $headers->{location}, ['https://login.example/?next=%2Fup'], 'its Location unchanged';
    is $got, $login, 'its body unchanged';
    is $up->count, 0, 'nothing reached the service';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

subtest "an upstream's own 502 and 504 pass untouched; proxyd's own errors are JSON" => sub {
    my %answers = (
        502 => ['502 Bad Gateway', ['Content-Type: text/plain', 'X-Upstream: own 502'], "the backend's backend is down\n"],
        504 => ['504 Gateway Timeout', ['Content-Type: text/plain', 'X-Upstream: own 504'], "the backend's backend was too slow\n"],
        '502-json' => ['502 Bad Gateway', ['Content-Type: application/json'], qq({"error":"its own words"}\n)],
    );
    my %raw = map { $_ => spawn_raw(response(@{ $answers{$_} })) } keys %answers;
    my $silent_port = empty_port();    # accepts and never answers
    my $silent = spawn(port => $silent_port, cmd => ['perl', '-MIO::Socket::INET', '-e', <<'PERL', $silent_port]);
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ARGV[0], Listen => 10, ReuseAddr => 1) or die $!;
my @held;
while (my $c = $l->accept) { push @held, $c }
PERL
    my $closing_port = empty_port();    # reads the request, closes without a word
    my $closing = spawn(port => $closing_port, cmd => ['perl', '-MIO::Socket::INET', '-e', <<'PERL', $closing_port]);
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ARGV[0], Listen => 10, ReuseAddr => 1) or die $!;
while (my $c = $l->accept) { my $req = ''; $req .= $_ while defined($_ = <$c>) && $_ ne "\r\n"; close $c }
PERL
    my $down = empty_port();    # nothing listens
    my $proxyd = spawn_proxyd(settings => "upstream:\n  io_timeout: 1s\n",
        services => join('', map {"u$_: http://127.0.0.1:@{[$raw{$_}->port]}\n"} sort keys %answers)
            . "down: http://127.0.0.1:$down\nsilent: http://127.0.0.1:$silent_port\nclosing: http://127.0.0.1:$closing_port\n");
    for my $name (sort keys %answers) {
        my ($line, $hdrs, $body) = @{ $answers{$name} };
        my ($status, $headers, $got) = get($proxyd, "/u$name/x");
        is $status, substr($line, 0, 3), "u$name: the upstream's status";
        my ($type) = map {/^Content-Type: (.*)/ ? $1 : ()} @$hdrs;
        is_deeply $headers->{'content-type'}, [$type], "u$name: its Content-Type";
        my ($mark) = map {/^X-Upstream: (.*)/ ? $1 : ()} @$hdrs;
        is_deeply $headers->{'x-upstream'}, [$mark], "u$name: its own header" if defined $mark;
        is $got, $body, "u$name: its body unchanged";
    }
    unlike $proxyd->log, qr/service u502|service u504/, 'an upstream answering 502 or 504 is not an error of proxyd\'s';

    my %own = (
        down    => [502, qr/^upstream connection failed/],
        silent  => [504, qr/^upstream timed out$/],
        closing => [502, qr/^upstream closed the connection before responding$/],
    );
    for my $name (sort keys %own) {
        my ($status, $headers, $got) = get($proxyd, "/$name/x");
        is $status, $own{$name}[0], "$name: proxyd's own $own{$name}[0]";
        is_deeply $headers->{'content-type'}, ['application/json'], "$name: JSON";
        my $json = eval { decode_json($got) } // {};
        like $json->{error} // '', $own{$name}[1], "$name: says why" or diag $got;
        is $json->{service}, $name, "$name: names the service";
        my @lines = grep {/service $name\b/} split /\n/, $proxyd->log;
        is scalar(@lines), 1, "$name: one log line" or diag $proxyd->log;
        like $lines[0] // '', qr/upstream/, "$name: with the reason";
    }
    my $h2 = get_h2($proxyd, '/u502/x');
    is $h2->{status}, 502, 'over HTTP/2 the upstream\'s 502 passes too';
    is $h2->{body}, $answers{502}[2], 'with its body';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

done_testing;

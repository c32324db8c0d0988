# 50demo.t: the workshop demo: weather and auth services behind proxyd, and the README's demo/run.sh (with chat and noise).
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Socket::INET;
use lib 't';
use Util;

my $http = HTTP::Tiny->new(timeout => 10);

sub spawn_demo {
    my ($name) = @_;
    my $port = empty_port();
    return spawn(cmd => [bin("demo/$name"), '-l', "127.0.0.1:$port"], port => $port);
}

sub json_get {
    my ($url) = @_;
    my $res = $http->get($url);
    return ($res->{status}, eval { decode_json($res->{content}) } // {});
}

subtest 'demo services behind proxyd' => sub {
    my $weather = spawn_demo('weather');
    my $auth = spawn_demo('auth');
    my $proxyd = spawn_proxyd(services => "weather: http://127.0.0.1:@{[$weather->port]}\n"
        . "auth: http://127.0.0.1:@{[$auth->port]}/check\n");
    my ($status, $body) = json_get($proxyd->url('/weather/today'));
    is $status, 200, '/weather/today';
    is_deeply [@$body{qw(service day)}], ['weather', 'today'], 'today\'s weather';
    ($status, $body) = json_get($proxyd->url('/weather/tomorrow'));
    is $body->{day}, 'tomorrow', '/weather/tomorrow';
    ($status, $body) = json_get($weather->url('/count'));
    is $body->{requests}, 2, 'the weather service counted both';
    ($status) = json_get($proxyd->url('/auth/?key=supersecret'));
    is $status, 200, 'auth accepts key=supersecret';
    ($status) = json_get($proxyd->url('/auth/?key=wrong'));
    is $status, 401, 'and refuses anything else';
    is $proxyd->stop, 0, 'proxyd exits 0';
};

# demo/run.sh uses the fixed ports of conf/: run it only where they are free.
my @busy = grep { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_, Timeout => 1) } 8080, 8081, 9001 .. 9004;
SKIP: {
    diag("demo/run.sh not tried: ports @busy are in use (is the demo running?)") if @busy;
    skip "ports @busy are in use", 15 if @busy;
    my $demo = spawn(cmd => ['demo/run.sh'], port => 8080);
    my $url = 'http://127.0.0.1:8080/weather/today';
    ok wait_for('weather', sub { $http->get("$url?key=supersecret")->{status} == 200 }),
        'demo/run.sh: curl http://127.0.0.1:8080/weather/today?key=supersecret answers';
    my ($status, $body) = json_get("$url?key=supersecret");
    is $body->{service}, 'weather', 'with the demo weather JSON';
    ($status) = json_get($url);
    is $status, 401, 'and without the key the demo auth service refuses';
    my $jar = temp_dir() . '/jar';
    is `curl -s -o /dev/null -w '%{http_code}' -c $jar '$url?key=supersecret'`, '200', 'the README\'s login: curl -c jar ...?key=';
    is `curl -s -o /dev/null -w '%{http_code}' -b $jar 'http://127.0.0.1:8080/weather/tomorrow'`, '200',
        'then curl -b jar without the key (conf/proxyd.yaml passes Cookie and Set-Cookie)';
    for my $page ('/chat/', '/noise/', '/noise/producer.html') {
        my $res = $http->get("http://127.0.0.1:8080$page?key=supersecret");
        ok $res->{status} == 200 && $res->{headers}{'content-type'} =~ m{^text/html}, "the $page page through proxyd";
    }
    my $chat = spawn(cmd => ['/usr/bin/python3', 't/live-client.py', 'chat', ('ws://127.0.0.1:8080/chat/chatsocket?key=supersecret') x 2],
        log => temp_dir() . '/chat.out');
    ok wait_for('chat', sub { !$chat->running }, 20), 'the chat clients are done';
    my ($line) = $chat->log =~ /^(\{.*"received".*\})\s*$/m;
    my @hello = ('hello from client 0', 'hello from client 1');
    is_deeply [map { [sort @$_] } @{ (eval { decode_json($line // '') } // {})->{received} // [] }], [\@hello, \@hello],
        'two chat clients through proxyd see each other (in whichever order they sent)' or diag $chat->log;
    my ($token) = $demo->log =~ /dashboard http:\S+ with the admin token (\S+)/;
    ok $token, 'demo/run.sh names the dashboard and its admin token' or diag $demo->log;
    my $res = $http->get('http://127.0.0.1:8081/dashboard/');
    ok $res->{status} == 200 && $res->{content} =~ /<html/i, 'the dashboard page on 127.0.0.1:8081';
    $res = $http->get('http://127.0.0.1:8081/services', { headers => { Authorization => "Bearer " . ($token // '') } });
    my $services = eval { decode_json($res->{content})->{services} } // {};
    is_deeply [sort keys %$services], [qw(auth chat noise weather)],
        'and the admin API answers that token with the demo registry';
    is $http->get('http://127.0.0.1:8081/services', { headers => { Authorization => 'Bearer wrong' } })->{status}, 401,
        'but not another one';
    $demo->stop;
    ok wait_for('stopped', sub { !grep { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_) } 8080, 8081, 9001 .. 9004 }),
        'stopping demo/run.sh stops the services it started';
}

done_testing;

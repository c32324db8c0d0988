# 50admin-load.t: flipping a service's URL hundreds of times under load fails no request.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't';
use Util;

my $one = spawn_upstream('--name', 'one');
my $two = spawn_upstream('--name', 'two');
my $proxyd = spawn_proxyd(admin => 1, services => "svc: http://127.0.0.1:@{[$one->port]}\n");
my $results = temp_dir() . '/results';

# Clients that keep requests in flight until told to stop; each writes "ok fail names".
my @clients;
for my $c (1 .. 4) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $http = HTTP::Tiny->new(timeout => 10);
        my ($ok, $fail, %names) = (0, 0);
        my $deadline = time + 60;
        while (!-e "$results.stop" && time < $deadline) {
            my $res = $http->get($proxyd->url('/svc/x?c=' . $c));
            if ($res->{status} == 200) {
                $ok++;
                $names{ decode_json($res->{content})->{name} }++;
            } else {
                $fail++;
                print STDERR "client $c: $res->{status} $res->{content}\n";
            }
        }
        write_file("$results.$c", join(' ', $ok, $fail, sort keys %names));
        POSIX::_exit(0);
    }
    push @clients, $pid;
}

my $changes = 0;
for my $i (1 .. 300) {
    my $target = $i % 2 ? $two : $one;
    my ($status) = $proxyd->admin(PUT => '/services/svc', encode_json({ url => 'http://127.0.0.1:' . $target->port }));
    $changes++ if $status == 200;
}
write_file("$results.stop", '');
waitpid $_, 0 for @clients;

is $changes, 300, '300 changes applied';
my ($ok, $fail, %seen) = (0, 0);
for my $c (1 .. 4) {
    my ($o, $f, @names) = split ' ', read_file("$results.$c");
    $ok += $o // 0;
    $fail += $f // 1;
    $seen{$_}++ for @names;
}
cmp_ok $ok, '>', 100, "requests in flight during the changes ($ok)";
is $fail, 0, 'no request failed';
is_deeply [sort keys %seen], ['one', 'two'], 'requests reached both URLs as they flipped';
my (undef, $body) = $proxyd->admin(GET => '/services');
is $body->{version}, 301, 'one version per change';
# Concurrent admin clients: every change applied once, one version each, all in the file.
my @writers;
for my $w (1 .. 5) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. 20) {
            my ($status) = $proxyd->admin(PUT => "/services/w$w-$i", encode_json({ url => 'http://127.0.0.1:' . $one->port }));
            $bad++ unless $status == 201;
        }
        POSIX::_exit($bad);
    }
    push @writers, $pid;
}
my $refused = 0;
for (@writers) { waitpid $_, 0; $refused += $? >> 8 }
is $refused, 0, '100 concurrent PUTs all created';
(undef, $body) = $proxyd->admin(GET => '/services');
is $body->{version}, 401, 'version went up by exactly one per change';
is scalar(grep { /^w\d-\d+$/ } keys %{ $body->{services} }), 100, 'all 100 in the registry';
is scalar(() = read_file($proxyd->dir . '/services.yaml') =~ /^w\d-\d+: /mg), 100, 'and in services.yaml';

# A request in flight when its service moves finishes against the upstream it started with.
$proxyd->admin(PUT => '/services/svc', encode_json({ url => 'http://127.0.0.1:' . $one->port }));
my $before = $one->count;
my $inflight = open(my $slow, '-|', 'curl', '-s', $proxyd->url('/svc/slow?ms=800')) or die;
ok wait_for('at the upstream', sub { $one->count > $before }), 'the slow request reached one';
$proxyd->admin(PUT => '/services/svc', encode_json({ url => 'http://127.0.0.1:' . $two->port }));
is eval { decode_json(HTTP::Tiny->new->get($proxyd->url('/svc/x'))->{content})->{name} }, 'two', 'new requests go to two';
is eval { decode_json(join '', <$slow>)->{name} }, 'one', 'the request in flight was answered by one';

# Clients that go away before their answer: the changes are still applied, nothing
# breaks. Each HTTP/2 stream is reset in the same write as its request, so libh2o
# frees the request while its change is written off the loop (an HTTP/1 request
# would be kept until answered).
my $json = encode_json({ url => 'http://127.0.0.1:' . $one->port });
my $res = h2_leave($proxyd->{admin_port}, { reset => 'now', method => 'PUT', body => $json, paths => [map { "/services/gone$_" } 1 .. 20],
    headers => [['authorization', "Bearer $Util::ADMIN_TOKEN"], ['content-type', 'application/json']] }, sub { });
ok $res->{ping}, 'proxyd read the resets' or diag explain $res;
is_deeply $res->{answered}, [], 'all twenty reset before their answer';
ok wait_for('applied', sub { ($proxyd->admin(GET => '/services/gone20'))[0] == 200 }), 'changes from vanished clients are applied';
my ($status) = $proxyd->admin(GET => '/services');
is $status, 200, 'and the admin API still answers';

is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

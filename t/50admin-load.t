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
my (undef, $body) = $proxyd->admin(GET => '/health');
is $body->{version}, 301, 'one version per change';
is $proxyd->stop, 0, 'proxyd exits 0';
done_testing;

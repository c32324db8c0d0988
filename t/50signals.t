# 50signals.t: SIGHUP re-reads the registry (a bad file is refused, the running one stays); SIGTERM drains and exits 0.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $one = spawn_upstream('--name', 'one');
my $two = spawn_upstream('--name', 'two');
my $proxyd = spawn_proxyd(services => "svc: http://127.0.0.1:@{[$one->port]}\n");
my $http = HTTP::Tiny->new(timeout => 10);
my $registry = $proxyd->dir . '/services.yaml';

sub name_at {
    my ($path) = @_;
    my $res = $http->get($proxyd->url($path));
    return $res->{status} == 200 ? decode_json($res->{content})->{name} : $res->{status};
}

# SIGHUP is handled on proxyd's main loop; wait until the log says it was.
sub hup_and_wait {
    my ($pattern) = @_;
    kill 'HUP', $proxyd->pid;
    ok wait_for('reload', sub { $proxyd->log =~ $pattern }), "log says: $pattern";
}

is name_at('/svc/x'), 'one', 'before: svc is one';

write_file($registry, "svc: http://127.0.0.1:@{[$two->port]}\nextra: http://127.0.0.1:@{[$one->port]}\n");
hup_and_wait(qr/reloaded .*services\.yaml: 2 services/);
is name_at('/svc/x'), 'two', 'after a good reload: svc is two';
is name_at('/extra/x'), 'one', 'and the new service routes';

write_file($registry, "svc: http://127.0.0.1:@{[$one->port]}\nbad name: http://x\n");
hup_and_wait(qr/reload refused, the registry is unchanged: .*services\.yaml:2:1: invalid service name 'bad name'/);
is name_at('/svc/x'), 'two', 'a bad file changes nothing';
is name_at('/extra/x'), 'one', 'every service stays';
ok $proxyd->running, 'proxyd still runs';

# A signal whose default action is fatal ends the process when it is sent: a
# request answered after kill() returned shows it was not.
kill 'USR1', $proxyd->pid;
kill 'USR2', $proxyd->pid;
is name_at('/svc/x'), 'two', 'a request after SIGUSR1 and SIGUSR2 is answered';
ok $proxyd->running, 'SIGUSR1 and SIGUSR2 (logrotate habits) do not stop proxyd';

write_file($registry, '');
hup_and_wait(qr/reload refused, the registry is unchanged: \S*services\.yaml is empty/);
is name_at('/svc/x'), 'two', 'an empty file (one being rewritten) is refused';
write_file($registry, "{}\n");
hup_and_wait(qr/services\.yaml has no services: every request now gets 404/);
is name_at('/svc/x'), 404, 'an empty registry written as {} is applied, with a warning';
write_file($registry, "svc: http://127.0.0.1:@{[$two->port]}\n");
hup_and_wait(qr/reloaded .*services\.yaml: 1 service,/);

# A second proxyd on the same address refuses to start instead of sharing the
# port through SO_REUSEPORT (the kernel would split connections between them).
{
    my $cmd = bin('proxyd/proxyd');
    my $settings = $proxyd->dir . '/proxyd.yaml';
    # the running one's admin write in flight: a temporary file beside the registry
    my $in_flight = write_file("$registry.Wr1tes", "svc: http://127.0.0.1:@{[$two->port]}\n");
    my $out = `$cmd -c '$settings' 2>&1`;
    is $? >> 8, 1, 'a second proxyd on the same listen address exits 1';
    like $out, qr/listen 127\.0\.0\.1:\d+: Address already in use \(another process listens there\)/, 'and says why';
    ok -e $in_flight, 'before it touched the files of the one running (its write in flight stays)' or diag $out;
    unlike $out, qr/removed .*interrupted write/, 'and removed nothing';
    unlink $in_flight;
    like $http->get($proxyd->url('/svc/x'))->{content}, qr/"name":"two"/, 'the first one still serves';
}

# A request in flight when SIGTERM arrives still gets its answer.
my $before = $two->count;
my $pid = open(my $slow, '-|', 'curl', '-s', '-w', ' %{http_code}', $proxyd->url('/svc/slow?ms=1000')) or die;
ok wait_for('upstream got it', sub { $two->count > $before }), 'the request reached the upstream';
is $proxyd->stop, 0, 'SIGTERM: exit 0';
my $out = join '', <$slow>;
like $out, qr/"name":"two".* 200\z/s, 'the request in flight finished';
like $proxyd->log, qr/Terminated: stopping/, 'logged';

done_testing;

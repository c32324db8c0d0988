# 50log.t: proxyd's stderr: each line's priority as a journald prefix when stderr is no terminal, and log_level.
use strict;
use warnings;
use Test::More;
use lib 't';
use Util;

my $up = spawn_upstream('--name', 'one');
my $services = "one: http://127.0.0.1:@{[$up->port]}\n";

# proxyd's log once it has stopped: nothing is written after that, so a line that is missing stays missing.
sub log_after_stop {
    my (%opts) = @_;
    my $p = spawn_proxyd(services => $services, %opts);
    is $p->stop, 0, 'exit 0';
    return $p->log;
}

subtest 'a pipe or file: every line starts with its priority' => sub {
    my $log = log_after_stop();
    like $log, qr/^<6>proxyd: listening /m, 'the start line: <6> (info)';
    like $log, qr/^<4>proxyd: warning: no auth: key in /m, 'a warning: <4>';
    like $log, qr/^<6>proxyd: Terminated: stopping$/m, 'the stop line: <6>';
    unlike $log, qr/^proxyd: /m, 'no line of proxyd\'s without a prefix' or diag $log;
    my $dir = temp_dir();
    write_file("$dir/services.yaml", $services);
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nthreads: many\n");
    my ($rc, $out) = proxyd_check("$dir/proxyd.yaml");
    is $rc, 1, 'a bad setting: exit 1';
    like $out, qr{^<3>proxyd: .*proxyd\.yaml:2:10: threads: 'many' is not a whole number}, 'the error: <3>' or diag $out;
};

subtest 'a terminal: no prefixes' => sub {
    my $dir = temp_dir();
    write_file("$dir/services.yaml", $services);
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nthreads: many\n");
    # stderr on a pseudo-terminal of Python's pty module; its output comes back on stdout
    my $py = 'import os, subprocess, sys
m, s = os.openpty()
rc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=s).returncode
os.close(s)
sys.stdout.write(os.read(m, 65536).decode())
sys.exit(rc)';
    my $bin = bin('proxyd/proxyd');
    my $out = `/usr/bin/python3 -c '$py' $bin -t -c $dir/proxyd.yaml`;
    is $? >> 8, 1, 'exit 1';
    like $out, qr{^proxyd: .*threads: 'many' is not a whole number}, 'the error without <3>' or diag $out;
};

subtest 'log_level' => sub {
    my $log = log_after_stop(settings => "log_level: warning\n");
    unlike $log, qr/listening/, 'warning: no start line';
    unlike $log, qr/stopping/, 'nor the stop line';
    like $log, qr/^<4>proxyd: warning: no auth: key/m, 'but the warning' or diag $log;
    $log = log_after_stop(settings => "log_level: error\n");
    unlike $log, qr/proxyd: /, 'error: no line of proxyd\'s, as nothing went wrong' or diag $log;
    $log = log_after_stop(settings => "log_level: info\n");
    like $log, qr/^<6>proxyd: listening /m, 'info: the start line';
    my $dir = temp_dir();
    write_file("$dir/services.yaml", $services);
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nlog_level: debug\n");
    my ($rc, $out) = proxyd_check("$dir/proxyd.yaml");
    is $rc, 1, 'an unknown level: exit 1';
    like $out, qr{proxyd\.yaml:2:12: log_level: 'debug' is not error, warning or info}, 'naming it and where' or diag $out;
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nlog_level: error\nthreads: many\n");
    ($rc, $out) = proxyd_check("$dir/proxyd.yaml");
    like $out, qr{^<3>proxyd: .*threads: 'many'}, 'log_level does not hide errors' or diag $out;
};

subtest 'the start line names every address and the registry' => sub {
    my $dir = temp_dir();
    my ($port, $port6, $admin_port) = (empty_port(), empty_port(), empty_port());
    write_file("$dir/services.yaml", $services);
    write_file("$dir/admin.token", "$Util::ADMIN_TOKEN\n");
    chmod 0600, "$dir/admin.token";
    write_file("$dir/proxyd.yaml", "listen: [127.0.0.1:$port, \"[::1]:$port6\"]\nthreads: 1\nregistry: services.yaml\n"
        . "admin:\n  listen: 127.0.0.1:$admin_port\n  token_file: admin.token\n");
    my $p = spawn(cmd => [bin('proxyd/proxyd'), '-c', "$dir/proxyd.yaml"], port => $port, log => "$dir/proxyd.log");
    my $line = qr/^<6>proxyd: listening on 127\.0\.0\.1:$port, \[::1\]:$port6 with 1 thread; admin API on 127\.0\.0\.1:$admin_port; registry \Q$dir\E\/services\.yaml$/m;
    ok wait_for('log', sub { $p->log =~ $line }), 'both addresses, one thread, the admin address, the registry' or diag $p->log;
    is $p->stop, 0, 'exit 0';

    my $log = log_after_stop(threads => 3);
    like $log, qr/^<6>proxyd: listening on 127\.0\.0\.1:\d+ with 3 threads; admin API off; registry \S+\/services\.yaml$/m,
        'no admin: block: "admin API off"' or diag $log;
};

done_testing;

# Util.pm: test helpers: free ports, servers started by PID and always stopped, files, raw HTTP.
package Util;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;
use File::Spec;
use HTTP::Tiny;
use JSON::PP ();

our @EXPORT = qw(sanitized bin empty_port temp_dir write_file read_file spawn spawn_upstream spawn_proxyd
    proxyd_check raw_request rss_kib wait_for h2_leave spawn_auth artifacts_dir run_scenario);

my %running;    # pid => name, every child still to be stopped

$ENV{PYTHONDONTWRITEBYTECODE} = 1;    # the Python helpers import each other; the source tree may be read-only
$ENV{LSAN_OPTIONS} //= 'suppressions=' . File::Spec->rel2abs('t/lsan.supp');

# True on a -fsanitize build, where memory figures say nothing about proxyd.
sub sanitized { ($ENV{PROXYD_SANITIZERS} // '') eq 'yes' }

sub bin {
    my ($name) = @_;
    my $path = ($ENV{PROXYD_BUILDDIR} // '.') . "/$name";
    die "$path is not built: run make first\n" unless -x $path;
    return $path;
}

# A free loopback port no other test file holds: make check runs files side by
# side, and the kernel may hand two of them the same free port before either
# binds it (proxyd's workers share theirs with SO_REUSEPORT). Each port taken is
# claimed by a file naming this process, removed when it ends; a claim whose
# process is gone is stale. One folder per user: another user's (root's, left by a
# `sudo make check`) is not writable, and its ports cannot be shared with ours anyway
# (SO_REUSEPORT shares only within one user).
my $port_dir = File::Spec->catdir(File::Spec->tmpdir, "proxyd-test-ports-$<");
my ($claimer, %claimed) = ($$);

sub empty_port {
    mkdir $port_dir;
    for (1 .. 200) {
        my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1)
            or die "no free port: $!";
        my $port = $sock->sockport;
        close $sock;
        my $file = "$port_dir/$port";
        if (sysopen(my $fh, $file, POSIX::O_WRONLY() | POSIX::O_CREAT() | POSIX::O_EXCL())) {
            print $fh $$;
            close $fh;
            $claimed{$port} = 1;
            return $port;
        }
        die "cannot claim a test port: $file: $!\n" unless $!{EEXIST};
        my $holder = read_file($file);
        unlink $file if $holder =~ /\A(\d+)\z/ && !kill(0, $1);
    }
    die "no free port that no other test holds\n";
}

END { unlink map { "$port_dir/$_" } keys %claimed if $$ == $claimer }

sub temp_dir { tempdir('proxyd-test-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh or die "$path: $!";
    return $path;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $content = <$fh>;
    return $content;
}

sub wait_for {
    my ($what, $cond, $seconds) = @_;
    my $deadline = time + ($seconds // 10);
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.02;
    }
    return 0;
}

sub port_open {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
    return defined $sock;
}

# Starts @cmd with stderr and stdout in $log; waits until $port accepts. Returns a
# guard that stops the process when it goes out of scope (also when a test dies).
sub spawn {
    my (%args) = @_;
    my $log = $args{log} // temp_dir() . '/log';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', $log or die "$log: $!";
        open STDERR, '>&', \*STDOUT or die "dup: $!";
        exec @{ $args{cmd} } or die "exec $args{cmd}[0]: $!";
    }
    $running{$pid} = $args{cmd}[0];
    my $guard = bless { pid => $pid, log => $log, port => $args{port}, cmd => $args{cmd}[0], %{ $args{extra} // {} } },
        'Util::Guard';
    if (defined $args{port}) {
        my $up = wait_for('listen', sub { port_open($args{port}) || waitpid($pid, WNOHANG) == $pid }, 15);
        unless ($up && kill(0, $pid) && port_open($args{port})) {
            diag("$args{cmd}[0] did not start; its log:\n" . read_file($log));
            delete $running{$pid};
            kill 'KILL', $pid;
            waitpid $pid, 0;
            die "$args{cmd}[0] did not start\n";
        }
    }
    return $guard;
}

# The demo auth service (demo/auth) on a free port; extra arguments are passed on.
sub spawn_auth {
    my (@args) = @_;
    my $port = empty_port();
    return spawn(cmd => [bin('demo/auth'), '-l', "127.0.0.1:$port", @args], port => $port);
}

# The test upstream (t/upstream); extra arguments are passed on.
sub spawn_upstream {
    my (@args) = @_;
    my $port = empty_port();
    return spawn(cmd => [bin('t/upstream'), '-l', "127.0.0.1:$port", @args], port => $port);
}

our $ADMIN_TOKEN = 'test-admin-token-0123456789';

# proxyd with a settings file listening on a free port. Options: services (the
# registry's YAML), settings (more settings lines), threads, admin (1: an admin
# listener on a free port with token $ADMIN_TOKEN, and the source tree's dashboard),
# dir (reuse a folder: a restart), port and admin_port (reuse them: a restart that
# clients should find where they left it).
sub spawn_proxyd {
    my (%opts) = @_;
    my $dir = $opts{dir} // temp_dir();
    my $port = $opts{port} // empty_port();
    my $settings = "listen: 127.0.0.1:$port\nthreads: " . ($opts{threads} // 2) . "\nregistry: services.yaml\n"
        . ($opts{settings} // '');
    my $admin_port;
    if ($opts{admin}) {
        $admin_port = $opts{admin_port} // empty_port();
        write_file("$dir/admin.token", "$ADMIN_TOKEN\n");
        chmod 0600, "$dir/admin.token";
        $settings .= "admin:\n  listen: 127.0.0.1:$admin_port\n  token_file: admin.token\n"
            . '  dashboard: ' . File::Spec->rel2abs('dashboard') . "\n";
    }
    write_file("$dir/services.yaml", $opts{services}) if defined $opts{services} || !-e "$dir/services.yaml";
    write_file("$dir/proxyd.yaml", $settings);
    my $guard = spawn(cmd => [bin('proxyd/proxyd'), '-c', "$dir/proxyd.yaml"], port => $port, log => "$dir/proxyd.log",
        extra => { dir => $dir, admin_port => $admin_port });
    Util::wait_for('admin', sub { Util::port_open($admin_port) }) if $admin_port;
    return $guard;
}

# Runs `proxyd -t -c FILE` and returns (exit code, output).
sub proxyd_check {
    my ($file) = @_;
    my $cmd = bin('proxyd/proxyd');
    my $out = `$cmd -t -c '$file' 2>&1`;
    return ($? >> 8, $out);
}

# Sends $request as is over one connection and returns everything the server sent
# until it closed or went quiet.
sub raw_request {
    my ($port, $request, $timeout) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect: $!";
    print $sock $request;
    my $response = '';
    my $deadline = time + ($timeout // 5);
    $sock->blocking(0);
    while (time < $deadline) {
        my $n = sysread($sock, my $buf, 65536);
        if (defined $n) {
            last if $n == 0;
            $response .= $buf;
        } else {
            sleep 0.01;
        }
    }
    close $sock;
    return $response;
}

# HTTP/2 clients that leave: one stream per path of $spec (see t/h2request.py) on
# one connection to $port; once $ready returns (it waits for the requests to be in
# proxyd), every stream still open is reset; with reset => 'now' in $spec the resets
# go out with the requests, before proxyd can answer. Returns h2request.py's answer.
sub h2_leave {
    my ($port, $spec, $ready) = @_;
    my $file = temp_dir() . '/spec.json';
    write_file($file, JSON::PP::encode_json({ reset => 'stdin', %$spec }));
    my $out_file = "$file.out";
    my $pid = open(my $to, '|-', "/usr/bin/python3 t/h2request.py $port $file >$out_file 2>&1") or die "h2request.py: $!";
    $ready->();
    local $SIG{PIPE} = 'IGNORE';    # with reset 'now' it may be gone already
    print $to "go\n";
    close $to;    # waits for it
    my $out = read_file($out_file);
    return eval { JSON::PP::decode_json($out) } // { error => $out };
}

# Anonymous resident memory of a process in KiB (file-backed pages excluded).
# Where a test keeps what a person may want to look at after it (screenshots):
# t/artifacts/<name> in the build folder, kept until `make clean`.
sub artifacts_dir {
    my ($name) = @_;
    my $dir = File::Spec->catdir($ENV{PROXYD_BUILDDIR} // '.', 't', 'artifacts');
    mkdir $_ for File::Spec->catdir($ENV{PROXYD_BUILDDIR} // '.', 't'), $dir, "$dir/$name";
    return File::Spec->rel2abs("$dir/$name");
}

# Runs a Python scenario (t/<script>, which prints one JSON object) with @args and
# returns what it printed, decoded; undef (and its stderr as a diagnostic) when it
# failed or ran past $seconds, when it is stopped by its PID.
sub run_scenario {
    my ($seconds, $script, @args) = @_;
    my $dir = temp_dir();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/out" or die "$dir/out: $!";
        open STDERR, '>', "$dir/err" or die "$dir/err: $!";
        exec '/usr/bin/python3', "t/$script", @args or die "exec python3: $!";
    }
    $running{$pid} = $script;
    my $status;
    my $done = wait_for($script, sub { waitpid($pid, WNOHANG) == $pid && defined($status = $?) }, $seconds);
    unless ($done) {
        diag("$script ran past ${seconds}s");
        stop_pid($pid);
        $status = -1;
    }
    delete $running{$pid};
    my $out = read_file("$dir/out");
    my $result = $status == 0 ? eval { JSON::PP::decode_json($out) } : undef;
    diag("$script failed (status $status):\n" . read_file("$dir/err") . $out) unless $result;
    return $result;
}

sub rss_kib {
    my ($pid, $field) = @_;
    $field //= 'RssAnon';
    for (split /\n/, read_file("/proc/$pid/status")) {
        return $1 if /^\Q$field\E:\s+(\d+)\s+kB/;
    }
    return undef;
}

sub stop_pid {
    my ($pid, $signal) = @_;
    return unless delete $running{$pid};
    kill $signal // 'TERM', $pid;
    return if wait_for('exit', sub { waitpid($pid, WNOHANG) == $pid }, 10);
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

END {
    my $status = $?;
    stop_pid($_) for keys %running;
    $? = $status;
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

package Util::Guard;

sub pid  { $_[0]{pid} }
sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub log  { Util::read_file($_[0]{log}) }
sub url  { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '') }

# True while the process runs. A child that died is reaped here (kill 0 would still
# succeed on it) and its status kept for stop().
sub running {
    my ($self) = @_;
    return 0 if exists $self->{status};
    my $r = waitpid($self->{pid}, POSIX::WNOHANG());
    return 1 if $r == 0;
    $self->{status} = $?;
    delete $running{ $self->{pid} };
    return 0;
}

# The request counter of a demo server or t/upstream (GET /count).
sub count {
    my ($self) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->get($self->url('/count'));
    return $res->{status} == 200 ? JSON::PP::decode_json($res->{content})->{requests} : undef;
}

# An admin API call: (status, decoded JSON body or {}, response). Options: token, headers.
sub admin {
    my ($self, $method, $path, $body, %opts) = @_;
    my %headers = (%{ $opts{headers} // {} });
    my $token = exists $opts{token} ? $opts{token} : $Util::ADMIN_TOKEN;
    $headers{Authorization} = "Bearer $token" if defined $token;
    my $res = HTTP::Tiny->new(timeout => 10)->request($method, "http://127.0.0.1:$self->{admin_port}$path",
        { headers => \%headers, defined $body ? (content => $body) : () });
    my $json = eval { JSON::PP::decode_json($res->{content}) } // {};
    return ($res->{status}, $json, $res);
}

# Stops the process and returns its exit status (as $? would hold it).
sub stop {
    my ($self, $signal) = @_;
    my $pid = $self->{pid};
    return $self->{status} if exists $self->{status};
    if (delete $running{$pid}) {
        kill $signal // 'TERM', $pid;
        unless (Util::wait_for('exit', sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 15)) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
        }
        $self->{status} = $?;
        # a crash or a sanitizer report is only in the log: show it
        Test::More::diag("$self->{cmd} exited with status $self->{status}; its log:\n" . $self->log)
            if $self->{status} != 0 && ($self->{status} & 127) != 9 && $self->{log} =~ m{/proxyd\.log\z};
    }
    return $self->{status};
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop;
}

1;

# PageDriver.pm: a page script (t/browser-dashboard.py) driven one command at a time, so that a test can act on
# proxyd between the page's steps; the browser's console errors are collected; the script is stopped by its PID.
package PageDriver;
use strict;
use warnings;
use IO::Select;
use IPC::Open2;
use JSON::PP;
use POSIX ();
use Time::HiRes ();

my $PY = '/usr/bin/python3';    # Debian's, with python3-websockets (packages.txt)

sub new {
    my ($class, $script, @args) = @_;
    local $ENV{PYTHONDONTWRITEBYTECODE} = 1;    # the source tree may be read-only (distcheck)
    my $pid = open2(my $out, my $in, $PY, "t/$script", @args);
    return bless { pid => $pid, out => $out, in => $in, errors => [] }, $class;
}

# Sends one command and returns its answer (with {error} when the script failed it
# or did not answer); the page's errors it reports are kept for take_errors().
sub cmd {
    my ($self, %cmd) = @_;
    print { $self->{in} } encode_json(\%cmd), "\n";
    $self->{in}->flush;
    my $line = IO::Select->new($self->{out})->can_read(($cmd{timeout} // 30) + 30) ? readline($self->{out}) : undef;
    my $res = defined $line ? decode_json($line) : { error => "no answer from $cmd{op}" };
    push @{ $self->{errors} }, @{ $res->{errors} // [] };
    return $res;
}

# The errors seen since the last call, after the browser had `settle` seconds to report them.
sub take_errors {
    my ($self, $settle) = @_;
    $self->cmd(op => 'errors', settle => $settle // 0.3);
    my @errors = @{ $self->{errors} };
    $self->{errors} = [];
    return @errors;
}

# The value of a state-like command once $cond holds for it, polled every 0.1 s
# for up to $seconds; (undef, the last value) when it never did.
sub poll {
    my ($self, $cond, $seconds, %cmd) = @_;
    my $deadline = Time::HiRes::time() + ($seconds // 10);
    my $value;
    while (1) {
        $value = $self->cmd(%cmd)->{value};
        return ($value, $value) if $value && $cond->($value);
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.1);
    }
    return (undef, $value);
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    close $self->{in};    # at the end of its input the script closes the browser and exits
    for my $signal (undef, 'TERM', 'KILL') {    # TERM: the script still kills the browser it started
        kill $signal, $self->{pid} if defined $signal;
        my $deadline = Time::HiRes::time() + 10;
        while (Time::HiRes::time() < $deadline) {
            return if waitpid($self->{pid}, POSIX::WNOHANG()) != 0;
            Time::HiRes::sleep(0.05);
        }
    }
}

1;

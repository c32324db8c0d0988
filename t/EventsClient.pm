# EventsClient.pm: t/events-client.py driven one command at a time, for the tests of the admin listener's GET /events;
# the driver is stopped by its PID when the object goes out of scope.
package EventsClient;
use strict;
use warnings;
use IO::Select;
use IPC::Open2;
use JSON::PP;
use POSIX ();
use Time::HiRes ();
use Util;

my $PY = '/usr/bin/python3';    # Debian's, with python3-websockets (packages.txt)

sub new {
    my ($class, $proxyd) = @_;
    my $pid = open2(my $out, my $in, $PY, 't/events-client.py');
    return bless { pid => $pid, out => $out, in => $in, proxyd => $proxyd }, $class;
}

sub url { "ws://127.0.0.1:$_[0]{proxyd}{admin_port}/events" . ($_[1] // '') }

# The subprotocols that carry the admin token.
sub bearer { [ 'proxyd-events', 'bearer.' . ($_[1] // $Util::ADMIN_TOKEN) ] }

sub cmd {
    my ($self, %cmd) = @_;
    $cmd{url} //= $self->url if ($cmd{op} eq 'open' || $cmd{op} eq 'many');
    print { $self->{in} } encode_json(\%cmd), "\n";
    $self->{in}->flush;
    my $wait = ($cmd{timeout} // 10) + 60;
    my $line = IO::Select->new($self->{out})->can_read($wait) ? readline($self->{out}) : undef;
    return defined $line ? decode_json($line) : { error => 'no answer from events-client.py' };
}

# Opens `name` with the token as a subprotocol and returns its hello.
sub open_authorized {
    my ($self, $name) = @_;
    my $res = $self->cmd(op => 'open', name => $name, subprotocols => $self->bearer);
    return $res unless $res->{ok};
    return $self->cmd(op => 'next', name => $name, type => 'hello');
}

# The next snapshot on `name` (undef on a timeout or close).
sub snapshot {
    my ($self, $name, $timeout) = @_;
    my $res = $self->cmd(op => 'next', name => $name, type => 'snapshot', timeout => $timeout // 5);
    return $res->{message};
}

# The first snapshot taken after now: what arrived before is dropped.
sub fresh_snapshot {
    my ($self, $name) = @_;
    $self->cmd(op => 'flush', name => $name);
    return $self->snapshot($name);
}

# The next snapshot for which $cond->($snapshot) holds, within $timeout seconds; also every one seen.
sub snapshot_until {
    my ($self, $name, $cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 10);
    my @seen;
    while (Time::HiRes::time() < $deadline) {
        my $snap = $self->snapshot($name, 3) or last;
        push @seen, $snap;
        return wantarray ? ($snap, @seen) : $snap if $cond->($snap);
    }
    return wantarray ? (undef, @seen) : undef;
}

# A service's entry in a snapshot.
sub service {
    my ($snap, $name) = @_;
    my ($s) = grep { $_->{name} eq $name } @{ $snap->{services} };
    return $s;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    close $self->{in};    # at the end of its input the driver drops its connections and exits
    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.02) while waitpid($self->{pid}, POSIX::WNOHANG()) == 0 && Time::HiRes::time() < $deadline;
    if (kill 0, $self->{pid}) {
        kill 'KILL', $self->{pid};
        waitpid $self->{pid}, 0;
    }
}

1;

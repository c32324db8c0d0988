# 80regress-edit-race.t: hand edits that land while an admin write is in flight are never silently overwritten.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes ();
use lib 't';
use Util;

my $up = spawn_upstream('--name', 'one');
my $url = 'http://127.0.0.1:' . $up->port;
my $p = spawn_proxyd(admin => 1, services => "base: $url\n");
my $dir = $p->dir;
my $file = "$dir/services.yaml";
my $edits = 200;

# Admin clients PUT without pause until the editor is done; each reports its statuses.
my @writers;
for my $w (1 .. 2) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my %status;
        my $i = 0;
        until (-e "$dir/stop") {
            my ($status) = $p->admin(PUT => "/services/api$w-" . ($i++ % 20), encode_json({ url => "$url/$i" }));
            $status{$status}++;
        }
        write_file("$dir/statuses.$w", join ' ', map {"$_=$status{$_}"} sort keys %status);
        POSIX::_exit(0);
    }
    push @writers, $pid;
}

# The temporary file of the admin write in flight, if any.
sub write_in_flight { (grep { m{/services\.yaml\.[A-Za-z0-9]{6}\z} } glob "$dir/services.yaml.*")[0] // '' }

# Polls without pause: a write is in flight for milliseconds only. 0 after 2 s.
sub spin_until {
    my ($cond) = @_;
    my $deadline = Time::HiRes::time() + 2;
    $cond->() and return 1 until Time::HiRes::time() > $deadline;
    return 0;
}

# The operator's editor: each edit adds one service to the file as it is now and
# renames the result into place, as editors and configuration tools do. Each one
# lands while an admin write is in flight, which is the race; the write after it
# is let be, so that admin changes keep being written in between.
my ($tmp, $in_flight) = ('', 0);
for my $i (1 .. $edits) {
    my $prev = $tmp;
    $in_flight += spin_until(sub { ($tmp = write_in_flight()) ne '' && $tmp ne $prev });
    my $content = read_file($file);
    write_file("$dir/editor.tmp", $content . "hand$i: $url\n");
    rename "$dir/editor.tmp", $file or die "rename: $!";
    my $untouched = '';
    spin_until(sub { ($untouched = write_in_flight()) ne '' && $untouched ne $tmp });
    spin_until(sub { write_in_flight() ne $untouched });
    $tmp = $untouched;
}
write_file("$dir/stop", '');
waitpid $_, 0 for @writers;

cmp_ok $in_flight, '>', $edits / 2, "most edits ($in_flight of $edits) landed while an admin write was in flight";
my %statuses = map { split /=/ } map { split ' ', read_file("$dir/statuses.$_") } 1 .. 2;
note 'admin answers: ' . join ' ', map {"$_ x$statuses{$_}"} sort keys %statuses;
cmp_ok +($statuses{200} // 0) + ($statuses{201} // 0), '>', $edits / 4, 'admin changes were written between the edits';
is_deeply [grep { $_ !~ /^(200|201|409)$/ } keys %statuses], [], 'every admin change applied or refused with 409';

my $content = read_file($file);
my @lost = grep { $content !~ /^hand$_: /m } 1 .. $edits;
is "@lost", '', "all $edits hand edits are in services.yaml";

# the next admin change reads the last edit; the registry then holds every one
my ($status) = $p->admin(PUT => '/services/last', encode_json({ url => $url }));
is $status, 201, 'an admin change after the edits';
my (undef, $body) = $p->admin(GET => '/services');
@lost = grep { !exists $body->{services}{"hand$_"} } 1 .. $edits;
is "@lost", '', "all $edits hand edits are in the running registry";
like read_file($file), qr{^last: }m, 'next to the admin change';
my @conflicts = $p->log =~ /(services\.yaml changed on disk during an admin write[^\n]*)/g;
note scalar(@conflicts) . " conflicts logged" . (@conflicts ? ", the first: $conflicts[0]" : '');
is $p->stop, 0, 'exit 0';

done_testing;

# 50admin-persist.t: changes survive restarts, a failed write changes nothing, kill -9 never leaves a torn file.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use lib 't';
use Util;

my $up = spawn_upstream();
my $url = 'http://127.0.0.1:' . $up->port;

subtest 'the file after many changes reloads to the same registry after a restart' => sub {
    my $p = spawn_proxyd(admin => 1, services => "base: $url\n");
    for my $i (1 .. 60) {
        my $name = 's' . ($i % 17);
        if ($i % 5 == 0) {
            $p->admin(DELETE => "/services/$name");
        } else {
            my ($status) = $p->admin(PUT => "/services/$name",
                encode_json({ url => "$url/v$i", $i % 3 ? () : (timeout => (250 * $i) . 'ms') }));
            ok $status == 200 || $status == 201, "change $i applied" or last;
        }
    }
    my (undef, $before) = $p->admin(GET => '/services');
    is $p->stop, 0, 'stopped';
    my $again = spawn_proxyd(admin => 1, dir => $p->dir);
    my (undef, $after) = $again->admin(GET => '/services');
    is_deeply $after->{services}, $before->{services}, 'same services, URLs and options after the restart';
    my ($rc, $out) = proxyd_check($p->dir . '/proxyd.yaml');
    is $rc, 0, 'the written file passes -t' or diag $out;
    is $again->stop, 0, 'stopped';
};

subtest 'auth: false and public: true round-trip through the file, the API and a restart' => sub {
    # forward auth on, its service not answering: a checked request gets 503, an unchecked one goes through
    my $settings = "auth:\n  service: gate\n";
    my $gate = 'http://127.0.0.1:' . empty_port();
    my $p = spawn_proxyd(admin => 1, settings => $settings,
        services => "open: {url: '$url', auth: false}\npub: {url: '$url', public: true}\nplain: $url\ngate: $gate\n");
    my (undef, $body) = $p->admin(GET => '/services');
    is_deeply $body->{services}, { open => { url => $url, auth => JSON::PP::false }, pub => { url => $url, public => JSON::PP::true },
        plain => { url => $url }, gate => { url => $gate } }, 'from the file to the API';
    my ($status, $put) = $p->admin(PUT => '/services/both', encode_json({ url => $url, auth => JSON::PP::false, public => JSON::PP::true }));
    is $status, 201, 'PUT with both';
    is_deeply $put, { name => 'both', url => $url, auth => JSON::PP::false, public => JSON::PP::true }, 'answered with both';
    ($status) = $p->admin(PUT => '/services/pub', encode_json({ url => $url }));
    is $status, 200, 'PUT without the flags';
    my $file = read_file($p->dir . '/services.yaml');
    like $file, qr{^open: \{url: '?\Q$url\E'?, auth: false\}$}m, 'auth: false in the file';
    like $file, qr{^both: \{url: '?\Q$url\E'?, auth: false, public: true\}$}m, 'both in the file';
    like $file, qr{^pub: '?\Q$url\E'?$}m, 'a PUT without public: true dropped it from the file';
    (undef, my $before) = $p->admin(GET => '/services');
    is $p->stop, 0, 'stopped';
    my $again = spawn_proxyd(admin => 1, dir => $p->dir, settings => $settings);
    (undef, my $after) = $again->admin(GET => '/services');
    is_deeply $after->{services}, $before->{services}, 'the same flags after a restart';
    my $http = HTTP::Tiny->new(timeout => 10);
    is $http->get($again->url('/open/x'))->{status}, 200, 'auth: false still skips the check';
    is $http->get($again->url('/both/x'))->{status}, 200, 'for both';
    is $http->get($again->url('/pub/x'))->{status}, 503, 'the service that lost public: true is checked (and fails closed)';
    is $http->get($again->url('/plain/x'))->{status}, 503, 'as is a plain one';
    is $again->stop, 0, 'stopped';
};

# A folder proxyd cannot write to: read-only for root through a private mount, by mode for others.
sub spawn_readonly {
    my ($dir) = @_;
    write_file("$dir/services.yaml", "base: $url\n");
    write_file("$dir/admin.token", "$Util::ADMIN_TOKEN\n");
    chmod 0600, "$dir/admin.token";
    my ($port, $admin_port) = (empty_port(), empty_port());
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:$port\nregistry: services.yaml\n"
        . "admin:\n  listen: 127.0.0.1:$admin_port\n  token_file: admin.token\n");
    my @cmd = (bin('proxyd/proxyd'), '-c', "$dir/proxyd.yaml");
    if ($> == 0) {
        return undef if system('unshare -m true 2>/dev/null') != 0;
        @cmd = ('unshare', '-m', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', $dir, @cmd);
    } else {
        chmod 0555, $dir;
    }
    my $g = spawn(cmd => \@cmd, port => $port, log => Util::temp_dir() . '/log', extra => { admin_port => $admin_port });
    wait_for('admin', sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $admin_port) });
    return $g;
}

subtest 'a read-only folder: 500 and nothing changes' => sub {
    my $dir = temp_dir();
    my $p = spawn_readonly($dir);
    plan skip_all => 'cannot make a read-only folder here (no private mounts for root)' unless $p;
    my $before_file = read_file("$dir/services.yaml");
    my (undef, $before) = $p->admin(GET => '/services');
    my ($status, $body) = $p->admin(PUT => '/services/new', encode_json({ url => $url }));
    is $status, 500, 'PUT: 500';
    like $body->{error}, qr{cannot write .*services\.yaml: (Read-only file system|Permission denied); the registry is unchanged},
        'the reason';
    ($status) = $p->admin(DELETE => '/services/base');
    is $status, 500, 'DELETE: 500';
    my (undef, $after) = $p->admin(GET => '/services');
    is_deeply $after, $before, 'registry and version unchanged';
    is read_file("$dir/services.yaml"), $before_file, 'file unchanged';
    is(HTTP::Tiny->new->get($p->url('/new/x'))->{status}, 404, 'the refused service does not route');
    is $p->stop, 0, 'exit 0';
    chmod 0755, $dir;
};

# A save that fails after its temporary file exists: proxyd runs with a file size
# limit (RLIMIT_FSIZE, as `ulimit -f` sets it) and SIGXFSZ ignored, so writing past
# the limit fails with EFBIG in the middle of the temporary file, as a full disk
# would, for root too and without mounts.
subtest 'a write that fails after its temporary file exists: 500, nothing changes' => sub {
    my $dir = temp_dir();
    write_file("$dir/services.yaml", "base: $url\n");
    write_file("$dir/admin.token", "$Util::ADMIN_TOKEN\n");
    chmod 0600, "$dir/admin.token";
    my ($port, $admin_port) = (empty_port(), empty_port());
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:$port\nregistry: services.yaml\n"
        . "admin:\n  listen: 127.0.0.1:$admin_port\n  token_file: admin.token\n");
    local $SIG{XFSZ} = 'IGNORE';    # inherited through exec: write() returns EFBIG instead of a kill
    my $p = spawn(cmd => ['sh', '-c', 'ulimit -f 8 && exec "$@"', 'sh', bin('proxyd/proxyd'), '-c', "$dir/proxyd.yaml"],
        port => $port, log => Util::temp_dir() . '/log', extra => { admin_port => $admin_port });
    wait_for('admin', sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $admin_port) });
    my $before_file = read_file("$dir/services.yaml");
    my (undef, $before) = $p->admin(GET => '/services');
    # 8 blocks of 512 bytes: this URL does not fit
    my ($status, $body) = $p->admin(PUT => '/services/big', encode_json({ url => "$url/" . ('p' x 5000) }));
    is $status, 500, 'PUT over the limit: 500';
    like $body->{error}, qr{cannot write .*services\.yaml: File too large; the registry is unchanged}, 'the reason';
    my (undef, $after) = $p->admin(GET => '/services');
    is_deeply $after, $before, 'registry and version unchanged';
    is read_file("$dir/services.yaml"), $before_file, 'file unchanged';
    opendir my $d, $dir or die $!;
    is_deeply [grep { /^services\.yaml\./ } readdir $d], [], 'the temporary file was removed';
    ($status) = $p->admin(PUT => '/services/small', encode_json({ url => $url }));
    is $status, 201, 'a change that fits is written';
    like read_file("$dir/services.yaml"), qr{^small: }m, 'into the file';
    is $p->stop, 0, 'exit 0';
};

# A registry large enough that a write takes some milliseconds; the temporary file
# beside services.yaml shows the write is under way, and SIGTERM goes out at once.
subtest 'SIGTERM while an admin write is in flight: the write completes and is answered' => sub {
    # a sanitizer build is slower to start with many services, and slower to write them
    my $services = join '', map { "s$_: $url/$_\n" } 1 .. (sanitized() ? 5000 : 20000);
    my $caught = 0;
    for my $round (1 .. 5) {
        my $p = spawn_proxyd(admin => 1, services => $services);
        my $dir = $p->dir;
        my $json = encode_json({ url => "$url/new" });
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p->{admin_port}) or die $!;
        print $sock "PUT /services/new HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer $Util::ADMIN_TOKEN\r\n"
            . 'Content-Length: ' . length($json) . "\r\nConnection: close\r\n\r\n$json";
        my ($deadline, $writing) = (time + 5, 0);
        until ($writing || time > $deadline) {    # no pause: the write lasts milliseconds
            opendir my $d, $dir or die $!;
            $writing = grep { /^services\.yaml\.\w{6}\z/ } readdir $d;
        }
        kill 'TERM', $p->pid if $writing;
        my $exit = $p->stop;
        local $/;
        my $res = <$sock> // '';
        next unless $writing;
        $caught++;
        like $res, qr{^HTTP/1\.1 201 }, "round $round: the PUT in flight at SIGTERM was answered 201";
        is $exit, 0, "round $round: exit 0";
        like read_file("$dir/services.yaml"), qr{^new: }m, "round $round: the change is in services.yaml";
        opendir my $d, $dir or die $!;
        is_deeply [grep { /^services\.yaml\./ } readdir $d], [], "round $round: no temporary file is left";
        last if $caught == 2;
    }
    ok $caught, "SIGTERM landed during a write ($caught of up to 5 rounds)";
};

subtest 'kill -9 during changes leaves a whole file' => sub {
    for my $round (1 .. 5) {
        my $p = spawn_proxyd(admin => 1, services => "base: $url\n");
        my $writer = fork // die;
        if ($writer == 0) {
            for my $i (1 .. 100000) {
                $p->admin(PUT => "/services/s" . ($i % 50), encode_json({ url => "$url/$i" }));
            }
            POSIX::_exit(0);
        }
        # the kill must come after some write went through, at a random point of the next ones
        ok wait_for('a write', sub { read_file($p->dir . '/services.yaml') =~ /^s\d+: /m }), "round $round: changes were written";
        sleep rand(0.3);
        kill 'KILL', $p->pid;
        $p->stop;
        kill 'KILL', $writer;
        waitpid $writer, 0;
        my ($rc, $out) = proxyd_check($p->dir . '/proxyd.yaml');
        is $rc, 0, "round $round: services.yaml is whole after kill -9" or diag $out;
        like read_file($p->dir . '/services.yaml'), qr{^base: }m, "round $round: and holds the registry";
    }
};

done_testing;

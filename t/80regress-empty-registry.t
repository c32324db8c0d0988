# 80regress-empty-registry.t: an emptied services.yaml (a rewrite caught half way) is never built on nor reloaded over running services.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $up = spawn_upstream('--name', 'one');
my $url = 'http://127.0.0.1:' . $up->port;
my $services = "a: $url\nb: $url\nc: $url\n";
my $p = spawn_proxyd(admin => 1, services => $services);
my $file = $p->dir . '/services.yaml';

sub names {
    my (undef, $body) = $p->admin(GET => '/services');
    return join ' ', sort keys %{ $body->{services} };
}

sub version { (($p->admin(GET => '/services'))[1])->{version} }

# The file as an editor leaves it for a moment, then an API change arrives.
sub refused_over {
    my ($content, $why) = @_;
    write_file($file, $content);
    my $version = version();
    my ($status, $body) = $p->admin(PUT => '/services/new', encode_json({ url => $url }));
    is $status, 409, "$why: PUT answers 409";
    like $body->{error}, qr{services\.yaml}, "$why: the error names the file ($body->{error})";
    is read_file($file), $content, "$why: the file is left to its writer";
    is names(), 'a b c', "$why: every running service stays";
    is version(), $version, "$why: the version is unchanged";
    is(HTTP::Tiny->new->get($p->url('/a/x'))->{status}, 200, "$why: and routes");
}

subtest 'an API change never builds on an emptied file' => sub {
    refused_over('', 'a zero-byte file');
    like $p->log, qr{services\.yaml is empty}, 'the log says why';
    refused_over("# nothing but a comment\n\n", 'comments only');
    refused_over("{}\n", 'a hand edit to {}');
    # the editor finishes its rewrite: the next change builds on it
    write_file($file, "${services}d: $url\n");
    my ($status) = $p->admin(PUT => '/services/new', encode_json({ url => $url }));
    is $status, 201, 'once the file is whole again, the change is applied';
    is names(), 'a b c d new', 'on top of the edit';
    like read_file($file), qr{^a: .*^d: .*^new: }ms, 'and written';
};

subtest 'SIGHUP and POST /reload refuse an empty file' => sub {
    my $version = version();
    write_file($file, '');
    my ($status, $body) = $p->admin(POST => '/reload');
    is $status, 400, 'POST /reload: 400';
    like $body->{error}, qr{reload refused.*services\.yaml is empty}, 'says why';
    my $seen = length $p->log;
    kill 'HUP', $p->pid;
    ok wait_for('hup', sub { substr($p->log, $seen) =~ /reload refused, the registry is unchanged: \S*services\.yaml is empty/ }),
        'SIGHUP: refused, in the log';
    is names(), 'a b c d new', 'the registry is unchanged';
    is version(), $version, 'and its version';
    is read_file($file), '', 'the file too';
};

subtest '{} reloaded on purpose empties the registry' => sub {
    write_file($file, "{}\n");
    my ($status, $body) = $p->admin(POST => '/reload');
    is $status, 200, 'POST /reload: 200';
    is names(), '', 'no services';
    like $p->log, qr{services\.yaml has no services: every request now gets 404}, 'with a warning';
    write_file($file, $services);
    ($status) = $p->admin(POST => '/reload');
    is $status, 200, 'and back';
};

is $p->stop, 0, 'exit 0';

subtest 'start-up with an empty file still works' => sub {
    my $q = spawn_proxyd(admin => 1, services => '');
    like $q->log, qr{services\.yaml has no services}, 'a warning';
    my ($status) = $q->admin(PUT => '/services/first', encode_json({ url => $url }));
    is $status, 201, 'the first service is added through the API';
    like read_file($q->dir . '/services.yaml'), qr{^first: }m, 'and written';
    is $q->stop, 0, 'exit 0';
};

done_testing;

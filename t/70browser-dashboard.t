# 70browser-dashboard.t: the admin dashboard in headless Chromium against a real proxyd, upstream and auth service:
# the token's way in and out, live numbers from real traffic, charts, edits that reach services.yaml, the API's
# validation messages, a reload and a restart of the admin listener; no console error the test did not cause.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't';
use Util;

plan skip_all => 'chromium is not installed' unless -x '/usr/bin/chromium';
require PageDriver;

my $up = spawn_upstream('--name', 'one');
my $auth = spawn_auth();
my $U = 'http://127.0.0.1:' . $up->port;
my $settings = "auth:\n  service: auth\n";
my $proxyd = spawn_proxyd(admin => 1, settings => $settings,
    services => "auth: http://127.0.0.1:@{[$auth->port]}/check\none: $U\nweb: {url: '$U', hosts: [web.localhost], timeout: 5s}\n");
my $registry = $proxyd->dir . '/services.yaml';
my $base = "http://127.0.0.1:$proxyd->{admin_port}";
my $T = $Util::ADMIN_TOKEN;
my $http = HTTP::Tiny->new(timeout => 10);
my $artifacts = artifacts_dir('browser-dashboard');
my $page = PageDriver->new('browser-dashboard.py', $artifacts);

# ---- what the page shows ----

sub page_state { $page->cmd(op => 'state')->{value} // {} }

sub row {
    my ($st, $name) = @_;
    my ($r) = grep { $_->{service} eq $name } @{ $st->{rows} // [] };
    return $r;
}

# "1,234" as the page writes it; undef for a dash.
sub num {
    my ($text) = @_;
    return undef unless defined $text && $text =~ /\d/;
    return ($text =~ s/[,%]|\s*ms$//gr) + 0;
}

# Polls the page until $cond holds for its state; passes or fails `$what`, and returns the state.
sub page_shows {
    my ($what, $cond, $seconds) = @_;
    my ($st, $last) = $page->poll($cond, $seconds // 10, op => 'state');
    ok $st, $what or diag explain $last;
    return $st // $last // {};
}

# The errors the page met since the last check, which must be exactly @expected (patterns, in order).
sub errors_are {
    my ($what, @expected) = @_;
    my @errors = $page->take_errors;
    my $ok = @errors == @expected;
    $ok &&= $errors[$_] =~ $expected[$_] for 0 .. $#errors;
    ok $ok, "$what: " . (@expected ? 'only the errors the test caused' : 'no console error') or diag explain \@errors;
}

sub no_token_kept {
    my ($st, $what) = @_;
    ok index($st->{href} // '', $T) < 0 && $st->{href} !~ /token/i, "$what: not in the URL ($st->{href})";
    is_deeply $st->{local_storage}, {}, "$what: nothing in localStorage";
    ok index($st->{cookie} // '', $T) < 0, "$what: nor in a cookie";
}

# A browser's failed call to the admin API, as the console reports it.
sub api_refusal {
    my ($status, $path) = @_;
    return qr{^network: Failed to load resource: the server responded with a status of $status .* \Q$base$path\E$};
}

# ---- services.yaml ----

# A service's entry in the file as proxyd writes it (flow style, continued on indented lines).
sub file_entry {
    my ($name) = @_;
    return read_file($registry) =~ /^\Q$name\E:(.*(?:\n[ \t].*)*)/m ? $1 =~ s/\s+/ /gr : undef;
}

sub get_ok {
    my ($path, $status) = @_;
    my $res = $http->get($proxyd->url($path));
    is $res->{status}, $status, "GET $path: $status";
    return $res;
}

subtest 'before the script runs, a typed token goes nowhere' => sub {
    $page->cmd(op => 'open', url => "$base/dashboard/", scripts => JSON::PP::false);
    $page->cmd(op => 'fill', selector => '#token', text => $T);
    $page->cmd(op => 'enter', selector => '#token');
    sleep 0.5;
    my $st = page_state();
    is $st->{href}, "$base/dashboard/", 'Enter submits nothing: the URL is unchanged';
    no_token_kept($st, 'the token');
    errors_are('the form', qr/form-action/);
};

subtest 'a wrong token: an error and no data' => sub {
    $page->cmd(op => 'open', url => "$base/dashboard/");
    my $st = page_shows('the login form', sub { $_[0]{login_visible} && !$_[0]{dashboard_visible} });
    is $st->{status}, 'disconnected', 'not connected';
    $page->cmd(op => 'fill', selector => '#token', text => 'test-admin-token-guess-42');
    $page->cmd(op => 'click', selector => '#connect');
    $st = page_shows('an error on the login form', sub { $_[0]{login_error} ne '' && $_[0]{status} eq 'disconnected' });
    like $st->{login_error}, qr/refused/, "it says the token was refused: $st->{login_error}";
    ok !$st->{dashboard_visible}, 'the dashboard stays hidden';
    is_deeply $st->{rows}, [], 'no service listed';
    is_deeply $st->{session_storage}, {}, 'the wrong token is not kept';
    no_token_kept($st, 'the wrong token');
    $page->cmd(op => 'screenshot', name => 'wrong-token.png');
    errors_are('a wrong token', api_refusal(401, '/services'));
};

subtest 'the right token: every service with its URL and hosts' => sub {
    $page->cmd(op => 'fill', selector => '#token', text => $T);
    $page->cmd(op => 'click', selector => '#connect');
    my $st = page_shows('connected, three services listed',
        sub { $_[0]{status} eq 'connected' && @{ $_[0]{rows} } == 3 && defined num(row($_[0], 'one')->{requests}) });
    is_deeply [ map { $_->{service} } @{ $st->{rows} } ], [qw(auth one web)], 'a row per service, by name';
    is row($st, 'one')->{url}, $U, 'with its URL';
    is row($st, 'auth')->{url}, 'http://127.0.0.1:' . $auth->port . '/check', 'the auth service too';
    is row($st, 'web')->{hosts}, 'web.localhost', 'and the host names it claims';
    ok !$st->{login_visible} && !$st->{stale}, 'the login is gone, the numbers are live';
    is $st->{token_input}, '', 'the input no longer holds the token';
    is_deeply $st->{session_storage}, { 'proxyd-admin-token' => $T }, 'the token is kept in this tab only';
    no_token_kept($st, 'the token');
    errors_are('connecting');
};

subtest 'real traffic: counters rise and the rate moves' => sub {
    my $st = page_shows('no traffic yet', sub { (num(row($_[0], 'one')->{rps}) // -1) == 0 });
    my $before = num(row($st, 'one')->{requests});
    my $total = num($st->{tiles}{'requests-total'});
    my $allows = num($st->{tiles}{'auth-allows'});
    is $http->get($proxyd->url("/one/hello$_?key=supersecret"))->{status}, 200, "request $_ through proxyd" for 1 .. 30;
    $st = page_shows('the rate rises', sub { (num(row($_[0], 'one')->{rps}) // 0) > 0 });
    note 'one: ' . row($st, 'one')->{rps} . ' requests/s';
    ok((num($st->{tiles}{'rps-total'}) // 0) > 0, "and the total rate: $st->{tiles}{'rps-total'}");
    $st = page_shows('every request counted', sub { (num(row($_[0], 'one')->{requests}) // -1) == $before + 30 });
    is num($st->{tiles}{'requests-total'}), $total + 30, 'the total too';
    is num($st->{tiles}{'auth-allows'}), $allows + 30, 'each request allowed by the auth service';
    $page->cmd(op => 'screenshot', name => 'traffic.png');
    page_shows('the rate falls back without traffic', sub { (num(row($_[0], 'one')->{rps}) // -1) == 0 });
    errors_are('traffic');
};

subtest 'an auth deny and 5xx responses' => sub {
    my $st = page_state();
    my ($denies, $errors) = (num($st->{tiles}{'auth-denies'}), num($st->{tiles}{'errors-total'}));
    get_ok('/one/secret', 401) for 1 .. 3;
    page_shows('the denies tile counts them', sub { (num($_[0]{tiles}{'auth-denies'}) // -1) == $denies + 3 });
    # the 5xx share covers one second: sent over two, so that a poll sees it
    my $seen;
    for (1 .. 5) {
        get_ok('/one/status?code=500&key=supersecret', 500);
        ($seen) = $page->poll(sub { (num(row($_[0], 'one')->{error_rate}) // 0) > 0 }, 0.4, op => 'state') unless $seen;
    }
    ($seen) = $page->poll(sub { (num(row($_[0], 'one')->{error_rate}) // 0) > 0 }, 3, op => 'state') unless $seen;
    ok $seen, 'the 5xx share of the service shows' and note 'one: ' . row($seen, 'one')->{error_rate} . ' 5xx';
    ok $seen && row($seen, 'one')->{errors}, 'and its row is marked';
    page_shows('the 5xx tile counts them', sub { (num($_[0]{tiles}{'errors-total'}) // -1) == $errors + 5 });
    $page->cmd(op => 'screenshot', name => 'errors.png');
    errors_are('denies and errors');
};

subtest 'charts draw the last minutes' => sub {
    my $one = $page->cmd(op => 'chart', service => 'one')->{value};
    my $web = $page->cmd(op => 'chart', service => 'web')->{value};
    ok $one && $one->{width} > 0, 'each service has a chart' or diag explain $one;
    ok $one->{blue_top} > 0, "the traffic's peak reaches the top ($one->{blue_top} pixels)";
    ok $one->{red} > 0, "the 5xx responses are red bars ($one->{red} pixels)";
    ok $web->{blue_bottom} > 0, 'a service without traffic: a line at zero'
        and ok $web->{blue_top} == 0 && $web->{red} == 0, 'nothing above it' or diag explain $web;
};

# Fills the form field by field, as a user would; then Save.
sub fill_and_save {
    my (%fields) = @_;
    for my $id (sort keys %fields) {
        $page->cmd(op => 'fill', selector => "#edit-$id", text => $fields{$id});
    }
    $page->cmd(op => 'click', selector => '#edit-save');
}

sub edit_row {
    my ($name) = @_;
    $page->cmd(op => 'click', selector => qq{#services tr[data-service="$name"] button.edit});
    return page_shows("the form holds $name", sub { $_[0]{edit_title} eq "Edit $name" && $_[0]{form}{'edit-url'} ne '' });
}

subtest 'edits on the page reach services.yaml' => sub {
    $page->cmd(op => 'click', selector => '#edit-new');
    fill_and_save(name => 'news', url => "$U/news", hosts => ' News.Localhost,*.news.localhost, ', timeout => '2000ms');
    my $st = page_shows('created', sub { $_[0]{edit_message} =~ /^Created news/ && row($_[0], 'news') });
    is $st->{form}{'edit-hosts'}, 'news.localhost, *.news.localhost', 'the form shows the hosts as stored';
    is $st->{form}{'edit-timeout'}, '2s', 'and the timeout';
    like file_entry('news'), qr{url: '?\Q$U\E/news'?}, 'the new service is in services.yaml';
    like file_entry('news'), qr{hosts: \[news\.localhost, '\*\.news\.localhost'\]}, 'with its hosts';
    like file_entry('news'), qr{timeout: 2s}, 'and its timeout';
    is row($st, 'news')->{url}, "$U/news", 'the page shows its row';
    is row($st, 'news')->{hosts}, 'news.localhost, *.news.localhost', 'with its hosts';
    $st = page_shows('and the registry change', sub { ($_[0]{events}[0]{text} // '') =~ /added news/ });
    is $st->{events}[0]{cause}, 'api', 'made through the API';
    is decode_json(get_ok('/news/now?key=supersecret', 200)->{content})->{path}, '/news/now', 'it routes';
    like raw_request($proxyd->port, "GET /now?key=supersecret HTTP/1.1\r\nHost: news.localhost\r\nConnection: close\r\n\r\n"),
        qr{^HTTP/1\.1 200 .*"path":"/news/now"}s, 'by its host name too';

    $st = edit_row('web');
    is $st->{form}{'edit-hosts'}, 'web.localhost', 'the form shows the hosts';
    is $st->{form}{'edit-timeout'}, '5s', 'and the options';
    fill_and_save(url => "$U/v2");
    $st = page_shows('saved', sub { $_[0]{edit_message} =~ /^Saved web/ && row($_[0], 'web')->{url} eq "$U/v2" });
    like file_entry('web'), qr{url: '?\Q$U\E/v2'?}, 'the new URL is in services.yaml';
    like file_entry('web'), qr{hosts: \[web\.localhost\]}, 'the hosts are kept';
    like file_entry('web'), qr{timeout: 5s}, 'and the timeout';
    is row($st, 'web')->{hosts}, 'web.localhost', 'the row still shows the hosts';
    page_shows('the change is listed', sub { ($_[0]{events}[0]{text} // '') =~ /changed web/ });

    edit_row('news');
    $page->cmd(op => 'click', selector => '#edit-delete');
    $page->cmd(op => 'click', selector => '#edit-delete');    # the second click confirms
    $st = page_shows('deleted', sub { $_[0]{edit_message} eq 'Deleted news' && !row($_[0], 'news') });
    is file_entry('news'), undef, 'services.yaml no longer has it';
    like $st->{events}[0]{text}, qr/removed news/, 'the removal is listed';
    get_ok('/news/now?key=supersecret', 404);
    errors_are('edits');
};

subtest 'invalid edits show the API message and change nothing' => sub {
    my $file = read_file($registry);
    my (undef, $before) = $proxyd->admin(GET => '/services');
    my @cases = (
        [ 'a bad URL', { name => 'bad', url => 'ftp://127.0.0.1/' }, 400, qr/^url: invalid URL 'ftp:/, 'edit-url' ],
        [ 'a bad name', { name => 'Bad-Name', url => $U }, 400, qr/^name: invalid service name 'Bad-Name'/, 'edit-name' ],
        [ 'a host another service claims', { name => 'thief', url => $U, hosts => 'other.localhost, WEB.localhost' }, 409,
            qr/^hosts: 'web\.localhost' is claimed by both web and thief/, 'edit-hosts' ],
        [ 'a bad host name', { name => 'odd', url => $U, hosts => 'not a host' }, 400, qr/^hosts: 'not a host'/, 'edit-hosts' ],
        [ 'a bad timeout', { name => 'slow', url => $U, timeout => 'soon' }, 400, qr/^timeout: 'soon'/, 'edit-timeout' ],
    );
    for my $case (@cases) {
        my ($what, $fields, $status, $message, $field) = @$case;
        $page->cmd(op => 'click', selector => '#edit-new');
        fill_and_save(%$fields);
        my $st = page_shows("$what: the API's message", sub { $_[0]{edit_error} ne '' });
        like $st->{edit_error}, $message, "$what: $st->{edit_error}";
        is_deeply $st->{invalid}, [$field], "$what: the field is marked";
        ok !row($st, $fields->{name}), "$what: no row";
        is read_file($registry), $file, "$what: services.yaml unchanged, byte for byte";
        errors_are($what, api_refusal($status, "/services/$fields->{name}"));
    }
    $page->cmd(op => 'screenshot', name => 'edit-error.png');

    $page->cmd(op => 'click', selector => '#edit-new');
    fill_and_save(name => 'one', url => "$U/mine");
    my $st = page_shows('adding a name that exists: refused', sub { $_[0]{edit_error} ne '' });
    like $st->{edit_error}, qr/^a service named 'one' exists already.*press Edit on its row/, "the page says so: $st->{edit_error}";
    is read_file($registry), $file, 'services.yaml unchanged, byte for byte';
    errors_are('adding a name that exists', api_refusal(412, '/services/one'));

    $page->cmd(op => 'click', selector => '#edit-new');
    fill_and_save(name => '..', url => $U);
    $st = page_shows('a dot-segment name: refused on the page', sub { $_[0]{edit_error} ne '' });
    like $st->{edit_error}, qr/^name: invalid service name '\.\.'/, 'with the API\'s words';
    errors_are('a dot-segment name: nothing sent');

    edit_row('one');
    my ($code) = $proxyd->admin(PUT => '/services/other', encode_json({ url => $U }));
    is $code, 201, 'meanwhile, someone else adds a service';
    $file = read_file($registry);
    fill_and_save(url => "$U/mine");
    $st = page_shows('a stale form: refused', sub { $_[0]{edit_error} ne '' });
    like $st->{edit_error}, qr/not the one in If-Match.*press Edit/, "the page says why: $st->{edit_error}";
    is read_file($registry), $file, 'services.yaml has the other change only';
    my (undef, $one) = $proxyd->admin(GET => '/services/one');
    is $one->{url}, $U, 'the service is unchanged';
    errors_are('a stale form', api_refusal(412, '/services/one'));
    ($code) = $proxyd->admin(DELETE => '/services/other');
    is $code, 204, 'the other change undone';
    my (undef, $after) = $proxyd->admin(GET => '/services');
    is_deeply $after->{services}, $before->{services}, 'the running registry is as before';
};

subtest 'a reload (SIGHUP) is shown as it happens' => sub {
    write_file($registry, read_file($registry) . "extra: $U\n");
    kill 'HUP', $proxyd->pid;
    my @statuses;
    my $st = page_shows('the reload is listed, its service shown', sub {
        push @statuses, $_[0]{status};
        ($_[0]{events}[0]{text} // '') =~ /added extra/ && row($_[0], 'extra');
    });
    is $st->{events}[0]{cause}, 'reload', 'as a reload';
    is_deeply [ grep { $_ ne 'connected' } @statuses ], [], 'the page stayed connected';
    errors_are('a reload');
};

subtest 'the admin listener restarts: the page says so and reconnects' => sub {
    my %ports = (port => $proxyd->port, admin_port => $proxyd->{admin_port});
    my $dir = $proxyd->dir;
    is $proxyd->stop, 0, 'proxyd stopped';
    my $st = page_shows('disconnected, dimmed, reconnecting',
        sub { $_[0]{status} eq 'disconnected' && $_[0]{stale} && $_[0]{status_text} =~ /reconnecting/ });
    $page->cmd(op => 'screenshot', name => 'disconnected.png');
    $page->cmd(op => 'click', selector => '#edit-new');
    fill_and_save(name => 'later', url => $U);
    $st = page_shows('a change meanwhile: the page says it cannot be made', sub { $_[0]{edit_error} ne '' });
    like $st->{edit_error}, qr/cannot be reached.*nothing was changed/, $st->{edit_error};
    $proxyd = spawn_proxyd(admin => 1, dir => $dir, settings => $settings, %ports);
    $st = page_shows('connected again', sub { $_[0]{status} eq 'connected' && row($_[0], 'extra') && !$_[0]{stale} }, 20);
    is_deeply [ map { $_->{service} } @{ $st->{rows} } ], [qw(auth extra one web)], 'with the registry as the file has it';
    $page->cmd(op => 'screenshot', name => 'reconnected.png');
    my @errors = $page->take_errors;
    my $refused = qr{^network:[ ]Failed[ ]to[ ]load[ ]resource:[ ]net::ERR_CONNECTION_REFUSED[ ]\Q$base\E/(?:services|services/later)$
        |^network:[ ]WebSocket[ ]connection[ ]to[ ]'ws://127\.0\.0\.1:$ports{admin_port}/events'[ ]failed}x;
    ok !(grep { $_ !~ $refused } @errors), 'the only errors: the admin listener refused connections while it was down'
        or diag explain \@errors;
    note scalar(@errors) . ' connections refused';
};

subtest 'forgetting the token' => sub {
    $page->cmd(op => 'click', selector => '#logout');
    my $st = page_shows('back to the login form', sub { $_[0]{login_visible} });
    is_deeply $st->{session_storage}, {}, 'the token is gone from the tab';
    is_deeply $st->{rows}, [], 'and so is the data';
    no_token_kept($st, 'at the end');
    errors_are('forgetting');
};

undef $page;    # closes the browser before the servers go
ok -s "$artifacts/traffic.png" && -s "$artifacts/edit-error.png", "screenshots in $artifacts";
done_testing;

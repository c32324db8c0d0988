# 50admin-dashboard.t: GET /dashboard on the admin listener: the page and its files without a token, with their types,
# a strict Content-Security-Policy and no caching; nothing else reachable through it; admin.dashboard checked.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use lib 't';
use Util;

my $proxyd = spawn_proxyd(admin => 1, services => "one: http://127.0.0.1:1\n");
my $base = "http://127.0.0.1:$proxyd->{admin_port}";
my $http = HTTP::Tiny->new(timeout => 10, max_redirect => 0);
# The page's modules: a module script is run only when served with a JavaScript type.
my @MODULES = qw(dashboard.js api.js services.js chart.js editor.js);
my $CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
    . "form-action 'none'; frame-ancestors 'none'";

sub strict_headers {
    my ($res, $what) = @_;
    is $res->{headers}{'content-security-policy'}, $CSP, "$what: the Content-Security-Policy";
    is $res->{headers}{'cache-control'}, 'no-store', "$what: not cached";
    is $res->{headers}{'x-content-type-options'}, 'nosniff', "$what: nosniff";
    is $res->{headers}{'referrer-policy'}, 'no-referrer', "$what: no referrer";
}

subtest 'the page and its files, without a token' => sub {
    my $res = $http->get("$base/dashboard");
    is $res->{status}, 301, '/dashboard: 301';
    is $res->{headers}{location}, '/dashboard/', 'to /dashboard/, where its relative links resolve';
    strict_headers($res, 'the redirect');
    my %types = ('/dashboard/' => qr{^text/html}, '/dashboard/index.html' => qr{^text/html},
        '/dashboard/dashboard.css' => qr{^text/css}, map { ("/dashboard/$_" => qr{^application/javascript}) } @MODULES);
    for my $path (sort keys %types) {
        $res = $http->get("$base$path");
        is $res->{status}, 200, "$path: 200";
        like $res->{headers}{'content-type'}, $types{$path}, "$path: $res->{headers}{'content-type'}";
        strict_headers($res, $path);
        is $res->{content}, read_file('dashboard' . ($path =~ m{/$} ? '/index.html' : $path =~ s{^/dashboard}{}r)), "$path: the file";
    }
    $res = $http->get("$base/dashboard/nope.js");
    is $res->{status}, 404, 'a file that is not there: 404';
    strict_headers($res, '404');
    $res = $http->request(HEAD => "$base/dashboard/dashboard.js");
    is $res->{status}, 200, 'HEAD: 200';
};

subtest 'the page holds nothing the policy would have to allow' => sub {
    my $html = read_file('dashboard/index.html');
    my @scripts = $html =~ /<script\b([^>]*)>/gi;
    ok @scripts, 'it has scripts';
    ok !(grep { !/\bsrc="[^":]+"/ } @scripts), 'each from a file of its own, none inline, none from another site';
    unlike $html, qr/<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler';
    unlike $html, qr{(?:src|href)="(?:https?:)?//}i, 'nothing from a CDN';
    my $js = join '', map { read_file("dashboard/$_") } @MODULES;
    is_deeply [ sort grep { /\.js$/ } map { s{.*/}{}r } glob 'dashboard/*' ], [ sort @MODULES ], 'every script is listed here';
    unlike $js, qr/[?&]token=|\btoken\s*\+\s*['"]?\?/i, 'the scripts never put the token in a URL';
    unlike $js, qr/localStorage|document\.cookie|innerHTML|insertAdjacentHTML|\beval\(/,
        'nor in localStorage or a cookie, and they write no markup';
    like $js, qr/sessionStorage/, 'they keep the token in sessionStorage';
    like $html, qr/<input type="password" id="token" autocomplete="off" required>/, 'the token input has no name to submit';
    for my $id (qw(token connect status version services requests-total rps-total errors-total auth-allows auth-denies
        auth-hit-rate edit-form edit-name edit-url edit-hosts edit-save edit-delete edit-error events)) {
        like $html, qr/\bid="\Q$id\E"/, "stable id #$id";
    }
};

subtest 'nothing else is reachable through /dashboard' => sub {
    for my $path ('/dashboard/../services', '/dashboard/%2e%2e/services', '/dashboard/..%2fservices') {
        my $res = raw_request($proxyd->{admin_port}, "GET $path HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        like $res, qr{^HTTP/1\.1 (?:401|404) }, "$path: 401 or 404, no registry";
        unlike $res, qr/"services"/, "$path: no services listed";
    }
    for my $path ('/dashboard/../admin.token', '/dashboard/%2e%2e/%2e%2e/admin.token', '/dashboard/../proxyd.yaml') {
        my $res = raw_request($proxyd->{admin_port}, "GET $path HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        unlike $res, qr/\Q$Util::ADMIN_TOKEN\E|token_file/, "$path: no file from the settings' folder";
    }
    for my $path ('/dashboard/index.html%00.js', '/dashboard/dashboard.js%00.html') {
        my $res = raw_request($proxyd->{admin_port}, "GET $path HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        like $res, qr{^HTTP/1\.1 404 }, "$path: 404, not a file served as another type";
    }
    my $res = $http->get("$base/dashboardx");
    is $res->{status}, 401, '/dashboardx is not the dashboard: it needs the token';
    $res = $http->post("$base/dashboard/");
    isnt $res->{status}, 200, 'POST is not served';
};

subtest 'admin.dashboard' => sub {
    my $dir = temp_dir();
    write_file("$dir/admin.token", "$Util::ADMIN_TOKEN\n");
    chmod 0600, "$dir/admin.token";
    write_file("$dir/services.yaml", "one: http://127.0.0.1:1\n");
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nadmin:\n  token_file: admin.token\n  dashboard: nowhere\n");
    my ($code, $out) = proxyd_check("$dir/proxyd.yaml");
    isnt $code, 0, 'a folder without the page: -t fails';
    like $out, qr{admin dashboard \Q$dir\E/nowhere/index\.html: No such file or directory}, 'naming the file, resolved against the settings';
    mkdir "$dir/odd";
    mkdir "$dir/odd/index.html";
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nadmin:\n  token_file: admin.token\n  dashboard: odd\n");
    ($code, $out) = proxyd_check("$dir/proxyd.yaml");
    like $out, qr{admin dashboard \Q$dir\E/odd/index\.html: not a file}, 'an index.html that is a folder: refused';
    mkdir "$dir/page";
    write_file("$dir/page/index.html", "<!DOCTYPE html><title>mine</title>\n");
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nadmin:\n  token_file: admin.token\n  dashboard: page\n");
    ($code, $out) = proxyd_check("$dir/proxyd.yaml");
    is $code, 0, 'a folder with index.html: OK';
    write_file("$dir/proxyd.yaml", "registry: services.yaml\nadmin:\n  token_file: admin.token\n  dashboard: ''\n");
    ($code, $out) = proxyd_check("$dir/proxyd.yaml");
    like $out, qr{proxyd\.yaml:4:\d+: admin\.dashboard: expected a value}, 'empty: refused with file:line:column';
    my $port = empty_port();
    my $admin_port = empty_port();
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:$port\nthreads: 1\nregistry: services.yaml\n"
        . "admin:\n  listen: 127.0.0.1:$admin_port\n  token_file: admin.token\n  dashboard: page\n");
    my $own = spawn(cmd => [ bin('proxyd/proxyd'), '-c', "$dir/proxyd.yaml" ], port => $admin_port, log => "$dir/log");
    my $res = $http->get("http://127.0.0.1:$admin_port/dashboard/");
    is $res->{content}, "<!DOCTYPE html><title>mine</title>\n", 'the folder named is served';
    $own->stop;
    write_file("$dir/proxyd.yaml", "listen: 127.0.0.1:$port\nthreads: 1\nregistry: services.yaml\n"
        . "admin:\n  listen: 127.0.0.1:$admin_port\n  token_file: admin.token\n");
    $own = spawn(cmd => [ bin('proxyd/proxyd'), '-c', "$dir/proxyd.yaml" ], port => $admin_port, log => "$dir/log2");
  SKIP: {
        skip 'the dashboard is installed here', 2 unless $own->log =~ /GET \/dashboard answers 404/;
        pass 'without admin.dashboard and no installed page: a warning, and proxyd starts';
        is $http->get("http://127.0.0.1:$admin_port/dashboard/")->{status}, 404, 'and /dashboard/ is 404';
    }
};

done_testing;

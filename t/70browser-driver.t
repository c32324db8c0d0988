# 70browser-driver.t: headless Chromium (t/browser.py) through proxyd: what a browser
# gets, and that the driver the page tests use sees typing, clicks and console errors.
use strict;
use warnings;
use Test::More;
use lib 't';
use Util;

plan skip_all => 'chromium is not installed' unless -x '/usr/bin/chromium';

my $wport = empty_port();
my $weather = spawn(cmd => [bin('demo/weather'), '-l', "127.0.0.1:$wport"], port => $wport);
my $auth = spawn_auth();
my $proxyd = spawn_proxyd(services => "weather: http://127.0.0.1:$wport\nauth: http://127.0.0.1:@{[$auth->port]}/check\n",
    settings => "auth:\n  service: auth\n");
my $artifacts = artifacts_dir('browser-driver');
my $seen = run_scenario(90, 'browser-basics.py', $proxyd->url, $artifacts);
ok $seen, 'the scenario ran' or do { done_testing; exit 1 };

like $seen->{allowed_text}, qr/"service":"weather"/, 'with the key the page shows the weather JSON';
is_deeply $seen->{allowed_errors}, [], 'and the console stays clean' or diag explain $seen->{allowed_errors};
like $seen->{denied_text}, qr/unauthorized/, 'without it the 401 body';
ok((grep {/401/} @{ $seen->{denied_errors} }), 'and the console shows the failed load')
    or diag explain $seen->{denied_errors};
is $seen->{echoed}, 'typed by a user', 'typed text reaches the input and the click runs its handler';
ok((grep {/clicked/} @{ $seen->{click_errors} }), 'console.error is seen');
ok -s "$artifacts/weather.png" && -s "$artifacts/form.png", 'screenshots kept under t/artifacts';
done_testing;

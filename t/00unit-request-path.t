# 00unit-request-path.t: runs the C unit tests of proxyd/request_path.c (t/unit/request_path.c), which print TAP themselves.
use strict;
use warnings;
use lib 't';
use Util qw(bin);

exec bin('t/unit/request_path') or die "t/unit/request_path: $!\n";

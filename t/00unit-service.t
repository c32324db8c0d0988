# 00unit-service.t: runs the C unit tests of proxyd/service.c (t/unit/service.c), which print TAP themselves.
use strict;
use warnings;
use lib 't';
use Util qw(bin);

exec bin('t/unit/service') or die "t/unit/service: $!\n";

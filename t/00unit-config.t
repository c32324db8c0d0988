# 00unit-config.t: runs the C unit tests of proxyd/config.c (t/unit/config.c), which print TAP themselves.
use strict;
use warnings;
use lib 't';
use Util qw(bin);

exec bin('t/unit/config') or die "t/unit/config: $!\n";

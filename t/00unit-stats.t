# 00unit-stats.t: runs the C unit tests of proxyd/stats.c (t/unit/stats.c), which print TAP themselves.
use strict;
use warnings;
use lib 't';
use Util qw(bin);

exec bin('t/unit/stats') or die "t/unit/stats: $!\n";

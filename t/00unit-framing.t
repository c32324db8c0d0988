# 00unit-framing.t: runs the C unit tests of proxyd/upstream_framing.c (t/unit/framing.c), which print TAP themselves.
use strict;
use warnings;
use lib 't';
use Util qw(bin);

exec bin('t/unit/framing') or die "t/unit/framing: $!\n";

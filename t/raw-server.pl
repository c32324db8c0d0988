#!/usr/bin/perl
# raw-server.pl: an HTTP server that answers every request with the bytes of a file,
# exactly as written there (1xx heads, trailers, broken framing): a misbehaving
# auth service or upstream for the tests. Each request's head goes to stdout.
# usage: raw-server.pl PORT RESPONSE_FILE
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $file) = @ARGV;
open my $fh, '<:raw', $file or die "$file: $!";
my $response = do { local $/; <$fh> };
close $fh;
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 64, ReuseAddr => 1)
    or die "listen $port: $!";
$| = 1;
while (my $conn = $listener->accept) {
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread($conn, my $buf, 65536);
        last unless $n;
        $head .= $buf;
    }
    print "request: ", ($head =~ /\A([^\r\n]*)/)[0], "\n";
    print "$1\n" while $head =~ /^(x-forwarded-[^\r\n]*)/mig;
    syswrite $conn, $response;
    close $conn;
}

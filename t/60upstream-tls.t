# 60upstream-tls.t: HTTPS services: the certificate is checked against the
# certificate authorities and the URL's host name, SNI is sent, names are resolved.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use lib 't';
use Util;

my $dir = temp_dir();
# A certificate authority of the test's own, and a certificate for "localhost" only (no IP address in it).
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/ca.key -out $dir/ca.pem -days 2 -subj /CN=proxyd-test-ca "
    . "2>/dev/null") == 0 or die "openssl: CA\n";
system("openssl req -newkey rsa:2048 -nodes -keyout $dir/server.key -out $dir/server.csr -subj /CN=localhost 2>/dev/null") == 0
    or die "openssl: request\n";
write_file("$dir/san.ext", "subjectAltName = DNS:localhost\n");
system("openssl x509 -req -in $dir/server.csr -CA $dir/ca.pem -CAkey $dir/ca.key -CAcreateserial -out $dir/server.pem "
    . "-days 2 -extfile $dir/san.ext 2>/dev/null") == 0 or die "openssl: sign\n";

# and one for the address 127.0.0.1 only
system("openssl req -newkey rsa:2048 -nodes -keyout $dir/ip.key -out $dir/ip.csr -subj /CN=ip 2>/dev/null") == 0
    or die "openssl: request\n";
write_file("$dir/ip.ext", "subjectAltName = IP:127.0.0.1\n");
system("openssl x509 -req -in $dir/ip.csr -CA $dir/ca.pem -CAkey $dir/ca.key -CAcreateserial -out $dir/ip.pem "
    . "-days 2 -extfile $dir/ip.ext 2>/dev/null") == 0 or die "openssl: sign\n";
my $ipport = empty_port();
my $ipserver = spawn(cmd => ['/usr/bin/python3', 't/tls-server.py', $ipport, "$dir/ip.pem", "$dir/ip.key"], port => $ipport);

my $port = empty_port();
my $server = spawn(cmd => ['/usr/bin/python3', 't/tls-server.py', $port, "$dir/server.pem", "$dir/server.key"], port => $port);
my $services = "byname: https://localhost:$port\nbyip: https://127.0.0.1:$port\nipcert: https://127.0.0.1:$ipport\n"
    . "ipcertbyname: https://localhost:$ipport\n";
my $http = HTTP::Tiny->new(timeout => 15);

subtest 'trusted certificate, right name: the request passes, with SNI' => sub {
    local $ENV{SSL_CERT_FILE} = "$dir/ca.pem";    # OpenSSL's default verify paths: the test's CA instead of the system's
    my $proxyd = spawn_proxyd(threads => 1, services => $services);
    for my $n (1, 2) {
        my $res = $http->get($proxyd->url("/byname/hello?n=$n"));
        is $res->{status}, 200, "request $n: 200" or diag $proxyd->log;
        my $seen = eval { decode_json($res->{content}) } // {};
        is $seen->{path}, "/hello?n=$n", 'the service got the path';
        is $seen->{sni}, 'localhost', 'SNI named the host';
        is $seen->{host}, "localhost:$port", 'and so did Host';
    }
    my $res = $http->get($proxyd->url('/byip/hello'));
    is $res->{status}, 502, 'a certificate without the URL\'s host (an IP address here): 502';
    like eval { decode_json($res->{content})->{error} } // '', qr/^upstream connection failed: .*(name|mismatch)/i,
        'the error says the name does not match';
    like $proxyd->log, qr/502 upstream connection failed: .*service byip/, 'logged with the service';
    is $http->get($proxyd->url('/ipcert/x'))->{status}, 200, 'a certificate for the address: 200 by address';
    is $http->get($proxyd->url('/ipcertbyname/x'))->{status}, 502, 'and 502 by a name it does not carry';
};

subtest 'a certificate no trusted authority signed: 502' => sub {
    local $ENV{SSL_CERT_FILE} = "$dir/server.key";    # no certificate authority at all
    my $proxyd = spawn_proxyd(threads => 1, services => $services);
    my $res = $http->get($proxyd->url('/byname/hello'));
    is $res->{status}, 502, 'status 502';
    like eval { decode_json($res->{content})->{error} } // '', qr/^upstream connection failed: .*certificate/i,
        'the error names the certificate';
    is $http->get($proxyd->url('/byname/again'))->{status}, 502, 'and stays refused';
};

done_testing;

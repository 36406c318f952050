# test/TdPeers.pm: peers that more than one TAP test starts (071_imap_poll,
# 090_tour). test/run puts test/ on PERL5LIB.
package TdPeers;

use strict;
use warnings;

use Exporter 'import';
use File::Temp;
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT_OK = qw(start_dovecot);

# start_dovecot($dovecot, $password): an unprivileged dovecot on a free port
# of 127.0.0.1 with one user, desk, configured from test/peers/dovecot.conf.in
# (which tour/run uses too). Returns its directory (desk's mail is in
# $dir/mail/desk), its port and its IPC::Run handle, once it listens;
# BAIL_OUT when it does not within 30 s.
sub start_dovecot
{
	my ($dovecot, $password) = @_;
	# A short path: dovecot's unix sockets live under base_dir.
	my $dir = File::Temp::tempdir('td_imap_XXXX', DIR => '/tmp', CLEANUP => 1);
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my %fill = (DIR => $dir, PORT => $port, USER => scalar getpwuid($<), GROUP => scalar getgrgid($());

	mkdir "$dir/$_" for qw(run state home mail);
	append_to_file("$dir/passwd", "desk:{PLAIN}$password\n");
	(my $conf = slurp_file("$ENV{TESTDIR}/peers/dovecot.conf.in")) =~ s/\@(DIR|PORT|USER|GROUP)\@/$fill{$1}/g;
	append_to_file("$dir/dovecot.conf", $conf);

	my $out = '';
	my $h = IPC::Run::start([ $dovecot, '-F', '-c', "$dir/dovecot.conf" ], '>', \$out, '2>&1');
	my $deadline = time + 30;
	until (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp'))
	{
		BAIL_OUT("dovecot did not start: $out") if time > $deadline || !$h->pumpable;
		usleep(50_000);
	}
	return ($dir, $port, $h);
}

1;

# test/TdPeers.pm: peers and nodes that more than one TAP test starts
# (071_imap_poll and 090_tour; 005_notify_sigterm, 006_notify_locked_rows
# and 007_notify_standby).
# test/run puts test/ on PERL5LIB.
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

our @EXPORT_OK = qw(start_dovecot silent_server start_notify_node);

# silent_server(): a listening socket on 127.0.0.1 that nobody accepts: a
# client connects, and no greeting ever comes. Returns the socket (keep it
# for as long as it should listen) and its port.
sub silent_server
{
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, Proto => 'tcp')
	  or die "listen: $!";
	return ($s, $s->sockport);
}

# start_notify_node($name, $smtp_url, $conf, %init): a started node that
# preloads ticketdesk with one delivery worker sending mail to $smtp_url,
# polling every second, retrying after an hour, and nothing else on a timer
# (no mail polling, no jobs); $conf: more postgresql.conf lines (a later
# line wins); %init: options of PostgreSQL::Test::Cluster's init.
sub start_notify_node
{
	my ($name, $smtp_url, $conf, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'ticketdesk'
ticketdesk.notify_workers = 1
ticketdesk.smtp_url = '$smtp_url'
ticketdesk.mail_from = 'desk\@desk.test'
ticketdesk.notify_poll_interval = '1s'
ticketdesk.notify_backoff_base = '1h'
ticketdesk.mail_poll = off
ticketdesk.jobs_interval = 0
$conf
});
	$node->start;
	return $node;
}

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

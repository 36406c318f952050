# Copyright: ticketdesk contributors
#
# 090_tour: the guided tour (tour/tour.sql, README's first command) runs
# whole, the way tour/run runs it: psql -X -a with ON_ERROR_STOP against a
# throwaway node that preloads ticketdesk, polls a private dovecot and sends
# its mail to the local SMTP sink (test/peers/smtp_sink.py). No test ran the
# tour before, so a change could break the first thing a new user sees.
#
# The story: psql exits 0, and the only errors it printed are the two
# refusals the tour shows on purpose (TD401, TD570). Ticket 1, the one the
# tour follows through its whole life, has a history that runs from created
# through every status to closed, in order. The mails piped through
# ticketdesk-mailgate and the two fetched by IMAP went in (a failing \!
# command does not stop psql, so this is checked here). The outbox sent every
# mail, the sink received each of them once, and the tour's last section
# counted them all.

use strict;
use warnings;

use IO::Socket::INET;
use File::Temp;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TdPeers qw(start_dovecot);

my $python = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with aiosmtpd'
  unless -x $python && system($python, '-c', 'import aiosmtpd') == 0;
my $dovecot = '/usr/sbin/dovecot';
plan skip_all => "needs dovecot ($dovecot, Debian package dovecot-imapd)" unless -x $dovecot;
plan skip_all => 'needs the curl program (/usr/bin/curl)' unless -x '/usr/bin/curl';

# test/run copies tour/ beside test/; the tour reads mail/ and mails.py from its cwd.
my $tour = "$ENV{TESTDIR}/../tour";
BAIL_OUT("no tour at $tour") unless -f "$tour/tour.sql";
my $tmp = PostgreSQL::Test::Utils::tempdir;

# The peers still running: stopped however the test ends.
my @peers;
END
{
	for my $h (@peers) { eval { $h->kill_kill(grace => 2) }; }
}

# --- the SMTP sink ----------------------------------------------------------------

my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $mails = "$tmp/mails.jsonl";
my $sink_out = '';
my $timer = IPC::Run::timeout(30);
push @peers, IPC::Run::start(
	[ $python, "$ENV{TESTDIR}/peers/smtp_sink.py", '--port', $smtp_port, '--out', $mails ],
	'>', \$sink_out, '2>>', "$tmp/smtp_sink.err", $timer);
$peers[-1]->pump until $sink_out =~ /ready/;
$timer->reset;

# --- dovecot, unprivileged (the configuration of tour/run and 071_imap_poll) ------

my $imap_password = 'tour-' . int(rand(1e9));
my (undef, $imap_port, $dovecot_h) = start_dovecot($dovecot, $imap_password);
push @peers, $dovecot_h;

# --- the node: tour/run's cluster settings ----------------------------------------------

my $node = PostgreSQL::Test::Cluster->new('tour');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'ticketdesk'
max_worker_processes = 16
ticketdesk.jobs_interval = 0
ticketdesk.mail_poll = on
ticketdesk.mail_poll_timeout = '10s'
ticketdesk.smtp_url = 'smtp://127.0.0.1:$smtp_port'
ticketdesk.mail_from = 'desk\@example.com'
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE tour');

# --- the tour --------------------------------------------------------------------------

# What tour/run exports: libpq's target (for ticketdesk-mailgate too), the
# IMAP server and the sink's file.
local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'tour';
local $ENV{TD_IMAP_PORT} = $imap_port;
local $ENV{TD_IMAP_PASSWORD} = $imap_password;
local $ENV{TOUR_MAILS} = $mails;
my ($out, $err) = ('', '');
my $t0 = time;
IPC::Run::run(
	[ 'psql', '-X', '-a', '-v', 'ON_ERROR_STOP=1', '--pset=pager=off', '-d', 'tour', '-f', 'tour.sql' ],
	init => sub { chdir $tour or die "chdir $tour: $!" },
	'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
my $rc = $? >> 8;
PostgreSQL::Test::Utils::append_to_file("$tmp/tour.out", $out);
note sprintf('the tour took %.1f s; its output: %s/tour.out', time - $t0, $tmp);
is($rc, 0, 'psql runs the whole tour with ON_ERROR_STOP and exits 0')
  or diag "stderr:\n$err\nlast lines of stdout:\n" . join('', (split /^/, $out)[-30 .. -1]);
like($out, qr/^-- 17\. The mails, delivered/m, 'it reached the last section');

# The tour shows two refusals with ON_ERROR_STOP off; any other error is a
# statement that broke there.
is_deeply(
	[ map { /ERROR:  (.*)/ ? $1 : () } split /\n/, $err ],
	[
		'ticket TD-000001 cannot move from closed to waiting',
		'ticket TD-000006 cannot be resolved: 2 required checklist items are open'
	],
	'the only errors are the two refusals it shows (TD401, TD570)');

sub sql { return $node->safe_psql('tour', $_[0]); }

# --- ticket 1's whole life -------------------------------------------------------------

is( sql(q{SELECT string_agg(new_value, ' ' ORDER BY event_id) FROM ticketdesk.ticket_history(1)
           WHERE kind IN ('created', 'status')}),
	'new assigned acknowledged in_progress waiting in_progress resolved confirmed closed',
	"ticket 1's history runs from created through each status to closed, in order");
is( sql(q{(SELECT kind FROM ticketdesk.ticket_history(1) ORDER BY event_id LIMIT 1) UNION ALL
            (SELECT kind || ' ' || new_value FROM ticketdesk.ticket_history(1) ORDER BY event_id DESC LIMIT 1)}),
	"created\nstatus closed", 'its first event is created, its last the change to closed');
is(sql(q{SELECT status FROM ticketdesk.ticket WHERE ticket_id = 1}), 'closed', 'ticket 1 is closed');

# --- the mail that came in ---------------------------------------------------------------

is( sql(q{SELECT string_agg(mail_id || ' ' || outcome, ', ' ORDER BY intake_id) FROM ticketdesk.mail_intake}),
	'tour-request-0001@acme.test opened, tour-eli-confirms-0002@example.com replied, '
	  . 'tour-rita-reply-0003@acme.test replied, tour-ooo-0004@acme.test stored, '
	  . 'tour-imap-0001@initech.test opened, tour-imap-0002@initech.test replied',
	'the mails piped through ticketdesk-mailgate and the two fetched by IMAP went in, once each');

# --- the mail that went out --------------------------------------------------------------

my $outbox = sql(q{SELECT count(*) FILTER (WHERE status = 'sent') || ' ' || count(*)
                     FROM ticketdesk.outbox WHERE channel = 'email'});
my ($sent, $queued) = split ' ', $outbox;
cmp_ok($sent, '>=', 20, "the outbox sent the tour's mails ($sent)");
is($queued, $sent, 'and every one of them: none is left queued, failed or dead');

open my $fh, '<:raw', $mails or die "$mails: $!";
my @received = map { decode_json($_) } grep { /\S/ } <$fh>;
close $fh;
is(scalar @received, $sent, 'the SMTP sink received each of them');
my %ids;
$ids{ $_->{message_id} // '' }++ for @received;
is(scalar keys %ids, $sent, 'once: no Message-ID twice');
like($out, qr/^\Q$sent\E mail\(s\) received by the sink$/m, "and the tour's last section counted them all");
my $rita_1 = grep { $_->{to}[0] eq 'rita@acme.test' && $_->{data} =~ /^X-Ticketdesk-Reference: TD-000001\r?$/m }
  @received;
is( $rita_1,
	sql(q{SELECT count(*) FROM ticketdesk.outbox
           WHERE ticket_id = 1 AND channel = 'email' AND recipient = 'rita@acme.test'}),
	"Rita received each mail the outbox holds for her about ticket 1 ($rita_1)");

$node->stop('fast');
done_testing();

# Copyright: ticketdesk contributors
#
# 007_notify_standby: the delivery worker does nothing on a standby, and
# takes over on promotion.
#
# The story: a primary that preloads ticketdesk and sends mail to a real
# SMTP server, and a streaming standby made from its backup, with the same
# settings. Mails queued on the primary arrive once each: the standby, which
# replays the same outbox rows, runs no ticketdesk process and sends
# nothing. The primary stops; the standby is promoted. Its launcher starts
# a worker, which sends the mails queued after the promotion and none of
# those sent before.

use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TdPeers qw(start_notify_node);

my $python = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with aiosmtpd'
  unless -x $python && system($python, '-c', 'import aiosmtpd') == 0;
my $peers = "$ENV{TESTDIR}/peers";
my $tmp = PostgreSQL::Test::Utils::tempdir;

# The SMTP server: one JSON line per mail received.
my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $mails = "$tmp/mail.jsonl";
my $sink_out = '';
my $sink_timer = IPC::Run::timeout(30);
my $sink = IPC::Run::start([ $python, "$peers/smtp_sink.py", '--port', $smtp_port, '--out', $mails ],
	'>', \$sink_out, '2>>', "$tmp/smtp_sink.err", $sink_timer);
END { eval { $sink->kill_kill(grace => 2) } if $sink; }
$sink->pump until $sink_out =~ /ready/;
$sink_timer->reset;

# The Message-IDs received so far, with how many times each came.
sub received
{
	my %seen;
	return %seen unless -e $mails;
	open my $fh, '<:raw', $mails or die "$mails: $!";
	$seen{ decode_json($_)->{message_id} }++ for grep { /\S/ && /\n\z/ } <$fh>;
	close $fh;
	return %seen;
}

my $primary = start_notify_node('primary', "smtp://127.0.0.1:$smtp_port", 'ticketdesk.notify_workers = 2',
	allows_streaming => 1);
$primary->safe_psql('postgres', 'CREATE EXTENSION ticketdesk');
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my $workers_q = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'ticketdesk%'};

# Waits (30 s at most) until the server has received every one of @ids.
sub wait_received
{
	my @ids = @_;
	my $deadline = time + 30;
	while (time < $deadline)
	{
		my %got = received();
		return if !grep { !$got{$_} } @ids;
		usleep(100_000);
	}
}

# Queue $n mails of event $event on $node; their Message-IDs.
sub queue
{
	my ($node, $event, $n) = @_;
	$node->safe_psql('postgres', qq{BEGIN;
INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text)
SELECT '$event', 'email', 'user' || g || '\@acme.test', 'Mail ' || g, 'Message ' || g
  FROM generate_series(1, $n) g;
SELECT ticketdesk.notify_wake();
COMMIT;});
	return map { "<$_\@desk.test>" }
	  split /\n/, $node->safe_psql('postgres', "SELECT message_key FROM ticketdesk.outbox WHERE event = '$event'");
}

# 1. Mails queued on the primary arrive once each; the standby sends none.
ok($primary->poll_query_until('postgres', $workers_q, '3'), 'the primary runs its launcher and two workers');
my @before = queue($primary, 'before', 50);
ok( $primary->poll_query_until('postgres',
		q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'before' AND status = 'sent'}, '50'),
	'the primary sends the 50 mails queued on it');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'before' AND status = 'sent'}),
	'50', 'the standby has replayed the outbox: 50 rows sent');
is($standby->safe_psql('postgres', $workers_q), '0', 'the standby runs no ticketdesk process');
wait_received(@before);
my %got = received();
is(scalar(grep { $got{$_} } @before), 50, 'the server received all 50');
is(scalar(grep { ($got{$_} // 0) > 1 } @before), 0, 'and none twice');

# 2. Promotion: the new primary's worker sends what is queued after it.
$primary->stop;
$standby->promote;
ok($standby->poll_query_until('postgres', $workers_q, '3'),
	'once promoted, the launcher and two workers start');
my @after = queue($standby, 'after', 20);
ok( $standby->poll_query_until('postgres',
		q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'after' AND status = 'sent'}, '20'),
	'the promoted server sends the 20 mails queued on it');
wait_received(@after);
%got = received();
is(scalar(grep { $got{$_} } @after), 20, 'the server received all 20');
is(scalar(grep { ($got{$_} // 0) > 1 } @before, @after), 0, 'no mail came twice, before or after the promotion');

$standby->stop;
done_testing();

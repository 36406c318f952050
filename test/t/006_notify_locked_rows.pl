# Copyright: ticketdesk contributors
#
# 006_notify_locked_rows: the delivery worker never waits for a row lock
# when it records a result, so a transaction that holds an outbox row
# locked (an administrator's open transaction, a mass UPDATE) neither stops
# the deliveries of every other message nor deadlocks with the worker.
#
# The story: one worker whose SMTP server is at first a listening socket
# that accepts nothing. A mail is claimed and its delivery waits for the
# greeting; meanwhile an open transaction locks its row (SELECT ... FOR
# UPDATE). The test then accepts the connection and closes it: the delivery
# fails, and the result finds the row locked: the worker keeps the result
# and goes on. The SMTP server is switched to a real
# one; a second mail is delivered and recorded sent while the lock is still
# held (before this test the worker waited for the lock in the transaction
# that records, and delivered nothing until it ended). The first row stays
# as the lock holder sees it. Once the transaction commits, the worker
# records the kept result: queued again, one attempt, the timeout in
# last_error.

use strict;
use warnings;

use IPC::Run;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TdPeers qw(silent_server start_notify_node);

my $python = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with aiosmtpd'
  unless -x $python && system($python, '-c', 'import aiosmtpd') == 0;
my $peers = "$ENV{TESTDIR}/peers";
my $tmp = PostgreSQL::Test::Utils::tempdir;

# A server that never answers: the greeting never comes.
my ($hole, $hole_port) = silent_server();

# A real SMTP server, for later.
my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $sink_out = '';
my $sink_timer = IPC::Run::timeout(30);
my $sink = IPC::Run::start(
	[ $python, "$peers/smtp_sink.py", '--port', $smtp_port, '--out', "$tmp/mail.jsonl" ],
	'>', \$sink_out, '2>>', "$tmp/smtp_sink.err", $sink_timer);
END { eval { $sink->kill_kill(grace => 2) } if $sink; }
$sink->pump until $sink_out =~ /ready/;
$sink_timer->reset;

my $node = start_notify_node('locked', "smtp://127.0.0.1:$hole_port", "ticketdesk.notify_timeout = '60s'");

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub queue
{
	my ($event) = @_;
	sql(qq{BEGIN;
INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text)
VALUES ('$event', 'email', 'rita\@acme.test', 'About $event', 'Message $event');
SELECT ticketdesk.notify_wake();
COMMIT;});
}

sql('CREATE EXTENSION ticketdesk');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'}, '1'),
	'the worker runs');

# 1. A mail is claimed, and its delivery waits on the silent server.
queue('held');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity
           WHERE backend_type = 'ticketdesk notify worker' AND query LIKE 'ticketdesk notify: delivering%'}, '1'),
	'the worker delivers the first mail to the silent server');

# 2. Meanwhile an open transaction locks its row.
my $holder = $node->background_psql('postgres');
is($holder->query_safe(q{BEGIN; SELECT status FROM ticketdesk.outbox WHERE event = 'held' FOR UPDATE;}),
	'sending', 'an open transaction locks the row of the mail being delivered');

# 3. The next batches go to a real server (read between batches); the test
# ends the delivery: the connection is accepted and closed before any
# greeting. The worker cannot record the failure, and goes on.
$node->append_conf('postgresql.conf', qq{ticketdesk.smtp_url = 'smtp://127.0.0.1:$smtp_port'\n});
$node->reload;
my $conn = $hole->accept or die "accept: $!";
close $conn;
queue('free');
ok( $node->poll_query_until('postgres', q{SELECT status FROM ticketdesk.outbox WHERE event = 'free'}, 'sent'),
	'a second mail is delivered and recorded sent while the first row is still locked');
is( sql(q{SELECT count(*) FROM pg_stat_activity
           WHERE backend_type = 'ticketdesk notify worker' AND wait_event_type = 'Lock'}),
	'0', 'the worker waits for no lock');
is(sql(q{SELECT status || ' ' || attempts FROM ticketdesk.outbox WHERE event = 'held'}),
	'sending 1', 'the locked row is as the claim left it');

# 4. Once the lock is gone, the worker records the result it kept.
$holder->query_safe('COMMIT');
$holder->quit;
ok( $node->poll_query_until('postgres',
		q{SELECT status = 'queued' AND attempts = 1 AND leased_until IS NULL AND last_error IS NOT NULL
            FROM ticketdesk.outbox WHERE event = 'held'}),
	'after the commit the kept result is recorded: queued again, one attempt, the reason kept');
note sql(q{SELECT 'last error: ' || last_error FROM ticketdesk.outbox WHERE event = 'held'});
is(sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'free' AND status = 'sent'}), '1',
	'the second mail was recorded once');

$node->stop;
done_testing();

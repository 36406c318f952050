# Copyright: ticketdesk contributors
#
# 005_notify_sigterm: SIGTERM stops the delivery worker promptly, whatever
# it is doing, and it loses nothing of its own.
#
# The story: the node preloads ticketdesk with one delivery worker, whose
# SMTP server is a listening socket nobody accepts: a connection is made and
# the greeting never comes, so a delivery would wait for the whole
# notify_timeout (60 s). Three mails are queued; while the worker waits on
# the silent server, pg_terminate_backend stops it at once, and before
# leaving it records the three as interrupted, to be tried again (queued,
# one attempt, the reason kept). Then the other long thing the worker does:
# pruning. A sent row past the retention is locked by an open transaction,
# so the worker's prune, which runs when a worker starts, waits for that
# lock; pg_terminate_backend stops it there too (before this test it went on
# waiting, its SIGTERM handler only setting a flag), the prune is rolled
# back, and once the lock is gone the next worker prunes the row.

use strict;
use warnings;

use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TdPeers qw(silent_server start_notify_node);

# A server that never answers: the greeting never comes.
my ($hole, $hole_port) = silent_server();

my $node = start_notify_node('sigterm', "smtp://127.0.0.1:$hole_port", "ticketdesk.notify_timeout = '60s'");

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $worker_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'};

# The worker's pid once it shows activity like $like; fails the test after 60 s.
sub worker_doing
{
	my ($like, $what) = @_;
	my $pid = '';
	my $deadline = time + 60;
	while (time < $deadline)
	{
		$pid = sql(qq{SELECT pid FROM pg_stat_activity
                       WHERE backend_type = 'ticketdesk notify worker' AND query LIKE '$like'});
		last if $pid ne '';
		usleep(50_000);
	}
	isnt($pid, '', $what);
	return $pid;
}

# Terminate pid; how long until it has left pg_stat_activity.
sub terminate
{
	my ($pid) = @_;
	my $t0 = time;
	sql("SELECT pg_terminate_backend($pid)");
	usleep(20_000)
	  while time - $t0 < 60
	  && sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") ne '0';
	return time - $t0;
}

sql('CREATE EXTENSION ticketdesk');
ok($node->poll_query_until('postgres', "SELECT count(*) FROM ($worker_q) w", '1'), 'the worker runs');

# ---------------------------------------------------------------------------
# 1. SIGTERM while the worker waits on a server that never answers.
# ---------------------------------------------------------------------------
sql(q{
BEGIN;
INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text)
SELECT 'held', 'email', 'user' || g || '@acme.test', 'Held ' || g, 'Message ' || g
  FROM generate_series(1, 3) g;
SELECT ticketdesk.notify_wake();
COMMIT;});
my $pid = worker_doing('ticketdesk notify: delivering%', 'the worker delivers to the silent server');
usleep(500_000);
is(sql(q{SELECT string_agg(DISTINCT status::text, ',') FROM ticketdesk.outbox WHERE event = 'held'}),
	'sending', 'the three mails are leased while the worker waits');
my $took = terminate($pid);
cmp_ok($took, '<', 10, sprintf('pg_terminate_backend stops the delivering worker at once (%.1f s; the transfer would wait 60 s)', $took));
is( sql(q{SELECT count(*) FROM ticketdesk.outbox
           WHERE event = 'held' AND status = 'queued' AND attempts = 1 AND leased_until IS NULL
             AND last_error LIKE 'interrupted%'}),
	'3', 'before leaving it recorded the three as interrupted: queued again, one attempt, the reason kept');
note sql(q{SELECT 'last error: ' || last_error FROM ticketdesk.outbox WHERE event = 'held' LIMIT 1});

# Nothing more goes to the silent server: the held mails are cancelled.
sql(q{SELECT ticketdesk.outbox_cancel(outbox_id) FROM ticketdesk.outbox WHERE event = 'held'});
ok($node->poll_query_until('postgres', "SELECT count(*) FROM ($worker_q) w", '1'),
	'the launcher starts the worker again (after its 5 s pause)');
# A worker prunes when it starts, then every minute: this one has pruned once it sleeps.
ok( $node->poll_query_until('postgres',
		q{SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'}),
	'and it sleeps, its first prune done');

# ---------------------------------------------------------------------------
# 2. SIGTERM while the worker's prune waits for a row lock.
# ---------------------------------------------------------------------------
sql(q{INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text, status, attempts,
                                     next_attempt_at, created_at, sent_at)
      VALUES ('old', 'email', 'old@acme.test', 'Old', 'Sent long ago', 'sent', 1,
              NULL, now() - interval '30 days', now() - interval '30 days')});
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{BEGIN; SELECT outbox_id FROM ticketdesk.outbox WHERE event = 'old' FOR UPDATE;});

# The next worker (after this one is stopped) prunes when it starts, and waits for the lock.
$pid = sql($worker_q);
terminate($pid);
$pid = worker_doing('ticketdesk notify: pruning%', 'a new worker starts and prunes');
ok( $node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid"),
	'its prune waits for the row lock the open transaction holds');
$took = terminate($pid);
cmp_ok($took, '<', 10, sprintf('pg_terminate_backend stops the worker in the middle of its prune (%.1f s)', $took));
is(sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'old'}), '1',
	'the prune was rolled back: the row is still there');
ok($node->log_contains('terminating background worker "ticketdesk notify worker" due to administrator command'),
	'the log says why the worker stopped');

$holder->query_safe('COMMIT');
$holder->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'old'}, '0'),
	'once the lock is gone, the next worker prunes the row');
is(sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'held' AND status = 'cancelled'}), '3',
	'the cancelled mails stay as they are');

$node->stop;
done_testing();

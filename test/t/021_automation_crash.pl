# Copyright: ticketdesk contributors
#
# 021_automation_crash: a job killed in the middle of its sweep leaves nothing
# half-done, and the next run does the rest exactly once.
#
# The story: forty daily service contracts started a year ago, so the
# scheduled-service job has about 14,600 tickets to catch up on. While it
# runs, its backend is killed with SIGKILL (as a crashing worker would be);
# the server recovers. The killed run's tickets are gone with its
# transaction. Running the job again makes every ticket once: one per
# occurrence, no ticket without its occurrence row. A third run makes nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# The TAP default is off; a real server restarts after a backend crash.
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION ticketdesk');
$node->safe_psql('postgres', q{
INSERT INTO ticketdesk.center (code, name) VALUES ('field', 'Field service');
INSERT INTO ticketdesk.customer (name) VALUES ('ACME');
SELECT ticketdesk.add_service_contract('Daily round ' || i, 1, 'FREQ=DAILY', '2025-06-01 09:00', customer_id => 1)
  FROM generate_series(1, 40) i;
});
my $as_of = '2026-06-01 00:00+00';
my $expected = $node->safe_psql('postgres', qq{
SELECT sum(cardinality(ticketdesk.recurrence_occurrences(rrule, dtstart, time_zone, '-infinity', '$as_of', 100000)))
  FROM ticketdesk.service_contract});
cmp_ok($expected, '>', 10000, "$expected occurrences are due");

# Start the sweep in the background and kill its backend while it works.
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
	  "SELECT ticketdesk.generate_scheduled_tickets('$as_of')" ],
	'>', \$out, '2>', \$err);
my $pid = '';
for (my $i = 0; $i < 200 && $pid eq ''; $i++)
{
	usleep(100_000);
	$pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT ticketdesk.generate_scheduled_tickets%'});
}
isnt($pid, '', 'the sweep is running');
sleep(2);
my $made = $node->safe_psql('postgres', q{SELECT count(*) FROM ticketdesk.ticket});
is($made, '0', 'nothing it made is visible before it commits');
kill 'KILL', $pid;
$h->finish;
like($err, qr/server closed the connection|terminated/, 'the sweep died with its backend');

# The postmaster restarts after the crash; wait until it accepts connections.
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
is($node->safe_psql('postgres', 'SELECT count(*) FROM ticketdesk.ticket'),
	'0', 'the killed sweep left no ticket behind');

is($node->safe_psql('postgres', qq{SELECT ticketdesk.generate_scheduled_tickets('$as_of')}),
	$expected, 'the next run makes every ticket');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ticketdesk.service_occurrence'),
	$expected, 'one occurrence row per occurrence');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM ticketdesk.ticket k WHERE NOT EXISTS
             (SELECT 1 FROM ticketdesk.service_occurrence o WHERE o.ticket_id = k.ticket_id)}),
	'0', 'no ticket without its occurrence');
is($node->safe_psql('postgres', qq{SELECT ticketdesk.generate_scheduled_tickets('$as_of')}),
	'0', 'a third run makes nothing');

$node->stop;
done_testing();

# Copyright: ticketdesk contributors
#
# 020_automation_pg_cron: pg_cron really runs ticketdesk's jobs, for DBAs who
# switch the worker's own schedule off (doc/automation.md, "Who runs the jobs").
#
# The story: a node preloads pg_cron (cron.database_name = postgres, background
# workers, so no TCP connection is needed). A service contract is due every
# day since three days ago, and a ticket's deadline has passed. The recipe
# of doc/automation.md schedules ticketdesk.run_jobs_all_tenants() every
# minute. We wait for pg_cron to run it twice (so this test takes at least a
# minute): the first run makes the missed visits' tickets and the escalation
# notice, the second finds everything done and makes nothing twice.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'ticketdesk, pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20
# pg_cron runs the jobs: the notification worker's own schedule is off.
ticketdesk.jobs_interval = 0
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION ticketdesk');
$node->safe_psql('postgres', q{
INSERT INTO ticketdesk.center (code, name) VALUES ('field', 'Field service');
INSERT INTO ticketdesk.agent (name) VALUES ('Ada');
INSERT INTO ticketdesk.customer (name) VALUES ('ACME');
SELECT ticketdesk.add_service_contract('Daily round', 1, 'FREQ=DAILY',
       (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '3 days' + interval '1 hour')::timestamp,
       customer_id => 1);
SELECT ticketdesk.open_ticket('Late task', 1, customer_id => 1, assignee_id => 1,
                              deadline => now() + interval '1 second');
});
sleep(2);

# The pg_cron recipe of doc/automation.md.
$node->safe_psql('postgres',
	q{SELECT cron.schedule('ticketdesk-jobs', '* * * * *', 'SELECT ticketdesk.run_jobs_all_tenants()')});

# Wait (up to 200 s) until pg_cron has run the job twice.
my $runs = 0;
for (my $i = 0; $i < 400 && $runs < 2; $i++)
{
	$runs = $node->safe_psql('postgres',
		q{SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')});
	usleep(500_000) if $runs < 2;
}
is($runs, 2, 'pg_cron ran the job twice');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(status || ': ' || return_message, ', ' ORDER BY runid) FROM cron.job_run_details}),
	'succeeded: SELECT 1, succeeded: SELECT 1',
	'both runs succeeded');

# The occurrences due by pg_cron's last run: one ticket each. They are
# counted from the contract's own start, not one computed again: a test
# that runs across midnight (UTC) would count from another day.
my $expected = $node->safe_psql('postgres', q{
SELECT count(*) FROM ticketdesk.service_contract c,
       unnest(ticketdesk.recurrence_occurrences(c.rrule, c.dtstart, c.time_zone, '-infinity',
              (SELECT max(start_time) FROM cron.job_run_details))) o});
cmp_ok($expected, '>=', 3, 'the contract had at least three occurrences by now');
is( $node->safe_psql('postgres', 'SELECT count(*) FROM ticketdesk.service_occurrence'),
	$expected, 'one scheduled ticket per occurrence, none twice');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM ticketdesk.ticket k JOIN ticketdesk.ticket_type y USING (tenant_id, type_id)
           WHERE y.code = 'scheduled_service' AND k.channel = 'schedule'}),
	$expected, 'the scheduled tickets exist, opened by the schedule');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(kind || ' ' || key, ', ') FROM ticketdesk.automation_notice}),
	'escalation level 1', 'the overdue ticket was escalated once');

$node->stop;
done_testing();

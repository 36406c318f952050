# Copyright: ticketdesk contributors
#
# 022_automation_worker: the notification worker runs the time-driven jobs on
# the cadence ticketdesk.jobs_interval, and 0 switches its schedule off (for
# DBAs who use pg_cron instead).
#
# The story: a node preloads ticketdesk with jobs_interval = 1s. A daily
# service contract that started three days ago is added: the worker makes
# its missed tickets without anyone calling the job. Then jobs_interval is
# set to 0 and the configuration reloaded: a second contract stays without
# tickets, until the job is called by hand.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'ticketdesk'
ticketdesk.jobs_interval = 1s
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION ticketdesk');
$node->safe_psql('postgres', 'SELECT ticketdesk.notify_start_workers()');
$node->safe_psql('postgres', q{
INSERT INTO ticketdesk.center (code, name) VALUES ('field', 'Field service');
INSERT INTO ticketdesk.customer (name) VALUES ('ACME');
SELECT ticketdesk.add_service_contract('Daily round', 1, 'FREQ=DAILY',
       (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '3 days' + interval '1 hour')::timestamp,
       customer_id => 1);
});
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) >= 3 FROM ticketdesk.service_occurrence WHERE contract_id = 1}),
	'the worker made the missed visits\' tickets by itself');

$node->append_conf('postgresql.conf', 'ticketdesk.jobs_interval = 0');
$node->reload;
sleep(2);
$node->safe_psql('postgres', q{
SELECT ticketdesk.add_service_contract('Second round', 1, 'FREQ=DAILY',
       (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '3 days' + interval '1 hour')::timestamp,
       customer_id => 1);
});
sleep(5);
is($node->safe_psql('postgres', 'SELECT count(*) FROM ticketdesk.service_occurrence WHERE contract_id = 2'),
	'0', 'with jobs_interval = 0 the worker runs no job');
cmp_ok($node->safe_psql('postgres', 'SELECT ticketdesk.generate_scheduled_tickets()'),
	'>=', 3, 'the job called by hand (or by pg_cron) makes them');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM ticketdesk.ticket k WHERE NOT EXISTS
             (SELECT 1 FROM ticketdesk.service_occurrence o WHERE o.ticket_id = k.ticket_id)}),
	'0', 'every ticket belongs to one occurrence');

$node->stop;
done_testing();


# Copyright: ticketdesk contributors
#
# 010_routing_counters: the load counters stay true under concurrent load.
#
# The story: ten fitters in two centres, some with load caps, share a
# two-stage workflow. pgbench runs 10,000 random operations from 2 clients
# at once: opens with automatic routing and with an explicit assignee,
# lifecycle moves, resolves, reassignments, stage hand-overs, priority
# changes, and absences that come and go. Refused moves (an invalid
# transition for the ticket's current status) and deadlock victims are
# caught inside the operation, so every client runs to the end; any other
# error fails the run. Afterwards every agent's counters equal the true
# count and priority-weighted sum of the tickets they hold in a working
# status, and routing did happen (events of kind "routing").

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('routing_counters');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'ticketdesk'\nfsync = off\n");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION ticketdesk;
SET search_path = ticketdesk, public;
INSERT INTO center (code, name) VALUES ('service', 'Field service');
INSERT INTO center (code, name, parent_id) VALUES ('north', 'North branch', 1);
INSERT INTO agent (name) SELECT 'Agent ' || i FROM generate_series(1, 12) AS i;
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher'), (1, 2, 'executor'), (1, 3, 'executor'), (1, 4, 'executor'),
       (2, 5, 'executor'), (2, 6, 'executor'), (2, 7, 'executor'), (1, 8, 'executor'),
       (1, 9, 'executor'), (2, 10, 'executor'), (2, 11, 'executor'), (1, 12, 'executor');
INSERT INTO profile (kind, code, name) VALUES ('employee', 'fitter', 'Fitter'), ('employee', 'inspector', 'Inspector');
INSERT INTO agent_profile (agent_id, profile_id)
SELECT a, 1 FROM generate_series(2, 11) AS a UNION ALL SELECT a, 2 FROM generate_series(8, 12) AS a;
UPDATE agent_load SET load_cap = 5 WHERE agent_id IN (3, 6);
SELECT create_workflow('repair', 'Repair', ARRAY['fitter', 'inspector']);
INSERT INTO ticket_type (code, name, workflow_id) VALUES ('repair', 'Repair', 1);
INSERT INTO customer (name) SELECT 'Customer ' || i FROM generate_series(1, 20) AS i;

-- One random operation; a refusal by the lifecycle (class TD) or a deadlock
-- is part of the game, anything else is a failure.
CREATE FUNCTION public.random_op() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    op    integer := 1 + floor(random() * 12)::integer;
    t     bigint;
    agent bigint := 2 + floor(random() * 11)::integer;
    cust  bigint := 1 + floor(random() * 20)::integer;
BEGIN
    SELECT k.ticket_id INTO t FROM ticketdesk.ticket k
     WHERE k.ticket_id >= floor(random() * (SELECT coalesce(max(x.ticket_id), 0) FROM ticketdesk.ticket x))
     ORDER BY k.ticket_id LIMIT 1;
    IF t IS NULL OR op <= 3 THEN
        PERFORM ticketdesk.open_ticket(subject => 'Random', center_id => 1 + floor(random() * 2)::integer,
                                       customer_id => cust, type => 'repair',
                                       parent_id => CASE WHEN random() < 0.2 THEN t END);
        RETURN;
    END IF;
    BEGIN
        CASE op
        WHEN 4 THEN PERFORM ticketdesk.open_ticket(subject => 'Picked', center_id => 1, customer_id => cust,
                                                   type => 'repair', assignee_id => agent);
        WHEN 5 THEN PERFORM ticketdesk.start_work(t);
        WHEN 6 THEN PERFORM ticketdesk.wait_for_customer(t);
        WHEN 7 THEN PERFORM ticketdesk.resolve(t, 'Done');
        WHEN 8 THEN PERFORM ticketdesk.assign(t, agent);
        WHEN 9 THEN PERFORM ticketdesk.advance(t, resolution => CASE WHEN random() < 0.5 THEN 'Finished' END);
        WHEN 10 THEN PERFORM ticketdesk.move(t, (ARRAY['new', 'in_progress', 'closed', 'cancelled', 'acknowledged']
                                                 ::ticketdesk.ticket_status[])[1 + floor(random() * 5)::integer]);
        WHEN 11 THEN UPDATE ticketdesk.ticket SET priority = (ARRAY['low', 'normal', 'high', 'urgent']
                                 ::ticketdesk.ticket_priority[])[1 + floor(random() * 4)::integer]
                      WHERE ticket_id = t;
        ELSE
            IF random() < 0.5 THEN
                INSERT INTO ticketdesk.agent_absence (agent_id, during)
                VALUES (agent, tstzrange(now() - interval '1 hour', now() + interval '1 hour'));
            ELSE
                DELETE FROM ticketdesk.agent_absence WHERE agent_id = agent;
            END IF;
        END CASE;
    EXCEPTION
        WHEN deadlock_detected THEN NULL;
        WHEN OTHERS THEN
            IF left(SQLSTATE, 2) <> 'TD' THEN
                RAISE;
            END IF;
    END;
END $$;
});

my $script = $node->basedir . '/random_ops.sql';
PostgreSQL::Test::Utils::append_to_file($script, "SELECT random_op();\n");

$node->command_ok(
	[ 'pgbench', '-n', '-c', '2', '-j', '2', '-t', '5000', '-f', $script, '-p', $node->port, '-h', $node->host,
	  'postgres' ],
	'10,000 random operations from 2 concurrent clients run without an unexpected error');

my $mix = $node->safe_psql(
	'postgres', q{
SELECT count(*) > 1000, count(DISTINCT status) >= 5, (SELECT count(*) FROM ticketdesk.ticket_event WHERE kind = 'routing') > 500
  FROM ticketdesk.ticket});
is($mix, 't|t|t', 'the run opened many tickets, moved them through the lifecycle and routed them');

my $wrong = $node->safe_psql(
	'postgres', q{
WITH truth AS (
    SELECT a.agent_id, count(k.ticket_id) AS n, coalesce(sum(ticketdesk.priority_weight(k.priority)), 0) AS w
      FROM ticketdesk.agent a
      LEFT JOIN ticketdesk.ticket k ON k.tenant_id = a.tenant_id AND k.assignee_id = a.agent_id
           AND k.status IN ('assigned', 'acknowledged', 'in_progress')
     GROUP BY a.agent_id)
SELECT coalesce(string_agg(format('agent %s: counter %s/%s, true %s/%s', l.agent_id, l.open_tickets,
                                  l.weighted_load, t.n, t.w), '; '), 'none')
  FROM ticketdesk.agent_load l JOIN truth t USING (agent_id)
 WHERE l.open_tickets <> t.n OR l.weighted_load <> t.w});
is($wrong, 'none', 'every load counter equals the true count and weighted sum');

is($node->safe_psql('postgres', 'SELECT ticketdesk.rebuild_loads()'), '0', 'rebuild_loads finds nothing to correct');

$node->stop;
done_testing();


# Copyright: ticketdesk contributors
#
# 002_without_preload: ticketdesk works when it is not in
# shared_preload_libraries, and its settings behave when a session sets them
# before the library is loaded.
#
# The story: a node with no preload. CREATE EXTENSION works, a ticket is
# opened and moved. A second tenant is made with create_tenant and given a
# ticket type of its own. A role without superuser rights (so row-level
# security applies to it) reads the tables: in a fresh session, SET
# ticketdesk.tenant = 2 is accepted before the library is loaded (as a
# placeholder) and is honoured once a query loads it; the same holds for
# -c ticketdesk.tenant=2 given at connection time. Once loaded,
# ticketdesk.max_attachment_size shows its default of 10MB. No notification
# worker runs: ticketdesk.notify_worker is defined only while preloading,
# and the requester's thanks for the ticket waits in the outbox, unsent.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
# An SMTP server where nothing listens: a worker, were there one, would try
# the requester's mail and record its failure (section 5).
my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
$node->append_conf('postgresql.conf', "ticketdesk.smtp_url = 'smtp://127.0.0.1:$smtp_port'");
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'the node preloads no library');

# Runs SQL in a fresh session; returns its output, or "ERROR: ..." when it fails.
sub query
{
	my ($sql, %params) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr, %params);
	return $stdout if $rc == 0;
	$stderr =~ s/\n.*//s;
	$stderr =~ s/^psql:<stdin>:\d+: //;
	return "ERROR: $stderr";
}

# ---------------------------------------------------------------------------
# 1. The extension installs and its ticket lifecycle works.
# ---------------------------------------------------------------------------
is(query('CREATE EXTENSION ticketdesk'), '', 'CREATE EXTENSION ticketdesk works without preloading');
is(query(q{SELECT extversion FROM pg_extension WHERE extname = 'ticketdesk'}),
	query(q{SELECT default_version FROM pg_available_extensions WHERE name = 'ticketdesk'}),
	'the extension is installed in its default version');

my $setup = query(
	q{
INSERT INTO ticketdesk.center (code, name) VALUES ('it', 'IT support');
INSERT INTO ticketdesk.agent (name, email) VALUES ('Ada', 'ada@desk.test'), ('Bob', NULL);
SELECT (SELECT center_id FROM ticketdesk.center WHERE tenant_id = 1 AND code = 'it') || ' ' ||
       (SELECT agent_id FROM ticketdesk.agent WHERE tenant_id = 1 AND name = 'Ada') || ' ' ||
       (SELECT agent_id FROM ticketdesk.agent WHERE tenant_id = 1 AND name = 'Bob');
});
like($setup, qr/^\d+ \d+ \d+$/, 'a centre and two agents are created in the default tenant');
my ($center, $ada, $bob) = split / /, $setup;

my $ticket = query(
	qq{SELECT (ticketdesk.open_ticket('Printer jams', $center, requester_agent_id => $ada)).ticket_id});
like($ticket, qr/^\d+$/, 'a ticket is opened');
is(query("SELECT status FROM ticketdesk.ticket WHERE tenant_id = 1 AND ticket_id = $ticket"),
	'new', 'the ticket starts as new');
is(query("SELECT (ticketdesk.assign($ticket, $bob, 'Bob knows printers')).status"),
	'assigned', 'assigning moves it to assigned');
is(query("SELECT (ticketdesk.start_work($ticket)).status"),
	'in_progress', 'starting work moves it to in_progress');
is(query("SELECT (ticketdesk.resolve($ticket, 'Replaced the roller')).status"),
	'resolved', 'resolving moves it to resolved');
like(query("SELECT ticketdesk.move($ticket, 'waiting')"),
	qr/^ERROR: .*cannot move from resolved to waiting/,
	'a move the transition table does not allow (resolved to waiting) is refused');
is( query(
		qq{SELECT string_agg(new_value, ',' ORDER BY event_id) FROM ticketdesk.ticket_event
            WHERE tenant_id = 1 AND ticket_id = $ticket AND kind = 'status'}),
	'assigned,in_progress,resolved', 'the history trigger recorded each status change');

# ---------------------------------------------------------------------------
# 2. A second tenant, different from the default one, and a role to which
#    row-level security applies.
# ---------------------------------------------------------------------------
my $tenant2 = query(q{SELECT ticketdesk.create_tenant('north', 'North region')});
is($tenant2, '2', 'create_tenant makes a second tenant with id 2');
is( query(
		qq{SET ticketdesk.tenant = $tenant2;
           INSERT INTO ticketdesk.ticket_type (code, name) VALUES ('maintenance', 'Maintenance');
           SELECT tenant_id || ':' || count(*) FROM ticketdesk.ticket_type GROUP BY tenant_id ORDER BY tenant_id}),
	"1:5\n2:6",
	'the default tenant has 5 ticket types, the second tenant 6 (one of its own)');

is( query(
		q{CREATE ROLE desk_reader LOGIN;
          GRANT USAGE ON SCHEMA ticketdesk TO desk_reader;
          GRANT SELECT ON ALL TABLES IN SCHEMA ticketdesk TO desk_reader;
          SELECT rolsuper FROM pg_roles WHERE rolname = 'desk_reader'}),
	'f', 'a non-superuser role desk_reader may read the ticketdesk tables');

my $reader = $node->connstr('postgres') . ' user=desk_reader';

# Runs SQL as desk_reader in a fresh session, with extra libpq options if given.
sub as_reader
{
	my ($sql, $options) = @_;
	my $connstr = $reader;
	$connstr .= " options='$options'" if defined $options;
	return query($sql, connstr => $connstr);
}

# A check that the library is not loaded yet in a fresh session: its
# reserved setting max_attachment_size does not exist until _PG_init runs.
like(as_reader('SHOW ticketdesk.max_attachment_size'),
	qr/^ERROR: .*unrecognized configuration parameter "ticketdesk.max_attachment_size"/,
	'a fresh session has not loaded the library (its settings are not defined yet)');

is(as_reader('SELECT count(*) FROM ticketdesk.ticket_type'),
	'5', 'desk_reader without a setting sees the default tenant: 5 ticket types');
is(as_reader('SELECT count(*) FROM ticketdesk.ticket'),
	'1', 'desk_reader without a setting sees the default tenant\'s ticket');

# ---------------------------------------------------------------------------
# 3. SET before the library is loaded: a placeholder, honoured on load.
# ---------------------------------------------------------------------------
# A placeholder is not a real setting yet: pg_settings does not list it, and
# none of the extension's settings exist in the session.
is( as_reader(
		qq{SET ticketdesk.tenant = $tenant2;
           SHOW ticketdesk.tenant;
           SELECT count(*) FROM pg_settings WHERE name LIKE 'ticketdesk.%'}),
	"$tenant2\n0",
	'SET ticketdesk.tenant = 2 before the library is loaded is accepted as a placeholder');
is( as_reader(
		qq{SET ticketdesk.tenant = $tenant2;
           SELECT count(*) FROM ticketdesk.ticket_type}),
	'6', 'after SET ticketdesk.tenant = 2 in a fresh session, desk_reader sees the second tenant\'s 6 types');
is( as_reader(
		qq{SET ticketdesk.tenant = $tenant2;
           SELECT count(*) FROM ticketdesk.ticket;
           SELECT count(*) FROM ticketdesk.ticket_type WHERE code = 'maintenance';
           SELECT vartype || ' ' || setting FROM pg_settings WHERE name = 'ticketdesk.tenant';
           SELECT ticketdesk.current_tenant()}),
	"0\n1\ninteger $tenant2\n$tenant2",
	'once loaded, the placeholder became the integer setting 2: no default-tenant ticket, the own type');

is(as_reader('SELECT count(*) FROM ticketdesk.ticket_type', "-c ticketdesk.tenant=$tenant2"),
	'6', 'a session started with -c ticketdesk.tenant=2 sees the second tenant\'s 6 types');
is(as_reader('SELECT count(*) FROM ticketdesk.ticket', "-c ticketdesk.tenant=$tenant2"),
	'0', 'a session started with -c ticketdesk.tenant=2 sees none of the default tenant\'s tickets');
is( as_reader(
		q{SELECT count(*) FROM ticketdesk.ticket_type;
          SET ticketdesk.tenant = 1;
          SELECT count(*) FROM ticketdesk.ticket_type},
		"-c ticketdesk.tenant=$tenant2"),
	"6\n5", 'after load, SET ticketdesk.tenant = 1 switches the session back to the default tenant');

# ---------------------------------------------------------------------------
# 4. The other settings exist once the library is loaded.
# ---------------------------------------------------------------------------
is( as_reader(
		q{SELECT ticketdesk.current_tenant();
          SHOW ticketdesk.max_attachment_size}),
	"1\n10MB", 'once loaded, SHOW ticketdesk.max_attachment_size shows the default 10MB');
is(as_reader('SELECT ticketdesk.max_attachment_bytes(); SHOW ticketdesk.max_attachment_size'),
	"10485760\n10MB", 'max_attachment_bytes() agrees: 10485760 bytes');
like(as_reader('SELECT ticketdesk.current_tenant(); SET ticketdesk.max_attachment_size = 1024'),
	qr/^ERROR: .*permission denied to set parameter "ticketdesk.max_attachment_size"/,
	'desk_reader may not change ticketdesk.max_attachment_size (superuser only)');

# ---------------------------------------------------------------------------
# 5. No worker: the requester's message is queued and stays queued.
# ---------------------------------------------------------------------------
# Checked last, after the sessions above came and went, so that a worker
# would have had the time to show up and to try the message. (On a node that
# preloads ticketdesk the launcher is in pg_stat_activity: 003_notify.)
is( query(
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'ticketdesk%'}),
	'0', 'no ticketdesk launcher or worker is in pg_stat_activity');
is( query(
		qq{SELECT status || ' ' || attempts || ' ' || recipient || ' ' ||
                  (sent_at IS NULL AND leased_until IS NULL AND last_error IS NULL)
             FROM ticketdesk.outbox
            WHERE tenant_id = 1 AND ticket_id = $ticket AND event = 'registered'}),
	'queued 0 ada@desk.test true',
	'the ticket\'s "registered" message to Ada is queued, never tried, not sent');
# ticketdesk.notify_worker is defined only while the library is preloaded:
# once it is loaded in a session, the name is still unknown (and, the prefix
# being reserved, it cannot be set as a placeholder either).
like(query('SELECT ticketdesk.current_tenant(); SHOW ticketdesk.notify_worker'),
	qr/^ERROR: .*unrecognized configuration parameter "ticketdesk.notify_worker"/,
	'SHOW ticketdesk.notify_worker: unrecognized, also with the library loaded');
like(query('SELECT ticketdesk.current_tenant(); SET ticketdesk.notify_worker = on'),
	qr/^ERROR: .*invalid configuration parameter name "ticketdesk.notify_worker"/,
	'SET ticketdesk.notify_worker is refused: "ticketdesk" is a reserved prefix');

$node->stop;
done_testing();


# Copyright: ticketdesk contributors
#
# 080_rls_attacks: the attack tests of issue 8, over real connections as real
# login roles (not SET ROLE by a superuser): each login connects with its own
# user name (trust authentication on the node's socket), so the role's
# defaults, its mapping and pinning, and connection options all take part.
#
# The cast: requesters ann (Initech) and ben (Globex); xavier, an agent of
# the network team; yara, an agent of facilities; dora, dispatcher of the
# helpdesk (network is below it); webform, an intake source; olga, the
# administrator of tenant 1; otto, the administrator of tenant 2. Also the
# history retention and the secrets table, attacked the same way.
#
# Each attack asserts its exact SQLSTATE (42501 or a TD code). Reads that
# row-level security filters return no rows rather than an error (that is how
# a policy answers a SELECT); they are asserted as zero rows, with a control
# showing the same query returns rows to someone entitled.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('rls_attacks');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'ticketdesk'\nticketdesk.notify_worker = off\n");
$node->start;

# Runs SQL as a login in a fresh session (its own connection). Returns
# (sqlstate or 'OK', stdout, stderr).
sub run_as
{
	my ($user, $sql, $options) = @_;
	my $connstr = $node->connstr('postgres') . " user=$user";
	$connstr .= " options='$options'" if defined $options;
	my ($stdout, $stderr);
	my $rc = $node->psql(
		'postgres', "\\set VERBOSITY verbose\nSET search_path = ticketdesk, public;\n$sql",
		stdout => \$stdout,
		stderr => \$stderr,
		connstr => $connstr);
	return ('OK', $stdout, $stderr) if $rc == 0;
	return ($1, $stdout, $stderr) if $stderr =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ("unparsed error: $stderr", $stdout, $stderr);
}

# The SQLSTATE a statement fails with as a login, or 'OK'.
sub state_as { my ($state) = run_as(@_); return $state; }

# The output of a query as a login; a failure shows as "ERROR <sqlstate>".
sub rows_as
{
	my ($state, $stdout) = run_as(@_);
	return $state eq 'OK' ? $stdout : "ERROR $state";
}

sub su { return $node->safe_psql('postgres', "SET search_path = ticketdesk, public;\n$_[0]"); }

# ---------------------------------------------------------------------------
# 0. The desk, the logins and their mappings.
# ---------------------------------------------------------------------------
su(q{
CREATE EXTENSION ticketdesk;
CREATE ROLE ann LOGIN IN ROLE ticketdesk_requester;
CREATE ROLE ben LOGIN IN ROLE ticketdesk_requester;
CREATE ROLE xavier LOGIN IN ROLE ticketdesk_agent;
CREATE ROLE yara LOGIN IN ROLE ticketdesk_agent;
CREATE ROLE dora LOGIN IN ROLE ticketdesk_dispatcher;
CREATE ROLE webform LOGIN IN ROLE ticketdesk_intake;
CREATE ROLE olga LOGIN IN ROLE ticketdesk_admin;
CREATE ROLE otto LOGIN IN ROLE ticketdesk_admin;
ALTER ROLE otto SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk');
INSERT INTO center (code, name, parent_id) VALUES ('network', 'Network team', 1);
INSERT INTO center (code, name) VALUES ('facilities', 'Facilities');
INSERT INTO internal_category (code, name) VALUES ('hw', 'Hardware');
INSERT INTO agent (name, phone, email, login_role) VALUES
    ('Xavier', '+1 555 0101', 'xavier@desk.example', 'xavier'),
    ('Yara', '+1 555 0102', 'yara@desk.example', 'yara'),
    ('Dora', '+1 555 0103', 'dora@desk.example', 'dora'),
    ('Olga', '+1 555 0104', 'olga@desk.example', 'olga');
INSERT INTO center_member (center_id, agent_id, role) VALUES (2, 1, 'executor'), (3, 2, 'executor'), (1, 3, 'dispatcher');
INSERT INTO customer (name) VALUES ('Initech'), ('Globex');
INSERT INTO contact (customer_id, name, email, login_role) VALUES
    (1, 'Ann', 'ann@initech.example', 'ann'), (2, 'Ben', 'ben@globex.example', 'ben');
INSERT INTO intake_source (login_role, center_id, max_per_hour) VALUES ('webform', 1, 5);
SELECT open_ticket('Router down', 2, customer_id => 1, contact_id => 1);
SELECT open_ticket('Door jammed: Ben''s secret', 3, customer_id => 2, contact_id => 2, assignee_id => 2);
UPDATE ticket SET internal_category_id = 1 WHERE ticket_id IN (1, 2);
SELECT comment(1, 'We are on it'), comment(1, 'Internal: Ann''s boss is touchy', internal => true),
       comment(2, 'Ben-public-remark'), comment(2, 'Ben-internal-remark', internal => true);
SELECT attach(1, 'router.png', '\x01'::bytea), attach(2, 'ben-door.png', '\x02'::bytea);
SELECT create_tenant('north', 'North');
SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('north', 'North desk');
INSERT INTO customer (name) VALUES ('Northwind');
INSERT INTO agent (name, login_role) VALUES ('Otto', 'otto');
SELECT open_ticket('Tenant-2 secret', (SELECT center_id FROM center WHERE code = 'north'),
                   customer_id => (SELECT customer_id FROM customer WHERE name = 'Northwind'));
});
my $t2_ticket = su(q{SELECT ticket_id FROM ticket WHERE tenant_id = 2});
my $t2_center = su(q{SELECT center_id FROM center WHERE tenant_id = 2});
like($t2_ticket, qr/^\d+$/, 'tenant 2 has a ticket of its own');

# Controls: the same queries answer the entitled.
is(rows_as('ann', 'SELECT ticket_id FROM ticket ORDER BY 1'), '1', 'control: ann sees her own ticket 1');
is(rows_as('ben', 'SELECT count(*) FROM message WHERE ticket_id = 2'), '1',
	'control: ben sees the public remark of his ticket 2');
is(rows_as('otto', 'SELECT count(*) FROM ticket'), '1', 'control: otto sees tenant 2\'s ticket');

# ---------------------------------------------------------------------------
# 1. Requester ann tries to read ben's ticket, messages and attachments.
# ---------------------------------------------------------------------------
is(rows_as('ann', 'SELECT count(*) FROM ticket WHERE ticket_id = 2'), '0', 'ann: SELECT of ben\'s ticket finds no row');
is(rows_as('ann', 'SELECT count(*) FROM message WHERE ticket_id = 2'), '0', 'ann: SELECT of ben\'s remarks finds no row');
is(rows_as('ann', 'SELECT count(*) FROM attachment WHERE ticket_id = 2'), '0', 'ann: SELECT of ben\'s attachments finds no row');
is(rows_as('ann', 'SELECT count(*) FROM message WHERE internal'), '0', 'ann: not even her own ticket\'s internal remark');
is(state_as('ann', q{SELECT * FROM ticket_by_reference('TD-000002')}), '42501', 'ann: ticket_by_reference is not hers (42501)');
is(state_as('ann', 'SELECT * FROM ticket_history(2)'), 'TD201', 'ann: ticket_history of ben\'s ticket: no such ticket (TD201)');
is(state_as('ann', 'SELECT * FROM ticket_history(1)'), '42501', 'ann: ticket_history reads the event table, which is not hers (42501)');
is(state_as('ann', q{SELECT comment(2, 'Let me in', author_contact_id => 1)}), 'TD201', 'ann: comment on ben\'s ticket (TD201)');
is(state_as('ann', q{SELECT attach(2, 'x.txt', '\x00'::bytea)}), 'TD201', 'ann: attach to ben\'s ticket (TD201)');
is(state_as('ann', 'SELECT e.kind FROM ticket_event e WHERE e.ticket_id = 2'), '42501', 'ann: SELECT from ticket_event (42501)');
is(state_as('ann', 'SELECT t.subject FROM ticket t JOIN ticket_event e USING (tenant_id, ticket_id)'),
	'42501', 'ann: a join through ticket_event (42501)');
is(state_as('ann', 'SELECT m.body FROM ticket_event e JOIN message m USING (tenant_id, ticket_id)'),
	'42501', 'ann: a join from ticket_event to message (42501)');
is(state_as('ann', q{INSERT INTO message (ticket_id, body, author_contact_id) VALUES (2, 'hi', 1)}),
	'42501', 'ann: INSERT of a remark on ben\'s ticket (42501, policy)');

# A leaky function in the WHERE clause runs only on rows the policy let through.
my ($state, $out, $err) = run_as(
	'ann', q{
CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'leaked: %', $1;
    RETURN true;
END $$;
SELECT count(*) FROM message WHERE pg_temp.leak(body);
SELECT count(*) FROM attachment WHERE pg_temp.leak(filename);
SELECT count(*) FROM contact WHERE pg_temp.leak(name);});
is($state, 'OK', 'ann may run a leaky function of her own over what she sees');
unlike($err, qr/Ben|Internal/, 'the leaky function never saw ben\'s rows or internal remarks');
like($err, qr/leaked: We are on it/, 'control: it saw her own public remark');

# ---------------------------------------------------------------------------
# 2. An agent of network (xavier) tries to close facilities' ticket 2.
# ---------------------------------------------------------------------------
is(state_as('xavier', 'SELECT close(2)'), 'TD201', 'xavier: close() of a facilities ticket: no such ticket (TD201)');
is(rows_as('xavier', q{UPDATE ticket SET status = 'closed' WHERE ticket_id = 2 RETURNING ticket_id}), '',
	'xavier: UPDATE of the facilities ticket touches no row');
is(state_as('xavier', q{SELECT cancel(2, 'gone')}), 'TD201', 'xavier: cancel() of it (TD201)');
is(state_as('dora', 'SELECT assign(2, 1)'), 'TD201', 'dora: a dispatcher of helpdesk cannot assign a facilities ticket (TD201)');
is(su(q{SELECT status FROM ticket WHERE ticket_id = 2}), 'assigned', 'ticket 2 is still assigned');

# ---------------------------------------------------------------------------
# 3. Requester ann tries to set what belongs to the desk on her own ticket.
# ---------------------------------------------------------------------------
is(state_as('ann', 'UPDATE ticket SET dispatcher_weight = 5 WHERE ticket_id = 1'), '42501', 'ann: dispatcher weight (42501)');
is(state_as('ann', 'UPDATE ticket SET internal_category_id = NULL WHERE ticket_id = 1'), '42501', 'ann: internal category (42501)');
is(state_as('ann', q{UPDATE ticket SET priority_fixed = true, priority = 'urgent' WHERE ticket_id = 1}), '42501',
	'ann: priority override (42501)');
is(state_as('ann', q{SELECT fix_priority(1, 'urgent')}), '42501', 'ann: fix_priority (42501)');
is(state_as('ann', 'UPDATE ticket SET assignee_id = 1 WHERE ticket_id = 1'), '42501', 'ann: assignee (42501)');
is(state_as('ann', 'SELECT assign(1, 1)'), '42501', 'ann: assign() (42501)');
is(state_as('ann', 'SELECT correct(1, dispatcher_weight => 5)'), '42501', 'ann: correct() (42501)');
is(state_as('ann', 'SELECT internal_category_id FROM ticket'), '42501', 'ann: reading the internal category (42501)');
is(state_as('ann', 'SELECT phone FROM agent'), '42501', 'ann: reading agents\' phone numbers (42501)');
is(su('SELECT dispatcher_weight IS DISTINCT FROM 5 AND NOT priority_fixed AND assignee_id IS NULL FROM ticket WHERE ticket_id = 1'),
	't', 'ticket 1 kept its weight, priority and (no) assignee');

# ---------------------------------------------------------------------------
# 4. Tenant 1 sessions try to read, insert into and update tenant 2.
# ---------------------------------------------------------------------------
for my $who (qw(ann xavier olga))
{
	is(rows_as($who, 'SELECT count(*) FROM ticket WHERE tenant_id = 2'), '0', "$who: SELECT with tenant_id = 2 finds nothing");
	is(rows_as($who, 'SELECT count(*) FROM center WHERE tenant_id = 2'), '0', "$who: tenant 2's centres are invisible");
	is(state_as($who, "SET ticketdesk.tenant = 2;\nSELECT count(*) FROM ticket"), 'TD700',
		"$who: SET ticketdesk.tenant = 2 is refused at the first query (TD700)");
	is(state_as($who, 'SELECT count(*) FROM ticket', '-c ticketdesk.tenant=2'), 'TD700',
		"$who: ticketdesk.tenant=2 as a connection option is refused too (TD700)");
}
is(state_as('olga', qq{INSERT INTO center (tenant_id, code, name) VALUES (2, 'sneak', 'Sneak')}), '42501',
	'olga: INSERT of a tenant-2 centre (42501)');
is(state_as('olga', qq{INSERT INTO ticket (tenant_id, type_id, center_id, subject, customer_id) VALUES (2, 1, $t2_center, 'x', 1)}),
	'42501', 'olga: INSERT of a tenant-2 ticket (42501)');
is(rows_as('olga', qq{UPDATE ticket SET subject = 'pwned' WHERE tenant_id = 2 RETURNING ticket_id}), '',
	'olga: UPDATE of tenant 2\'s ticket touches no row');
is(rows_as('olga', qq{DELETE FROM center WHERE tenant_id = 2 RETURNING center_id}), '', 'olga: DELETE of tenant 2\'s centre touches no row');
is(state_as('olga', 'UPDATE center SET tenant_id = 2 WHERE center_id = 3'), 'TD403', 'olga: moving a centre to tenant 2 (TD403: a row never changes tenant)');
is(state_as('ann', q{INSERT INTO ticket (tenant_id, type_id, center_id, subject, contact_id) VALUES (2, 1, 1, 'Sneak in', 1)}),
	'42501', 'ann: INSERT of a tenant-2 ticket (42501)');
is(state_as('otto', 'SELECT count(*) FROM ticket', '-c ticketdesk.tenant=1'), 'TD700', 'otto (tenant 2) cannot act for tenant 1 (TD700)');
is(su(qq{SELECT subject FROM ticket WHERE ticket_id = $t2_ticket}), 'Tenant-2 secret', 'tenant 2\'s ticket is unchanged');

# ---------------------------------------------------------------------------
# 5. The intake submits, and nothing else.
# ---------------------------------------------------------------------------
like(rows_as('webform', q{SELECT submit_request('eve@example.com', 'Printer on fire', 'Help')}), qr/^TD-\d+$/,
	'control: webform submits a request and gets its reference');
is(state_as('webform', 'SELECT count(*) FROM ticket'), '42501', 'webform: SELECT from ticket (42501)');
is(state_as('webform', 'SELECT count(*) FROM contact'), '42501', 'webform: SELECT from contact (42501)');
is(state_as('webform', 'SELECT count(*) FROM intake_submission'), '42501', 'webform: SELECT of the submissions (42501)');
is(state_as('webform', q{SELECT open_ticket('Direct', 1)}), '42501', 'webform: open_ticket (42501)');
is(state_as('webform', q{SELECT comment(1, 'hi')}), '42501', 'webform: comment (42501)');
is(state_as('webform', q{UPDATE ticket SET status = 'cancelled'}), '42501', 'webform: UPDATE of ticket (42501)');
is(state_as('webform', q{INSERT INTO ticket_event (ticket_id, kind) VALUES (1, 'x')}), '42501', 'webform: INSERT into the history (42501)');
is(state_as('webform', q{SELECT intake_submit('ann', 'eve@example.com', 'As ann', NULL)}), 'TD714',
	'webform: intake_submit naming another role (TD714)');
is(state_as('webform', q{SELECT submit_request('eve@example.com', repeat('x', 1024 * 1024))}), 'TD711',
	'webform: a 1 MB subject (TD711)');
is(state_as('webform', q{SELECT submit_request('eve@example.com', 'Hi', repeat('x', 20001))}), 'TD712', 'webform: a too long body (TD712)');
is(state_as('webform', q{SELECT submit_request('not an address', 'Hi')}), 'TD710', 'webform: a sender that is no address (TD710)');

# 1,000 submits from one sender, each its own statement on one connection.
my $flood = "\\set ON_ERROR_STOP 0\n"
  . join('', map { "SELECT submit_request('mallory\@example.com', 'Spam $_');\n" } 1 .. 1000);
($state, $out, $err) = run_as('webform', $flood);
my $accepted = () = $out =~ /^TD-\d+$/mg;
my $refused = () = $err =~ /ERROR:\s+TD713:/g;
is("$accepted/$refused", '5/995', '1,000 submits from one sender: 5 accepted (max_per_hour), 995 refused with TD713');
is(su(q{SELECT count(*) FROM intake_submission WHERE sender = 'mallory@example.com'}), '5', 'five submissions recorded');

# ---------------------------------------------------------------------------
# 6. search_path hijack: objects planted earlier in the path are not used by
#    ticketdesk's SECURITY DEFINER functions.
# ---------------------------------------------------------------------------
su(q{
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE TABLE evil.calls (who name, what text);
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES (current_user, 'lower');
    RETURN pg_catalog.lower($1);
END $$;
CREATE FUNCTION evil.pg_has_role(name, text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES (current_user, 'pg_has_role');
    RETURN true;
END $$;
CREATE FUNCTION evil.texteq_evil(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES (current_user, 'operator =');
    RETURN pg_catalog.texteq($1, $2);
END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq_evil);
CREATE FUNCTION evil.hashtext(text) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES (current_user, 'hashtext');
    RETURN 0;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA evil TO PUBLIC;
});
like(
	rows_as(
		'webform', q{SET search_path = evil, ticketdesk, pg_catalog;
SELECT submit_request('trudy@example.com', 'Via the path')}),
	qr/^TD-\d+$/,
	'webform with evil first in search_path still submits');
is(rows_as('ann', q{SET search_path = evil, ticketdesk, pg_catalog;
SELECT ticket_id FROM ticketdesk.ticket ORDER BY 1}), '1', 'ann with evil first in search_path sees her ticket');
is(su(q{SELECT count(*) FROM evil.calls}), '0', 'no planted function or operator was called by a SECURITY DEFINER function');

# pg_temp: a temporary table shadowing one a SECURITY DEFINER function reads
# (pg_temp is searched first for tables unless a function names it last).
is( rows_as(
		'ann', q{CREATE TEMP TABLE contact (tenant_id integer, contact_id bigint, customer_id bigint, login_role name);
INSERT INTO pg_temp.contact VALUES (1, 2, 2, 'ann');
CREATE TEMP TABLE agent (tenant_id integer, agent_id bigint, login_role name, active boolean);
INSERT INTO pg_temp.agent VALUES (1, 3, 'ann', true);
SET search_path = pg_temp, ticketdesk, pg_catalog;
SELECT string_agg(ticket_id::text, ',' ORDER BY ticket_id) FROM ticketdesk.ticket}),
	'1', 'ann\'s temporary contact and agent tables do not make her ben or dora');
like(
	rows_as(
		'webform', q{CREATE TEMP TABLE intake_source (tenant_id integer, login_role name, center_id bigint, max_per_hour integer);
INSERT INTO pg_temp.intake_source VALUES (1, 'webform', 1, 1000000);
SET search_path = pg_temp, ticketdesk, pg_catalog;
SELECT submit_request('mallory@example.com', 'One more')}),
	qr/^ERROR TD713$/,
	'webform\'s temporary intake_source does not lift the rate limit (TD713)');

# ---------------------------------------------------------------------------
# 7. SQL injection through names, subjects and template placeholders: values
#    stay values.
# ---------------------------------------------------------------------------
my $evil_subject = q{x'); DROP TABLE ticketdesk.ticket; -- {{description}} {{recipient}}};
like(rows_as('ann', qq{SELECT open_my_ticket(\$s\$$evil_subject\$s\$, 2, description => 'ANN-PRIVATE-DESC')}),
	qr/^TD-\d+$/, 'ann opens a ticket whose subject is SQL and placeholders');
like(
	rows_as('webform',
		q{SELECT submit_request($s$x');DELETE/**/FROM/**/ticketdesk.contact;--@evil.example$s$, $s$'; DROP TABLE ticketdesk.contact; --$s$)}),
	qr/^TD-\d+$/,
	'webform submits with SQL in the sender and the subject');
is(su(q{SELECT count(*) FROM ticket WHERE subject = $s$} . $evil_subject . q{$s$}), '1', 'the subject is stored as written');
is(su(q{SELECT count(*) > 2 FROM contact}), 't', 'the contacts are all still there');
su(q{UPDATE contact SET name = 'Ann {{link}} {{description}}' WHERE login_role = 'ann'});
su(q{SELECT assign((SELECT max(ticket_id) FROM ticket WHERE contact_id = 1), 1)});
my $mail = su(q{SELECT string_agg(subject || E'\n' || body_text, E'\n----\n' ORDER BY outbox_id) FROM outbox_message
                 WHERE ticket_id = (SELECT max(ticket_id) FROM ticket WHERE contact_id = 1)});
like($mail, qr/\{\{description\}\} \{\{recipient\}\}/, 'placeholders in the subject reach the mail as written');
like($mail, qr/Ann \{\{link\}\} \{\{description\}\}/, 'placeholders in a name reach the mail as written');
unlike($mail, qr/^\[TD-[^\n]*ANN-PRIVATE-DESC/m, 'the subject\'s {{description}} was not expanded');
unlike($mail, qr/Ann [^\n]*(?:http|ANN-PRIVATE-DESC)/, 'the name\'s {{link}} and {{description}} were not expanded');

# ---------------------------------------------------------------------------
# 8. History retention over real logins.
# ---------------------------------------------------------------------------
is(state_as('olga', 'DELETE FROM ticket_event WHERE ticket_id = 1'), 'TD406', 'olga: DELETE from the history (TD406)');
is(state_as('olga', q{UPDATE ticket_event SET note = 'x'}), 'TD406', 'olga: UPDATE of the history (TD406)');
is(state_as('xavier', q{SELECT purge_history('2 years')}), '42501', 'xavier: purge_history (42501)');
is(state_as('ann', q{SELECT purge_history('2 years')}), '42501', 'ann: purge_history (42501)');
is(state_as('webform', q{SELECT purge_history('2 years')}), '42501', 'webform: purge_history (42501)');
is(state_as('olga', q{SELECT purge_history('1 day')}), 'TD720', 'olga: purge_history below the floor (TD720)');
is(rows_as('olga', q{SELECT purge_history('2 years')}), '0', 'olga: purge_history of two years removes nothing yet');
is(state_as('otto', q{SELECT purge_history('2 years')}, '-c ticketdesk.tenant=1'), 'TD700', 'otto cannot purge tenant 1 (TD700)');
is(rows_as('olga', q{SELECT by_role FROM history_purge}), 'olga', 'the purge is recorded with olga\'s name');
is(state_as('xavier', 'SELECT count(*) FROM history_purge'), '42501', 'xavier cannot read the record of purges (42501)');

# ---------------------------------------------------------------------------
# 9. Secrets: only the tenant's administrator (and superusers) read them.
#    The other roles have no privilege on the table or its view: 42501, not
#    zero rows, so a missing grant cannot pass for an empty table. A tenant-2
#    administrator is stopped by the tenant policy: zero rows of tenant 1.
# ---------------------------------------------------------------------------
my $t1_secret = 'S3cr3t-Tenant-One';
my $t2_secret = 'N0rth-S3cret-Two';
is(state_as('olga', qq{SELECT set_secret('smtp.password', '$t1_secret')}), 'OK', 'olga stores tenant 1\'s SMTP password');
is(state_as('otto', qq{SELECT set_secret('smtp.password', '$t2_secret')}), 'OK', 'otto stores tenant 2\'s SMTP password');
is(rows_as('olga', 'SELECT value FROM secret'), $t1_secret, 'control: olga reads tenant 1\'s secret, and only it');
for my $who (qw(dora xavier ann webform))
{
	is(state_as($who, 'SELECT value FROM secret'), '42501', "$who: SELECT from secret (42501)");
	is(state_as($who, 'SELECT name FROM secret_names'), '42501', "$who: SELECT from secret_names (42501)");
	is(state_as($who, 'SELECT count(*) FROM secret'), '42501', "$who: not even a count of secrets (42501)");
	my ($st, $o, $e) = run_as($who, qq{SELECT set_secret('smtp.password', '$t1_secret-changed')});
	is($st, '42501', "$who: set_secret (42501)");
	unlike($e, qr/S3cr3t/, "$who: the refusal does not echo the value");
}
is(rows_as('otto', 'SELECT count(*) FROM secret'), '1', 'otto sees one secret: tenant 2\'s');
is(rows_as('otto', qq{SELECT count(*) FROM secret WHERE tenant_id = 1 OR value = '$t1_secret'}), '0',
	'otto: tenant 1\'s secret is invisible, by tenant_id and by value');
is(state_as('otto', 'SELECT value FROM secret', '-c ticketdesk.tenant=1'), 'TD700', 'otto cannot switch to tenant 1 to read it (TD700)');
is(rows_as('otto', qq{UPDATE secret SET value = 'x' WHERE tenant_id = 1 RETURNING name}), '', 'otto: UPDATE of tenant 1\'s secret touches no row');
is(state_as('otto', qq{SELECT drop_secret('smtp.password')}, '-c ticketdesk.tenant=2'), 'OK', 'otto drops tenant 2\'s secret');
is(su(q{SELECT value FROM secret WHERE tenant_id = 1}), $t1_secret, 'tenant 1\'s secret is intact');

# Never in errors, events or the outbox.
my ($bad_state, undef, $bad_err) = run_as('olga', qq{SELECT set_secret('Bad Name!', '$t1_secret')});
is($bad_state, 'TD730', 'olga: a bad secret name (TD730)');
unlike($bad_err, qr/S3cr3t/, 'the TD730 error does not show the value');
is(state_as('olga', q{SELECT drop_secret('no.such')}), 'TD732', 'olga: drop_secret of an unknown name (TD732)');
is(su(qq{SELECT count(*) FROM ticket_event WHERE concat_ws(' ', kind, old_value, new_value, note) LIKE '%S3cr3t%'}), '0',
	'no history event holds a secret');
is(su(qq{SELECT count(*) FROM outbox o WHERE o::text LIKE '%S3cr3t%'}), '0', 'no outbox message holds a secret');
my $log = slurp_file($node->logfile);
# The node logs every statement (log_statement = all): those lines show what
# the client sent, which set_secret cannot help; nothing else may show it.
my @leaks = grep { /S3cr3t/ && !/(?:LOG:\s+statement:|STATEMENT:)/ } split /\n/, $log;
is(scalar @leaks, 0, 'the server log has no error, detail or context line with a secret (statements aside)')
  or diag(join("\n", @leaks));

# ---------------------------------------------------------------------------
# 10. Requester ann tries to read what the tenant keeps of other customers:
#     their sites, their mail as received, their service contracts, the
#     checklist of ben's ticket, the desk's reminders and notices. Before
#     0.12 a requester read all of these (granted SELECT on every table of
#     the schema, with only the tenant's policy over them).
# ---------------------------------------------------------------------------
su(q{
INSERT INTO site (customer_id, label, address) VALUES (1, 'Initech HQ', '1 Initech Way'),
                                                     (2, 'Globex HQ', 'Ben-secret street 2');
INSERT INTO mail_intake (mail_id, sender, subject, outcome, size_bytes, raw)
    VALUES ('ben-1@globex.example', 'ben@globex.example', 'Ben-secret mail', 'stored', 9, 'Ben-raw'::bytea);
SELECT add_service_contract('Ben-secret visit', 3, 'FREQ=MONTHLY', '2026-01-05 09:00', customer_id => 2);
SELECT add_checklist_item(2, 'Ben-secret step'), add_checklist_item(1, 'Ann step');
INSERT INTO ticket_reminder (ticket_id, basis, remind_at, note) VALUES (2, 'fixed', now() + interval '1 day', 'Ben-secret note');
INSERT INTO approval (ticket_id, resolved_at, decision, decided_by) VALUES (2, now(), 'approved', 2);
});
is(rows_as('ann', 'SELECT address FROM site ORDER BY 1'), '1 Initech Way', 'ann: sites of her own customer only');
is(rows_as('ben', 'SELECT address FROM site ORDER BY 1'), 'Ben-secret street 2', 'control: ben sees Globex\'s site');
is(rows_as('ann', 'SELECT title FROM checklist_item ORDER BY 1'), 'Ann step', 'ann: the checklist of her own ticket only');
is(rows_as('ann', 'SELECT count(*) FROM approval WHERE ticket_id = 2'), '0', 'ann: no approval of ben\'s ticket');
is(rows_as('ben', 'SELECT count(*) FROM approval WHERE ticket_id = 2'), '1', 'control: ben sees the approval of his ticket');
for my $table (qw(mail_intake mail_mailbox mail_config mail_keyword service_contract service_occurrence
	automation_notice ticket_reminder))
{
	is(state_as('ann', "SELECT count(*) FROM $table"), '42501', "ann: SELECT from $table (42501)");
}
is(rows_as('olga', 'SELECT count(*) FROM mail_intake'), '1', 'control: the administrator reads the mail');
my ($leak_state, undef, $leak_err) = run_as(
	'ann', q{
CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'leaked: %', $1;
    RETURN true;
END $$;
SELECT count(*) FROM site WHERE pg_temp.leak(address);
SELECT count(*) FROM checklist_item WHERE pg_temp.leak(title);});
is($leak_state, 'OK', 'ann may run a leaky function over the sites and checklist she sees');
unlike($leak_err, qr/Ben-secret/, 'the leaky function never saw Globex\'s site or ben\'s checklist');

# ---------------------------------------------------------------------------
# 11. Staff hand tickets on over their logins. PostgreSQL checks an UPDATE's
#     new row against what its maker may read, so before 0.12 a rejection
#     by the assignee (R51) or a redirection out of the dispatcher's tree
#     (R18) failed with 42501 ("new row violates row-level security
#     policy"): the ticket left the maker's sight. The lifecycle trigger now
#     names the mover (handed_by), who goes on seeing the ticket.
# ---------------------------------------------------------------------------
is(rows_as('yara', q{SELECT status || ' ' || coalesce(assignee_id::text, 'nobody') FROM reject(2, 'not my door')}),
	'new nobody', 'yara rejects ben\'s ticket 2: back to the queue, held by nobody');
is(su(q{SELECT handed_by FROM ticket WHERE ticket_id = 2}), su(q{SELECT agent_id FROM agent WHERE name = 'Yara'}),
	'the ticket names yara as the one who handed it on');
is(rows_as('yara', 'SELECT count(*) FROM ticket WHERE ticket_id = 2'), '1', 'yara still sees the ticket she rejected');
is(rows_as('xavier', 'SELECT count(*) FROM ticket WHERE ticket_id = 2'), '0', 'xavier (another team) still does not');
is(rows_as('dora', q{SELECT c.code FROM redirect(1, 3, 'a door, not a router') r JOIN center c USING (tenant_id, center_id)}),
	'facilities', 'dora redirects ticket 1 to facilities, outside her tree');
is(rows_as('dora', 'SELECT count(*) FROM ticket WHERE ticket_id = 1'), '1', 'dora still sees the ticket she redirected');
is(su(q{SELECT string_agg(kind || ':' || note, ', ' ORDER BY event_id) FROM ticket_event
         WHERE note IN ('not my door', 'a door, not a router')}),
	'status:not my door, assignee:not my door, center:a door, not a router',
	'the history records both moves with their reasons');
is(rows_as('ann', 'SELECT handed_by FROM ticket'), 'ERROR 42501', 'ann: requesters cannot read who handed a ticket on (42501)');
# Only the trigger writes handed_by: naming another agent there would show
# him the ticket.
# Seeing is all: the trigger refuses the mover's later changes, unless it
# holds the ticket or sees its centre's queue.
is(state_as('yara', q{UPDATE ticket SET subject = 'mine again' WHERE ticket_id = 2}), '42501',
	'yara: changing the ticket she rejected is refused (42501)');
is(state_as('yara', q{SELECT assign(2, (SELECT agent_id FROM agent WHERE name = 'Yara'))}), '42501',
	'yara: so is assigning it back to herself (42501)');
is(state_as('dora', q{SELECT cancel(1, 'not ours after all')}), '42501',
	'dora: nor may she cancel the ticket she redirected (42501)');
# Only the trigger writes handed_by: naming another agent there would show
# him the ticket.
su(q{UPDATE center SET members_see_queue = true WHERE code = 'facilities'});
is(state_as('yara', q{UPDATE ticket SET handed_by = (SELECT agent_id FROM agent WHERE name = 'Xavier') WHERE ticket_id = 2}),
	'OK', 'yara (now seeing the facilities queue) names xavier in handed_by of ticket 2');
is(rows_as('xavier', 'SELECT count(*) FROM ticket WHERE ticket_id = 2'), '0', 'but the trigger kept yara there: xavier sees nothing');
is(su(q{SELECT handed_by FROM ticket WHERE ticket_id = 2}), su(q{SELECT agent_id FROM agent WHERE name = 'Yara'}),
	'handed_by still names yara');
is(state_as('yara', q{INSERT INTO ticket (type_id, center_id, subject, customer_id, handed_by)
                      VALUES (1, 3, 'Named in', 1, (SELECT agent_id FROM agent WHERE name = 'Xavier'))}),
	'OK', 'yara opens a ticket naming xavier in handed_by');
is(su(q{SELECT coalesce(handed_by::text, 'null') FROM ticket WHERE subject = 'Named in'}), 'null',
	'a new ticket names nobody: the trigger cleared it');

$node->stop;
done_testing();


# Copyright: ticketdesk contributors
#
# 001_dump_restore: pg_dump and pg_restore keep everything ticketdesk holds.
#
# The story: a database "src" with the extension and two tenants, each with
# real data built through the API (a centre tree, agents, a customer with a
# contact and a site, categories, a ticket type of the tenant's own with its
# own moves, tickets moved through many statuses with remarks, an attachment
# and watchers). It is dumped in custom format and restored into "dst", and in
# plain format and replayed with psql into "dst_plain". Each copy must hold
# the same rows with the same content, the rows CREATE EXTENSION makes must
# exist once, the sequences must continue, and the triggers (lifecycle, the
# user's per-type moves, append-only history) must still do their work.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'ticketdesk'\n");
$node->start;

my $tempdir = PostgreSQL::Test::Utils::tempdir;

# Runs a client program against the node; returns (exit ok, stdout, stderr).
sub run_client
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

# The output of a query, or "ERROR: ..." when it fails, so that a broken
# copy shows up as failed tests rather than ending the script.
sub query
{
	my ($db, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql($db, $sql, stdout => \$stdout, stderr => \$stderr);
	return $stdout if $rc == 0;
	$stderr =~ s/\n.*//s;
	return "ERROR: $stderr";
}

# The SQLSTATE a statement fails with (run after the setup statements), or
# "no error".
sub sqlstate_of
{
	my ($db, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql(
		$db, "\\set VERBOSITY verbose\n$sql",
		stdout => \$stdout,
		stderr => \$stderr);
	return 'no error' if $rc == 0;
	return $1 if $stderr =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return "unparsed error: $stderr";
}

# ---------------------------------------------------------------------------
# 1. The source database: the extension, a second tenant, real data in both.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION ticketdesk');
my $tenant2 =
  $node->safe_psql('src', "SELECT ticketdesk.create_tenant('north', 'North region')");
is($tenant2, '2', 'create_tenant made a second tenant with id 2');

# Builds one tenant's data through the API (and plain INSERTs for master data,
# which has no API function). Ids are taken from RETURNING, never assumed.
sub build_tenant
{
	my ($tenant, $label) = @_;
	return $node->safe_psql(
		'src', qq{
SET ticketdesk.tenant = $tenant;
DO \$\$
DECLARE
    hq bigint; it bigint; net bigint;
    ada bigint; bob bigint; cid bigint;
    prof bigint; cust bigint; con bigint; st bigint;
    hw bigint; printer bigint; icat bigint; prod bigint; maint bigint;
    t1 bigint; t2 bigint; t3 bigint; t4 bigint; msg bigint; att bigint; w bigint;
BEGIN
    -- Organisation: a centre tree three levels deep, agents, membership, profiles.
    INSERT INTO ticketdesk.center (code, name, email) VALUES ('hq', '$label head office', 'hq\@example.org')
        RETURNING center_id INTO hq;
    INSERT INTO ticketdesk.center (parent_id, code, name) VALUES (hq, 'it', '$label IT support')
        RETURNING center_id INTO it;
    INSERT INTO ticketdesk.center (parent_id, code, name) VALUES (it, 'net', '$label networks')
        RETURNING center_id INTO net;
    INSERT INTO ticketdesk.agent (name, email) VALUES ('Ada $label', 'ada\@example.org')
        RETURNING agent_id INTO ada;
    INSERT INTO ticketdesk.agent (name, email, supervisor_id, language) VALUES ('Bob $label', 'bob\@example.org', ada, 'de')
        RETURNING agent_id INTO bob;
    INSERT INTO ticketdesk.agent (name) VALUES ('Cid $label') RETURNING agent_id INTO cid;
    INSERT INTO ticketdesk.center_member (center_id, agent_id, role)
        VALUES (it, ada, 'dispatcher'), (it, bob, 'executor'), (net, cid, 'executor');
    INSERT INTO ticketdesk.profile (kind, code, name) VALUES ('employee', 'service', 'Customer service')
        RETURNING profile_id INTO prof;
    INSERT INTO ticketdesk.agent_profile (agent_id, profile_id) VALUES (ada, prof);

    -- Customers: a company with a contact person and a site with coordinates.
    INSERT INTO ticketdesk.customer (name, tax_id, email, address)
        VALUES ('$label Acme Ltd', 'TAX-$tenant', 'office\@acme.example', '1 Main Street')
        RETURNING customer_id INTO cust;
    INSERT INTO ticketdesk.contact (customer_id, name, position, preferred_channel, email, language)
        VALUES (cust, 'Carol $label', 'Office manager', 'phone', 'carol\@acme.example', 'fr')
        RETURNING contact_id INTO con;
    st := ticketdesk.site_for(cust, '1 Main  Street, Springfield', 51.5, -0.125, 'Main office');

    -- Classification: a category tree, an internal category, a product, and a
    -- ticket type of the tenant's own whose moves the user writes.
    INSERT INTO ticketdesk.category (center_id, code, name) VALUES (it, 'hw', 'Hardware')
        RETURNING category_id INTO hw;
    INSERT INTO ticketdesk.category (center_id, parent_id, code, name) VALUES (it, hw, 'printer', 'Printers')
        RETURNING category_id INTO printer;
    INSERT INTO ticketdesk.internal_category (code, name) VALUES ('warranty', 'Under warranty')
        RETURNING internal_category_id INTO icat;
    INSERT INTO ticketdesk.product (code, name) VALUES ('lp-100', 'Laser printer 100')
        RETURNING product_id INTO prod;
    INSERT INTO ticketdesk.ticket_type (code, name) VALUES ('maintenance', 'Maintenance')
        RETURNING type_id INTO maint;
    INSERT INTO ticketdesk.transition (type_id, from_status, to_status, move)
        VALUES (maint, 'new', 'assigned', 'assign'),
               (maint, 'assigned', 'in_progress', 'start'),
               (maint, 'in_progress', 'resolved', 'resolve'),
               (maint, 'resolved', 'closed', 'close');

    PERFORM set_config('ticketdesk.agent', ada::text, false);

    -- Ticket 1: the whole life, from new to closed, with a reopening.
    t1 := (ticketdesk.open_ticket('Printer jams on every page', it,
                                  description => 'The printer on floor 2 jams.',
                                  customer_id => cust, contact_id => con, category_id => printer,
                                  channel => 'email', requester_weight => 4,
                                  deadline => now() + interval '3 days',
                                  site_id => st, product_id => prod)).ticket_id;
    PERFORM ticketdesk.correct(t1, internal_category_id => icat, dispatcher_weight => 5,
                               note => 'still under warranty');
    PERFORM ticketdesk.assign(t1, bob, 'Bob knows this model');
    PERFORM ticketdesk.acknowledge(t1, 'on it');
    PERFORM ticketdesk.start_work(t1);
    PERFORM ticketdesk.record_time(t1, '2025-03-03 09:00+00', '2025-03-03 10:10+00', agent_id => bob);
    PERFORM ticketdesk.record_time(t1, '2025-03-03 08:30+00', '2025-03-03 09:00+00', 'travel', agent_id => bob);
    PERFORM ticketdesk.wait_for_customer(t1, 'asked for the serial number');
    PERFORM ticketdesk.resume(t1, 'serial number received');
    PERFORM ticketdesk.resolve(t1, 'Replaced the pickup roller', 'part from stock');
    PERFORM ticketdesk.reopen(t1, 'jams again');
    PERFORM ticketdesk.resolve(t1, 'Replaced the fuser as well');
    PERFORM ticketdesk.confirm_time(t1);
    PERFORM ticketdesk.confirm(t1, 'works now');
    PERFORM ticketdesk.close(t1);
    msg := ticketdesk.comment(t1, 'Photo of the jammed page attached.', author_contact_id => con);
    PERFORM ticketdesk.comment(t1, 'Roller was worn out.', internal => true, author_agent_id => bob,
                               document_link => 'https://docs.example.org/lp-100');
    att := ticketdesk.attach(t1, 'jam.png', decode('89504e470d0a1a0a0000000d49484452', 'hex'),
                             'image/png', msg);
    PERFORM ticketdesk.attach(t1, 'notes.txt', convert_to('serial LP100-$tenant', 'UTF8'), 'text/plain');
    w := ticketdesk.add_watcher(t1, agent_id => cid, purpose => 'consultation', note => 'network printer?');
    PERFORM ticketdesk.add_watcher(t1, contact_id => con);

    -- Ticket 2: the tenant's own type, assigned at opening, in progress.
    t2 := (ticketdesk.open_ticket('Yearly printer service', it, type => 'maintenance',
                                  customer_id => cust, assignee_id => bob,
                                  planned_from => now() + interval '1 day',
                                  planned_to => now() + interval '1 day 2 hours')).ticket_id;
    PERFORM ticketdesk.start_work(t2, 'on site');

    -- Ticket 3: an employee's request, redirected down the tree, then cancelled.
    t3 := (ticketdesk.open_ticket('VPN is slow', it, requester_agent_id => ada, channel => 'phone')).ticket_id;
    PERFORM ticketdesk.redirect(t3, net, 'a network matter');
    PERFORM ticketdesk.assign(t3, cid);
    PERFORM ticketdesk.reject(t3, 'not a VPN problem');
    PERFORM ticketdesk.cancel(t3, 'duplicate');

    -- Work time billed for March, a checklist item ticked (issue 9).
    INSERT INTO ticketdesk.rate (hourly) VALUES (50);
    PERFORM ticketdesk.billing_run('2025-03-01');
    PERFORM ticketdesk.check_item(ticketdesk.add_checklist_item(t2, 'Clean the drum'));

    -- Ticket 4: a sub-ticket of ticket 1, still new.
    t4 := (ticketdesk.open_ticket('Order spare rollers', it, type => 'task',
                                  requester_agent_id => bob, parent_id => t1)).ticket_id;
END \$\$;
SELECT count(*) FROM ticketdesk.ticket WHERE tenant_id = $tenant;
});
}

is(build_tenant(1,        'Default'), '4', 'default tenant: four tickets built through the API');
is(build_tenant($tenant2, 'North'),   '4', 'second tenant: four tickets built through the API');

# The data is what the story says, so that the comparisons below compare
# something real.
is( $node->safe_psql(
		'src', q{
SELECT string_agg(tenant_id || ':' || status, ',' ORDER BY tenant_id, ticket_id)
  FROM ticketdesk.ticket}),
	'1:closed,1:in_progress,1:cancelled,1:new,2:closed,2:in_progress,2:cancelled,2:new',
	'src: the tickets of both tenants are in the statuses the story left them');
cmp_ok(
	$node->safe_psql('src', 'SELECT count(*) FROM ticketdesk.ticket_event'),
	'>=', 40, 'src: the moves wrote a history');
is( $node->safe_psql(
		'src', q{
SELECT count(*) FROM ticketdesk.transition t JOIN ticketdesk.ticket_type y USING (tenant_id, type_id)
 WHERE y.code = 'maintenance' AND NOT t.seeded}),
	'8', 'src: each tenant has its own four moves for its own ticket type');

# Tables and sequences come from the catalogue, so a table added later is
# compared too.
my $tables_sql = q{
SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
 WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind = 'r'};
my @tables = split / /, $node->safe_psql('src', $tables_sql);
cmp_ok(scalar(@tables), '>=', 17, 'src: the ticketdesk tables are found in pg_class (' . scalar(@tables) . ')');

# Tables with a "seeded" column: CREATE EXTENSION makes their built-in rows,
# which are not dumped but made again, with a new creation time.
my %has_seeded = map { $_ => 1 } split / /, $node->safe_psql(
	'src', q{
SELECT string_agg(c.relname, ' ') FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind = 'r'
   AND a.attname = 'seeded' AND NOT a.attisdropped});

# One line per table: name, row count, and a checksum of all its rows. As a
# superuser, row-level security does not hide any tenant's rows. A built-in
# row is compared without its created_at, which is the time of CREATE EXTENSION.
sub table_digest
{
	my ($db) = @_;
	my $sql = join(
		"\nUNION ALL\n",
		map {
			my $row =
			  $has_seeded{$_}
			  ? q{CASE WHEN t.seeded THEN (to_jsonb(t) - 'created_at')::text ELSE t::text END}
			  : 't::text';
			qq{SELECT '$_', count(*), md5(coalesce(string_agg($row, '|' ORDER BY $row), '')) FROM ticketdesk."$_" t}
		} @tables);
	my %digest;
	for my $line (split /\n/, query($db, $sql))
	{
		my ($table, $count, $md5) = split /\|/, $line;
		$digest{$table} = { count => $count, md5 => $md5 };
	}
	return \%digest;
}

sub sequence_state
{
	my ($db) = @_;
	return query(
		$db, q{
SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ' ' ORDER BY sequencename)
  FROM pg_sequences WHERE schemaname = 'ticketdesk'});
}

my $src_digest    = table_digest('src');
my $src_sequences = sequence_state('src');
my $src_max_ticket =
  $node->safe_psql('src', 'SELECT max(ticket_id) FROM ticketdesk.ticket');
for my $t (qw(center agent customer contact site category ticket message attachment watcher ticket_event
	time_entry checklist_item billing_run billing_line billed_item rate work_setting))
{
	cmp_ok($src_digest->{$t}{count}, '>', 0, "src: table $t has rows");
}

# ---------------------------------------------------------------------------
# 2. Dump in custom format, restore into dst.
# ---------------------------------------------------------------------------
my $dump_file = "$tempdir/src.dump";
my ($ok, $out, $err) =
  run_client('pg_dump', '-Fc', '-f', $dump_file, '-d', $node->connstr('src'));
ok($ok, 'pg_dump -Fc of src succeeds');
unlike($err, qr/error/i, 'pg_dump -Fc reports no error');
note("pg_dump stderr:\n$err") if $err ne '';

# Restores run with session_replication_role = replica (doc/operations.md):
# the rows are loaded as they were dumped, without the lifecycle and history
# triggers judging them again as new changes.
my $restore_options = '-c session_replication_role=replica';

# Without it the restore is refused loudly, never altered silently.
$node->safe_psql('postgres', 'CREATE DATABASE dst_refused');
($ok, $out, $err) = run_client('pg_restore', '-d', $node->connstr('dst_refused'), $dump_file);
ok(!$ok, 'pg_restore without session_replication_role = replica fails');
like($err, qr/session_replication_role/, 'and the error says how to restore');

$node->safe_psql('postgres', 'CREATE DATABASE dst');
{
	local $ENV{PGOPTIONS} = $restore_options;
	($ok, $out, $err) = run_client('pg_restore', '-d', $node->connstr('dst'), $dump_file);
}
ok($ok, 'pg_restore into dst exits with success');
unlike($err, qr/ERROR/, 'pg_restore reports no ERROR');
note("pg_restore stderr:\n$err") if $err ne '';

# ---------------------------------------------------------------------------
# 3. What every restored copy must satisfy.
# ---------------------------------------------------------------------------
sub check_copy
{
	my ($db) = @_;

	is(query($db, $tables_sql), join(' ', @tables), "$db: the same tables as src");

	my $digest = table_digest($db);
	for my $t (@tables)
	{
		is($digest->{$t}{count}, $src_digest->{$t}{count},
			"$db: table $t has as many rows as in src ($src_digest->{$t}{count})");
		is($digest->{$t}{md5}, $src_digest->{$t}{md5},
			"$db: table $t has the same content as in src");
	}
	is(sequence_state($db), $src_sequences, "$db: every sequence stands where it stood in src");

	# What CREATE EXTENSION made exists once, and only the dumped rows came in.
	is( query(
			$db, q{
SELECT count(*) FILTER (WHERE code = 'default') || ' ' || count(*) FILTER (WHERE seeded) || ' ' || count(*)
  FROM ticketdesk.tenant}),
		'1 1 2', "$db: exactly one default tenant, one seeded tenant, two tenants");
	is( query(
			$db, q{
SELECT string_agg(code || ':' || n, ',' ORDER BY code) FROM (
    SELECT code, count(*) AS n FROM ticketdesk.ticket_type WHERE tenant_id = 1 GROUP BY code) x}),
		'incident:1,intervention:1,maintenance:1,scheduled_service:1,service_request:1,task:1',
		"$db: the default tenant has each ticket type once");
	is( query(
			$db, q{
SELECT tenant_id || ':' || count(*) || ':' || count(*) FILTER (WHERE seeded)
  FROM ticketdesk.transition WHERE type_id IS NULL GROUP BY tenant_id ORDER BY tenant_id}),
		"1:26:26\n2:26:0", "$db: the default moves exist once per tenant, seeded only for the default tenant");
	is( query(
			$db, q{
SELECT count(*) FROM (SELECT tenant_id, type_id, from_status, to_status FROM ticketdesk.transition
                       GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d}),
		'0', "$db: no move is duplicated");

	# The readable references were regenerated for the same numbers.
	is( query(
			$db, q{
SET ticketdesk.tenant = 2;
SELECT (ticketdesk.ticket_by_reference(format('td-%s', lpad(min(ticket_id)::text, 6, '0')))).subject
  FROM ticketdesk.ticket WHERE tenant_id = 2}),
		'Printer jams on every page', "$db: a ticket is found by its reference");

	# New rows continue the sequences, and the lifecycle trigger still works.
	my $new = query(
		$db, q{
SET ticketdesk.tenant = 2;
SELECT (ticketdesk.open_ticket('After the restore', c.center_id, requester_agent_id => a.agent_id)).ticket_id
  FROM ticketdesk.center c, ticketdesk.agent a
 WHERE c.tenant_id = 2 AND c.code = 'it' AND a.tenant_id = 2 AND a.name = 'Bob North'});
	like($new, qr/^\d+$/, "$db: a new ticket is opened after the restore");
	$new = 0 unless $new =~ /^\d+$/;
	cmp_ok($new, '>', $src_max_ticket,
		"$db: the new ticket's id ($new) is above every restored one ($src_max_ticket)");
	is( query(
			$db, qq{
SET ticketdesk.tenant = 2;
SELECT (ticketdesk.assign($new, a.agent_id, 'first move after restore')).status
  FROM ticketdesk.agent a WHERE a.tenant_id = 2 AND a.name = 'Cid North'}),
		'assigned', "$db: an allowed move (new to assigned) is made");
	is(sqlstate_of($db, "SET ticketdesk.tenant = 2; SELECT ticketdesk.move($new, 'closed');"),
		'TD401', "$db: an invalid move (assigned to closed) is refused with TD401");
	is( query(
			$db, qq{
SELECT string_agg(kind || ':' || coalesce(new_value, ''), ',' ORDER BY event_id)
  FROM ticketdesk.ticket_event WHERE tenant_id = 2 AND ticket_id = $new AND kind = 'status'}),
		'status:assigned', "$db: the new ticket's move is in its history");

	# The user's moves for the tenant's own type were restored and are used.
	my $maint = query(
		$db, q{
SELECT k.ticket_id FROM ticketdesk.ticket k JOIN ticketdesk.ticket_type y USING (tenant_id, type_id)
 WHERE k.tenant_id = 2 AND y.code = 'maintenance'});
	is(sqlstate_of($db, "SET ticketdesk.tenant = 2; SELECT ticketdesk.wait_for_customer($maint);"),
		'TD401', "$db: a default move the tenant's own type lacks (in_progress to waiting) is refused");
	is( query(
			$db,
			"SET ticketdesk.tenant = 2; SELECT (ticketdesk.resolve($maint, 'serviced')).status"),
		'resolved', "$db: a move of the tenant's own type (in_progress to resolved) is made");

	# The history is still append-only, and the built-in rows still read-only.
	is(sqlstate_of($db, "UPDATE ticketdesk.ticket_event SET note = 'rewritten' WHERE tenant_id = 2;"),
		'TD406', "$db: updating the restored history is refused with TD406");
	is(sqlstate_of($db, 'DELETE FROM ticketdesk.ticket_event;'),
		'TD406', "$db: deleting the restored history is refused with TD406");
	is(sqlstate_of($db, "UPDATE ticketdesk.ticket_type SET name = 'Bug' WHERE tenant_id = 1 AND code = 'incident';"),
		'TD404', "$db: a built-in ticket type is still read-only (TD404)");
	return;
}

check_copy('dst');

# ---------------------------------------------------------------------------
# 4. Plain format, replayed with psql and ON_ERROR_STOP.
# ---------------------------------------------------------------------------
my $plain_file = "$tempdir/src.sql";
($ok, $out, $err) = run_client('pg_dump', '-Fp', '-f', $plain_file, '-d', $node->connstr('src'));
ok($ok, 'pg_dump (plain format) of src succeeds');
unlike($err, qr/error/i, 'pg_dump (plain format) reports no error');

$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
{
	local $ENV{PGOPTIONS} = $restore_options;
	($ok, $out, $err) = run_client('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $plain_file,
		'-d', $node->connstr('dst_plain'));
}
ok($ok, 'the plain dump replays into dst_plain with psql and ON_ERROR_STOP=1');
unlike($err, qr/ERROR/, 'psql reports no ERROR while replaying the plain dump');
note("psql stderr:\n$err") if $err ne '';

check_copy('dst_plain');

# The source was only read by the dumps.
is_deeply(table_digest('src'), $src_digest, 'src is unchanged by the dumps');

$node->stop;
done_testing();

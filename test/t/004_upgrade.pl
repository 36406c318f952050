# Copyright: ticketdesk contributors
#
# 004_upgrade: every released version of ticketdesk updates to the current
# one with ALTER EXTENSION ... UPDATE, and the result is the same extension a
# fresh CREATE EXTENSION makes, with the old data kept and still working.
#
# The story: database "fresh" gets the current version. For each older
# version with an install script (upgrade/ticketdesk--X.sql), database
# "old_X" installs it, opens a ticket and moves it, then updates. The shape
# of the extension (test/sql/extension_shape.sql: members, columns,
# constraints, indexes, triggers, policies, functions with their bodies and
# privileges, comments, what pg_dump keeps) must equal the fresh one line by
# line, and the old ticket must go on through its lifecycle with its
# history intact.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $shape_sql = slurp_file("$ENV{TESTDIR}/sql/extension_shape.sql");

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'ticketdesk'\nticketdesk.jobs_interval = 0\n");
$node->start;

my $sharedir = $node->config_data('--sharedir');
my @old = sort map { m{ticketdesk--([\d.]+)\.sql$} ? $1 : () }
  glob("$sharedir/extension/ticketdesk--*.sql");
my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'ticketdesk'});
@old = grep { $_ ne $current } @old;
ok(scalar @old >= 1, "older versions to update from: @old (current: $current)");

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION ticketdesk');
my $fresh = $node->safe_psql('fresh', $shape_sql);

for my $v (@old)
{
	my $db = "old_$v";
	$db =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION ticketdesk VERSION '$v'");
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'ticketdesk'}),
		$v, "$db: version $v installed");

	# Data made under the old version.
	$node->safe_psql($db, q{
		SET search_path = ticketdesk;
		INSERT INTO center (code, name) VALUES ('it', 'IT support');
		INSERT INTO agent (name, email) VALUES ('Ada', 'ada@example.com');
		INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 1, 'executor');
		INSERT INTO customer (name) VALUES ('Initech');
		INSERT INTO contact (customer_id, name, email) VALUES (1, 'Ann', 'ann@example.com');
		SELECT open_ticket('Printer jams', 1, customer_id => 1, contact_id => 1);
		SELECT assign(1, 1);
		SELECT acknowledge(1);
	});

	$node->safe_psql($db, 'ALTER EXTENSION ticketdesk UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'ticketdesk'}),
		$current, "$db: updated to $current");

	my $updated = $node->safe_psql($db, $shape_sql);
	my @want = split /\n/, $fresh;
	my @got = split /\n/, $updated;
	my %in_got = map { $_ => 1 } @got;
	my %in_want = map { $_ => 1 } @want;
	my @missing = grep { !$in_got{$_} } @want;
	my @extra = grep { !$in_want{$_} } @got;
	is(scalar(@missing) + scalar(@extra), 0,
		"$db: the updated extension has the shape of a fresh one")
	  or diag("missing after the update (first 40):\n" . join("\n", @missing[0 .. ($#missing < 39 ? $#missing : 39)])
		  . "\nextra after the update (first 40):\n" . join("\n", @extra[0 .. ($#extra < 39 ? $#extra : 39)]));

	# The old ticket goes on, and its history is whole.
	is($node->safe_psql($db, q{
		SET search_path = ticketdesk;
		SELECT FROM start_work(1);
		SELECT FROM resolve(1, 'New roller fitted');
		SELECT string_agg(new_value, ' > ' ORDER BY event_id) FROM ticket_event
		 WHERE ticket_id = 1 AND kind = 'status';
	}), 'assigned > acknowledged > in_progress > resolved',
		"$db: the ticket opened before the update moves on, its history whole");
}

$node->stop;
done_testing();

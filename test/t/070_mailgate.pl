# Copyright: ticketdesk contributors
#
# 070_mailgate: the MTA pipe program, ticketdesk-mailgate, against a real
# server. An MTA pipes one message into it; it calls ingest_mail and exits
# with a code the MTA understands.
#
# The story: a request piped in opens a ticket, its reply lands on it, the
# same mail piped twice changes nothing, a mail for nobody is recorded as a
# failed intake (exit 0: the mail is kept, an administrator looks at it).
# The tenant is chosen with -t. Bad input is refused with 65, bad options
# with 64. With the server stopped the program exits 75 (EX_TEMPFAIL), so
# the MTA keeps the mail queued; once the server is back the same mail goes
# in. A database without the extension, or a role that cannot log in, is a
# temporary failure too: nothing is lost.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fixtures = "$ENV{TESTDIR}/fixtures";

my $node = PostgreSQL::Test::Cluster->new('mailgate');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION ticketdesk;
INSERT INTO ticketdesk.center (code, name, email)
VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating', 'heating@desk.example');
INSERT INTO ticketdesk.contact (name, email, language) VALUES ('Rita Requester', 'rita@acme.test', 'lt');
SELECT ticketdesk.create_tenant('north', 'North region');
});

# Pipes a fixture (or a string) into the program; returns (exit code, stderr).
sub mailgate
{
	my ($input, @args) = @_;
	my ($out, $err) = ('', '');
	my @in = ref $input ? ('<', $input) : ('<', "$fixtures/$input");
	IPC::Run::run([ 'ticketdesk-mailgate', @args ], @in, '>', \$out, '2>', \$err);
	return ($? >> 8, $err);
}

my $db = $node->connstr('postgres');
my ($rc, $err);

($rc, $err) = mailgate('01_thunderbird_new_request.eml', '-v', '-d', $db);
is($rc, 0, 'a request piped in exits 0');
like($err, qr/^ticketdesk-mailgate: opened TD-000001$/m, 'and says which ticket it opened');
is($node->safe_psql('postgres', q{SELECT reference || ' ' || channel || ' ' || subject FROM ticketdesk.ticket}),
	'TD-000001 email Katilas beldžia ir nešildo', 'the ticket is there, on channel email');

($rc, $err) = mailgate('12_thunderbird_reply_in_reply_to.eml', '-v', '--dbname', $db);
is($rc, 0, 'the reply exits 0');
like($err, qr/replied TD-000001/, 'and lands on the ticket');

($rc, $err) = mailgate('01_thunderbird_new_request.eml', '-d', $db);
is($rc, 0, 'the same mail piped again exits 0');
is($err, '', 'quietly');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ticketdesk.ticket'), '1', 'and makes no second ticket');

($rc, $err) = mailgate('42_unknown_recipient.eml', '-d', $db);
is($rc, 0, 'a mail for an address no centre has exits 0');
like($err, qr/recorded as failed intake \d+: no centre has any of the addresses sales\@desk\.example/,
	'and says why it was recorded as failed');
is( $node->safe_psql('postgres',
		q{SELECT outcome FROM ticketdesk.mail_intake WHERE mail_id = '42a1b2c3-unknown-recipient@acme.test'}),
	'failed', 'the failed intake keeps the mail');

($rc, $err) = mailgate('46_bcc_delivered_to_only.eml', '-d', $db, '-c', '1', '-v');
is($rc, 0, 'a mail with a centre given by -c exits 0');
like($err, qr/opened TD-000002/, 'and opens a ticket');

# The tenant.
$node->safe_psql('postgres', q{
SET ticketdesk.tenant = 2;
INSERT INTO ticketdesk.center (code, name, email) VALUES ('heating', 'North heating', 'heating@desk.example');
});
($rc, $err) = mailgate('02_gmail_new_with_attachment.eml', '-d', $db, '-t', '2', '-v');
is($rc, 0, 'a mail for tenant 2 exits 0');
is( $node->safe_psql('postgres',
		q{SELECT tenant_id || ' ' || reference FROM ticketdesk.ticket WHERE subject LIKE 'Radiator%'}),
	'2 TD-000003', 'and its ticket belongs to tenant 2');

# Bad input and bad options: permanent, the MTA bounces.
($rc, $err) = mailgate(\'', '-d', $db);
is($rc, 65, 'an empty message exits 65 (EX_DATAERR)');
($rc, $err) = mailgate('01_thunderbird_new_request.eml', '-d', $db, '-m', '100');
is($rc, 65, 'a message over --max-size exits 65');
like($err, qr/larger than 100 bytes/, 'and says so');
($rc, $err) = mailgate('01_thunderbird_new_request.eml', '--no-such-option');
is($rc, 64, 'a bad option exits 64 (EX_USAGE)');
($rc, $err) = mailgate('01_thunderbird_new_request.eml', '-t', 'x');
is($rc, 64, 'a bad tenant exits 64');

# The database down: temporary failure, the mail stays queued.
$node->stop;
($rc, $err) = mailgate('37_auto_submitted_no.eml', '-d', $db);
is($rc, 75, 'with the server stopped the program exits 75 (EX_TEMPFAIL)');
like($err, qr/could not connect to the database, the mail stays queued/, 'and says the mail stays queued');
$node->start;
($rc, $err) = mailgate('37_auto_submitted_no.eml', '-d', $db, '-v');
is($rc, 0, 'once the server is back the same mail goes in');
like($err, qr/opened TD-000004/, 'as a new ticket');

# Not set up for mail: temporary too, nothing lost.
$node->safe_psql('postgres', 'CREATE DATABASE plain');
($rc, $err) = mailgate('05_polish_iso8859_2.eml', '-d', $node->connstr('plain'));
is($rc, 75, 'a database without the extension exits 75');
like($err, qr/SQLSTATE (42883|3F000)/, 'naming the SQLSTATE');
($rc, $err) = mailgate('05_polish_iso8859_2.eml', '-d', $node->connstr('postgres') . ' user=nobody');
is($rc, 75, 'a role that cannot log in exits 75');

is( $node->safe_psql('postgres',
		q{SELECT string_agg(tenant_id || ':' || outcome, ',' ORDER BY intake_id) FROM ticketdesk.mail_intake}),
	'1:opened,1:replied,1:failed,1:opened,2:opened,1:opened', 'the intake log has every mail once, per tenant');

$node->stop;
done_testing();

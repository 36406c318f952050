# Copyright: ticketdesk contributors
#
# 071_imap_poll: the mail worker polls a real IMAP server (dovecot, run
# unprivileged on 127.0.0.1 with a passwd-file user and a maildir) with
# libcurl, by UID.
#
# The story: the node preloads ticketdesk, so the launcher starts a mail
# worker in the database. A mailbox is set up with its password in the
# secrets. A request appended to the folder becomes a ticket, and the mail is
# marked \Seen; a reply lands on its ticket; a malformed mail becomes a
# failed intake and the mail after it is still taken. last_uid follows the
# UIDs. Switched to "move", every mail taken goes to the Processed folder.
# A wrong password gives last_error (and a log line) without the password
# in it, and the next good poll clears it. Then kill -9 of the mail worker
# in the middle of 500 mails: after the restart every mail is taken exactly
# once (one intake and one ticket per Message-ID, none lost), and last_uid
# is the folder's last UID. Finally the folder is recreated (new
# UIDVALIDITY): the mails in it that were taken before change nothing. A
# server that never answers holds a poll up to the timeout, but SIGTERM
# stops the worker at once. With no mailbox enabled, the worker sleeps.

use strict;
use warnings;

use File::Temp;
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TdPeers qw(start_dovecot);

my $dovecot = '/usr/sbin/dovecot';
plan skip_all => "needs dovecot ($dovecot, Debian package dovecot-imapd)" unless -x $dovecot;
my $curl = '/usr/bin/curl';
plan skip_all => "needs the curl program ($curl)" unless -x $curl;

my $fixtures = "$ENV{TESTDIR}/fixtures";

# --- dovecot, unprivileged ------------------------------------------------------

my $password = 'Imap-pa55-w0rd';
my ($dv, $port, $dv_h) = start_dovecot($dovecot, $password);
my $maildir = "$dv/mail/desk";
END
{
	eval { $dv_h->kill_kill(grace => 5) } if $dv_h;
}
note "dovecot listens on 127.0.0.1:$port";

# An IMAP command on a folder with the curl program; returns its answer.
sub imap
{
	my ($folder, $command) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $curl, '-sS', '--max-time', '30', '-u', "desk:$password",
			"imap://127.0.0.1:$port/$folder", '-X', $command ],
		'>', \$out, '2>', \$err)
	  or die "curl $command: $err";
	return $out;
}

# Appends a fixture (or raw text) to a folder, the way a mail server delivers.
sub append
{
	my ($folder, $mail) = @_;
	my $file = $mail =~ /\n/ ? do {
		my $f = "$dv/append.eml";
		open my $fh, '>:raw', $f or die $!;
		print $fh $mail;
		close $fh;
		$f;
	} : "$fixtures/$mail";
	my $err = '';
	IPC::Run::run([ $curl, '-sS', '--max-time', '30', '-u', "desk:$password", '-T', $file,
			"imap://127.0.0.1:$port/$folder" ], '2>', \$err)
	  or die "curl append $mail: $err";
}

# The UIDs of a folder (UID SEARCH ALL).
sub uids
{
	my ($folder) = @_;
	my ($line) = imap($folder, 'UID SEARCH ALL') =~ /^\* SEARCH(.*)$/m;
	return [ grep { length } split ' ', ($line // '') ];
}

# --- the node -------------------------------------------------------------------

my $node = PostgreSQL::Test::Cluster->new('imap');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'ticketdesk'
max_worker_processes = 16
restart_after_crash = on
ticketdesk.jobs_interval = 0
ticketdesk.mail_poll_batch = 1000
ticketdesk.mail_poll_timeout = '20s'
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub wait_for
{
	my ($query, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $query, $expected), $what)
	  or diag 'mailbox: ' . sql('SELECT last_uid, last_error FROM ticketdesk.mail_mailbox');
}

sql(qq{
CREATE EXTENSION ticketdesk;
INSERT INTO ticketdesk.center (code, name, email) VALUES ('hq', 'Head office', 'help\@desk.example');
INSERT INTO ticketdesk.contact (name, email, language) VALUES ('Rita Requester', 'rita\@acme.test', 'lt');
SELECT ticketdesk.set_secret('imap.1.password', '$password');
INSERT INTO ticketdesk.mail_mailbox (center_id, url, username, poll_interval)
VALUES (1, 'imap://127.0.0.1:$port/INBOX', 'desk', '1 second');
});

# --- 1. a request becomes a ticket, the mail is \Seen ----------------------------

append('INBOX', '01_thunderbird_new_request.eml');
wait_for('SELECT last_uid FROM ticketdesk.mail_mailbox', '1', 'the worker polls and takes UID 1');
is(sql(q{SELECT outcome || ' ' || t.reference || ' ' || t.channel
           FROM ticketdesk.mail_intake i JOIN ticketdesk.ticket t USING (tenant_id, ticket_id)}),
	'opened TD-000001 email', 'the request opened a ticket on channel email');
my ($uidvalidity) = imap('INBOX', 'EXAMINE INBOX') =~ /\[UIDVALIDITY (\d+)\]/;
is(sql('SELECT uidvalidity FROM ticketdesk.mail_mailbox'), $uidvalidity, "the folder's UIDVALIDITY is recorded");
like(imap('INBOX', 'UID FETCH 1 (FLAGS)'), qr/FLAGS \([^)]*\\Seen/, 'the mail is marked \Seen');
is(sql('SELECT last_error IS NULL AND last_poll_at IS NOT NULL FROM ticketdesk.mail_mailbox'), 't',
	'the poll is recorded without error');

# --- 2. a reply threads; a malformed mail fails and the next is taken -----------

append('INBOX', '12_thunderbird_reply_in_reply_to.eml');
append('INBOX', '38_malformed_no_header_block.eml');
append('INBOX', '05_polish_iso8859_2.eml');
wait_for('SELECT last_uid FROM ticketdesk.mail_mailbox', '4', 'UIDs 2 to 4 are taken');
is( sql(q{SELECT string_agg(outcome || ' ' || coalesce(ticket_id::text, '-'), ', ' ORDER BY intake_id)
            FROM ticketdesk.mail_intake}),
	'opened 1, replied 1, failed -, opened 2',
	'the reply landed on ticket 1, the malformed mail failed, the one after it opened ticket 2');
like(sql(q{SELECT reason FROM ticketdesk.mail_intake WHERE outcome = 'failed'}),
	qr/\S/, 'the failed intake has its reason');
is(sql('SELECT count(*) FROM ticketdesk.message WHERE ticket_id = 1 AND email_message_id IS NOT NULL'),
	'1', 'the reply is a remark on ticket 1');
is(sql('SELECT last_error IS NULL FROM ticketdesk.mail_mailbox'), 't', 'a malformed mail is no poll error');

# --- 3. after_fetch = move ----------------------------------------------------------

imap('', 'CREATE Processed');
sql(q{UPDATE ticketdesk.mail_mailbox SET after_fetch = 'move', move_to = 'Processed'});
append('INBOX', '06_lithuanian_iso8859_13.eml');
wait_for('SELECT last_uid FROM ticketdesk.mail_mailbox', '5', 'UID 5 is taken');
my $deadline = time + 30;
usleep(100_000) while @{ uids('INBOX') } && time < $deadline;
is(scalar @{ uids('INBOX') }, 0, 'INBOX is empty: the new mail and the ones taken before were moved');
is(scalar @{ uids('Processed') }, 5, 'Processed holds the five mails');

# --- 4. a wrong password ---------------------------------------------------------------

my $wrong = 'Wr0ng-s3cret-value';
sql(qq{SELECT ticketdesk.set_secret('imap.1.password', '$wrong'); SELECT ticketdesk.mail_poll_now(1);});
wait_for('SELECT last_error IS NOT NULL FROM ticketdesk.mail_mailbox', 't', 'a wrong password gives last_error');
my $error = sql('SELECT last_error FROM ticketdesk.mail_mailbox');
like($error, qr/Login denied/i, "last_error says the login was denied: $error");
unlike($error, qr/\Q$wrong\E|\Q$password\E/, 'last_error holds no password');
# The test's own statements are logged (log_statement = all): leave them out.
my $log = join '', grep { !/LOG:  statement: / } split /^/, slurp_file($node->logfile);
like($log, qr/polling mailbox 1 of tenant 1 failed: .*Login denied/i, 'the server log has the failure');
unlike($log, qr/\Q$wrong\E|\Q$password\E/, 'the server log holds no password');
unlike(slurp_file("$dv/dovecot.log"), qr/\Q$password\E/, "nor does dovecot's");
sql(qq{SELECT ticketdesk.set_secret('imap.1.password', '$password'); SELECT ticketdesk.mail_poll_now(1);});
wait_for('SELECT last_error IS NULL FROM ticketdesk.mail_mailbox', 't', 'the right password clears last_error');

# --- 5. kill -9 of the mail worker in the middle of 500 mails ----------------------------

my $n = 500;
my $cur = "$maildir/new";
for my $i (1 .. $n)
{
	my $name = sprintf('%d.M%06dP1.td', time, $i);
	open my $fh, '>:raw', "$maildir/tmp/$name" or die $!;
	printf $fh "From: Crash Tester <crash\@acme.test>\r\nTo: help\@desk.example\r\n"
	  . "Subject: crash %03d\r\nMessage-ID: <crash-%03d\@acme.test>\r\n"
	  . "Date: Mon, 5 Jan 2026 10:00:00 +0200\r\n\r\nMail number %d of the crash test.\r\n", $i, $i, $i;
	close $fh;
	rename "$maildir/tmp/$name", "$cur/$name" or die $!;
}
# One sender may send this many: the rate limit is not what is tested here.
sql(q{INSERT INTO ticketdesk.mail_config (rate_limit) VALUES (100000); SELECT ticketdesk.mail_poll_now(1);});

my $taken_q = q{SELECT count(*) FROM ticketdesk.mail_intake WHERE mail_id LIKE 'crash-%'};
$deadline = time + 120;
my $taken = 0;
while (time < $deadline)
{
	$taken = sql($taken_q);
	last if $taken >= 20;
	usleep(20_000);
}
my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'ticketdesk mail worker'});
ok($pid, "the mail worker runs (pid $pid)");
kill 'KILL', $pid;
my $at_kill = $taken;
note "killed the mail worker (pid $pid) with SIGKILL after $at_kill of $n mails";
ok($at_kill > 0 && $at_kill < $n, "the kill came in the middle of the poll ($at_kill of $n taken before it)");

# The postmaster restarts everything; the launcher starts a new mail worker.
$node->poll_query_until('postgres', 'SELECT 1', '1');
wait_for($taken_q, $n, "after the restart all $n mails are taken");
is( sql(q{SELECT count(DISTINCT t.subject) || ' ' || count(*) FROM ticketdesk.ticket t WHERE t.subject LIKE 'crash %'}),
	"$n $n", 'one ticket per mail: no duplicate, none lost');
is( sql(q{SELECT count(*) FROM (SELECT 1 FROM ticketdesk.mail_intake i
                                 JOIN ticketdesk.ticket t USING (tenant_id, ticket_id)
                                WHERE i.mail_id = 'crash-' || substr(t.subject, 7) || '@acme.test') x}),
	$n, 'each ticket is the one of its Message-ID');
my $max_uid = 5 + $n;
wait_for('SELECT last_uid FROM ticketdesk.mail_mailbox', $max_uid, "last_uid is the last UID ($max_uid)");
$deadline = time + 60;
usleep(100_000) while @{ uids('INBOX') } && time < $deadline;
is(scalar @{ uids('INBOX') }, 0, 'every mail was moved out of INBOX, also the one in flight at the kill');
is(scalar @{ uids('Processed') }, 5 + $n, "Processed holds all @{[5 + $n]} mails");

# --- 6. the folder is recreated: a new UIDVALIDITY --------------------------------------

# A copy of every mail in a new folder: UIDs from 1 again, under a new UIDVALIDITY.
imap('', 'CREATE Again');
imap('Processed', 'UID COPY 1:* Again');
my ($new_validity) = imap('Again', 'EXAMINE Again') =~ /\[UIDVALIDITY (\d+)\]/;
isnt($new_validity, $uidvalidity, 'the new folder has another UIDVALIDITY');
sql(qq{UPDATE ticketdesk.mail_mailbox SET url = 'imap://127.0.0.1:$port/Again', after_fetch = 'seen', move_to = NULL});
wait_for('SELECT uidvalidity FROM ticketdesk.mail_mailbox', $new_validity,
	'a folder with another UIDVALIDITY is read from its first UID');
wait_for('SELECT last_uid FROM ticketdesk.mail_mailbox', 5 + $n, 'every mail in it is looked at');
is(sql(q{SELECT count(*) FROM ticketdesk.mail_intake}), 4 + 1 + $n,
	'and the mails taken before change nothing (known by their Message-ID)');
is(sql(q{SELECT count(*) FROM ticketdesk.ticket}), 3 + $n, 'no ticket more');

# --- 7. a server that never answers; SIGTERM in the middle of a poll --------------------
# A listening socket that is never accepted: the connection is made, and the
# greeting never comes. The poll waits up to 10s for it (the connect timeout:
# connection, greeting and login, at most mail_poll_timeout).
my $hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, Proto => 'tcp')
  or die "listen: $!";
my $hole_port = $hole->sockport;
my $silent = sql(qq{INSERT INTO ticketdesk.mail_mailbox (center_id, url, username, password_secret)
                    VALUES (1, 'imap://127.0.0.1:$hole_port/INBOX', 'desk', 'imap.1.password')
                    RETURNING mailbox_id});
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) > 0 FROM pg_stat_activity
            WHERE backend_type = 'ticketdesk mail worker' AND query LIKE 'ticketdesk mail: polling mailbox $silent %'}),
	'the worker waits on the silent server');
my $t0 = time;
$node->stop('fast');
my $took = time - $t0;
cmp_ok($took, '<', 10, sprintf('SIGTERM stops the worker in the middle of the poll at once (%.1fs; the poll would wait 10s for the greeting)', $took));
$node->start;
wait_for(qq{SELECT last_error LIKE 'SELECT "INBOX": Timeout was reached%' FROM ticketdesk.mail_mailbox WHERE mailbox_id = $silent},
	't', 'after the restart the poll of the silent server ends with its timeout in last_error');

# --- 8. no mailbox enabled: the worker sleeps ------------------------------------------
# Until 0.9 mail_poll_next() said "due now" (0) when no mailbox was enabled,
# and the worker polled in a loop at 100% of a core in every such database.
sub cpu_ticks
{
	my ($pid) = @_;
	open my $f, '<', "/proc/$pid/stat" or die "/proc/$pid/stat: $!";
	my @f = split ' ', (split /\) /, scalar <$f>, 2)[1];
	return $f[11] + $f[12];    # utime + stime, clock ticks
}
sql(q{UPDATE ticketdesk.mail_mailbox SET enabled = false});
ok( $node->poll_query_until('postgres',
		q{SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE backend_type = 'ticketdesk mail worker'}),
	'with no mailbox enabled the worker goes to sleep');
my $mail_pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'ticketdesk mail worker'});
my $ticks = cpu_ticks($mail_pid);
sleep 3;
$ticks = cpu_ticks($mail_pid) - $ticks;
cmp_ok($ticks, '<', 30, "and stays asleep: $ticks clock ticks of CPU in 3 s (a worker polling in a loop takes most of 300)");
$node->stop('fast');

done_testing();

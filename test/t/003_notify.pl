# Copyright: ticketdesk contributors
#
# 003_notify: the delivery worker against real peers on 127.0.0.1: an SMTP
# server (aiosmtpd, test/peers/smtp_sink.py) and an HTTP sink for the SMS
# gateway (test/peers/http_sink.py).
#
# The story: the node preloads ticketdesk, so a launcher starts a worker in
# the database once the extension is created. A ticket's life produces
# mails that arrive with the right headers, parts, language and Message-ID,
# woken on commit rather than by the poll. High priority goes by e-mail and
# SMS, normal priority by e-mail only. A rolled-back ticket sends nothing and
# wakes nobody. STARTTLS and AUTH work, and the password shows nowhere. With
# the SMTP server down, 1,000 queued mails retry, and all arrive exactly once
# when it is back. A message that keeps failing ends dead with its error; a
# final refusal kills it at once. kill -9 of the worker in the middle of
# 10,000 mails: after the restart nothing is lost, and each duplicate carries
# the Message-ID of its original. DROP EXTENSION and DROP DATABASE never
# wait for the worker.

use strict;
use warnings;
use utf8;

use Encode qw(decode);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use MIME::Base64;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with aiosmtpd'
  unless -x $python && system($python, '-c', 'import aiosmtpd') == 0;

my $peers = "$ENV{TESTDIR}/peers";
my $tmp = PostgreSQL::Test::Utils::tempdir;

# --- the peers -----------------------------------------------------------------

# The sinks still running: stopped however the test ends.
my @sinks;
END
{
	for my $h (@sinks) { eval { $h->kill_kill(grace => 2) }; }
}

# Starts a sink script and waits until it listens; returns the harness.
sub start_sink
{
	my ($script, @args) = @_;
	my $out = '';
	my $timer = IPC::Run::timeout(30);
	my $h = IPC::Run::start([ $python, "$peers/$script", @args ],
		'>', \$out, '2>>', "$tmp/$script.err", $timer);
	push @sinks, $h;
	$h->pump until $out =~ /ready/;
	$timer->reset;
	return $h;
}

sub stop_sink
{
	my ($h) = @_;
	$h->signal('TERM');
	$h->finish;
	@sinks = grep { $_ != $h } @sinks;
}

# The records a sink has written so far: whole lines only (a line the sink
# is still writing has no newline yet, and is read at the next look).
sub records
{
	my ($file) = @_;
	return () unless -e $file;
	open my $fh, '<:raw', $file or die "$file: $!";
	my @r = map { decode_json($_) } grep { /\S/ && /\n\z/ } <$fh>;
	close $fh;
	return @r;
}

# Waits (60 s at most) until a sink has written at least $n records.
sub wait_records
{
	my ($file, $n) = @_;
	my $deadline = time + 60;
	while (time < $deadline)
	{
		my @r = records($file);
		return @r if @r >= $n;
		usleep(20_000);
	}
	return records($file);
}

# Secrets live in files the settings name, so a reload never logs them.
PostgreSQL::Test::Utils::append_to_file("$tmp/sms_token", "sms-token-s3cret\n");
PostgreSQL::Test::Utils::append_to_file("$tmp/smtp_password", "pa55-w0rd\n");

my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $http_port = PostgreSQL::Test::Cluster::get_free_port();
my $mails = "$tmp/mail.jsonl";
my $posts = "$tmp/http.jsonl";
my $smtp = start_sink('smtp_sink.py', '--port', $smtp_port, '--out', $mails,
	'--reject', '^refused@');
my $http = start_sink('http_sink.py', '--port', $http_port, '--out', $posts);

# --- the node ----------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('notify');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'ticketdesk'
max_worker_processes = 16
ticketdesk.smtp_url = 'smtp://127.0.0.1:$smtp_port'
ticketdesk.mail_from = 'desk\@desk.test'
ticketdesk.sms_url = 'http://127.0.0.1:$http_port/sms'
ticketdesk.sms_token_file = '$tmp/sms_token'
ticketdesk.sms_headers = 'X-Extra: yes'
ticketdesk.base_url = 'https://desk.test'
ticketdesk.notify_poll_interval = '5s'
ticketdesk.notify_backoff_base = '200ms'
ticketdesk.notify_backoff_cap = '1s'
ticketdesk.notify_max_attempts = 50
ticketdesk.notify_lease = '20s'
ticketdesk.notify_workers = 2
log_min_messages = warning
restart_after_crash = on
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# How many distinct Message-IDs of an event's rows a sink received, and how
# many mails of them in all.
sub received
{
	my ($event, $file) = @_;
	my %keys = map { ("<$_\@desk.test>" => 1) }
	  split /\n/, sql("SELECT message_key FROM ticketdesk.outbox WHERE event = '$event'");
	my @got = grep { $keys{ $_->{message_id} } } records($file);
	my %seen;
	$seen{ $_->{message_id} }++ for @got;
	return (scalar(keys %seen), scalar(@got));
}

sub wait_sql
{
	my ($query, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $query, $expected), $what);
}

my $worker_q = q{SELECT count(*) FROM pg_stat_activity
                  WHERE backend_type = 'ticketdesk notify worker' AND datname = 'postgres'};
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
                                   WHERE backend_type = 'ticketdesk notify launcher'}),
	'1', 'the launcher runs, connected to no database');
sql('CREATE EXTENSION ticketdesk');
wait_sql($worker_q, '2', 'CREATE EXTENSION starts the database\'s two workers (pg_stat_activity shows them)');

sql(q{
SET search_path = ticketdesk;
INSERT INTO center (code, name) VALUES ('boilers', 'Boiler service');
INSERT INTO agent (name, email, phone, language)
VALUES ('Dana Dispatcher', 'dana@desk.test', '+37060000010', 'en'),
       ('Eli Engineer', 'eli@desk.test', '+37060000011', 'he');
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 1, 'dispatcher');
INSERT INTO customer (name) VALUES ('Acme UAB');
INSERT INTO contact (customer_id, name, email, phone, language)
VALUES (1, 'Rita Requester', 'rita@acme.test', '+37060000001', 'lt');
});

# ---------------------------------------------------------------------------
# 1. A ticket's mails arrive with the right headers, parts and language.
# ---------------------------------------------------------------------------
sql(q{SET search_path = ticketdesk; SELECT open_ticket('Boiler knocks', 1, contact_id => 1)});
sql(q{SET search_path = ticketdesk; SET ticketdesk.agent = 1; SELECT assign(1, 2)});
wait_sql(q{SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FROM ticketdesk.outbox},
	'3/3', 'the three mails of the ticket (thanks, assignment, handler) are sent');
my @mail = wait_records($mails, 3);
is(scalar @mail, 3, 'the SMTP server received three mails');

my %key = map { split /\|/ } split /\n/,
  sql(q{SELECT event || '|' || message_key FROM ticketdesk.outbox});
my ($heb) = grep { $_->{to}[0] eq 'eli@desk.test' } @mail;
ok($heb, 'the engineer got his mail');
my ($head, $body) = split /\r\n\r\n/, $heb->{data}, 2;
(my $unfolded = $head) =~ s/\r\n[ \t]+/ /g;
my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $unfolded;
is($h{'message-id'}, "<$key{assigned}\@desk.test>", 'its Message-ID is the outbox row\'s message_key');
is($heb->{message_id}, $h{'message-id'}, 'the server saw the same Message-ID');
my $subject = decode('MIME-Header', $h{subject});
like($subject, qr/^\[TD-000001\] /, 'the subject carries the reference tag [TD-000001]');
like($subject, qr/\x{05D4}\x{05D5}\x{05E7}\x{05E6}\x{05EA}\x{05D4}/, 'the subject is in Hebrew (the recipient\'s language)');
is($h{'auto-submitted'}, 'auto-generated', 'Auto-Submitted: auto-generated');
is($h{references}, '<TD-000001@desk.test>', 'References threads it on the ticket');
is($h{'content-language'}, 'he', 'Content-Language: he');
like($h{from}, qr/<desk\@desk\.test>$/, 'it comes from the desk address');
like($h{'content-type'}, qr{^multipart/alternative; boundary="([^"]+)"}, 'multipart/alternative');
my ($boundary) = $h{'content-type'} =~ /boundary="([^"]+)"/;
my @parts = grep { /Content-Type/ } split /--\Q$boundary\E(?:--)?\r\n/, $body;
is(scalar @parts, 2, 'two parts');
my %part;
for my $p (@parts)
{
	my ($ph, $pb) = split /\r\n\r\n/, $p, 2;
	my ($type) = $ph =~ m{Content-Type: (text/\w+)};
	$part{$type} = decode('UTF-8', decode_base64($pb));
}
like($part{'text/plain'}, qr/https:\/\/desk\.test\/ticket\/TD-000001/, 'the text part has the link (R29)');
like($part{'text/html'}, qr/<html lang="he" dir="rtl">/, 'the HTML part is right to left');
like($part{'text/html'}, qr/<a href="https:\/\/desk\.test\/ticket\/TD-000001">/, 'the HTML part links the ticket');

# Rendered when claimed, stored with the result: the row shows what was sent.
is(sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE status = 'sent' AND subject IS NOT NULL
           AND body_text IS NOT NULL AND body_html IS NOT NULL}),
	'3', 'each sent row stores the text it was rendered with');
(my $sent_text = $part{'text/plain'}) =~ s/\r\n/\n/g;
is($sent_text, decode('UTF-8', sql(q{SELECT body_text FROM ticketdesk.outbox WHERE event = 'assigned'})),
	'and the stored text is the text part that arrived');
is(decode('UTF-8', sql(q{SELECT subject FROM ticketdesk.outbox WHERE event = 'assigned'})), $subject,
	'as is the subject');

my ($lt) = grep { $_->{to}[0] eq 'rita@acme.test' && $_->{data} =~ /\Q$key{registered}\E/ } @mail;
ok($lt, 'the requester got her thank-you');
my ($lt_subject) = $lt->{data} =~ /^Subject: (.*?)\r\n(?![ \t])/sm;
like(decode('MIME-Header', $lt_subject), qr/Dėkojame už jūsų užklausą/, 'in Lithuanian');

# ---------------------------------------------------------------------------
# 2. Woken on commit: delivery takes a small part of the 5 s poll.
# ---------------------------------------------------------------------------
my $before = scalar records($mails);
my $t0 = time;
sql(q{SET search_path = ticketdesk; SELECT open_ticket('Second ticket', 1, contact_id => 1)});
my @after = wait_records($mails, $before + 1);
my $latency = time - $t0;
cmp_ok($latency, '<', 2, sprintf('a commit wakes the worker: delivered in %.3f s (poll: 5 s)', $latency));

# ---------------------------------------------------------------------------
# 3. SMS for high priority (with token, extra header, idempotency key);
#    e-mail only for normal priority.
# ---------------------------------------------------------------------------
sql(q{SET search_path = ticketdesk; SET ticketdesk.agent = 1;
      UPDATE ticket SET priority = 'high', priority_fixed = true WHERE ticket_id = 2;
      SELECT assign(2, 2)});
my @sms = wait_records($posts, 1);
is(scalar @sms, 1, 'the high-priority assignment sent one SMS');
my $sms_key = sql(q{SELECT message_key FROM ticketdesk.outbox WHERE channel = 'sms'});
is($sms[0]{key}, $sms_key, 'the POST carries the row\'s Idempotency-Key');
is($sms[0]{authorization}, 'Bearer sms-token-s3cret', 'and the token as a bearer authorisation');
is($sms[0]{x_extra}, 'yes', 'and the extra header of ticketdesk.sms_headers');
is($sms[0]{body}{to}, '+37060000011', 'to the engineer\'s phone');
like($sms[0]{body}{text}, qr/^TD-000002 /, 'with a short text naming the ticket');
wait_sql(q{SELECT string_agg(channel, ',' ORDER BY channel) FROM ticketdesk.outbox
            WHERE ticket_id = 2 AND event = 'assigned' AND status = 'sent'},
	'email,sms', 'high priority: e-mail and SMS both sent');
# The worker stores the JSON body it sent as the claim handed it over (not
# parsed again from text): the row shows exactly what the gateway received.
is_deeply(decode_json(sql(q{SELECT payload FROM ticketdesk.outbox
                             WHERE ticket_id = 2 AND event = 'assigned' AND channel = 'sms'})),
	$sms[0]{body}, 'the SMS row stores the JSON body the gateway received');
is(sql(q{SELECT string_agg(channel, ',') FROM ticketdesk.outbox WHERE ticket_id = 1 AND event = 'assigned'}),
	'email', 'normal priority: e-mail only');
# The tenant's secret sms.token wins over the token file.
$node->psql('postgres', undef, extra_params => ['-c', "SET log_statement = 'none'",
	'-c', "SELECT ticketdesk.set_secret('sms.token', 'tbl-sms-t0ken')"], on_error_die => 1);
sql(q{SET search_path = ticketdesk; SELECT enqueue(2, 'assigned', agent_id => 2, channels => '{sms}')});
@sms = wait_records($posts, 2);
is($sms[1]{authorization}, 'Bearer tbl-sms-t0ken', 'the SMS token of the secrets table is the bearer');
sql(q{SELECT ticketdesk.drop_secret('sms.token')});

# ---------------------------------------------------------------------------
# 4. A rolled-back ticket sends nothing and wakes nobody.
# ---------------------------------------------------------------------------
wait_sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE status <> 'sent'}, '0', 'all sent so far');
my $wakes = sql('SELECT wakes FROM ticketdesk.notify_worker_status()');
my $count = scalar records($mails);
sql(q{BEGIN; SET search_path = ticketdesk; SELECT open_ticket('Never', 1, contact_id => 1); ROLLBACK;});
sleep 1;
is(sql('SELECT wakes FROM ticketdesk.notify_worker_status()'), $wakes, 'a rollback does not wake the worker');
is(scalar records($mails), $count, 'a rollback sends nothing');
sql(q{SET search_path = ticketdesk; SELECT open_ticket('Committed', 1, contact_id => 1)});
is(sql('SELECT wakes FROM ticketdesk.notify_worker_status()'), $wakes + 1, 'a commit wakes it once');

# ---------------------------------------------------------------------------
# 5. STARTTLS and AUTH; the password appears nowhere.
# ---------------------------------------------------------------------------
my $tls_port = PostgreSQL::Test::Cluster::get_free_port();
my $cert = "$tmp/cert.pem";
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
	'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
	'-keyout', "$tmp/key.pem", '-out', $cert) == 0 or die 'openssl failed';
my $tls_mails = "$tmp/tls.jsonl";
my $tls = start_sink('smtp_sink.py', '--port', $tls_port, '--out', $tls_mails,
	'--tls-cert', $cert, '--tls-key', "$tmp/key.pem", '--auth', 'desk:pa55-w0rd');
$node->append_conf('postgresql.conf', qq{
ticketdesk.smtp_url = 'smtp://127.0.0.1:$tls_port'
ticketdesk.smtp_starttls = on
ticketdesk.smtp_user = 'desk'
ticketdesk.smtp_password_file = '$tmp/smtp_password'
ticketdesk.tls_ca_file = '$cert'
});
$node->reload;
sleep 1;
sql(q{SET search_path = ticketdesk; SELECT open_ticket('Over TLS', 1, contact_id => 1)});
my @tls = wait_records($tls_mails, 1);
is(scalar @tls, 1, 'a mail went through STARTTLS');
ok($tls[0]{auth}, 'after AUTH with the configured user and password');
unlike(slurp_file($node->logfile), qr/pa55-w0rd/, 'the password is not in the server log');
is(sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE last_error LIKE '%pa55%'}), '0',
	'nor in any outbox error');

# The tenant's secret smtp.password (the secrets table) wins over the file:
# with a wrong password in the file, the secret alone gets the mail through.
append_to_file("$tmp/smtp_password_wrong", "file-pw-not-used\n");
$node->append_conf('postgresql.conf', qq{
ticketdesk.smtp_password_file = '$tmp/smtp_password_wrong'
});
$node->reload;
sleep 1;
# log_statement = 'all' (set by the test framework) would log the call
# itself, as it would for any statement: the secret is set with it off.
$node->psql('postgres', undef, extra_params => ['-c', "SET log_statement = 'none'",
	'-c', "SELECT ticketdesk.set_secret('smtp.password', 'pa55-w0rd')"], on_error_die => 1);
sql(q{SET search_path = ticketdesk; SELECT open_ticket('Secret from the table', 1, contact_id => 1)});
wait_sql(q{SELECT o.status FROM ticketdesk.outbox o JOIN ticketdesk.ticket k USING (tenant_id, ticket_id)
            WHERE k.subject = 'Secret from the table'}, 'sent',
	'with the password only in the secrets table, the mail is sent');
@tls = wait_records($tls_mails, 2);
ok($tls[1]{auth}, 'after AUTH with the secret of the message\'s tenant (the file\'s password is wrong)');
unlike(slurp_file($node->logfile), qr/pa55-w0rd|tbl-sms-t0ken/, 'the secrets are not in the server log');
is(sql(q{SELECT count(*) FROM ticketdesk.outbox o WHERE o::text ~ 'pa55-w0rd|file-pw-not-used|tbl-sms-t0ken'}),
	'0', 'nor anywhere in the outbox (errors, text)');
sql(q{SELECT ticketdesk.drop_secret('smtp.password')});
stop_sink($tls);
$node->append_conf('postgresql.conf', qq{
ticketdesk.smtp_url = 'smtp://127.0.0.1:$smtp_port'
ticketdesk.smtp_starttls = off
ticketdesk.smtp_user = ''
ticketdesk.tls_ca_file = ''
});
$node->reload;

# ---------------------------------------------------------------------------
# 6. Outage: 1,000 mails queued while the server is down all arrive once.
# ---------------------------------------------------------------------------
my $bulk = q{
BEGIN;
INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text)
SELECT '%s', 'email', 'user' || g || '@acme.test', 'Bulk ' || g, 'Message ' || g
  FROM generate_series(1, %d) g;
SELECT ticketdesk.notify_wake();
COMMIT;};
stop_sink($smtp);
sql(sprintf($bulk, 'outage', 1000));
wait_sql(q{SELECT count(*) > 100 FROM ticketdesk.outbox WHERE event = 'outage' AND attempts >= 2
             AND status = 'queued' AND last_error IS NOT NULL},
	't', 'with the server down the mails fail and retry (attempts >= 2, last error kept)');
note sql(q{SELECT 'last error: ' || last_error FROM ticketdesk.outbox WHERE event = 'outage' LIMIT 1});
my $restart_at = time;
$smtp = start_sink('smtp_sink.py', '--port', $smtp_port, '--out', $mails, '--reject', '^refused@');
wait_sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'outage' AND status = 'sent'},
	'1000', 'once the server is back all 1,000 are sent');
my ($outage_distinct, $outage_received) = received('outage', $mails);
is($outage_distinct, 1000, 'the server received all 1,000 (by Message-ID)');
is($outage_received, 1000, 'none of them twice');
note sprintf('outage: the 1,000 were delivered %.1f s after the server came back; max attempts %s',
	time - $restart_at,
	sql(q{SELECT max(attempts) FROM ticketdesk.outbox WHERE event = 'outage'}));

# ---------------------------------------------------------------------------
# 7. Dead letters: a final refusal kills at once; retries end at the cap.
# ---------------------------------------------------------------------------
sql(q{INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text)
      VALUES ('dead', 'email', 'refused@acme.test', 'Refused', 'x')});
sql(q{SELECT ticketdesk.notify_wake()});
wait_sql(q{SELECT status || ' ' || attempts FROM ticketdesk.outbox WHERE event = 'dead'},
	'dead 1', 'a 550 refusal makes the message dead after one attempt');
like(sql(q{SELECT last_error FROM ticketdesk.outbox WHERE event = 'dead'}), qr/550|Recipient/i,
	'its error is kept');
# One refusal in a batch: the failure is recorded on its own row and the
# rest of the batch is sent; every row keeps the text rendered for it.
sql(q{INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient, recipient_name, language, thread)
      SELECT 1, 'assigned', 'email',
             CASE WHEN g = 7 THEN 'refused@acme.test' ELSE 'batch' || g || '@acme.test' END, 'Batch ' || g, 'en',
             'TD-000001'
        FROM generate_series(1, 20) g});
sql(q{SELECT ticketdesk.notify_wake()});
wait_sql(q{SELECT count(*) FILTER (WHERE status = 'sent') || ' sent, '
                  || count(*) FILTER (WHERE status = 'dead') || ' dead: ' || string_agg(recipient_name, ',') FILTER (WHERE status = 'dead')
             FROM ticketdesk.outbox WHERE recipient_name LIKE 'Batch %'},
	'19 sent, 1 dead: Batch 7', 'a batch with one refused recipient: that row is dead, the other 19 sent');
like(sql(q{SELECT last_error FROM ticketdesk.outbox WHERE recipient_name = 'Batch 7'}), qr/550|Recipient/i,
	'the refusal is kept on its row');
# A mail about a ticket queued by hand without a thread is sent without the
# subject tag (its subject was NULL, the row could not be recorded, and the
# worker sent its batch again and again).
sql(q{INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient, recipient_name, language, thread)
      VALUES (1, 'assigned', 'email', 'nothread@acme.test', 'No thread', 'en', NULL),
             (1, 'assigned', 'email', 'withthread@acme.test', 'With thread', 'en', 'TD-000001')});
sql(q{SELECT ticketdesk.notify_wake()});
wait_sql(q{SELECT string_agg(status || ' ' || attempts || ' ' || (subject LIKE '[TD-000001] %'), ', ' ORDER BY recipient_name)
             FROM ticketdesk.outbox WHERE recipient_name IN ('No thread', 'With thread')},
	'sent 1 false, sent 1 true', 'a mail without a thread is sent once, untagged, and so is the rest of its batch');
is(sql(q{SELECT count(*) FROM ticketdesk.outbox
          WHERE recipient_name LIKE 'Batch %' AND attempts = 1 AND last_error IS NULL = (status = 'sent')
            AND body_text LIKE 'Hello ' || recipient_name || ',%' AND subject LIKE '[TD-000001] %'}),
	'20', 'each row of the batch stores its own text, one attempt each');
is(scalar(grep { $_->{to}[0] =~ /^batch\d+\@acme\.test/ } records($mails)), 19,
	'the sink received the 19');
# A message whose event has no template at all cannot be rendered: dead at
# its first claim, with the reason.
sql(q{INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient)
      VALUES (1, 'nothing_written', 'email', 'rita@acme.test')});
sql(q{SELECT ticketdesk.notify_wake()});
wait_sql(q{SELECT status || ' ' || attempts FROM ticketdesk.outbox WHERE event = 'nothing_written'},
	'dead 1', 'a message with no template is dead after its first claim');
is(sql(q{SELECT last_error FROM ticketdesk.outbox WHERE event = 'nothing_written'}),
	'no template for event "nothing_written" in "en" or in English', 'with the reason');

my $closed_port = PostgreSQL::Test::Cluster::get_free_port();
$node->append_conf('postgresql.conf', qq{
ticketdesk.sms_url = 'http://127.0.0.1:$closed_port/sms'
ticketdesk.notify_max_attempts = 3
});
$node->reload;
sleep 1;
sql(q{BEGIN;
      INSERT INTO ticketdesk.outbox (event, channel, recipient, body_text, payload)
      VALUES ('capped', 'sms', '+1', 'x', '{"to": "+1"}');
      SELECT ticketdesk.notify_wake(); COMMIT;});
wait_sql(q{SELECT status || ' ' || attempts FROM ticketdesk.outbox WHERE event = 'capped'},
	'dead 3', 'an SMS gateway that stays down: dead after 3 attempts (the cap)');
like(sql(q{SELECT last_error FROM ticketdesk.outbox WHERE event = 'capped'}),
	qr/connect/i, 'with the connection error kept');
unlike(sql(q{SELECT last_error FROM ticketdesk.outbox WHERE event = 'capped'}),
	qr/s3cret/, 'and no token in it');
is(sql(q{SELECT status FROM ticketdesk.outbox_retry(
          (SELECT outbox_id FROM ticketdesk.outbox WHERE event = 'capped'))}),
	'queued', 'an admin can retry a dead message');
$node->append_conf('postgresql.conf', qq{
ticketdesk.sms_url = 'http://127.0.0.1:$http_port/sms'
ticketdesk.notify_max_attempts = 50
});
$node->reload;
wait_sql(q{SELECT status FROM ticketdesk.outbox WHERE event = 'capped'}, 'sent',
	'and it is delivered once the gateway is back');

# A gateway that refuses a message (400): final at once, and the start of
# its answer is the error an admin reads, with the token it echoes masked.
# No gateway's answer, refusal or acceptance, is written to the server log.
my $refusing_port = PostgreSQL::Test::Cluster::get_free_port();
my $refusing = start_sink('http_sink.py', '--port', $refusing_port, '--out', "$tmp/refused.jsonl",
	'--status', '400');
$node->append_conf('postgresql.conf', qq{ticketdesk.sms_url = 'http://127.0.0.1:$refusing_port/sms'});
$node->reload;
sleep 1;
sql(q{BEGIN;
      INSERT INTO ticketdesk.outbox (event, channel, recipient, body_text, payload)
      VALUES ('refused', 'sms', '+1', 'x', '{"to": "+1"}');
      SELECT ticketdesk.notify_wake(); COMMIT;});
wait_sql(q{SELECT status || ' ' || attempts FROM ticketdesk.outbox WHERE event = 'refused'},
	'dead 1', 'an SMS the gateway refuses (400) is dead after one attempt');
is(sql(q{SELECT last_error FROM ticketdesk.outbox WHERE event = 'refused'}),
	'HTTP status 400: {"ok": false, "error": "refused: Bearer ****************"}',
	'with the start of the gateway\'s answer as its error, the token it echoed masked');
unlike(slurp_file($node->logfile), qr/"ok": (true|false)/, 'no gateway answer is in the server log');
stop_sink($refusing);
$node->append_conf('postgresql.conf', qq{ticketdesk.sms_url = 'http://127.0.0.1:$http_port/sms'});
$node->reload;

# ---------------------------------------------------------------------------
# 7b. The worker renders in C (src/render.c, from outbox_claim_values) what
#     outbox_message renders in SQL. Mixed rows (languages with and without
#     templates, mail and SMS, an SMS without a template of its own, a
#     tenant's own template written in HTML, values given when queued, an
#     explicit sender, a mail without a thread, values that are not an
#     object, an event without any template) are read from the view in the
#     transaction that queues them and compared with what the worker stored
#     with its result. Then a template changed between two batches: the
#     next batch uses the new text.
# ---------------------------------------------------------------------------
sql(q{
SET search_path = ticketdesk;
INSERT INTO notify_template (event, channel, language, subject, body_text, body_html)
VALUES ('reminder', 'email', 'en', 'Due {{due}}: {{subject}}', 'Due {{due}} <{{sender}}> {{priority}}',
        '<p>Due {{due}} &amp; {{center}}: <b>{{subject}}</b> <a href="{{link}}">{{reference}}</a></p>');
INSERT INTO contact (customer_id, name, email, phone, language)
VALUES (1, 'Pola Polka', 'pola@acme.test', '+37060000002', 'pl'),
       (1, 'Dieter Deutsch', 'dieter@acme.test', '+37060000003', 'de');
});
sql(q{
BEGIN;
SET search_path = ticketdesk;
CREATE TABLE public.render_mark AS SELECT coalesce(max(outbox_id), 0) AS last FROM outbox;
SELECT count(*) FROM (
    SELECT enqueue(2, 'assigned', agent_id => 2, channels => '{email,sms}')
    UNION ALL SELECT enqueue(2, 'assigned', contact_id => 2, channels => '{email,sms}')
    UNION ALL SELECT enqueue(1, 'assigned', contact_id => 3, channels => '{email,sms}')
    UNION ALL SELECT enqueue(1, 'registered', contact_id => 1, channels => '{email,sms}')
    UNION ALL SELECT enqueue(2, 'assigned', agent_id => 1, vars => '{"center": "Night shift", "priority": 3}')
    UNION ALL SELECT enqueue(1, 'assigned', contact_id => 1, vars => '{"assignee": null}')
    UNION ALL SELECT enqueue(2, 'reminder', contact_id => 3, vars => '{"due": "Friday", "subject": {"a": [1, true]}}')
    UNION ALL SELECT enqueue(1, 'resolved', contact_id => 2, vars => '[1, 2]')) q;
INSERT INTO outbox (ticket_id, event, channel, recipient, recipient_name, language, thread, sender_name)
VALUES (1, 'closed', 'email', 'rona@acme.test', 'Rona', 'ro', NULL, 'Sam Sender'),
       (2, 'resolved', 'sms', '+37060000099', NULL, 'he', 'TD-000002', NULL),
       (2, 'no_such_event', 'email', 'dana@desk.test', NULL, 'en', 'TD-000002', NULL);
CREATE TABLE public.render_expect AS
SELECT m.* FROM outbox_message m, public.render_mark k WHERE m.outbox_id > k.last;
SELECT notify_wake();
COMMIT;
});
wait_sql(q{SELECT count(*) FROM ticketdesk.outbox o, render_mark k
            WHERE o.outbox_id > k.last AND o.status IN ('queued', 'sending')}, '0',
	'the mixed rows are sent or dead');
my $render_rows = sql(q{SELECT count(*) FROM render_expect WHERE body_text IS NOT NULL});
cmp_ok($render_rows, '>=', 14, "$render_rows rendered rows to compare");
is(sql(q{SELECT count(*) FROM render_expect e JOIN ticketdesk.outbox o USING (tenant_id, outbox_id)
          WHERE e.body_text IS NOT NULL AND o.status = 'sent'}),
	$render_rows, 'every row the view renders is sent');
is(sql(q{SELECT string_agg(o.outbox_id::text || ' ' || o.channel, ', ')
           FROM render_expect e JOIN ticketdesk.outbox o USING (tenant_id, outbox_id)
          WHERE (e.language, e.sender_name, e.subject, e.body_text, e.body_html, e.payload::text)
                IS DISTINCT FROM (o.language, o.sender_name, o.subject, o.body_text, o.body_html, o.payload::text)
            AND e.body_text IS NOT NULL}),
	'', 'the worker stored the very texts, language, sender and JSON body outbox_message renders');
is(sql(q{SELECT string_agg(DISTINCT o.status || ' ' || o.event, ', ')
           FROM render_expect e JOIN ticketdesk.outbox o USING (tenant_id, outbox_id)
          WHERE e.body_text IS NULL AND o.body_text IS NULL}),
	'dead no_such_event', 'a row the view cannot render dies without a text');
is(sql(q{SELECT count(*) FROM render_expect e
          WHERE e.channel = 'sms' AND e.body_text LIKE e.thread || ': %' AND e.body_text LIKE '%https://desk.test/ticket/%'}),
	'2', 'the SMS without a template of their own: thread, the mail\'s subject, the link');
is(sql(q{SELECT count(*) FROM render_expect e WHERE e.subject = '[TD-000002] Due Friday: {"a": [1, true]}'
            AND e.body_html LIKE '%<b>{&quot;a&quot;: [1, true]}</b>%'}),
	'1', 'the tenant\'s own HTML template, with values given when queued (a JSON value escaped)');
sql(q{UPDATE ticketdesk.notify_template SET subject = 'Changed {{due}}' WHERE event = 'reminder' AND NOT seeded});
sql(q{BEGIN; SET search_path = ticketdesk;
      SELECT count(*) FROM enqueue(2, 'reminder', contact_id => 3, vars => '{"due": "Monday"}');
      SELECT notify_wake(); COMMIT;});
wait_sql(q{SELECT subject FROM ticketdesk.outbox WHERE event = 'reminder' AND status = 'sent'
            ORDER BY outbox_id DESC LIMIT 1}, '[TD-000002] Changed Monday',
	'a template changed between two batches: the next batch sends the new text');

# ---------------------------------------------------------------------------
# 7c. Rows changed while they are being delivered. The result finds a row
#     where the claim wrote it (src/record.c) and follows its update chain:
#     a row cancelled meanwhile stays cancelled, a row deleted meanwhile is
#     not written again, and the worker goes on. An SMTP server that
#     accepts connections and never answers holds the batch until the
#     delivery's time limit.
# ---------------------------------------------------------------------------
my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, Proto => 'tcp')
  or die "no silent listener: $!";
my $silent_port = $silent->sockport;
$node->append_conf('postgresql.conf', qq{
ticketdesk.smtp_url = 'smtp://127.0.0.1:$silent_port'
ticketdesk.notify_timeout = '4s'
});
$node->reload;
sleep 1;
sql(q{BEGIN;
      INSERT INTO ticketdesk.outbox (event, channel, recipient, subject, body_text, note)
      SELECT 'inflight', 'email', 'r' || g || '@desk.test', 'In flight', 'x', g::text FROM generate_series(1, 3) g;
      SELECT ticketdesk.notify_wake(); COMMIT;});
wait_sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'inflight' AND status = 'sending'}, '3',
	'three mails claimed, their delivery held by a server that never answers');
sql(q{UPDATE ticketdesk.outbox SET status = 'cancelled', leased_until = NULL, next_attempt_at = NULL
       WHERE event = 'inflight' AND note = '1';
      DELETE FROM ticketdesk.outbox WHERE event = 'inflight' AND note = '2';});
wait_sql(q{SELECT attempts >= 1 AND last_error IS NOT NULL FROM ticketdesk.outbox
            WHERE event = 'inflight' AND note = '3'}, 't',
	'the time limit is recorded on the row nobody touched');
is(sql(q{SELECT string_agg(note || ' ' || status || ' ' || attempts || ' ' || coalesce(last_error, '-'), ', ' ORDER BY note)
           FROM ticketdesk.outbox WHERE event = 'inflight' AND note <> '3'}),
	'1 cancelled 1 -', 'the row cancelled during delivery stays cancelled, without the result; the deleted one stays gone');
is(sql($worker_q), '2', 'and the workers go on');
$node->append_conf('postgresql.conf', qq{
ticketdesk.smtp_url = 'smtp://127.0.0.1:$smtp_port'
ticketdesk.notify_timeout = '30s'
});
$node->reload;
wait_sql(q{SELECT status FROM ticketdesk.outbox WHERE event = 'inflight' AND note = '3'}, 'sent',
	'it is delivered once the server answers');
close $silent;

# ---------------------------------------------------------------------------
# 7d. One batch, two tenants, both channels. The worker builds the headers
#     that are the same for a tenant and channel once a batch (src/http.c)
#     and hands a curl handle from one message of a channel to the next
#     without resetting it (src/deliver.c): each SMS must still carry its
#     own tenant's token and its own Idempotency-Key, and the mails taken
#     in between must still arrive.
# ---------------------------------------------------------------------------
my $t2 = sql(q{INSERT INTO ticketdesk.tenant (code, name) VALUES ('batch-two', 'Second tenant') RETURNING tenant_id});
$node->psql('postgres', undef, extra_params => ['-c', "SET log_statement = 'none'",
	'-c', "SET ticketdesk.tenant = $t2",
	'-c', "SELECT ticketdesk.set_secret('sms.token', 'second-t0ken')"], on_error_die => 1);
my $posts_before = scalar records($posts);
my $mails_before = scalar records($mails);
sql(qq{BEGIN;
      INSERT INTO ticketdesk.outbox (tenant_id, event, channel, recipient, subject, body_text, payload, note)
      SELECT CASE WHEN g % 2 = 0 THEN $t2 ELSE 1 END, 'mixed',
             CASE WHEN g % 3 = 0 THEN 'email' ELSE 'sms' END,
             CASE WHEN g % 3 = 0 THEN 'm' || g || '\@desk.test' ELSE '+370600' || g END,
             'Mixed ' || g, 'text ' || g,
             CASE WHEN g % 3 = 0 THEN NULL ELSE jsonb_build_object('to', '+370600' || g, 'n', g) END,
             g::text
        FROM generate_series(1, 12) g ORDER BY g;
      SELECT ticketdesk.notify_wake(); COMMIT;});
wait_sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'mixed' AND status = 'sent'}, '12',
	'a batch of SMS and mails of two tenants, interleaved: all sent');
my @mixed = (records($posts))[$posts_before .. $posts_before + 7];
my %row = map { my ($k, $t, $n) = split /\|/; ($k => [$t, $n]) }
  split /\n/, sql(q{SELECT message_key || '|' || tenant_id || '|' || note FROM ticketdesk.outbox
                    WHERE event = 'mixed' AND channel = 'sms'});
is(scalar(grep { defined $_->{key} && $row{$_->{key}} } @mixed), 8, 'the gateway got the eight SMS, each with its row\'s key');
is(scalar(grep { defined $_->{key} && $row{$_->{key}}
			&& $_->{body}{n} == $row{$_->{key}}[1]
			&& $_->{authorization} eq ($row{$_->{key}}[0] == $t2 ? 'Bearer second-t0ken' : 'Bearer sms-token-s3cret')
			&& ($_->{x_extra} // '') eq 'yes'
			&& $_->{content_type} eq 'application/json; charset=utf-8' } @mixed), 8,
	'each with its own body, its own tenant\'s token, the extra header and the content type');
is(scalar(records($mails)) - $mails_before, 4, 'and the four mails between them arrived');
$node->psql('postgres', undef, extra_params => ['-c', "SET ticketdesk.tenant = $t2",
	'-c', "SELECT ticketdesk.drop_secret('sms.token')"], on_error_die => 1);

# ---------------------------------------------------------------------------
# 8. Crash: kill -9 the worker in the middle of 10,000 mails.
# ---------------------------------------------------------------------------
my $crash_mails = "$tmp/crash.jsonl";
my $crash_port = PostgreSQL::Test::Cluster::get_free_port();
my $crash_sink = start_sink('smtp_sink.py', '--port', $crash_port, '--out', $crash_mails, '--count-only');
$node->append_conf('postgresql.conf', qq{ticketdesk.smtp_url = 'smtp://127.0.0.1:$crash_port'\n});
$node->reload;
sleep 1;
sql(sprintf($bulk, 'crash', 10000));
my $deadline = time + 60;
usleep(20_000) while time < $deadline && records($crash_mails) < 2000;
my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'
                 AND query LIKE '%delivering%' ORDER BY pid LIMIT 1})
  || sql(q{SELECT min(pid) FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'});
my $sent_before = sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'crash' AND status = 'sent'});
ok($sent_before > 0 && $sent_before < 10000, "the worker is mid-way ($sent_before of 10,000 recorded sent)");
kill 'KILL', $pid;
note "killed the worker (pid $pid) with SIGKILL";
# The postmaster restarts everything; the launcher starts a new worker.
$node->poll_query_until('postgres', 'SELECT 1', '1');
wait_sql($worker_q, '2', 'after the crash the workers run again');
unlike(sql(q{SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'}),
	qr/\b$pid\b/, 'new processes');
wait_sql(q{SELECT count(*) FROM ticketdesk.outbox WHERE event = 'crash' AND status = 'sent'},
	'10000', 'all 10,000 are recorded sent after the restart');
my ($crash_distinct, $crash_received) = received('crash', $crash_mails);
my $lost = 10000 - $crash_distinct;
my $dups = $crash_received - $crash_distinct;
is($lost, 0, 'nothing was lost: the server has all 10,000 Message-IDs');
ok($dups < 10000, "duplicates: $dups, each detectable by its repeated Message-ID");
diag "crash test: 10,000 mails, killed after $sent_before recorded, lost $lost, duplicates $dups "
  . '(sent before the kill, recorded after it; the receiver sees the same Message-ID twice)';
stop_sink($crash_sink);

# ---------------------------------------------------------------------------
# 8b. A proxy named by the server's environment is used. The worker tells
#     curl there is no proxy only when no *_proxy variable is set (src/
#     deliver.c, which spares curl its look-ups of the environment); with
#     http_proxy set, an SMS to a gateway nobody listens on goes through
#     the proxy (the HTTP sink, which sees the gateway's URL as the path).
# ---------------------------------------------------------------------------
my $nobody_port = PostgreSQL::Test::Cluster::get_free_port();
$node->stop;
$node->append_conf('postgresql.conf', qq{
ticketdesk.sms_url = 'http://127.0.0.1:$nobody_port/sms'
});
{
	local $ENV{http_proxy} = "http://127.0.0.1:$http_port";
	$node->start;
}
my $proxied_before = scalar records($posts);
sql(q{BEGIN;
      INSERT INTO ticketdesk.outbox (event, channel, recipient, body_text, payload)
      VALUES ('proxied', 'sms', '+1', 'x', '{"to": "+1"}');
      SELECT ticketdesk.notify_wake(); COMMIT;});
wait_sql(q{SELECT status FROM ticketdesk.outbox WHERE event = 'proxied'}, 'sent',
	'with http_proxy in the server\'s environment, an SMS goes through the proxy');
my @proxied = wait_records($posts, $proxied_before + 1);
is($proxied[$proxied_before]{path}, "http://127.0.0.1:$nobody_port/sms",
	'the proxy was asked for the gateway\'s URL');
$node->stop;
$node->append_conf('postgresql.conf', qq{
ticketdesk.sms_url = 'http://127.0.0.1:$http_port/sms'
});
$node->start;

# ---------------------------------------------------------------------------
# 9. The worker never blocks DROP EXTENSION or DROP DATABASE.
# ---------------------------------------------------------------------------
sql('CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION ticketdesk');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'}, '4'),
	'a second database with the extension gets workers of its own');
my $t = time;
$node->safe_psql('other', 'SET lock_timeout = 5000; DROP EXTENSION ticketdesk');
$node->safe_psql('postgres', 'DROP DATABASE other');
cmp_ok(time - $t, '<', 5, 'DROP EXTENSION and DROP DATABASE went through at once');
wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'}, '2',
	'only the first database\'s workers are left');

$node->stop;
stop_sink($smtp);
stop_sink($http);
done_testing();

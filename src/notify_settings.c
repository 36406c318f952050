/*
 * notify_settings.c
 *		The settings of notifications and of their delivery worker.
 *
 * The worker reads them again on SIGHUP. Secrets (the SMTP password and the
 * SMS token) are not settings but files named by settings: the postmaster
 * logs every changed setting on reload, with its value, so a secret in a
 * setting would end up in the log. Only the file's path is ever logged.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/guc.h"

#include "notify.h"

char	   *notify_base_url = NULL;
char	   *notify_mail_from = NULL;
char	   *notify_smtp_url = NULL;
char	   *notify_smtp_user = NULL;
char	   *notify_smtp_password_file = NULL;
bool		notify_smtp_starttls = false;
char	   *notify_tls_ca_file = NULL;
char	   *notify_sms_url = NULL;
char	   *notify_sms_token_file = NULL;
char	   *notify_sms_headers = NULL;
char	   *notify_webhook_url = NULL;
int			notify_concurrency = 8;
int			notify_batch_size = 200;
int			notify_poll_interval_ms = 10000;
int			notify_timeout_ms = 30000;
int			notify_max_attempts = 8;
int			notify_backoff_base_ms = 30000;
int			notify_backoff_cap_ms = 3600000;
int			notify_lease_ms = 300000;
int			notify_retention_min = 7 * 24 * 60;
bool		notify_worker_enabled = true;
int			notify_workers = 2;

static void
define_string(const char *name, const char *desc, char **var, const char *def,
			  GucContext ctx, int flags)
{
	DefineCustomStringVariable(name, desc, NULL, var, def, ctx, flags, NULL, NULL, NULL);
}

static void
define_int(const char *name, const char *desc, int *var, int def, int min, int max, int flags)
{
	DefineCustomIntVariable(name, desc, NULL, var, def, min, max, PGC_SIGHUP, flags,
							NULL, NULL, NULL);
}

/* notify_define_settings registers every notification setting. */
void
notify_define_settings(void)
{
	define_string("ticketdesk.base_url",
				  "The web address of the desk; notifications link to base_url/ticket/REFERENCE.",
				  &notify_base_url, "http://localhost:8080", PGC_SUSET, 0);
	define_string("ticketdesk.mail_from", "The sender address of notification mail.",
				  &notify_mail_from, "ticketdesk@localhost", PGC_SIGHUP, 0);
	define_string("ticketdesk.smtp_url",
				  "The SMTP server, e.g. smtp://mail.example.com:587 (empty: e-mail is not sent).",
				  &notify_smtp_url, "", PGC_SIGHUP, 0);
	define_string("ticketdesk.smtp_user", "The SMTP AUTH user name (empty: no AUTH).",
				  &notify_smtp_user, "", PGC_SIGHUP, 0);
	define_string("ticketdesk.smtp_password_file",
				  "A file holding the SMTP AUTH password (read by the worker; never logged).",
				  &notify_smtp_password_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY);
	DefineCustomBoolVariable("ticketdesk.smtp_starttls",
							 "Require STARTTLS on the SMTP connection.", NULL,
							 &notify_smtp_starttls, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_string("ticketdesk.tls_ca_file",
				  "A CA bundle to verify the SMTP and HTTP servers with (empty: the system's).",
				  &notify_tls_ca_file, "", PGC_SIGHUP, 0);
	define_string("ticketdesk.sms_url",
				  "The SMS gateway's URL, which receives a JSON POST (empty: SMS is not sent).",
				  &notify_sms_url, "", PGC_SIGHUP, 0);
	define_string("ticketdesk.sms_token_file",
				  "A file holding the SMS gateway's token, sent as a bearer authorisation.",
				  &notify_sms_token_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY);
	define_string("ticketdesk.sms_headers",
				  "Extra headers for the SMS gateway, as 'Name: value; Name: value'.",
				  &notify_sms_headers, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY);
	define_string("ticketdesk.webhook_url",
				  "The URL that receives webhook messages as a JSON POST (empty: not sent).",
				  &notify_webhook_url, "", PGC_SIGHUP, 0);

	define_int("ticketdesk.notify_concurrency", "Parallel connections of the delivery worker.",
			   &notify_concurrency, 8, 1, 256, 0);
	define_int("ticketdesk.notify_batch_size", "Messages the worker claims at once.",
			   &notify_batch_size, 200, 1, 10000, 0);
	define_int("ticketdesk.notify_poll_interval",
			   "The worker's fallback poll; commits that queue messages wake it at once.",
			   &notify_poll_interval_ms, 10000, 10, INT_MAX, GUC_UNIT_MS);
	define_int("ticketdesk.notify_timeout", "Time limit of one delivery.",
			   &notify_timeout_ms, 30000, 100, INT_MAX, GUC_UNIT_MS);
	define_int("ticketdesk.notify_max_attempts", "Tries before a message is dead.",
			   &notify_max_attempts, 8, 1, 1000, 0);
	define_int("ticketdesk.notify_backoff_base", "Wait after the first failed try; it doubles after each.",
			   &notify_backoff_base_ms, 30000, 1, INT_MAX, GUC_UNIT_MS);
	define_int("ticketdesk.notify_backoff_cap", "The longest wait between two tries.",
			   &notify_backoff_cap_ms, 3600000, 1, INT_MAX, GUC_UNIT_MS);
	define_int("ticketdesk.notify_lease",
			   "How long a claimed message stays claimed; after a crash it is claimable again.",
			   &notify_lease_ms, 300000, 1000, INT_MAX, GUC_UNIT_MS);
	define_int("ticketdesk.notify_retention", "How long sent messages are kept.",
			   &notify_retention_min, 7 * 24 * 60, 1, INT_MAX, GUC_UNIT_MIN);
	/* A server-start setting can only be defined while preloading. */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomBoolVariable("ticketdesk.notify_worker",
								 "Run the notification launcher and workers (needs shared_preload_libraries).",
								 NULL, &notify_worker_enabled, true, PGC_POSTMASTER, 0,
								 NULL, NULL, NULL);
		DefineCustomIntVariable("ticketdesk.notify_workers",
								"Delivery workers per database.",
								"libcurl waits for an SMTP server's answer to the end of a mail "
								"with the whole process blocked, so parallel SMTP needs processes.",
								&notify_workers, 2, 1, 16, PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	}
}

/*
 * notify_read_secret returns the first line of the file at path (palloc'd),
 * "" for an empty path, or NULL when the file cannot be read. The secret is
 * never part of a message.
 */
char *
notify_read_secret(const char *path)
{
	FILE	   *f;
	char		buf[1024];

	if (path == NULL || path[0] == '\0')
		return pstrdup("");
	f = AllocateFile(path, "r");
	if (f == NULL)
		return NULL;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	FreeFile(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return pstrdup(buf);
}

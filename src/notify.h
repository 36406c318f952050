/*
 * notify.h
 *		Declarations shared by the notification modules: the settings, the
 *		shared state of the launcher and workers, and the delivery interface.
 *
 * The delivery side (deliver.c, smtp.c, http.c) sees curl; nothing here
 * does, so the PostgreSQL modules never include curl's headers.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/itemptr.h"
#include "lib/stringinfo.h"

/* SQLSTATEs raised in C (TD540-TD559 are notifications', doc/errors.md). */
#define ERRCODE_TD_TEMPLATE_TOO_LARGE	MAKE_SQLSTATE('T','D','5','4','6')

/* Settings (ticketdesk.c registers them, notify_settings.c defines them). */
extern char *notify_base_url;
extern char *notify_mail_from;
extern char *notify_smtp_url;
extern char *notify_smtp_user;
extern char *notify_smtp_password_file;
extern bool notify_smtp_starttls;
extern char *notify_tls_ca_file;
extern char *notify_sms_url;
extern char *notify_sms_token_file;
extern char *notify_sms_headers;
extern char *notify_webhook_url;
extern int	notify_concurrency;
extern int	notify_batch_size;
extern int	notify_poll_interval_ms;
extern int	notify_timeout_ms;
extern int	notify_max_attempts;
extern int	notify_backoff_base_ms;
extern int	notify_backoff_cap_ms;
extern int	notify_lease_ms;
extern int	notify_retention_min;
extern bool notify_worker_enabled;
extern int	notify_workers;

extern void notify_define_settings(void);
extern char *notify_read_secret(const char *path);

/* Launcher and workers (worker.c). */
extern void notify_register_launcher(void);
extern void notify_install_hooks(void);

/*
 * The credentials for one tenant's messages of a batch: the tenant's
 * secrets (smtp.password, sms.token, webhook.token), else the files of the
 * settings. NULL: neither could be read; "": none configured.
 */
typedef struct DeliverySecrets
{
	int32		tenant_id;
	char	   *smtp_password;
	char	   *sms_token;
	char	   *webhook_token;
} DeliverySecrets;

/* One message of a batch, as the worker hands it to deliver.c. */
typedef struct DeliveryItem
{
	int32		tenant_id;
	int64		outbox_id;
	ItemPointerData tid;		/* where the claim wrote the row: the result
								 * finds it from there (direct_update_at) */
	TimestampTz leased_until;	/* the claim's lease: the result is written
								 * only while the row still has it */
	char		channel;		/* 'e'mail, 's'ms, 'w'ebhook */
	char	   *recipient;
	char	   *key;			/* message_key: Message-ID / idempotency key */
	char	   *data;			/* the composed mail, or the JSON body; NULL:
								 * no template fits, nothing to send */
	/* the rendered text, stored with the result (NULL where it is) */
	char	   *event;
	char	   *language;
	char	   *sender;
	char	   *subject;
	char	   *body_text;
	char	   *body_html;
	Datum		payload;		/* the JSON body as jsonb, in the batch's
								 * memory, stored with the result as it is
								 * (not parsed again from text); 0: none */
	size_t		len;
	size_t		sent;			/* bytes of data read by curl so far */
	const DeliverySecrets *secrets; /* its tenant's credentials */
	/* results */
	char		reply[160];		/* the start of an HTTP answer's body */
	int			reply_len;
	bool		done;
	bool		row_locked;		/* its row was locked by another
								 * transaction: recorded later */
	bool		ok;
	bool		permanent;
	char	   *error;
} DeliveryItem;


/*
 * A claimed row not tried before, as render.c renders it: the row's
 * columns and the values of its placeholders (outbox_claim_values).
 */
#define RENDER_NVALUES 13
typedef struct RenderInput
{
	int32		tenant_id;
	const char *event;
	const char *channel;
	const char *language;		/* the recipient's */
	const char *recipient;
	const char *thread;
	char	   *sender_name;	/* the row's own, or NULL */
	bool		has_agent;		/* the recipient is an agent */
	void	   *vars;			/* the row's own values (a Jsonb), or NULL */
	bool		found;			/* the ticket was found: values exist */
	/* reference, subject, description, priority, status, center, assignee,
	 * requester, recipient, link, deadline, resolution, note */
	const char *values[RENDER_NVALUES];
	char	   *sender;			/* set by render_message */
} RenderInput;

/*
 * A claimed row (claim.c): the columns of outbox_claim_values, in its
 * order (CLAIM_* are 1-based column numbers).
 */
#define CLAIM_TENANT 1
#define CLAIM_ID 2
#define CLAIM_EVENT 3
#define CLAIM_CHANNEL 4
#define CLAIM_RECIPIENT 5
#define CLAIM_RECIPIENT_NAME 6
#define CLAIM_AGENT 7
#define CLAIM_LANGUAGE 8
#define CLAIM_SENDER 9
#define CLAIM_THREAD 10
#define CLAIM_NOTE 11
#define CLAIM_VARS 12
#define CLAIM_SUBJECT 13
#define CLAIM_BODY_TEXT 14
#define CLAIM_BODY_HTML 15
#define CLAIM_PAYLOAD 16
#define CLAIM_KEY 17
#define CLAIM_FOUND 18
#define CLAIM_REFERENCE 19
#define CLAIM_TICKET_SUBJECT 20
#define CLAIM_DESCRIPTION 21
#define CLAIM_PRIORITY 22
#define CLAIM_STATUS 23
#define CLAIM_CENTER 24
#define CLAIM_ASSIGNEE 25
#define CLAIM_REQUESTER 26
#define CLAIM_LINK 27
#define CLAIM_DEADLINE 28
#define CLAIM_RESOLUTION 29
#define CLAIM_NCOLUMNS 29
typedef struct ClaimedRow
{
	Datum		values[CLAIM_NCOLUMNS];
	bool		nulls[CLAIM_NCOLUMNS];
	ItemPointerData tid;		/* where the claim wrote the row */
} ClaimedRow;

extern int claim_due(int batch_size, TimestampTz leased_until, const char *const *channels,
					 int nchannels, MemoryContext cxt, ClaimedRow **rows);

/* Recording the results in the worker (record.c). */
extern int record_write(DeliveryItem *items, int n);

/* Rendering in the worker (render.c). */
extern void render_batch_begin(MemoryContext cxt);
extern void render_message(RenderInput *in, DeliveryItem *item);

/* Delivery (deliver.c): returns false when a shutdown interrupted it. */
extern void deliver_init(void);
extern bool deliver_batch(DeliveryItem *items, int n);
extern void deliver_shutdown(void);

/* The mail and the JSON body (smtp.c, http.c). */
extern char *mail_compose(StringInfo out, const char *from_name, const char *to_name,
						  const char *to_addr, const char *subject, const char *thread,
						  const char *key, const char *language, const char *body_text,
						  const char *body_html);

extern const char *smtp_setup(void *handle, DeliveryItem *item, void **list);
extern const char *http_setup(void *handle, DeliveryItem *item, void **list);
extern void http_batch_begin(void);
extern void http_batch_end(void);
extern void http_shutdown(void);
extern bool http_result(long status, bool *permanent);

/* Templates (template.c). */
typedef enum TemplateMode
{
	TEMPLATE_TEXT,
	TEMPLATE_HTML,
	TEMPLATE_HTML_FROM_TEXT
} TemplateMode;

struct JsonbValue;

/* A placeholder's value by name (len bytes, not terminated); NULL: none. */
typedef char *(*TemplateLookup) (void *arg, const char *name, int len);

extern void template_render(StringInfo out, const char *tmpl, int len, void *vars,
							TemplateMode mode);
extern void template_render_with(StringInfo out, const char *tmpl, int len, TemplateLookup lookup,
								 void *arg, TemplateMode mode);
extern void template_render_document(StringInfo out, const char *tmpl, int len, TemplateLookup lookup,
									 void *arg, const char *lang);
extern void template_check_size(int len);
extern char *template_json_text(struct JsonbValue *v);

#endif							/* NOTIFY_H */

/*
 * render.c
 *		Renders a claimed outbox row in the worker: the template of its
 *		event, channel and language filled in from the values the claim
 *		returned (outbox_claim_values), exactly as the view outbox_message
 *		renders it in SQL.
 *
 * The view builds a JSON object of the 14 placeholder values for every
 * message and looks the template up with four key look-ups; the worker
 * renders thousands of messages a second through it. Here the values are
 * read straight from the claim's columns (the row's own vars, a JSON
 * object, override them), and each template is read once per batch: the
 * cache lives in the batch's memory and is emptied by the next claim, so
 * a template changed between two batches is used by the next one, and a
 * batch renders from one snapshot, as the view did.
 *
 * The rules (all the view's, doc/notify.md "Templates"):
 *  - the template: the channel's own, else the mail's; the recipient's
 *    language, else English; a tenant's own row over a built-in one;
 *  - sender: the row's sender_name, else the assignee for a mail to
 *    someone other than an agent, else the centre (from the merged values);
 *  - an SMS or webhook without a template of its own: thread ": " the
 *    mail's subject " " link;
 *  - no ticket found: no values at all; vars that are not a JSON object
 *    leave no values either (the view's concatenation makes an array).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "notify.h"
#include "ticketdesk.h"

/* The placeholders the claim's values fill, in RenderInput.values order. */
static const char *const value_names[RENDER_NVALUES] = {
	"reference", "subject", "description", "priority", "status", "center", "assignee",
	"requester", "recipient", "link", "deadline", "resolution", "note"
};

/* A template as chosen for (tenant, event, channel, language); found false: none fits. */
typedef struct TemplateEntry
{
	int32		tenant_id;
	char	   *event;
	char	   *channel;
	char	   *language;
	bool		found;
	char	   *t_language;
	char	   *t_channel;
	char	   *subject;
	char	   *body_text;
	char	   *body_html;
} TemplateEntry;

static TemplateEntry *cache = NULL;
static int	cache_n = 0;
static int	cache_max = 0;
static MemoryContext cache_cxt = NULL;
static SPIPlanPtr template_plan = NULL;

/* render_batch_begin empties the template cache; it lives in cxt (the batch's memory). */
void
render_batch_begin(MemoryContext cxt)
{
	cache = NULL;
	cache_n = cache_max = 0;
	cache_cxt = cxt;
}

static char *
column_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : MemoryContextStrdup(cache_cxt, TextDatumGetCString(d));
}

/*
 * The template for a message, read at the first message of the batch that
 * needs it: the four combinations in the view's order of preference, each
 * a key look-up, the tenant's own row first.
 */
static TemplateEntry *
template_for(int32 tenant_id, const char *event, const char *channel, const char *language)
{
	Oid			types[4] = {INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[4];
	TemplateEntry *e;
	MemoryContext old;

	for (int i = 0; i < cache_n; i++)
	{
		e = &cache[i];
		if (e->tenant_id == tenant_id && strcmp(e->event, event) == 0 &&
			strcmp(e->channel, channel) == 0 && strcmp(e->language, language) == 0)
			return e;
	}
	if (cache_n == cache_max)
	{
		cache_max = Max(8, cache_max * 2);
		cache = cache == NULL ? MemoryContextAlloc(cache_cxt, sizeof(TemplateEntry) * cache_max)
			: repalloc(cache, sizeof(TemplateEntry) * cache_max);
	}
	e = &cache[cache_n];
	memset(e, 0, sizeof(TemplateEntry));
	e->tenant_id = tenant_id;
	e->event = MemoryContextStrdup(cache_cxt, event);
	e->channel = MemoryContextStrdup(cache_cxt, channel);
	e->language = MemoryContextStrdup(cache_cxt, language);

	/* SPI leaves its own memory current after preparing or running a statement: come back. */
	old = CurrentMemoryContext;
	if (template_plan == NULL)
		template_plan = saved_plan("SELECT * FROM ("
								   " (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html"
								   "    FROM ticketdesk.notify_template t"
								   "   WHERE t.tenant_id = $1 AND t.event = $2 AND t.channel = $3 AND t.language = $4"
								   "   ORDER BY t.seeded LIMIT 1)"
								   " UNION ALL"
								   " (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html"
								   "    FROM ticketdesk.notify_template t"
								   "   WHERE t.tenant_id = $1 AND t.event = $2 AND t.channel = $3 AND t.language = 'en'"
								   "   ORDER BY t.seeded LIMIT 1)"
								   " UNION ALL"
								   " (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html"
								   "    FROM ticketdesk.notify_template t"
								   "   WHERE t.tenant_id = $1 AND t.event = $2 AND t.channel = 'email' AND t.language = $4"
								   "   ORDER BY t.seeded LIMIT 1)"
								   " UNION ALL"
								   " (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html"
								   "    FROM ticketdesk.notify_template t"
								   "   WHERE t.tenant_id = $1 AND t.event = $2 AND t.channel = 'email' AND t.language = 'en'"
								   "   ORDER BY t.seeded LIMIT 1)"
								   " LIMIT 1) t",
								   4, types);
	args[0] = Int32GetDatum(tenant_id);
	args[1] = CStringGetTextDatum(event);
	args[2] = CStringGetTextDatum(channel);
	args[3] = CStringGetTextDatum(language);
	if (SPI_execute_plan(template_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk notify worker: reading a template failed");
	MemoryContextSwitchTo(old);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		e->found = true;
		e->t_language = column_text(tup, desc, 1);
		e->t_channel = column_text(tup, desc, 2);
		e->subject = column_text(tup, desc, 3);
		e->body_text = column_text(tup, desc, 4);
		e->body_html = column_text(tup, desc, 5);
	}
	SPI_freetuptable(SPI_tuptable);
	cache_n++;
	return e;
}

/* A value of the row's own vars, the claim's values otherwise; no sender. */
static char *
base_lookup(RenderInput *in, const char *name, int len)
{
	if (!in->found || (in->vars != NULL && !JB_ROOT_IS_OBJECT((Jsonb *) in->vars)))
		return NULL;
	if (in->vars != NULL)
	{
		JsonbValue	v;

		if (getKeyJsonValueFromContainer(&((Jsonb *) in->vars)->root, name, len, &v) != NULL)
			return template_json_text(&v);
	}
	for (int i = 0; i < RENDER_NVALUES; i++)
		if (strlen(value_names[i]) == len && memcmp(value_names[i], name, len) == 0)
			return (char *) in->values[i];
	return NULL;
}

/* The TemplateLookup of a message: its sender, then base_lookup. */
static char *
message_lookup(void *arg, const char *name, int len)
{
	RenderInput *in = (RenderInput *) arg;

	if (len == 6 && memcmp(name, "sender", 6) == 0)
		return in->sender;
	return base_lookup(in, name, len);
}

static char *
render(RenderInput *in, const char *tmpl, TemplateMode mode, const char *prefix)
{
	StringInfoData out;

	if (tmpl == NULL)
		return NULL;
	template_check_size(strlen(tmpl));
	initStringInfo(&out);
	if (prefix != NULL)
		appendStringInfoString(&out, prefix);
	template_render_with(&out, tmpl, strlen(tmpl), message_lookup, in, mode);
	return out.data;
}

static void
push_pair(JsonbParseState **st, const char *key, const char *value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * render_message renders a claimed row not tried before into item (in the
 * memory current, the batch's): language, sender, subject, body_text,
 * body_html and, for an HTTP channel, the JSON body (payload) and its text
 * (data). No template fits: subject and body_text stay NULL.
 */
void
render_message(RenderInput *in, DeliveryItem *item)
{
	bool		email = strcmp(in->channel, "email") == 0;
	TemplateEntry *t = template_for(in->tenant_id, in->event, in->channel, in->language);
	char	   *prefix = NULL;

	/* The sender, from the merged values (no values: none). */
	in->sender = in->sender_name;
	if (in->sender == NULL && !in->has_agent)
		in->sender = base_lookup(in, "assignee", 8);
	if (in->sender == NULL)
		in->sender = base_lookup(in, "center", 6);
	if (!in->found || (in->vars != NULL && !JB_ROOT_IS_OBJECT((Jsonb *) in->vars)))
		in->sender = NULL;

	item->language = t->found ? t->t_language : pstrdup(in->language);
	item->sender = in->sender != NULL ? pstrdup(in->sender) : NULL;
	item->subject = item->body_text = item->body_html = NULL;
	item->payload = (Datum) 0;
	item->data = NULL;
	if (!t->found)
		return;

	if (email)
	{
		if (in->thread != NULL)
			prefix = psprintf("[%s] ", in->thread);
		item->subject = render(in, t->subject, TEMPLATE_TEXT, prefix);
	}
	if (email || strcmp(t->t_channel, in->channel) == 0)
		item->body_text = render(in, t->body_text, TEMPLATE_TEXT, NULL);
	else
	{
		char	   *link = base_lookup(in, "link", 4);
		char	   *subject = render(in, t->subject, TEMPLATE_TEXT, NULL);

		if (in->thread != NULL && subject != NULL && link != NULL)
			item->body_text = psprintf("%s: %s %s", in->thread, subject, link);
	}
	if (email)
	{
		if (t->body_html != NULL)
			item->body_html = render(in, t->body_html, TEMPLATE_HTML, NULL);
		else
		{
			StringInfoData out;

			template_check_size(strlen(t->body_text));
			initStringInfo(&out);
			template_render_document(&out, t->body_text, strlen(t->body_text), message_lookup, in,
									 t->t_language);
			item->body_html = out.data;
		}
	}
	else if (item->body_text != NULL)
	{
		JsonbParseState *st = NULL;
		JsonbValue *obj;
		Jsonb	   *body;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		push_pair(&st, "to", in->recipient);
		push_pair(&st, "text", item->body_text);
		push_pair(&st, "reference", in->thread);
		push_pair(&st, "event", in->event);
		push_pair(&st, "idempotency_key", item->key);
		obj = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		body = JsonbValueToJsonb(obj);
		item->payload = PointerGetDatum(body);
		item->data = JsonbToCString(NULL, &body->root, VARSIZE(body));
	}
}

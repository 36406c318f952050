/*
 * http.c
 *		SMS gateway and webhooks: an HTTP POST of the row's JSON body, with
 *		an Idempotency-Key header (the row's message_key), the tenant's token
 *		(secret sms.token or webhook.token, else the SMS token file) as a
 *		bearer authorisation, and for SMS the extra headers of the settings.
 *
 * What is the same for every message of a batch is made once a batch: the
 * gateway's URL is parsed into a CURLU handle (curl would parse the URL
 * string again for every request), and the headers after the message's own
 * Idempotency-Key (the tenant's authorisation, the settings' headers) are
 * one list per tenant and channel that each message's list continues with.
 * The lists are built here, not by curl_slist_append (curl only reads a
 * header list), in memory of their own that the end of the batch wipes (a
 * token is in it) and frees.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "utils/memutils.h"

#include "notify.h"

/* A gateway URL parsed once; NULL when it does not parse (curl then reports why). */
typedef struct ParsedUrl
{
	char	   *url;			/* the setting it was parsed from (malloc'd) */
	CURLU	   *handle;
} ParsedUrl;

static ParsedUrl sms_url = {NULL, NULL};
static ParsedUrl webhook_url = {NULL, NULL};

/* The constant tail of the header lists: one per tenant's secrets and channel. */
typedef struct HeaderTail
{
	const DeliverySecrets *secrets;
	char		channel;
	struct curl_slist *tail;	/* NULL: nothing after the key */
	char	   *auth;			/* the Authorization line, wiped at the end */
	struct HeaderTail *next;
} HeaderTail;

static MemoryContext http_cxt = NULL;
static HeaderTail *tails = NULL;

static const char content_type[] = "Content-Type: application/json; charset=utf-8";

/* Parse url into p unless p holds it already. */
static void
parse_url(ParsedUrl *p, const char *url)
{
	if (p->url != NULL && strcmp(p->url, url) == 0)
		return;
	if (p->handle != NULL)
		curl_url_cleanup(p->handle);
	free(p->url);
	p->handle = NULL;
	p->url = strdup(url);
	if (p->url == NULL || url[0] == '\0')
		return;
	p->handle = curl_url();
	/* The flags curl itself parses CURLOPT_URL with. */
	if (p->handle != NULL &&
		curl_url_set(p->handle, CURLUPART_URL, url,
					 CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
	{
		curl_url_cleanup(p->handle);
		p->handle = NULL;
	}
}

/* A list node made in the batch's header memory. */
static struct curl_slist *
node(char *data, struct curl_slist *next)
{
	struct curl_slist *n = MemoryContextAlloc(http_cxt, sizeof(struct curl_slist));

	n->data = data;
	n->next = next;
	return n;
}

/* Append the "Name: value" headers of a ';'-separated setting to *last. */
static struct curl_slist **
append_setting_headers(struct curl_slist **last, const char *setting)
{
	char	   *copy = MemoryContextStrdup(http_cxt, setting);
	char	   *save = NULL;

	for (char *h = strtok_r(copy, ";", &save); h != NULL; h = strtok_r(NULL, ";", &save))
	{
		while (*h == ' ')
			h++;
		if (strchr(h, ':') != NULL)
		{
			*last = node(h, NULL);
			last = &(*last)->next;
		}
	}
	return last;
}

/* The headers after the key for item's tenant and channel (token known). */
static struct curl_slist *
header_tail(DeliveryItem *item, const char *token)
{
	HeaderTail *t;
	struct curl_slist **last;

	for (t = tails; t != NULL; t = t->next)
		if (t->secrets == item->secrets && t->channel == item->channel)
			return t->tail;
	t = MemoryContextAllocZero(http_cxt, sizeof(HeaderTail));
	t->secrets = item->secrets;
	t->channel = item->channel;
	last = &t->tail;
	if (token[0] != '\0')
	{
		MemoryContext old = MemoryContextSwitchTo(http_cxt);

		t->auth = psprintf("Authorization: Bearer %s", token);
		MemoryContextSwitchTo(old);
		*last = node(t->auth, NULL);
		last = &(*last)->next;
	}
	if (item->channel == 's')
		(void) append_setting_headers(last, notify_sms_headers);
	t->next = tails;
	tails = t;
	return t->tail;
}

/* http_batch_end wipes the batch's tokens and frees its header lists. */
void
http_batch_end(void)
{
	for (HeaderTail *t = tails; t != NULL; t = t->next)
		if (t->auth != NULL)
			explicit_bzero(t->auth, strlen(t->auth));
	tails = NULL;
	if (http_cxt != NULL)
		MemoryContextReset(http_cxt);
}

/*
 * http_batch_begin readies the batch's shared parts: the URLs parsed again
 * if a setting changed, no header list yet (one a batch that ended in an
 * error left is wiped first). No transfer is under way.
 */
void
http_batch_begin(void)
{
	if (http_cxt == NULL)
		http_cxt = AllocSetContextCreate(TopMemoryContext, "ticketdesk notify headers",
										 ALLOCSET_SMALL_SIZES);
	http_batch_end();
	parse_url(&sms_url, notify_sms_url);
	parse_url(&webhook_url, notify_webhook_url);
}

/* http_shutdown frees the parsed URLs. */
void
http_shutdown(void)
{
	ParsedUrl  *all[2] = {&sms_url, &webhook_url};

	http_batch_end();
	for (int i = 0; i < 2; i++)
	{
		if (all[i]->handle != NULL)
			curl_url_cleanup(all[i]->handle);
		free(all[i]->url);
		all[i]->handle = NULL;
		all[i]->url = NULL;
	}
}

/*
 * http_setup prepares easy handle h to POST item; headers receives the
 * header list the caller frees after the transfer, with curl_slist_free_all
 * (NULL here: the batch's header memory holds it). Between
 * http_batch_begin and http_batch_end. Returns an error message when the
 * transfer cannot be made, else NULL.
 */
const char *
http_setup(void *handle, DeliveryItem *item, void **headers)
{
	CURL	   *h = (CURL *) handle;
	const char *token = item->channel == 's' ? item->secrets->sms_token : item->secrets->webhook_token;
	ParsedUrl  *url = item->channel == 's' ? &sms_url : &webhook_url;
	struct curl_slist *list;
	char	   *key_line;

	*headers = NULL;
	if (token == NULL)
		return "no secret sms.token for the tenant, and the file named by ticketdesk.sms_token_file could not be read";
	key_line = MemoryContextAlloc(http_cxt, sizeof("Idempotency-Key: ") + strlen(item->key));
	strcpy(key_line, "Idempotency-Key: ");
	strcat(key_line, item->key);
	list = node(key_line, header_tail(item, token));
	list = node((char *) content_type, list);

	if (url->handle != NULL)
		curl_easy_setopt(h, CURLOPT_CURLU, url->handle);
	else
		curl_easy_setopt(h, CURLOPT_URL, item->channel == 's' ? notify_sms_url : notify_webhook_url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, item->data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) item->len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	return NULL;
}

/*
 * http_result judges an HTTP answer: 2xx is delivered; 408, 429 and 5xx
 * are worth another try; any other 4xx will fail again, so it is final.
 */
bool
http_result(long status, bool *permanent)
{
	*permanent = (status >= 400 && status < 500 && status != 408 && status != 429);
	return status >= 200 && status < 300;
}

/*
 * http.c
 *		SMS gateway and webhooks: an HTTP POST of the row's JSON body, with
 *		an Idempotency-Key header (the row's message_key), the tenant's token
 *		(secret sms.token or webhook.token, else the SMS token file) as a
 *		bearer authorisation, and for SMS the extra headers of the settings.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "notify.h"

/* Append the "Name: value" headers of a ';'-separated setting. */
static struct curl_slist *
append_setting_headers(struct curl_slist *list, const char *setting)
{
	char	   *copy = pstrdup(setting);
	char	   *save = NULL;

	for (char *h = strtok_r(copy, ";", &save); h != NULL; h = strtok_r(NULL, ";", &save))
	{
		while (*h == ' ')
			h++;
		if (strchr(h, ':') != NULL)
			list = curl_slist_append(list, h);
	}
	pfree(copy);
	return list;
}

/*
 * http_setup prepares easy handle h to POST item; headers receives the
 * header list the caller frees after the transfer. Returns an error
 * message when the transfer cannot be made, else NULL.
 */
const char *
http_setup(void *handle, DeliveryItem *item, void **headers)
{
	CURL	   *h = (CURL *) handle;
	struct curl_slist *list = NULL;
	char		line[1024];
	const char *token = item->channel == 's' ? item->secrets->sms_token : item->secrets->webhook_token;

	list = curl_slist_append(list, "Content-Type: application/json; charset=utf-8");
	snprintf(line, sizeof(line), "Idempotency-Key: %s", item->key);
	list = curl_slist_append(list, line);
	if (token == NULL)
	{
		*headers = list;
		return "no secret sms.token for the tenant, and the file named by ticketdesk.sms_token_file could not be read";
	}
	if (token[0] != '\0')
	{
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		list = curl_slist_append(list, line);
		explicit_bzero(line, sizeof(line));
	}
	if (item->channel == 's')
		list = append_setting_headers(list, notify_sms_headers);
	*headers = list;

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

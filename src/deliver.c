/*
 * deliver.c
 *		Delivers a batch of outbox messages in parallel with the curl multi
 *		interface. It runs in the worker with no transaction open, and it
 *		touches no table: the worker records the results afterwards.
 *
 * The multi handle lives as long as the worker, so its connection cache
 * keeps SMTP and HTTP connections open between batches. The number of
 * connections is capped by ticketdesk.notify_concurrency; transfers beyond
 * the cap wait inside curl for a free connection.
 *
 * curl is driven by its socket interface: curl names the sockets it waits
 * for (an epoll set holds them) and a timer; the worker sleeps in
 * epoll_wait and hands curl only the socket that has an event. With
 * curl_multi_perform every wake-up made curl look at every transfer, each
 * with a poll of its own socket that mostly found nothing.
 */
#include "postgres.h"

#include <sys/epoll.h>

#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "utils/timestamp.h"

#include "notify.h"

static CURLM *multi = NULL;

/*
 * Whether the worker's environment names a proxy (a variable whose name
 * ends in _proxy, in either case: http_proxy, HTTPS_PROXY, all_proxy,
 * smtp_proxy, ...). When it names none, curl would find none either, and
 * each handle says so (CURLOPT_PROXY and CURLOPT_NOPROXY empty): curl then
 * skips its five look-ups of the environment a transfer. When it names one,
 * curl reads the environment as before.
 */
static bool env_names_proxy = true;

extern char **environ;

static bool
environment_names_proxy(void)
{
	for (char **e = environ; e != NULL && *e != NULL; e++)
	{
		const char *eq = strchr(*e, '=');

		if (eq != NULL && eq - *e >= 6 && pg_strncasecmp(eq - 6, "_proxy", 6) == 0)
			return true;
	}
	return false;
}

/* The sockets curl waits for, and when its timer runs out (-1: not set). */
static int	epoll_fd = -1;
static TimestampTz timer_due = -1;

/*
 * Which sockets (below DELIVER_FD_WATCHED) are in the epoll set. curl
 * removes a connection's socket when its transfer ends and names it again
 * for the next transfer that takes the connection from its cache: asked
 * to change a socket it no longer watched, the kernel refused (ENOENT) and
 * a second call added it, three epoll_ctl calls a message where two do.
 * A socket curl closed without removing it has left the set by itself:
 * the refusal still leads to the right call.
 */
#define DELIVER_FD_WATCHED 4096
static bool fd_watched[DELIVER_FD_WATCHED];

/*
 * Easy handles kept for the worker's life and reused transfer after
 * transfer (curl_easy_reset keeps their buffers): a handle made and freed
 * for every message cost a large allocation each time. At most
 * notify_concurrency are in use at once, so the setting's maximum bounds
 * the pool. Within a batch a handle given back keeps its options, and the
 * next message of the same channel takes it as it is: that message sets
 * again every option that differs between messages (the settings do not
 * change within a batch: SIGHUP is read between batches). The end of the
 * batch resets every handle used, so none is left pointing into the batch.
 */
#define DELIVER_POOL_MAX 256
static CURL *pool[DELIVER_POOL_MAX];
static bool pool_busy[DELIVER_POOL_MAX];
static char pool_channel[DELIVER_POOL_MAX];	/* set up for; '\0': reset */

/*
 * A free handle of the pool for channel: one set up for it in this batch
 * (*fresh false), else one reset to the defaults (*fresh true); NULL when
 * none can be made.
 */
static CURL *
pool_take(char channel, bool *fresh)
{
	int			found = -1;

	for (int i = 0; i < DELIVER_POOL_MAX; i++)
	{
		if (pool_busy[i])
			continue;
		if (pool[i] != NULL && pool_channel[i] == channel)
		{
			found = i;
			break;
		}
		if (found < 0)
			found = i;
	}
	if (found < 0)
		return NULL;
	*fresh = (pool[found] == NULL || pool_channel[found] != channel);
	if (pool[found] == NULL && (pool[found] = curl_easy_init()) == NULL)
		return NULL;
	if (*fresh && pool_channel[found] != '\0')
		curl_easy_reset(pool[found]);
	pool_busy[found] = true;
	pool_channel[found] = channel;
	return pool[found];
}

/* Give a handle back to the pool; its options stay set until the batch ends. */
static void
pool_give(CURL *h)
{
	for (int i = 0; i < DELIVER_POOL_MAX; i++)
		if (pool[i] == h)
			pool_busy[i] = false;
}

/* Reset every handle used, with no option pointing into the batch left set. */
static void
pool_reset_all(void)
{
	for (int i = 0; i < DELIVER_POOL_MAX; i++)
	{
		if (pool[i] != NULL && pool_channel[i] != '\0')
			curl_easy_reset(pool[i]);
		pool_channel[i] = '\0';
	}
}

/* curl's socket callback: watch socket s for what curl waits for, or no longer. */
static int
deliver_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct epoll_event ev = {0};
	bool		known = (s >= 0 && s < DELIVER_FD_WATCHED);
	int			op;

	if (what == CURL_POLL_REMOVE)
	{
		/* The socket may be closed already: then it has left the set. */
		(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, s, NULL);
		if (known)
			fd_watched[s] = false;
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.fd = s;
	/* Add what is not in the set, change what is; the kernel's refusal corrects a wrong guess. */
	op = (known && !fd_watched[s]) ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	if (epoll_ctl(epoll_fd, op, s, &ev) != 0 && (errno == EEXIST || errno == ENOENT))
		(void) epoll_ctl(epoll_fd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev);
	if (known)
		fd_watched[s] = true;
	return 0;
}

/* curl's timer callback: call curl again in timeout_ms (-1: no timer). */
static int
deliver_timer(CURLM *m, long timeout_ms, void *userp)
{
	timer_due = timeout_ms < 0 ? -1
		: TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

/* deliver_init starts curl in this process; the worker calls it once. */
void
deliver_init(void)
{
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not create an epoll set for delivery: %m")));
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl")));
	env_names_proxy = environment_names_proxy();
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a curl multi handle")));
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, deliver_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, deliver_timer);
}

/* deliver_shutdown closes the connections and stops curl. */
void
deliver_shutdown(void)
{
	if (multi != NULL)
		curl_multi_cleanup(multi);
	multi = NULL;
	for (int i = 0; i < DELIVER_POOL_MAX; i++)
	{
		if (pool[i] != NULL)
			curl_easy_cleanup(pool[i]);
		pool[i] = NULL;
		pool_busy[i] = false;
		pool_channel[i] = '\0';
	}
	http_shutdown();
	curl_global_cleanup();
	if (epoll_fd >= 0)
		close(epoll_fd);
	epoll_fd = -1;
	timer_due = -1;
	memset(fd_watched, 0, sizeof(fd_watched));
}

/* Abort a transfer at once when the worker is asked to stop. */
static int
deliver_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
				 curl_off_t ultotal, curl_off_t ulnow)
{
	return ShutdownRequestPending ? 1 : 0;
}

/*
 * curl's write callback: keep the start of the answer's body for the
 * error of a refused message; drop the rest. Without it curl wrote every
 * answer to the worker's standard output, which is the server's log.
 */
static size_t
deliver_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	DeliveryItem *item = (DeliveryItem *) arg;
	size_t		len = size * nmemb;
	size_t		room = sizeof(item->reply) - 1 - item->reply_len;
	size_t		take = Min(len, room);

	memcpy(item->reply + item->reply_len, data, take);
	item->reply_len += take;
	item->reply[item->reply_len] = '\0';
	return len;
}

/* Overwrite with '*' every occurrence of secret in text (none when empty). */
static void
mask_secret(char *text, const char *secret)
{
	size_t		len = secret ? strlen(secret) : 0;

	if (len == 0)
		return;
	for (char *at = strstr(text, secret); at != NULL; at = strstr(at + len, secret))
		memset(at, '*', len);
}

/*
 * The kept start of a refused answer, as text for last_error: cut to
 * whole characters of the database's encoding, control characters
 * (line ends) made spaces, and the tenant's credentials masked, should the
 * gateway echo them (staff read last_error; only admins read secrets).
 */
static char *
reply_text(DeliveryItem *item)
{
	int			len = pg_encoding_verifymbstr(GetDatabaseEncoding(), item->reply, item->reply_len);
	char	   *text = pnstrdup(item->reply, len);

	for (char *c = text; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = ' ';
	if (item->secrets != NULL)
	{
		mask_secret(text, item->secrets->sms_token);
		mask_secret(text, item->secrets->webhook_token);
		mask_secret(text, item->secrets->smtp_password);
	}
	return text;
}

/* Record the outcome of a finished transfer in its item. */
static void
deliver_finish(DeliveryItem *item, CURL *h, CURLcode rc, const char *errbuf)
{
	long		status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	item->done = true;
	item->permanent = false;
	if (item->channel == 'e')
	{
		item->ok = (rc == CURLE_OK);
		/* An SMTP 5xx reply is a final refusal; anything else may pass later. */
		item->permanent = (!item->ok && status >= 500 && status < 600);
	}
	else
		item->ok = (rc == CURLE_OK && http_result(status, &item->permanent));

	if (item->ok)
		return;
	if (rc != CURLE_OK)
		item->error = psprintf("%s%s%s (response %ld)", curl_easy_strerror(rc),
							   errbuf[0] ? ": " : "", errbuf, status);
	else if (item->reply_len > 0)
		item->error = psprintf("HTTP status %ld: %s", status, reply_text(item));
	else
		item->error = psprintf("HTTP status %ld", status);
}

/* Give item i's handle back to the pool, then free its list. */
static void
deliver_release(CURL **handles, void **lists, int i)
{
	if (handles[i] != NULL)
		pool_give(handles[i]);
	handles[i] = NULL;
	curl_slist_free_all((struct curl_slist *) lists[i]);
	lists[i] = NULL;
}

/*
 * Start the transfers of items from first on until notify_concurrency are
 * under way; returns the index of the first item not started.
 */
static int
deliver_start(DeliveryItem *items, int n, int first, CURL **handles, void **lists,
			  bool *added, char (*errbufs)[CURL_ERROR_SIZE])
{
	int			i;
	int			active = 0;

	for (i = 0; i < first; i++)
		if (added[i] && !items[i].done)
			active++;
	for (i = first; i < n && active < notify_concurrency; i++)
	{
		CURL	   *h;
		const char *problem;
		bool		fresh;

		/* Settled before delivery (no template fits): nothing to send. */
		if (items[i].done)
			continue;
		h = pool_take(items[i].channel, &fresh);
		if (h == NULL)
		{
			items[i].done = true;
			items[i].error = pstrdup("could not create a curl handle");
			continue;
		}
		handles[i] = h;
		curl_easy_setopt(h, CURLOPT_PRIVATE, &items[i]);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbufs[i]);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &items[i]);
		/* The options of the batch's settings, once per handle and batch. */
		if (fresh)
		{
			curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
			curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) notify_timeout_ms);
			curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) Min(notify_timeout_ms, 10000));
			curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, deliver_progress);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, deliver_reply);
			if (notify_tls_ca_file[0] != '\0')
				curl_easy_setopt(h, CURLOPT_CAINFO, notify_tls_ca_file);
			if (!env_names_proxy)
			{
				curl_easy_setopt(h, CURLOPT_PROXY, "");
				curl_easy_setopt(h, CURLOPT_NOPROXY, "");
			}
		}
		problem = (items[i].channel == 'e')
			? smtp_setup(h, &items[i], &lists[i])
			: http_setup(h, &items[i], &lists[i]);
		if (problem != NULL)
		{
			items[i].done = true;
			items[i].error = pstrdup(problem);
			deliver_release(handles, lists, i);
			continue;
		}
		curl_multi_add_handle(multi, h);
		added[i] = true;
		active++;
	}
	return i;
}

/*
 * Let curl act: on the sockets of the events waited for (at most 100 ms,
 * or until curl's timer runs out), or on its timer when that is due or
 * nothing happened. Returns curl's count of transfers under way.
 */
static int
deliver_step(void)
{
	struct epoll_event events[16];
	int			running = 0;
	int			nev = 0;
	long		wait_ms = 100;

	if (timer_due >= 0)
	{
		long		secs;
		int			usecs;

		TimestampDifference(GetCurrentTimestamp(), timer_due, &secs, &usecs);
		wait_ms = Min(wait_ms, secs * 1000 + (usecs + 999) / 1000);
	}
	if (wait_ms > 0)
		nev = epoll_wait(epoll_fd, events, lengthof(events), (int) wait_ms);
	for (int i = 0; i < nev; i++)
	{
		int			mask = 0;

		if (events[i].events & EPOLLIN)
			mask |= CURL_CSELECT_IN;
		if (events[i].events & EPOLLOUT)
			mask |= CURL_CSELECT_OUT;
		if (events[i].events & (EPOLLERR | EPOLLHUP))
			mask |= CURL_CSELECT_ERR;
		curl_multi_socket_action(multi, events[i].data.fd, mask, &running);
	}
	/* The timer is due, or nothing came (or a signal): curl looks at everything. */
	if (nev <= 0 || (timer_due >= 0 && GetCurrentTimestamp() >= timer_due))
	{
		timer_due = -1;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	return running;
}

/*
 * deliver_batch sends every item and fills in its result. Items left
 * unfinished by a shutdown request get an error that retries them; the
 * return value is false in that case.
 */
bool
deliver_batch(DeliveryItem *items, int n)
{
	CURL	  **handles = palloc0(sizeof(CURL *) * n);
	void	  **lists = palloc0(sizeof(void *) * n);
	bool	   *added = palloc0(sizeof(bool) * n);
	char	  (*errbufs)[CURL_ERROR_SIZE] = palloc0(CURL_ERROR_SIZE * n);
	int			active = 0;
	int			next;
	bool		complete = true;

	/* A batch that ended in an error may have left handles set up. */
	pool_reset_all();
	http_batch_begin();
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) notify_concurrency);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) notify_concurrency * 2);

	/* Keep at most notify_concurrency transfers in the multi handle. */
	next = deliver_start(items, n, 0, handles, lists, added, errbufs);
	for (int i = 0; i < next; i++)
		active += added[i] ? 1 : 0;
	while (active > 0 || next < n)
	{
		CURLMsg    *msg;
		int			left;
		bool		freed = false;

		if (active > 0)
			(void) deliver_step();
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			DeliveryItem *item;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &item);
			deliver_finish(item, msg->easy_handle, msg->data.result, errbufs[item - items]);
			/* Its connection and its handle are free for the next transfer. */
			curl_multi_remove_handle(multi, msg->easy_handle);
			added[item - items] = false;
			deliver_release(handles, lists, item - items);
			active--;
			freed = true;
		}
		if (ShutdownRequestPending)
		{
			complete = false;
			break;
		}
		if (next < n && (freed || active == 0))
		{
			int			first = next;

			next = deliver_start(items, n, next, handles, lists, added, errbufs);
			for (int i = first; i < next; i++)
				active += added[i] ? 1 : 0;
		}
	}

	for (int i = 0; i < n; i++)
	{
		if (added[i])
			curl_multi_remove_handle(multi, handles[i]);
		deliver_release(handles, lists, i);
		/* Under way or not started yet when the worker was asked to stop. */
		if (!items[i].done)
		{
			items[i].done = true;
			items[i].error = pstrdup("interrupted: the worker stopped before the answer came");
		}
	}
	pfree(handles);
	pfree(lists);
	pfree(added);
	pfree(errbufs);
	pool_reset_all();
	http_batch_end();
	return complete;
}

/*
 * http_floor.c: the fastest a libcurl client of ticketdesk's kind can POST
 * to an HTTP sink, with no database work at all (test/bench/http_floor.sh).
 *
 * It drives curl the way src/deliver.c does: the multi handle's socket
 * interface over an epoll set, a timer from curl's timer callback, at most
 * CONCURRENCY transfers at once, each finished handle given the next POST
 * as it is (options kept), the answer dropped. What it reaches against a
 * sink is a ceiling for the notify worker against the same sink: the
 * worker does this and its database work besides.
 *
 *   http_floor URL BODY_FILE COUNT [CONCURRENCY]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

static int	epoll_fd;
static long timer_ms = -1;
static struct timespec timer_set;

static size_t
drop(char *data, size_t size, size_t nmemb, void *arg)
{
	return size * nmemb;
}

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct epoll_event ev = {0};

	if (what == CURL_POLL_REMOVE)
		return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, s, NULL), 0;
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.fd = s;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, s, &ev) != 0)
		epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

static int
on_timer(CURLM *multi, long ms, void *userp)
{
	timer_ms = ms;
	clock_gettime(CLOCK_MONOTONIC, &timer_set);
	return 0;
}

/* Milliseconds until curl's timer runs out (100 when none is set). */
static int
wait_ms(void)
{
	struct timespec now;
	long		elapsed;

	if (timer_ms < 0)
		return 100;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (now.tv_sec - timer_set.tv_sec) * 1000 + (now.tv_nsec - timer_set.tv_nsec) / 1000000;
	return timer_ms > elapsed ? (int) (timer_ms - elapsed) : 0;
}

int
main(int argc, char **argv)
{
	static char body[65536];
	CURLM	   *multi;
	struct curl_slist *headers = NULL;
	FILE	   *f;
	size_t		len;
	int			count, concurrency, started = 0, done = 0, running = 0;

	if (argc < 4)
	{
		fprintf(stderr, "usage: %s URL BODY_FILE COUNT [CONCURRENCY]\n", argv[0]);
		return 2;
	}
	count = atoi(argv[3]);
	concurrency = argc > 4 ? atoi(argv[4]) : 8;
	if ((f = fopen(argv[2], "rb")) == NULL)
		return perror(argv[2]), 2;
	len = fread(body, 1, sizeof(body), f);
	fclose(f);

	curl_global_init(CURL_GLOBAL_ALL);
	epoll_fd = epoll_create1(0);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) concurrency);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) concurrency * 2);
	/* The worker's headers: its content type and an idempotency key. */
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Idempotency-Key: 0f8fad5b-d9cb-469f-a165-70867728950e");
	for (int i = 0; i < concurrency && started < count; i++, started++)
	{
		CURL	   *h = curl_easy_init();

		curl_easy_setopt(h, CURLOPT_URL, argv[1]);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) len);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, drop);
		curl_multi_add_handle(multi, h);
	}
	while (done < count)
	{
		struct epoll_event events[16];
		int			ms = wait_ms();
		int			nev = ms > 0 ? epoll_wait(epoll_fd, events, 16, ms) : 0;
		CURLMsg    *msg;
		int			left;

		for (int i = 0; i < nev; i++)
			curl_multi_socket_action(multi, events[i].data.fd,
									 ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
									 ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0),
									 &running);
		if (nev <= 0)
		{
			timer_ms = -1;
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			long		status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result != CURLE_OK || status != 200)
			{
				fprintf(stderr, "POST failed: %s, status %ld\n", curl_easy_strerror(msg->data.result), status);
				return 1;
			}
			curl_multi_remove_handle(multi, msg->easy_handle);
			done++;
			if (started < count)
			{
				curl_multi_add_handle(multi, msg->easy_handle);
				started++;
			}
		}
	}
	return 0;
}

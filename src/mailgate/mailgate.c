/*
 * mailgate.c
 *		ticketdesk-mailgate: the MTA pipe program. An MTA (Postfix pipe(8),
 *		Exim's pipe transport, a procmail or sieve rule) pipes one message into
 *		it; it hands the message to ticketdesk.ingest_mail and exits with a
 *		sysexits(3) code the MTA understands.
 *
 *		0            taken in: a ticket, a reply, stored only, or recorded as
 *		             failed (then the reason is printed on stderr; the raw mail
 *		             is kept in ticketdesk.mail_intake for an administrator)
 *		64 EX_USAGE  bad options
 *		65 EX_DATAERR the message is empty or over --max-size: the MTA bounces it
 *		74 EX_IOERR  standard input could not be read
 *		75 EX_TEMPFAIL the database is down, refused the connection, or any
 *		             other failure not caused by the message: the MTA keeps the
 *		             mail in its queue and tries again later, so nothing is lost
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define EX_OK			0
#define EX_USAGE		64
#define EX_DATAERR		65
#define EX_IOERR		74
#define EX_TEMPFAIL		75

#define BYTEAOID		17
#define INT8OID			20

static const char *progname = "ticketdesk-mailgate";

static void
usage(FILE *out)
{
	fprintf(out,
			"Usage: %s [OPTION]... < message\n"
			"Hands one mail from standard input to ticketdesk.ingest_mail.\n\n"
			"  -d, --dbname=CONNINFO   database to connect to (a name or a conninfo string;\n"
			"                          default: the PG* environment variables)\n"
			"  -t, --tenant=ID         tenant the mail is for (default: 1)\n"
			"  -c, --center=ID         centre for mail that names no centre's address\n"
			"  -m, --max-size=BYTES    refuse larger messages with exit code 65\n"
			"                          (default: 67108864)\n"
			"  -v, --verbose           print what became of the mail on stderr\n"
			"  -h, --help              show this help\n\n"
			"Exit codes: 0 taken in, 64 usage, 65 bad message, 74 input error,\n"
			"75 temporary failure (database down): the MTA retries later.\n",
			progname);
}

/* Read all of standard input, up to max bytes; NULL on a read error. */
static char *
read_all(size_t max, size_t *len, int *too_large)
{
	size_t		cap = 64 * 1024;
	char	   *buf = malloc(cap);

	*len = 0;
	*too_large = 0;
	if (buf == NULL)
		return NULL;
	for (;;)
	{
		size_t		n;

		if (*len == cap)
		{
			char	   *bigger;

			if (cap > max)
			{
				*too_large = 1;
				return buf;
			}
			cap *= 2;
			bigger = realloc(buf, cap);
			if (bigger == NULL)
			{
				free(buf);
				return NULL;
			}
			buf = bigger;
		}
		n = fread(buf + *len, 1, cap - *len, stdin);
		*len += n;
		if (n == 0)
		{
			if (ferror(stdin))
			{
				free(buf);
				return NULL;
			}
			break;
		}
		if (*len > max)
		{
			*too_large = 1;
			return buf;
		}
	}
	return buf;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"tenant", required_argument, NULL, 't'},
		{"center", required_argument, NULL, 'c'},
		{"max-size", required_argument, NULL, 'm'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *conninfo = NULL;
	const char *tenant = "1";
	const char *center = NULL;
	size_t		max = 64 * 1024 * 1024;
	int			verbose = 0;
	int			c;
	char	   *msg;
	size_t		len;
	int			too_large;
	PGconn	   *conn;
	PGresult   *res;
	const char *keywords[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
	const char *values[] = {"10", "ticketdesk-mailgate", NULL, NULL};
	const char *params[2];
	int			lengths[2];
	int			formats[2] = {1, 0};
	const Oid	types[2] = {BYTEAOID, INT8OID};
	char	   *end;

	while ((c = getopt_long(argc, argv, "d:t:c:m:vh", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				conninfo = optarg;
				break;
			case 't':
				tenant = optarg;
				if (strtol(optarg, &end, 10) <= 0 || *end != '\0')
				{
					fprintf(stderr, "%s: invalid tenant \"%s\"\n", progname, optarg);
					return EX_USAGE;
				}
				break;
			case 'c':
				center = optarg;
				if (strtoll(optarg, &end, 10) <= 0 || *end != '\0')
				{
					fprintf(stderr, "%s: invalid centre \"%s\"\n", progname, optarg);
					return EX_USAGE;
				}
				break;
			case 'm':
				max = strtoull(optarg, &end, 10);
				if (max == 0 || *end != '\0')
				{
					fprintf(stderr, "%s: invalid size \"%s\"\n", progname, optarg);
					return EX_USAGE;
				}
				break;
			case 'v':
				verbose = 1;
				break;
			case 'h':
				usage(stdout);
				return EX_OK;
			default:
				usage(stderr);
				return EX_USAGE;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", progname, argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}

	/* The message first: a bad one is refused without touching the database. */
	msg = read_all(max, &len, &too_large);
	if (msg == NULL)
	{
		fprintf(stderr, "%s: could not read the message: %s\n", progname, strerror(errno));
		return EX_IOERR;
	}
	if (too_large)
	{
		fprintf(stderr, "%s: the message is larger than %zu bytes\n", progname, max);
		return EX_DATAERR;
	}
	if (len == 0)
	{
		fprintf(stderr, "%s: the message is empty\n", progname);
		return EX_DATAERR;
	}

	values[2] = conninfo;
	conn = PQconnectdbParams(keywords, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s: could not connect to the database, the mail stays queued: %s",
				progname, PQerrorMessage(conn));
		PQfinish(conn);
		return EX_TEMPFAIL;
	}

	/* The tenant, then the mail, in one transaction of its own. */
	params[0] = tenant;
	res = PQexecParams(conn, "SELECT pg_catalog.set_config('ticketdesk.tenant', $1, false)",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "%s: could not set the tenant: %s", progname, PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return EX_TEMPFAIL;
	}
	PQclear(res);

	params[0] = msg;
	lengths[0] = (int) len;
	params[1] = center;
	lengths[1] = 0;
	res = PQexecParams(conn,
					   "SELECT i.outcome, coalesce(i.ticket_id::text, ''), coalesce(i.action, ''), "
					   "       coalesce(i.reason, ''), i.intake_id "
					   "  FROM ticketdesk.ingest_mail($1, $2) i",
					   2, types, params, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		fprintf(stderr, "%s: the database could not take the mail (SQLSTATE %s), it stays queued: %s",
				progname, state ? state : "none", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return EX_TEMPFAIL;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "failed") == 0)
		fprintf(stderr, "%s: mail recorded as failed intake %s: %s\n", progname,
				PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 3));
	else if (verbose)
	{
		/* The ticket's reference, read after the insert so that it is visible. */
		const char *ticket = PQgetvalue(res, 0, 1);
		PGresult   *ref = NULL;

		if (*ticket)
		{
			params[0] = ticket;
			ref = PQexecParams(conn, "SELECT reference FROM ticketdesk.ticket "
							   "WHERE tenant_id = ticketdesk.current_tenant() AND ticket_id = $1::bigint",
							   1, NULL, params, NULL, NULL, 0);
		}
		fprintf(stderr, "%s: %s %s%s%s%s%s\n", progname, PQgetvalue(res, 0, 0),
				ref && PQntuples(ref) == 1 ? PQgetvalue(ref, 0, 0) : "",
				*PQgetvalue(res, 0, 2) ? " " : "", PQgetvalue(res, 0, 2),
				*PQgetvalue(res, 0, 3) ? ": " : "", PQgetvalue(res, 0, 3));
		PQclear(ref);
	}
	PQclear(res);
	PQfinish(conn);
	free(msg);
	return EX_OK;
}

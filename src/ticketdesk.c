/*
 * ticketdesk.c
 *		Module entry point: registers the settings and, when preloaded, the
 *		notification launcher and its shared memory. Nothing else lives here.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "notify.h"
#include "jobs.h"
#include "retention.h"
#include "ticketdesk.h"

PG_MODULE_MAGIC;

int			ticketdesk_tenant = 1;
int			ticketdesk_agent = 0;
char	   *ticketdesk_note = NULL;
int			ticketdesk_max_attachment_kb = 10 * 1024;
int			ticketdesk_deadline_near_min = 24 * 60;

void		_PG_init(void);

/*
 * _PG_init registers the settings. It works both from
 * shared_preload_libraries and when a backend first loads the library.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("ticketdesk.tenant",
							"The tenant this session works for.",
							"Row-level security shows only this tenant's rows; 1 is the default tenant.",
							&ticketdesk_tenant,
							1, 1, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ticketdesk.agent",
							"The agent this session acts as (0: the agent mapped to the current role).",
							"Recorded as the actor of every history row.",
							&ticketdesk_agent,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("ticketdesk.note",
							   "A note recorded with the next history rows of this transaction.",
							   "The API functions set it locally for a reason or a comment on a move.",
							   &ticketdesk_note,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("ticketdesk.max_attachment_size",
							"The largest attachment accepted.",
							NULL,
							&ticketdesk_max_attachment_kb,
							10 * 1024, 1, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ticketdesk.deadline_near",
							"How close a deadline is near enough to raise the priority by one level.",
							"A passed deadline raises it by two. 0 counts only passed deadlines. "
							"Plain time for now; business time replaces it with the business calendars.",
							&ticketdesk_deadline_near_min,
							24 * 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	notify_define_settings();
	automation_define_settings();
	if (process_shared_preload_libraries_in_progress && notify_worker_enabled)
	{
		notify_install_hooks();
		notify_register_launcher();
	}
	mailin_define_settings();
	retention_define_settings();

	MarkGUCPrefixReserved("ticketdesk");
}

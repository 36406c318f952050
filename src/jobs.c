/*
 * jobs.c
 *		The setting that schedules the time-driven jobs in the notification
 *		worker (ticketdesk.jobs_interval). The jobs themselves are SQL
 *		functions (schema/87_api_jobs.sql, 88_api_service.sql); the first
 *		delivery worker of each database calls run_jobs_all_tenants() on this
 *		cadence (worker.c). 0 switches the worker's schedule off, for DBAs
 *		who run the jobs with pg_cron instead (doc/automation.md).
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "jobs.h"

int			automation_jobs_interval_s = 60;

/* automation_define_settings registers ticketdesk.jobs_interval. */
void
automation_define_settings(void)
{
	DefineCustomIntVariable("ticketdesk.jobs_interval",
							"How often the notification worker runs the time-driven jobs (0: never).",
							"Set 0 when pg_cron runs SELECT ticketdesk.run_jobs_all_tenants() instead.",
							&automation_jobs_interval_s,
							60, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * jobs.h
 *		The worker's schedule of the time-driven jobs (jobs.c, worker.c).
 */
#ifndef JOBS_H
#define JOBS_H

/* ticketdesk.jobs_interval: seconds between two runs by the worker; 0 = off. */
extern int	automation_jobs_interval_s;

extern void automation_define_settings(void);

#endif							/* JOBS_H */

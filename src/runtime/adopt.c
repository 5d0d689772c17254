/* Re-adoption after a daemon restart: containers outlive hoodyd (they are not
 * killed when it exits), so a new hoodyd finds their inits alive, no longer
 * its children, and watches them through pidfds instead. */
#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

int rt_adopt(struct runtime *rt, void (*cb)(const char *id, enum rt_state st, void *arg), void *arg,
	     struct error *err)
{
	char **ids;
	size_t n;
	/* Rules of running containers are back before anything else runs
	 * (lost with a flush, or from an older version of the rules). A
	 * failure must not orphan the containers: each start retries it. */
	struct error fe = {0};
	if (fw_sync(rt, &fe) < 0)
		log_error("network rules not restored: %s", fe.msg);
	if (rt_list_ids(rt, &ids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		pid_t pid;
		enum rt_state st = rt_probe(rt, ids[i], &pid);
		if (st == RT_RUNNING || st == RT_PAUSED) {
			reaper_watch_container(rt, ids[i], pid);
			log_info("adopted container %s (init %d, %s)", ids[i], (int)pid,
				 rt_state_name(st));
			if (cb)
				cb(ids[i], st, arg);
		}
		free(ids[i]);
	}
	free(ids);
	return 0;
}

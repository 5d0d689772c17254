/* Run inside a container by test_runtime: calls each system call Docker's
 * default seccomp profile refuses, with arguments the kernel itself would
 * reject with something other than EPERM (or that are harmless), and prints
 * "<name> <errno>" per call. Seccomp's refusal is errno 1 (EPERM) before any
 * argument is looked at; on the host most of these print EFAULT, EINVAL or
 * EBADF instead, which is what makes the test able to fail. Built static so
 * it runs in the busybox image. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BAD ((long)-1)

struct probe {
	const char *name;
	long nr;
	long a, b, c, d, e;
};

static const struct probe probes[] = {
    {"mount", SYS_mount, 0, 0, 0, 0, 0},
    {"umount2", SYS_umount2, 0, BAD, 0, 0, 0},
    {"pivot_root", SYS_pivot_root, 0, 0, 0, 0, 0},
    {"fsopen", SYS_fsopen, 0, BAD, 0, 0, 0},
    {"open_tree", SYS_open_tree, BAD, 0, BAD, 0, 0},
    {"move_mount", SYS_move_mount, BAD, 0, BAD, 0, BAD},
    {"mount_setattr", SYS_mount_setattr, BAD, 0, BAD, 0, 0},
    {"setns", SYS_setns, BAD, 0, 0, 0, 0},
    {"kexec_load", SYS_kexec_load, 0, 0, 0, BAD, 0},
    {"init_module", SYS_init_module, 0, 0, 0, 0, 0},
    {"finit_module", SYS_finit_module, BAD, 0, BAD, 0, 0},
    {"delete_module", SYS_delete_module, 0, 0, 0, 0, 0},
    {"reboot", SYS_reboot, 0, 0, 0, 0, 0},
    {"swapoff", SYS_swapoff, 0, 0, 0, 0, 0},
    {"acct", SYS_acct, 1, 0, 0, 0, 0},
    {"add_key", SYS_add_key, 0, 0, 0, 0, 0},
    {"keyctl", SYS_keyctl, BAD, 0, 0, 0, 0},
    {"request_key", SYS_request_key, 0, 0, 0, 0, 0},
    {"bpf", SYS_bpf, BAD, 0, 0, 0, 0},
    {"perf_event_open", SYS_perf_event_open, 0, 0, 0, 0, 0},
    {"open_by_handle_at", SYS_open_by_handle_at, BAD, 0, 0, 0, 0},
    {"name_to_handle_at", SYS_name_to_handle_at, BAD, 0, 0, 0, 0},
    {"userfaultfd", SYS_userfaultfd, BAD, 0, 0, 0, 0},
    {"iopl", SYS_iopl, 99, 0, 0, 0, 0},
    {"ioperm", SYS_ioperm, BAD, 0, 0, 0, 0},
    {"clock_settime", SYS_clock_settime, BAD, 0, 0, 0, 0},
    {"clock_adjtime", SYS_clock_adjtime, BAD, 0, 0, 0, 0},
    {"settimeofday", SYS_settimeofday, 1, 0, 0, 0, 0},
    {"syslog", SYS_syslog, BAD, 0, 0, 0, 0},
    {"quotactl", SYS_quotactl, 0, 0, 0, 0, 0},
    {"io_uring_setup", SYS_io_uring_setup, 0, 0, 0, 0, 0},
    {"io_uring_enter", SYS_io_uring_enter, BAD, 0, 0, 0, 0},
    {"io_uring_register", SYS_io_uring_register, BAD, 0, 0, 0, 0},
    {"ptrace", SYS_ptrace, BAD, 0, 0, 0, 0},
    {"kcmp", SYS_kcmp, 0, 0, BAD, 0, 0},
    {"process_vm_readv", SYS_process_vm_readv, 0, 0, 0, 0, 0},
    {"process_vm_writev", SYS_process_vm_writev, 0, 0, 0, 0, 0},
    {"uselib", SYS_uselib, 0, 0, 0, 0, 0},
    {"ustat", SYS_ustat, 0, 0, 0, 0, 0},
    {"sysfs", SYS_sysfs, BAD, 0, 0, 0, 0},
    {"clone_newns", SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0},
    {"clone_newuser", SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0},
    {"clone_newnet", SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0},
    {"personality_no_aslr", SYS_personality, ADDR_NO_RANDOMIZE, 0, 0, 0, 0},
    /* Last: where it is let through, it leaves us unprivileged. */
    {"unshare", SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0},
};

int main(void)
{
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const struct probe *p = &probes[i];
		errno = 0;
		long rc = syscall(p->nr, p->a, p->b, p->c, p->d, p->e);
		if (rc == 0 && p->nr == SYS_clone)
			_exit(0); /* the child of a clone that was let through */
		printf("%s %d\n", p->name, rc < 0 ? errno : 0);
	}
	/* What stays allowed: querying the persona, and clone3 says ENOSYS so
	 * that libc falls back to clone, whose flags the filter can see. */
	printf("personality_query %d\n", syscall(SYS_personality, 0xffffffffUL) < 0 ? errno : 0);
	printf("clone3 %d\n", syscall(SYS_clone3, 0, 0) < 0 ? errno : 0);
	return 0;
}

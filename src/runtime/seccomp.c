/* The seccomp profile of every container, as linux.seccomp of config.json.
 *
 * Why a deny list (defaultAction ALLOW) rather than Docker's allow list: the
 * capability set already removes most of what Docker's allow list guards
 * (no CAP_SYS_ADMIN, SYS_MODULE, SYS_TIME, SYS_PTRACE, SYS_BOOT...), and a
 * short deny list compiles to a small BPF program that crun builds on every
 * start, which matters for millisecond creation. What we deny is the kernel
 * surface Docker's profile removes for unprivileged containers even where a
 * capability check would also refuse it (defence in depth against kernel
 * bugs in those paths):
 * - mounting and namespace games: mount, umount2, pivot_root, the new mount
 *   API (fsopen...), setns, unshare, and clone with any CLONE_NEW* flag;
 * - kernel and host state: modules, kexec, reboot, swap, acct, clocks,
 *   syslog, quotactl, keyrings, bpf, perf_event_open, userfaultfd,
 *   handle-based opens (container escape vector), iopl/ioperm, io_uring
 *   (moby blocks it too: a large, often-buggy attack surface);
 * - cross-process inspection: ptrace, kcmp, process_vm_readv/writev;
 * - obsolete calls: create_module, get_kernel_syms, query_module,
 *   nfsservctl, uselib, ustat, sysfs, _sysctl, vm86*;
 * - personality() flags that change the memory layout or exec semantics
 *   (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...). Docker allows a list of
 *   values instead, but libseccomp cannot AND two comparisons of one argument
 *   (it returns EINVAL), so each flag gets a rule of its own that matches
 *   "flag set and bit 31 clear": the 0xffffffff query stays allowed.
 * clone3 gets ENOSYS (its flags live in memory and cannot be filtered), so
 * libc falls back to clone, whose flags we can check. */
#include <jansson.h>
#include <sched.h>

#include "common/util.h"
#include "runtime/internal.h"

#define EPERM_ 1
#define ENOSYS_ 38

/* clang-format off */
static const char *const denied[] = {
	/* mounts and namespaces */
	"mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
	"move_mount", "open_tree", "mount_setattr", "setns", "unshare",
	/* kernel and host state */
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
	"swapon", "swapoff", "acct", "add_key", "keyctl", "request_key", "bpf", "perf_event_open",
	"open_by_handle_at", "name_to_handle_at", "userfaultfd", "iopl", "ioperm", "clock_settime",
	"clock_adjtime", "settimeofday", "stime", "syslog", "quotactl", "quotactl_fd",
	"lookup_dcookie", "io_uring_setup", "io_uring_enter", "io_uring_register",
	/* other processes */
	"ptrace", "kcmp", "process_vm_readv", "process_vm_writev",
	/* obsolete */
	"create_module", "get_kernel_syms", "query_module", "nfsservctl", "uselib", "ustat",
	"sysfs", "_sysctl", "vm86", "vm86old",
};
/* clang-format on */

static const unsigned long ns_flags[] = {CLONE_NEWNS,	CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
					 CLONE_NEWUSER, CLONE_NEWPID,	 CLONE_NEWNET};

/* personality(2) flags we refuse; UNAME26 (0x20000) stays allowed, as in
 * Docker's profile. */
static const unsigned long persona_flags[] = {
    0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0080000 /* FDPIC_FUNCPTRS */,
    0x0100000 /* MMAP_PAGE_ZERO */,    0x0200000 /* ADDR_COMPAT_LAYOUT */,
    0x0400000 /* READ_IMPLIES_EXEC */, 0x0800000 /* ADDR_LIMIT_32BIT */,
    0x1000000 /* SHORT_INODE */,       0x2000000 /* WHOLE_SECONDS */,
    0x4000000 /* STICKY_TIMEOUTS */,   0x8000000 /* ADDR_LIMIT_3GB */
};
#define PERSONA_QUERY_BIT 0x80000000UL

static json_t *rule(json_t *names, int errno_ret, json_t *args)
{
	json_t *r = json_pack("{s:o, s:s, s:i}", "names", names, "action", "SCMP_ACT_ERRNO",
			      "errnoRet", errno_ret);
	if (args)
		json_object_set_new(r, "args", args);
	return r;
}

static json_t *arg_cmp(const char *op, unsigned long value, unsigned long value_two)
{
	return json_pack("{s:i, s:I, s:I, s:s}", "index", 0, "value", (json_int_t)value, "valueTwo",
			 (json_int_t)value_two, "op", op);
}

json_t *seccomp_profile_new(void)
{
	json_t *rules = json_array();
	json_t *names = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
		json_array_append_new(names, json_string(denied[i]));
	json_array_append_new(rules, rule(names, EPERM_, NULL));

	/* Separate rules are OR-ed: any namespace flag set denies the clone. */
	for (size_t i = 0; i < ARRAY_SIZE(ns_flags); i++) {
		json_t *args = json_array();
		json_array_append_new(args,
				      arg_cmp("SCMP_CMP_MASKED_EQ", ns_flags[i], ns_flags[i]));
		json_array_append_new(rules, rule(json_pack("[s]", "clone"), EPERM_, args));
	}
	json_array_append_new(rules, rule(json_pack("[s]", "clone3"), ENOSYS_, NULL));

	for (size_t i = 0; i < ARRAY_SIZE(persona_flags); i++) {
		json_t *args = json_array();
		json_array_append_new(args, arg_cmp("SCMP_CMP_MASKED_EQ",
						    persona_flags[i] | PERSONA_QUERY_BIT,
						    persona_flags[i]));
		json_array_append_new(rules, rule(json_pack("[s]", "personality"), EPERM_, args));
	}

	return json_pack("{s:s, s:[sss], s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures",
			 "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls", rules);
}

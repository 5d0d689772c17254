/* The cleanup kit and the panic policy of src/common (docs/ERRORS.md):
 * releases happen at scope end and keep errno, steal_* hands ownership on,
 * HOODY_ASSERT names its file and line, jansson allocates through xmalloc. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/util.h"

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Opens a descriptor in a scope that fails a syscall last: the caller must
 * see that syscall's errno although the descriptor was closed after it. */
static int open_then_fail(int *seen_fd)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	*seen_fd = fd;
	if (open("/nonexistent/hoody-test", O_RDONLY) < 0)
		return -1;
	return 0;
}

static void test_close_keeps_errno(void **state)
{
	(void)state;
	int fd = -1;
	errno = 0;
	assert_int_equal(open_then_fail(&fd), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(fd >= 0);
	assert_false(fd_open(fd));
}

static int open_and_steal(void)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return steal_fd(&fd);
}

static char *dup_and_steal(void)
{
	_cleanup_free_ char *s = xstrdup("kept");
	return steal_ptr(&s);
}

static void test_steal(void **state)
{
	(void)state;
	int fd = open_and_steal();
	assert_true(fd_open(fd));
	close(fd);
	char *s = dup_and_steal();
	assert_string_equal(s, "kept");
	free(s);
}

static void test_file_and_dir(void **state)
{
	(void)state;
	int fd;
	{
		_cleanup_fclose_ FILE *f = fopen("/dev/null", "re");
		_cleanup_closedir_ DIR *d = opendir("/");
		assert_non_null(f);
		assert_non_null(d);
		fd = fileno(f);
		assert_true(fd_open(fd));
		assert_true(fd_open(dirfd(d)));
	}
	assert_false(fd_open(fd));
	_cleanup_fclose_ FILE *none = NULL; /* NULL is "nothing held" */
	_cleanup_close_ int nofd = -1;
	(void)none;
	(void)nofd;
}

static void test_json_cleanup_and_policy(void **state)
{
	(void)state;
	json_malloc_t m;
	json_free_t f;
	json_alloc_policy_init();
	json_get_alloc_funcs(&m, &f);
	assert_true(m != malloc); /* xmalloc's panic, not a silent NULL */
	assert_true(f == free);
	_cleanup_json_ json_t *v = json_pack("{s:i}", "a", 1);
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
}

/* Runs fn in a child with stderr on a pipe; returns what it wrote. */
static void run_child(void (*fn)(void), char *out, size_t cap, int *status)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		dup2(p[1], STDERR_FILENO);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
}

static volatile int two = 2;
static const int failing_line = __LINE__ + 3;
static void failing_assert(void)
{
	HOODY_ASSERT(two == 3);
}

static void test_assert_names_file_and_line(void **state)
{
	(void)state;
	char out[1024], want[256];
	int status;
	run_child(failing_assert, out, sizeof(out), &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	snprintf(want, sizeof(want), "test_common.c:%d: assertion failed: two == 3", failing_line);
	assert_non_null(strstr(out, "PANIC "));
	assert_non_null(strstr(out, want));
}

static void passing_assert(void)
{
	HOODY_ASSERT(1 + 1 == 2);
}

static void test_assert_that_holds_is_silent(void **state)
{
	(void)state;
	char out[256];
	int status;
	run_child(passing_assert, out, sizeof(out), &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(out, "");
}

static void panicking(void)
{
	HOODY_PANIC("the %s broke", "invariant");
}

static void test_panic_message(void **state)
{
	(void)state;
	char out[1024];
	int status;
	run_child(panicking, out, sizeof(out), &status);
	assert_true(WIFSIGNALED(status));
	assert_non_null(strstr(out, "test_common.c:"));
	assert_non_null(strstr(out, ": the invariant broke\n"));
}

/* The percent-decoder the Kit and the proxy share: bad escapes stay as they
 * are, '+' is a space only in form encoding, the output never outgrows n+1. */
static void test_url_decode(void **state)
{
	(void)state;
	char out[32];
	assert_int_equal(url_decode("a%20b+c", 7, out, true), 5);
	assert_string_equal(out, "a b c");
	assert_int_equal(url_decode("a%20b+c", 7, out, false), 5);
	assert_string_equal(out, "a b+c");
	assert_int_equal(url_decode("%zz%4", 5, out, false), 5);
	assert_string_equal(out, "%zz%4");
	assert_int_equal(url_decode("%41%6a%4A", 9, out, false), 3);
	assert_string_equal(out, "AjJ");
	/* n bounds the input: a NUL-less slice decodes only its n bytes */
	assert_int_equal(url_decode("%41xyz", 4, out, false), 2);
	assert_string_equal(out, "Ax");
	assert_int_equal(hex_digit('f'), 15);
	assert_int_equal(hex_digit('F'), 15);
	assert_int_equal(hex_digit('9'), 9);
	assert_int_equal(hex_digit('g'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_close_keeps_errno),
	    cmocka_unit_test(test_steal),
	    cmocka_unit_test(test_file_and_dir),
	    cmocka_unit_test(test_json_cleanup_and_policy),
	    cmocka_unit_test(test_assert_names_file_and_line),
	    cmocka_unit_test(test_assert_that_holds_is_silent),
	    cmocka_unit_test(test_panic_message),
	    cmocka_unit_test(test_url_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_notify.c - sd_notify datagrams to a path socket and an abstract socket. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* Bind a datagram socket at `name` ('@' = abstract) and return it. */
static int listen_dgram(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(n, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void expect_msg(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(unset_does_nothing)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_send("READY=1"), 0);
	ck_assert_int_eq(notify_sendf("STATUS=%d", 1), 0);
	unsetenv("WATCHDOG_USEC");
	ck_assert_uint_eq(notify_watchdog_interval_ms(), 0);
}
END_TEST

START_TEST(path_socket)
{
	char dir[64], path[96];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/kvs-notify-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listen_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=ready"), 0);
	expect_msg(fd, "READY=1\nSTATUS=ready");
	ck_assert_int_eq(notify_sendf("STATUS=policy %s", "abc"), 0);
	expect_msg(fd, "STATUS=policy abc");
	close(fd);
	unlink(path);
	rmdir(dir);
	/* Nobody listening any more: an error, not a crash. */
	ck_assert_int_lt(notify_send("STOPPING=1"), 0);
}
END_TEST

START_TEST(abstract_socket)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@kvs-notify-test-%d", (int)getpid());
	fd = listen_dgram(name);
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_int_eq(notify_send("RELOADING=1"), 0);
	expect_msg(fd, "RELOADING=1");
	close(fd);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(notify_send("READY=1"), -EINVAL);
}
END_TEST

START_TEST(watchdog_interval)
{
	char pid[32];

	setenv("WATCHDOG_USEC", "4000000", 1);
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(notify_watchdog_interval_ms(), 2000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(notify_watchdog_interval_ms(), 2000);
	setenv("WATCHDOG_PID", "1", 1);
	ck_assert_uint_eq(notify_watchdog_interval_ms(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "junk", 1);
	ck_assert_uint_eq(notify_watchdog_interval_ms(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, unset_does_nothing);
	tcase_add_test(tc, path_socket);
	tcase_add_test(tc, abstract_socket);
	tcase_add_test(tc, watchdog_interval);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

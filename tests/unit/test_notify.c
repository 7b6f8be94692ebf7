/* test_notify.c - sd_notify datagrams to a path socket and an abstract socket. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "notify.h"
#include "ck_main.h"

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

/* Wait for one datagram containing `want`; returns the whole message. */
static void expect_contains(int fd, const char *want)
{
	char buf[512];

	for (int tries = 0; tries < 10; tries++) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		ck_assert_msg(n > 0, "no datagram with %s", want);
		buf[n] = '\0';
		if (strstr(buf, want))
			return;
	}
	ck_abort_msg("no datagram with %s", want);
}

/* The daemon tells systemd READY=1, RELOADING=1 and STOPPING=1, pings the
 * watchdog, and exits 0 on SIGTERM. */
START_TEST(daemon_notifies)
{
	char dir[64], sock[96], conf[96], daemon[512];
	FILE *f;
	pid_t pid;
	int fd, status;

	snprintf(dir, sizeof(dir), "/tmp/kvs-notifyd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/notify", dir);
	snprintf(conf, sizeof(conf), "%s/k.conf", dir);
	snprintf(daemon, sizeof(daemon), "%s/kvscreend", KVS_BUILDDIR);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "daemon: { listen = \"\"; socket = \"api.sock\"; state_dir = \"state\";"
		   " log_level = \"warning\"; };\n");
	fclose(f);
	fd = listen_dgram(sock);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", sock, 1);
		setenv("WATCHDOG_USEC", "200000", 1);
		unsetenv("WATCHDOG_PID");
		execl(daemon, "kvscreend", "-c", conf, (char *)NULL);
		_exit(127);
	}
	expect_contains(fd, "READY=1");
	expect_contains(fd, "WATCHDOG=1");
	kill(pid, SIGHUP);
	expect_contains(fd, "RELOADING=1");
	expect_contains(fd, "READY=1");
	kill(pid, SIGTERM);
	expect_contains(fd, "STOPPING=1");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(fd);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");

	tcase_add_test(tc, unset_does_nothing);
	tcase_add_test(tc, path_socket);
	tcase_add_test(tc, abstract_socket);
	tcase_add_test(tc, watchdog_interval);
	tcase_add_test(tc, daemon_notifies);
	suite_add_tcase(s, tc);
	return ck_main(s);
}

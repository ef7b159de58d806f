// SPDX-License-Identifier: GPL-2.0
/*
 * proctrigger: makes the process events that come from kprobes (UID, GID, SID, PTRACE) happen,
 * and says which processes made them, for the guest cases and the benchmark.
 *
 * usage: proctrigger ids UID GID   a child calls setsid() twice (the second fails: EPERM),
 *                                  setgid(GID), setuid(UID) twice (the second changes
 *                                  nothing), ptrace(PTRACE_TRACEME), then exits 0; prints
 *                                  `child=C parent=P`
 *        proctrigger thread-setsid a child's second thread calls setsid(); prints
 *                                  `child=C tid=T`
 *        proctrigger thread-wait   prints `pid=P tid=T` of a second thread, then waits to be
 *                                  killed
 *        proctrigger park N        a child whose thread is traced by this process (TRACEME)
 *                                  execs, which blocks until the tracer reaps the thread (never:
 *                                  this process waits to be killed); N more children each
 *                                  PTRACE_ATTACH to it and block in that call meanwhile; prints
 *                                  `target=C tracer=T` once they are started
 *        proctrigger attach PID    PTRACE_ATTACH to PID, waits for its stop, PTRACE_DETACH
 *        proctrigger seize PID     PTRACE_SEIZE, PTRACE_INTERRUPT, waits, PTRACE_DETACH
 *                                  (both print `tracer=T`)
 *        proctrigger ids-loop N    N times (0: until killed): the effective uid to 1000 and back
 *                                  to 0 (two credential changes; needs root)
 *        proctrigger setsid-loop N N children (0: until killed) that each call setsid()
 *        proctrigger time-ids N    as ids-loop, then prints `ns_per_change=X` (monotonic clock)
 *        proctrigger time-setsid N as setsid-loop, then `ns_per_setsid=X` (a fork, setsid, exit
 *                                  and wait each)
 *        proctrigger time-setsid-eperm N
 *                                  a session leader calls setsid() N more times (each fails:
 *                                  EPERM, no event); prints `ns_per_failed_setsid=X`
 *        proctrigger noop          prints `pid=P ruid=R euid=E` (installed setuid root as
 *                                  /bin/proctrigger-suid, for a setuid execve)
 * Exit status: 0, or 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "proctrigger: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Waits for @pid to end with status 0. */
static int reap(pid_t pid, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "proctrigger: %s: child status %#x\n", what, status);
		return 1;
	}
	return 0;
}

static int ids(uid_t uid, gid_t gid)
{
	pid_t child = fork();

	if (child < 0)
		return die("fork");
	if (child == 0) {
		if (setsid() < 0 || setgid(gid) || setuid(uid) || setuid(uid) ||
		    ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(die("setsid/setgid/setuid/ptrace(PTRACE_TRACEME)"));
		if (setsid() >= 0 || errno != EPERM)
			_exit(die("a second setsid() did not fail with EPERM"));
		_exit(0);
	}
	if (reap(child, "ids"))
		return 1;
	printf("child=%d parent=%d\n", child, getpid());
	return 0;
}

static int trace(pid_t pid, int seize)
{
	int status;

	if (seize ? ptrace(PTRACE_SEIZE, pid, 0, 0) || ptrace(PTRACE_INTERRUPT, pid, 0, 0) :
		    ptrace(PTRACE_ATTACH, pid, 0, 0))
		return die(seize ? "PTRACE_SEIZE" : "PTRACE_ATTACH");
	if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
		return die("waitpid for the tracee's stop");
	if (ptrace(PTRACE_DETACH, pid, 0, 0))
		return die("PTRACE_DETACH");
	printf("tracer=%d\n", getpid());
	return 0;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int ids_loop(unsigned long n)
{
	unsigned long i;

	for (i = 0; n == 0 || i < n; i++) {
		if (setresuid(-1, 1000, 0) || setresuid(-1, 0, 0))
			return die("setresuid");
	}
	return 0;
}

static int setsid_loop(unsigned long n)
{
	unsigned long i;

	for (i = 0; n == 0 || i < n; i++) {
		pid_t child = fork();

		if (child < 0)
			return die("fork");
		if (child == 0)
			_exit(setsid() < 0 ? die("setsid") : 0);
		if (reap(child, "setsid"))
			return 1;
	}
	return 0;
}

static void *thread_setsid(void *arg)
{
	(void)arg;
	printf("tid=%d\n", gettid());
	return (void *)(long)(setsid() < 0 ? die("setsid in a thread") : 0);
}

static void *thread_wait(void *arg)
{
	(void)arg;
	printf("pid=%d tid=%d\n", getpid(), gettid());
	for (;;)
		pause();
	return NULL;
}

static void *thread_traceme(void *arg)
{
	(void)arg;
	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		die("ptrace(PTRACE_TRACEME)");
	return NULL;
}

/* Runs @fn in a second thread of a child; returns the child's exit status (via reap()). */
static int in_thread_of_child(void *(*fn)(void *))
{
	pid_t child = fork();

	if (child < 0)
		return die("fork");
	if (child == 0) {
		pthread_t t;
		void *ret;

		printf("child=%d ", getpid());
		if (pthread_create(&t, NULL, fn, NULL) || pthread_join(t, &ret))
			_exit(die("pthread"));
		_exit(ret ? 1 : 0);
	}
	return reap(child, "thread");
}

static int park(unsigned long n)
{
	unsigned long i;
	pid_t target = fork();

	if (target < 0)
		return die("fork");
	if (target == 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_traceme, NULL) || pthread_join(t, NULL))
			_exit(die("pthread"));
		execl("/bin/true", "true", (char *)NULL);
		_exit(die("execl"));
	}
	sleep(1);
	for (i = 0; i < n; i++) {
		pid_t attacher = fork();

		if (attacher < 0)
			return die("fork");
		if (attacher == 0)
			_exit(ptrace(PTRACE_ATTACH, target, 0, 0) ? 1 : 0);
	}
	printf("target=%d tracer=%d\n", target, getpid());
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	long long t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "ids") && argc == 4)
		return ids(atoi(argv[2]), atoi(argv[3]));
	if ((!strcmp(cmd, "attach") || !strcmp(cmd, "seize")) && argc == 3)
		return trace(atoi(argv[2]), !strcmp(cmd, "seize"));
	if (!strcmp(cmd, "ids-loop") && argc == 3)
		return ids_loop(n);
	if (!strcmp(cmd, "setsid-loop") && argc == 3)
		return setsid_loop(n);
	if ((!strcmp(cmd, "time-ids") || !strcmp(cmd, "time-setsid")) && argc == 3 && n > 0) {
		int ids_cmd = !strcmp(cmd, "time-ids");

		t0 = now_ns();
		if (ids_cmd ? ids_loop(n) : setsid_loop(n))
			return 1;
		printf("%s=%lld\n", ids_cmd ? "ns_per_change" : "ns_per_setsid",
		       (now_ns() - t0) / (long long)(ids_cmd ? 2 * n : n));
		return 0;
	}
	if (!strcmp(cmd, "thread-setsid") && argc == 2)
		return in_thread_of_child(thread_setsid);
	if (!strcmp(cmd, "thread-wait") && argc == 2) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_wait, NULL))
			return die("pthread_create");
		for (;;)
			pause();
	}
	if (!strcmp(cmd, "park") && argc == 3)
		return park(n);
	if (!strcmp(cmd, "time-setsid-eperm") && argc == 3 && n > 0) {
		unsigned long i;

		if (setsid() < 0 && errno != EPERM)
			return die("setsid");
		t0 = now_ns();
		for (i = 0; i < n; i++)
			if (setsid() >= 0 || errno != EPERM)
				return die("a session leader's setsid() did not fail with EPERM");
		printf("ns_per_failed_setsid=%lld\n", (now_ns() - t0) / (long long)n);
		return 0;
	}
	if (!strcmp(cmd, "noop") && argc == 2) {
		printf("pid=%d ruid=%d euid=%d\n", getpid(), getuid(), geteuid());
		return 0;
	}
	fprintf(stderr, "usage: proctrigger ids UID GID | thread-setsid | thread-wait | attach PID |\n"
			"       seize PID | park N | ids-loop N | setsid-loop N | time-ids N |\n"
			"       time-setsid N | time-setsid-eperm N | noop\n");
	return 1;
}

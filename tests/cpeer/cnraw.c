// SPDX-License-Identifier: GPL-2.0
/*
 * cnraw: ONE NETLINK_CONNECTOR socket that joins netlink groups, sends one raw datagram to the
 * kernel, then prints what it receives until a deadline, and only then closes. For the guest
 * cases that need a single socket to do all of that (`cnctl raw` joins no group and closes right
 * after sending; `cnctl proc` and `cnctl send --group` send one message to one id).
 *
 * usage: cnraw [-u UID] [-g GROUP]... -x HEX [-t LISTEN_MS] [-n HEX2 [-d MS]]
 *   -u UID     drop to uid and gid UID first (no supplementary groups)
 *   -g GROUP   join netlink group GROUP before sending (repeatable)
 *   -x HEX     the datagram, as hex digits
 *   -t MS      receive for MS milliseconds after sending (default 0)
 *   -n HEX2    then move to a new user namespace (unshare(CLONE_NEWUSER): no id mapped) and send
 *              HEX2 on the same socket, as a process in another namespace with the descriptor
 *              would; -t then counts from this second datagram
 *   -d MS      receive for MS milliseconds between the two datagrams (default 0)
 *
 * stderr: `joined group=G`, `sent len=N`, with -n `unshared` and `sent2 len=N`. stdout, one
 * line per message received:
 *   recv idx=I val=V seq=S ack=A len=L
 * and for a process event ({1, 1}, 40 bytes of data) ` what=0xW` then `child_pid=P` (fork),
 * `err=E` (acknowledgement), `pid=P ruid=R` (uid) or `pid=P` (others); `nlack error=E` for a
 * netlink ack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#define NETLINK_CONNECTOR_UNIT 11
#define CN_MSG_HDRLEN 20

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: cnraw [-u UID] [-g GROUP]... -x HEX [-t LISTEN_MS] [-n HEX2 [-d MS]]\n");
	exit(64);
}

static void print_cn(const unsigned char *p, size_t len)
{
	uint32_t idx, val, what;
	uint16_t dlen;

	if (len < CN_MSG_HDRLEN) {
		printf("short cn_msg len=%zu\n", len);
		return;
	}
	idx = get32(p);
	val = get32(p + 4);
	memcpy(&dlen, p + 16, sizeof(dlen));
	printf("recv idx=%u val=%u seq=%u ack=%u len=%u", idx, val, get32(p + 8), get32(p + 12),
	       dlen);
	p += CN_MSG_HDRLEN;
	if (idx == 1 && val == 1 && dlen >= 40 && len >= CN_MSG_HDRLEN + 40) {
		what = get32(p);
		printf(" what=0x%08x", what);
		if (what == 0x1)
			printf(" child_pid=%u", get32(p + 24));
		else if (what == 0)
			printf(" err=%u", get32(p + 16));
		else if (what == 0x4)
			printf(" pid=%u ruid=%u", get32(p + 16), get32(p + 24));
		else
			printf(" pid=%u", get32(p + 16));
	}
	printf("\n");
}

/* The datagram of the hex digits HEX (length in *len); exits with the usage on bad digits. */
static unsigned char *parse_hex(const char *hex, size_t *len)
{
	unsigned char *out;
	size_t i;

	if (strlen(hex) % 2)
		usage();
	out = malloc(strlen(hex) / 2 + 1);
	if (!out)
		exit(2);
	*len = 0;
	for (i = 0; hex[i]; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);

		if (hi < 0 || lo < 0)
			usage();
		out[(*len)++] = (unsigned char)(hi * 16 + lo);
	}
	return out;
}

/* Prints what socket FD receives for LISTEN_MS milliseconds. */
static void receive_for(int fd, long listen_ms)
{
	static unsigned char buf[128 * 1024];
	long long deadline = now_ms() + listen_ms;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		size_t off;

		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				fprintf(stderr, "warning: receive buffer overrun (ENOBUFS)\n");
			continue;
		}
		for (off = 0; off + NLMSG_HDRLEN <= (size_t)n;) {
			struct nlmsghdr nlh;

			memcpy(&nlh, buf + off, sizeof(nlh));
			if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > (size_t)n - off)
				break;
			if (nlh.nlmsg_type == NLMSG_ERROR && nlh.nlmsg_len >= NLMSG_HDRLEN + 4)
				printf("nlack error=%d\n", (int)get32(buf + off + NLMSG_HDRLEN));
			else
				print_cn(buf + off + NLMSG_HDRLEN, nlh.nlmsg_len - NLMSG_HDRLEN);
			off += NLMSG_ALIGN(nlh.nlmsg_len);
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	unsigned char *out = NULL, *out2 = NULL;
	const char *hex = NULL, *hex2 = NULL;
	long listen_ms = 0, between_ms = 0, uid = -1;
	int groups[32], ngroups = 0;
	size_t outlen = 0, outlen2 = 0, i;
	int fd, opt;

	while ((opt = getopt(argc, argv, "u:g:x:t:n:d:")) != -1) {
		switch (opt) {
		case 'u':
			uid = strtol(optarg, NULL, 0);
			break;
		case 'g':
			if (ngroups == 32)
				usage();
			groups[ngroups++] = (int)strtol(optarg, NULL, 0);
			break;
		case 'x':
			hex = optarg;
			break;
		case 't':
			listen_ms = strtol(optarg, NULL, 0);
			break;
		case 'n':
			hex2 = optarg;
			break;
		case 'd':
			between_ms = strtol(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (!hex || optind != argc)
		usage();
	out = parse_hex(hex, &outlen);
	if (hex2)
		out2 = parse_hex(hex2, &outlen2);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (uid >= 0 && (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid))) {
		perror("cnraw: dropping privileges");
		return 2;
	}
	fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_CONNECTOR_UNIT);
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local))) {
		perror("cnraw: socket");
		return 2;
	}
	for (i = 0; i < (size_t)ngroups; i++) {
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
			       sizeof(groups[i]))) {
			fprintf(stderr, "cnraw: join group %d: %s\n", groups[i], strerror(errno));
			return 2;
		}
		fprintf(stderr, "joined group=%d\n", groups[i]);
	}
	if (sendto(fd, out, outlen, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		perror("cnraw: send");
		return 2;
	}
	fprintf(stderr, "sent len=%zu\n", outlen);
	if (out2) {
		receive_for(fd, between_ms);
		if (unshare(CLONE_NEWUSER)) {
			perror("cnraw: unshare(CLONE_NEWUSER)");
			return 2;
		}
		fprintf(stderr, "unshared\n");
		if (sendto(fd, out2, outlen2, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
			perror("cnraw: send");
			return 2;
		}
		fprintf(stderr, "sent2 len=%zu\n", outlen2);
	}
	receive_for(fd, listen_ms);
	close(fd);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of fprobe.rs: what the kernel crate does not bind of <linux/fprobe.h> (the structure)
 * and of <linux/ftrace_regs.h> and <asm/syscall.h> (static inlines and macros that read the
 * registers). Rust owns the logic; this file only allocates, registers, forwards the two handlers
 * with the Rust context and the entry data, reads registers, and names the system call entries.
 *
 * Without CONFIG_FPROBE, and under CONFIG_PREEMPT_RT (the handlers run with preemption disabled,
 * where the sleeping spinlocks of sending a message are not allowed), every registration fails
 * with -EOPNOTSUPP.
 */

#include <linux/fprobe.h>
#include <linux/ftrace_regs.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <asm/syscall.h>

/* A handler of fprobe.rs: (its context, the call's entry data, the registers). */
typedef int (*cn_fprobe_fn)(const void *ctx, void *data, struct ftrace_regs *regs);

/*
 * @cookie: unique per registration (random), written at the head of each call's entry data.
 * fprobe finds the probe of a call's exit by the address saved at its entry, so a call still in
 * flight when its probe was unregistered would reach a new probe allocated at the same address;
 * its data (another size, another note) is then told apart by the cookie and skipped.
 */
struct cn_fprobe {
	struct fprobe fp;
	cn_fprobe_fn entry;
	cn_fprobe_fn exit;
	const void *ctx;
	u64 cookie;
};

struct cn_fprobe *cn_fprobe_register(const char *symbol, cn_fprobe_fn entry, cn_fprobe_fn exit,
				     const void *ctx, size_t data_size, int *err);
void cn_fprobe_unregister(struct cn_fprobe *p);
unsigned long cn_fprobe_nmissed(const struct cn_fprobe *p);
unsigned long cn_fregs_arg(struct ftrace_regs *regs, unsigned int n);
unsigned long cn_fregs_return_value(struct ftrace_regs *regs);
void cn_fregs_syscall_args(struct ftrace_regs *regs, unsigned long args[6]);
const char *const *cn_syscall_symbols(unsigned int nr);

#if defined(CONFIG_FPROBE) && !defined(CONFIG_PREEMPT_RT)

static int cn_entry(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
		    struct ftrace_regs *regs, void *data)
{
	struct cn_fprobe *p = container_of(fp, struct cn_fprobe, fp);

	*(u64 *)data = p->cookie;
	return p->entry(p->ctx, (u64 *)data + 1, regs);
}

static void cn_exit(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
		    struct ftrace_regs *regs, void *data)
{
	struct cn_fprobe *p = container_of(fp, struct cn_fprobe, fp);

	if (data && *(u64 *)data == p->cookie)
		p->exit(p->ctx, (u64 *)data + 1, regs);
}

/*
 * Allocates and registers an fprobe on @symbol whose handlers call @entry and @exit with @ctx and
 * @data_size bytes of entry data per call (kept, after the cookie, on the calling task's own return
 * stack, so one task's calls cannot use up another's). Returns it, or NULL with the errno in *@err.
 */
struct cn_fprobe *cn_fprobe_register(const char *symbol, cn_fprobe_fn entry, cn_fprobe_fn exit,
				     const void *ctx, size_t data_size, int *err)
{
	struct cn_fprobe *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->fp.entry_handler = cn_entry;
	p->fp.exit_handler = cn_exit;
	p->fp.entry_data_size = sizeof(u64) + data_size;
	/* Random: a counter would start over at the module's next load. */
	p->cookie = get_random_u64();
	p->entry = entry;
	p->exit = exit;
	p->ctx = ctx;
	*err = register_fprobe_syms(&p->fp, &symbol, 1);
	if (*err) {
		kfree(p);
		return NULL;
	}
	return p;
}

/*
 * Unregisters and frees @p: when this returns, no handler of it runs any more, and none will.
 * Sleeps (an RCU grace period).
 */
void cn_fprobe_unregister(struct cn_fprobe *p)
{
	unregister_fprobe(&p->fp);
	kfree(p);
}

/* The calls that ran without the handlers (no room on the task's return stack, mostly). */
unsigned long cn_fprobe_nmissed(const struct cn_fprobe *p)
{
	return READ_ONCE(p->fp.nmissed);
}

#else /* !CONFIG_FPROBE || CONFIG_PREEMPT_RT */

struct cn_fprobe *cn_fprobe_register(const char *symbol, cn_fprobe_fn entry, cn_fprobe_fn exit,
				     const void *ctx, size_t data_size, int *err)
{
	*err = -EOPNOTSUPP;
	return NULL;
}

void cn_fprobe_unregister(struct cn_fprobe *p)
{
}

unsigned long cn_fprobe_nmissed(const struct cn_fprobe *p)
{
	return 0;
}

#endif

/* The @n-th (0-based) argument of the probed function, at its entry. */
unsigned long cn_fregs_arg(struct ftrace_regs *regs, unsigned int n)
{
	return ftrace_regs_get_argument(regs, n);
}

/* The return value register of the probed function, at its exit. */
unsigned long cn_fregs_return_value(struct ftrace_regs *regs)
{
	return ftrace_regs_get_return_value(regs);
}

/*
 * The six arguments of a system call, at the entry of one of its symbols (cn_syscall_symbols()):
 * through the user registers that an arch's syscall wrapper gets (compat calls included), else
 * from the entry's own arguments.
 */
void cn_fregs_syscall_args(struct ftrace_regs *regs, unsigned long args[6])
{
#ifdef CONFIG_ARCH_HAS_SYSCALL_WRAPPER
	syscall_get_arguments(current, (struct pt_regs *)ftrace_regs_get_argument(regs, 0), args);
#else
	unsigned int i;

	for (i = 0; i < 6; i++)
		args[i] = ftrace_regs_get_argument(regs, i);
#endif
}

/*
 * The entries of the system calls that cn_proc_example probes: the native one, then those of the
 * compat ABIs that the kernel has (NULL where it has none), CN_SYSCALL_ABIS in all.
 */
#define CN_SYSCALL_ABIS 3
#if defined(CONFIG_X86_64)
/* __ia32_sys_setsid is an alias of __x64_sys_setsid (no arguments): one probe serves both. */
static const char *const cn_setsid_symbols[CN_SYSCALL_ABIS] = { "__x64_sys_setsid" };
static const char *const cn_ptrace_symbols[CN_SYSCALL_ABIS] = {
	"__x64_sys_ptrace", IS_ENABLED(CONFIG_IA32_EMULATION) ? "__ia32_compat_sys_ptrace" : NULL,
	IS_ENABLED(CONFIG_X86_X32_ABI) ? "__x64_compat_sys_ptrace" : NULL };
#elif defined(CONFIG_ARM64)
static const char *const cn_setsid_symbols[CN_SYSCALL_ABIS] = { "__arm64_sys_setsid" };
static const char *const cn_ptrace_symbols[CN_SYSCALL_ABIS] = {
	"__arm64_sys_ptrace", IS_ENABLED(CONFIG_COMPAT) ? "__arm64_compat_sys_ptrace" : NULL };
#else
static const char *const cn_setsid_symbols[CN_SYSCALL_ABIS] = { "sys_setsid" };
static const char *const cn_ptrace_symbols[CN_SYSCALL_ABIS] = { "sys_ptrace" };
#endif

/* The CN_SYSCALL_ABIS entry symbols of system call @nr (0: setsid, 1: ptrace), NULL for none. */
const char *const *cn_syscall_symbols(unsigned int nr)
{
	return nr ? cn_ptrace_symbols : cn_setsid_symbols;
}

//! Turning errno values into words.

use std::ffi::CStr;
use std::io;

/// What the program was doing when an error happened; selects the
/// explanation printed for some errno values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// socket(PF_NETLINK, SOCK_DGRAM, NETLINK_CONNECTOR)
    Socket,
    /// bind() to a port id (automatic, or the benchmark's)
    Bind,
    /// NETLINK_ADD_MEMBERSHIP for a group
    Join(u32),
    /// sendto() the kernel
    Send,
    /// recv() / poll()
    Recv,
    /// setgroups/setgid/setuid for --as-uid
    Creds,
    /// /proc/thread-self/fail-nth or make-it-fail
    FaultInjection,
    /// finit_module / delete_module
    Module,
    /// sched_getaffinity / sched_setaffinity (bench threads)
    Affinity,
}

impl Ctx {
    fn describe(self) -> String {
        match self {
            Ctx::Socket => "creating the NETLINK_CONNECTOR socket".into(),
            Ctx::Bind => "binding the netlink socket".into(),
            Ctx::Join(g) => format!("joining connector group {g}"),
            Ctx::Send => "sending to the kernel".into(),
            Ctx::Recv => "receiving".into(),
            Ctx::Creds => "dropping privileges (--as-uid)".into(),
            Ctx::FaultInjection => "fault injection".into(),
            Ctx::Module => "loading or unloading a module".into(),
            Ctx::Affinity => "pinning a thread to a CPU".into(),
        }
    }
}

/// The symbolic name of an errno value, if known.
pub fn errno_name(e: i32) -> Option<&'static str> {
    use libc::*;
    Some(match e {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ENOSPC => "ENOSPC",
        EPIPE => "EPIPE",
        ERANGE => "ERANGE",
        ENOSYS => "ENOSYS",
        ENOMSG => "ENOMSG",
        ENODATA => "ENODATA",
        ETIME => "ETIME",
        EPROTO => "EPROTO",
        EBADMSG => "EBADMSG",
        EOVERFLOW => "EOVERFLOW",
        ENOTSOCK => "ENOTSOCK",
        EDESTADDRREQ => "EDESTADDRREQ",
        EMSGSIZE => "EMSGSIZE",
        EPROTOTYPE => "EPROTOTYPE",
        ENOPROTOOPT => "ENOPROTOOPT",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        EOPNOTSUPP => "EOPNOTSUPP",
        EAFNOSUPPORT => "EAFNOSUPPORT",
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ENETDOWN => "ENETDOWN",
        ECONNRESET => "ECONNRESET",
        ENOBUFS => "ENOBUFS",
        ENOTCONN => "ENOTCONN",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
        EALREADY => "EALREADY",
        EINPROGRESS => "EINPROGRESS",
        // kernel-internal values that sometimes leak to userspace
        512 => "ERESTARTSYS",
        524 => "ENOTSUPP",
        _ => return None,
    })
}

/// The C library's text for an errno value.
pub fn strerror(e: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated string that
    // stays valid until the next strerror call; it is copied at once and
    // this program is single-threaded.
    unsafe {
        let p = libc::strerror(e);
        if p.is_null() {
            format!("error {e}")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// The line printed for an errno value met while doing `ctx`.
pub fn describe_errno(e: i32, ctx: Ctx) -> String {
    match e {
        libc::EPERM => match ctx {
            Ctx::Join(g) => format!(
                "EPERM: permission denied (joining connector group {g} needs CAP_NET_ADMIN; \
                 only the proc group 1 is open to everyone)"
            ),
            other => format!("EPERM: permission denied ({})", other.describe()),
        },
        libc::ENOBUFS => "ENOBUFS: receive buffer overrun, messages were lost".into(),
        libc::ESRCH => "ESRCH: no listener".into(),
        libc::ECONNREFUSED => "ECONNREFUSED: no connector in the kernel (load connector.ko)".into(),
        libc::EPROTONOSUPPORT if ctx == Ctx::Socket => {
            "EPROTONOSUPPORT: the kernel has no NETLINK_CONNECTOR socket \
             (load connector.ko)"
                .into()
        }
        _ => match errno_name(e) {
            Some(name) => format!("{name}: {} ({})", strerror(e), ctx.describe()),
            None => format!("errno {e}: {} ({})", strerror(e), ctx.describe()),
        },
    }
}

/// An error that ends the program with exit code 2.
#[derive(Debug)]
pub struct Fatal(pub String);

impl Fatal {
    pub fn io(e: &io::Error, ctx: Ctx) -> Fatal {
        match e.raw_os_error() {
            Some(n) => Fatal(describe_errno(n, ctx)),
            None => Fatal(format!("{e} ({})", ctx.describe())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_messages() {
        assert_eq!(
            describe_errno(libc::EPERM, Ctx::Join(5)),
            "EPERM: permission denied (joining connector group 5 needs CAP_NET_ADMIN; \
             only the proc group 1 is open to everyone)"
        );
        assert_eq!(
            describe_errno(libc::ENOBUFS, Ctx::Recv),
            "ENOBUFS: receive buffer overrun, messages were lost"
        );
        assert_eq!(describe_errno(libc::ESRCH, Ctx::Send), "ESRCH: no listener");
        assert_eq!(
            describe_errno(libc::ECONNREFUSED, Ctx::Send),
            "ECONNREFUSED: no connector in the kernel (load connector.ko)"
        );
        assert_eq!(
            describe_errno(libc::EPROTONOSUPPORT, Ctx::Socket),
            "EPROTONOSUPPORT: the kernel has no NETLINK_CONNECTOR socket (load connector.ko)"
        );
    }

    #[test]
    fn generic_messages() {
        let s = describe_errno(libc::EINVAL, Ctx::Join(0));
        assert!(s.starts_with("EINVAL: Invalid argument"), "{s}");
        assert!(s.contains("group 0"), "{s}");
        assert!(describe_errno(9999, Ctx::Send).starts_with("errno 9999: "));
        assert_eq!(errno_name(libc::ENODEV), Some("ENODEV"));
    }
}

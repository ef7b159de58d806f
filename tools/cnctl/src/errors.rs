//! Turning errno values into words.

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

/// The inode of the initial network namespace: fixed since Linux 7.3 (`NET_NS_INIT_INO` of
/// include/uapi/linux/nsfs.h, `PROC_NET_INIT_INO` of proc_ns.h), so that a process can tell
/// whether it is in it from its own /proc/self/ns/net, also in a pid namespace (where pid 1 is
/// the container's init, not the system's).
pub const NET_NS_INIT_INO: u64 = 0xEFFF_FFF9;

/// The network namespace of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetNs {
    /// The initial network namespace.
    Initial,
    /// Another one: its inode (`net:[inode]`).
    Other(u64),
    /// Not known: /proc/self/ns/net is not readable (no /proc).
    Unknown,
}

impl NetNs {
    /// The namespace of the inode `inode` of a `net:[inode]` link.
    pub fn of_inode(inode: u64) -> NetNs {
        if inode == NET_NS_INIT_INO {
            NetNs::Initial
        } else {
            NetNs::Other(inode)
        }
    }

    /// Reads the link /proc/self/ns/net.
    pub fn of_this_process() -> NetNs {
        std::fs::read_link("/proc/self/ns/net")
            .ok()
            .and_then(|link| parse_ns_link(&link.to_string_lossy()))
            .map_or(NetNs::Unknown, NetNs::of_inode)
    }
}

/// The inode of a namespace link's target, `net:[4026531840]`.
pub fn parse_ns_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// How to load the connector.
const LOAD_CONNECTOR: &str = "modprobe connector, or insmod connector.ko";

/// Which connector serves which network namespaces.
const PER_NAMESPACE: &str = "the in-tree connector (cn.ko) has a socket in the initial network \
                             namespace only, connector.ko one in every namespace";

/// What to add to the error `e` met while doing `ctx`: its likely cause. `netns` is asked only
/// when the namespace matters (the kernel refused a send: it has no connector socket for us).
pub fn hint(e: i32, ctx: Ctx, netns: impl FnOnce() -> NetNs) -> Option<String> {
    Some(match (e, ctx) {
        (libc::EPERM, Ctx::Join(_)) => {
            "needs CAP_NET_ADMIN; only the process events group 1 is open to everyone".into()
        }
        (libc::ENOBUFS, Ctx::Recv) => "receive buffer overrun, messages were lost".into(),
        (libc::ESRCH, _) => "no listener".into(),
        (libc::EPROTONOSUPPORT, Ctx::Socket) => {
            format!("the connector is not loaded: {LOAD_CONNECTOR}")
        }
        // The socket opened, but the kernel has no connector socket in this network
        // namespace to take the send: the in-tree connector has one in the initial one only.
        (libc::ECONNREFUSED, Ctx::Send) => match netns() {
            NetNs::Initial => {
                format!("the connector is not loaded or was unloaded: {LOAD_CONNECTOR}")
            }
            NetNs::Other(inode) => format!(
                "no connector socket in this network namespace, net:[{inode}]: {PER_NAMESPACE}"
            ),
            NetNs::Unknown => format!(
                "no connector socket in this network namespace (/proc/self/ns/net is not \
                 readable): {PER_NAMESPACE}, after {LOAD_CONNECTOR}"
            ),
        },
        _ => return None,
    })
}

/// The words for an errno value met while doing `ctx`, with the hint given the network
/// namespace `netns`: `NAME: what was done: the system's text[; hint]`.
pub fn describe_errno_in(e: i32, ctx: Ctx, netns: impl FnOnce() -> NetNs) -> String {
    let name = errno_name(e).map_or_else(|| format!("errno {e}"), String::from);
    let text = io::Error::from_raw_os_error(e);
    match hint(e, ctx, netns) {
        Some(h) => format!("{name}: {}: {text}; {h}", ctx.describe()),
        None => format!("{name}: {}: {text}", ctx.describe()),
    }
}

/// The words for an errno value met while doing `ctx` (see [`describe_errno_in`]).
pub fn describe_errno(e: i32, ctx: Ctx) -> String {
    describe_errno_in(e, ctx, NetNs::of_this_process)
}

/// An error that ends the program with exit code 2.
#[derive(Debug)]
pub struct Fatal(pub String);

impl Fatal {
    pub fn io(e: &io::Error, ctx: Ctx) -> Fatal {
        match e.raw_os_error() {
            Some(n) => Fatal(describe_errno(n, ctx)),
            None => Fatal(format!("{}: {e}", ctx.describe())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_initial() -> NetNs {
        NetNs::Initial
    }

    #[test]
    fn special_messages() {
        assert_eq!(
            describe_errno_in(libc::EPERM, Ctx::Join(5), in_initial),
            "EPERM: joining connector group 5: Operation not permitted (os error 1); \
             needs CAP_NET_ADMIN; only the process events group 1 is open to everyone"
        );
        assert_eq!(
            describe_errno_in(libc::ENOBUFS, Ctx::Recv, in_initial),
            "ENOBUFS: receiving: No buffer space available (os error 105); \
             receive buffer overrun, messages were lost"
        );
        assert_eq!(
            describe_errno_in(libc::ESRCH, Ctx::Send, in_initial),
            "ESRCH: sending to the kernel: No such process (os error 3); no listener"
        );
        assert_eq!(
            describe_errno_in(libc::EPROTONOSUPPORT, Ctx::Socket, in_initial),
            "EPROTONOSUPPORT: creating the NETLINK_CONNECTOR socket: Protocol not supported \
             (os error 93); the connector is not loaded: modprobe connector, or insmod \
             connector.ko"
        );
    }

    #[test]
    fn connection_refused_names_the_namespace() {
        let refused = |netns: NetNs| hint(libc::ECONNREFUSED, Ctx::Send, || netns).unwrap();
        assert_eq!(
            refused(NetNs::Initial),
            "the connector is not loaded or was unloaded: modprobe connector, or insmod \
             connector.ko"
        );
        assert_eq!(
            refused(NetNs::Other(4026532288)),
            "no connector socket in this network namespace, net:[4026532288]: the in-tree \
             connector (cn.ko) has a socket in the initial network namespace only, connector.ko \
             one in every namespace"
        );
        assert_eq!(
            refused(NetNs::Unknown),
            "no connector socket in this network namespace (/proc/self/ns/net is not \
             readable): the in-tree connector (cn.ko) has a socket in the initial network \
             namespace only, connector.ko one in every namespace, after modprobe connector, or \
             insmod connector.ko"
        );
        // The namespace is looked at only for a refused send.
        let untouched = || -> NetNs { panic!("namespace looked up") };
        assert_eq!(hint(libc::EINVAL, Ctx::Send, untouched), None);
        assert_eq!(hint(libc::ECONNREFUSED, Ctx::Recv, untouched), None);
        // The hint names the module that exists.
        let load = hint(libc::EPROTONOSUPPORT, Ctx::Socket, untouched).unwrap();
        assert!(load.contains("connector.ko") && !load.contains("connector_core"));
    }

    #[test]
    fn namespace_links() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("net:[]"), None);
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link("net:[12"), None);
        // The initial namespace by its fixed inode (not by comparing with pid 1's, which in a
        // pid namespace is the container's init).
        assert_eq!(NET_NS_INIT_INO, 4026531833);
        assert_eq!(NetNs::of_inode(0xEFFF_FFF9), NetNs::Initial);
        assert_eq!(NetNs::of_inode(4026531840), NetNs::Other(4026531840));
        // This process's own namespace is always readable.
        assert_ne!(NetNs::of_this_process(), NetNs::Unknown);
    }

    #[test]
    fn generic_messages() {
        let s = describe_errno_in(libc::EINVAL, Ctx::Join(0), in_initial);
        assert_eq!(
            s,
            "EINVAL: joining connector group 0: Invalid argument (os error 22)"
        );
        assert!(describe_errno_in(9999, Ctx::Send, in_initial).starts_with("errno 9999: "));
        assert_eq!(errno_name(libc::ENODEV), Some("ENODEV"));
        let f = Fatal::io(&io::Error::other("odd"), Ctx::Recv);
        assert_eq!(f.0, "receiving: odd");
    }
}

//! Ending a receive loop cleanly on SIGINT and SIGTERM.
//!
//! The handler only sets a flag. It is installed without `SA_RESTART`, and both signals stay
//! blocked except while the program waits: for a datagram ([`wait_mask`], given to `ppoll()`),
//! for room to write on stdout or stderr ([`write_all`]: `ppoll()` for `POLLOUT` with the same
//! mask), and during the `write()` itself. A signal that comes at any other moment waits for the
//! next `ppoll()`, which it then ends with EINTR, so that none slips in between a check of the
//! flag and a wait; a write that a reader does not empty (`cnctl proc | sleep 60`) ends too.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Set by the handler.
static STOP: AtomicBool = AtomicBool::new(false);

/// The signal mask to wait with: the program's own, with SIGINT and SIGTERM open.
static WAIT_MASK: OnceLock<libc::sigset_t> = OnceLock::new();

const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Fails with the last OS error if `r` is not 0.
fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The set of SIGINT and SIGTERM.
fn stop_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, made empty by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in STOP_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
    }
    set
}

/// Catches SIGINT and SIGTERM from now on (also when the shell started us with them ignored, as
/// it does for background jobs): they end the receive loop instead of the process.
pub fn catch_stop_signals() -> io::Result<()> {
    // SAFETY: sigaction is plain data; all zero is no flags and an empty mask.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // No SA_RESTART: the wait ends with EINTR.
    action.sa_flags = 0;
    for signal in STOP_SIGNALS {
        // SAFETY: a valid action whose handler only stores to an atomic.
        check(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) })?;
    }
    let block = stop_set();
    // SAFETY: sigset_t is plain data, filled in by pthread_sigmask.
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sets; the program's receive loops run on the main thread.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut previous) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    for signal in STOP_SIGNALS {
        // SAFETY: previous is a valid sigset_t.
        unsafe { libc::sigdelset(&mut previous, signal) };
    }
    // A second call finds the same mask already there.
    let _ = WAIT_MASK.set(previous);
    Ok(())
}

/// The mask for `ppoll()`: `None` (the current one) unless [`catch_stop_signals`] ran.
pub fn wait_mask() -> Option<&'static libc::sigset_t> {
    WAIT_MASK.get()
}

/// Whether SIGINT or SIGTERM came since [`catch_stop_signals`].
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The most [`write_all`] writes with one `write()`: what a pipe with room (`POLLOUT`: a free
/// page) takes without blocking.
const WRITE_CHUNK: usize = libc::PIPE_BUF;

/// The error of [`write_all`] when SIGINT or SIGTERM ended the wait for room.
pub fn stopped_error() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "stopped by a signal")
}

/// Whether `e` is [`stopped_error`].
pub fn is_stopped(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// Waits until `fd` has room to write: without a timeout, with `mask` (SIGINT and SIGTERM open)
/// if given; with `mask` `None`, only looks (timeout 0). Returns whether it has room (or an
/// error to report with a write: POLLERR, POLLHUP); an EINTR is "no".
fn poll_out(fd: RawFd, mask: Option<&libc::sigset_t>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let (timeout, sigmask) = match mask {
        Some(m) => (std::ptr::null(), m as *const libc::sigset_t),
        None => (&zero as *const libc::timespec, std::ptr::null()),
    };
    // SAFETY: pfd, the timeout and the mask are valid for the duration of the call.
    let r = unsafe { libc::ppoll(&mut pfd, 1, timeout, sigmask) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::Interrupted => Ok(false),
            _ => Err(e),
        };
    }
    Ok(r > 0)
}

/// Opens (`how` SIG_UNBLOCK) or closes (SIG_BLOCK) SIGINT and SIGTERM on this thread.
fn set_stop_signals(how: libc::c_int) {
    let set = stop_set();
    // SAFETY: a valid set; a null old set.
    unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
}

/// One `write()` of `bytes` to `fd`; with `open`, SIGINT and SIGTERM are open during it, so
/// that a write that blocks ends with EINTR (or the count written so far) on either.
fn write_once(fd: RawFd, bytes: &[u8], open: bool) -> io::Result<usize> {
    if open {
        set_stop_signals(libc::SIG_UNBLOCK);
    }
    // SAFETY: the buffer is valid for bytes.len() bytes.
    let r = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    // (Saved before pthread_sigmask, which may change errno.)
    let result = if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    };
    if open {
        set_stop_signals(libc::SIG_BLOCK);
    }
    result
}

/// Writes all of `bytes` to `fd` (stdout or stderr).
///
/// Before [`catch_stop_signals`]: a plain loop of `write()`s. After it, SIGINT and SIGTERM end
/// a write that waits for room: the flag is checked with both signals blocked; then `ppoll()`
/// waits for `POLLOUT` with them open (no signal is lost in between), and the `write()` of at
/// most [`WRITE_CHUNK`] bytes runs with them open too (a signal during a write that blocks after
/// all, e.g. with another writer on the pipe, ends it with EINTR). Once a stop was asked, the
/// rest is written only as long as `fd` has room at once (so that the last notes on stderr get
/// out when they can), else the error is [`stopped_error`] (part of `bytes` may be written).
pub fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    let mask = wait_mask();
    while !bytes.is_empty() {
        let stopping = mask.is_some() && stop_requested();
        let chunk = match mask {
            None => bytes,
            Some(_) => &bytes[..bytes.len().min(WRITE_CHUNK)],
        };
        let written = match mask {
            None => write_once(fd, chunk, false),
            Some(_) if stopping => match poll_out(fd, None)? {
                true => write_once(fd, chunk, false),
                false => return Err(stopped_error()),
            },
            Some(m) => match poll_out(fd, Some(m))? {
                // The flag is looked at again at the top.
                false => continue,
                true => write_once(fd, chunk, true),
            },
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            // A signal (looked at again at the top), or a non-blocking fd without room (wait
            // for it with ppoll(), unless stopping).
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && stopping => {
                return Err(stopped_error())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && mask.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// A pipe: (read end, write end).
    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both were just opened and are owned here only.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// Fills the pipe behind `fd` until a write would block, and leaves it blocking.
    fn fill(fd: RawFd) {
        // SAFETY: fcntl on a valid descriptor; write from a valid buffer.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            let buf = [b'x'; 4096];
            while libc::write(fd, buf.as_ptr().cast(), buf.len()) > 0 {}
            libc::fcntl(fd, libc::F_SETFL, flags);
        }
    }

    /// Reads up to 64 KiB from `fd`: makes room in a full pipe.
    fn drain_some(fd: RawFd) {
        let mut buf = vec![0u8; 65536];
        // SAFETY: the buffer is valid for its length.
        assert!(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0);
    }

    /// Sends `signal` (if any) to this thread after `after`; aborts the test program if this
    /// thread has not called the returned sender within 10 s after that (a write that never
    /// ends). The caller must not end before the signal came.
    fn signal_me(signal: Option<libc::c_int>, after: Duration) -> mpsc::Sender<()> {
        // SAFETY: plain call.
        let me = unsafe { libc::pthread_self() };
        let (done, wait) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            if let Some(signal) = signal {
                // SAFETY: `me` is alive: it waits for this signal.
                unsafe { libc::pthread_kill(me, signal) };
            }
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(Duration::from_secs(10))
            {
                eprintln!("write_all did not end within 10 s");
                std::process::abort();
            }
        });
        done
    }

    /// All in one test: the flag is the program's, set once for good.
    #[test]
    fn a_stop_signal_ends_a_write_to_a_full_pipe() {
        let (read, write) = pipe();
        let fd = write.as_raw_fd();
        // Before the signals are caught: a plain write.
        write_all(fd, b"plain\n").unwrap();
        drain_some(read.as_raw_fd());
        catch_stop_signals().unwrap();
        assert!(!stop_requested());
        // Room: written at once.
        write_all(fd, &[b'a'; 10_000]).unwrap();
        drain_some(read.as_raw_fd());
        // A full pipe that nobody reads, SIGTERM while write_all waits: it ends.
        fill(fd);
        let start = Instant::now();
        let done = signal_me(Some(libc::SIGTERM), Duration::from_millis(200));
        let e = write_all(fd, &[b'b'; 100_000]).unwrap_err();
        let _ = done.send(());
        assert!(is_stopped(&e), "{e}");
        assert!(stop_requested());
        assert!(start.elapsed() >= Duration::from_millis(200));
        // Once stopped: written only while there is room, without waiting.
        let e = write_all(fd, b"more\n").unwrap_err();
        assert!(is_stopped(&e), "{e}");
        drain_some(read.as_raw_fd());
        write_all(fd, b"last note\n").unwrap();
        // A closed read end: EPIPE (SIGPIPE is ignored by Rust programs).
        drop(read);
        let e = write_all(fd, b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
        // A signal that came while both were blocked is pending, not lost: it ends the wait.
        STOP.store(false, Ordering::Relaxed);
        let (read, write) = pipe();
        fill(write.as_raw_fd());
        // SAFETY: plain calls; the signal is blocked on this thread, so it stays pending.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGINT) };
        assert!(!stop_requested());
        let done = signal_me(None, Duration::ZERO);
        let e = write_all(write.as_raw_fd(), &[b'c'; 5000]).unwrap_err();
        let _ = done.send(());
        assert!(is_stopped(&e), "{e}");
        drop(read);
    }
}

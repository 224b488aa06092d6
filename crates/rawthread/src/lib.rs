//! Threads for a process that was forked from a multi-threaded parent (a container monitor
//! forked by the engine library inside a threaded program: a test harness, later the API
//! daemon).
//!
//! After such a fork only the forking thread exists, but every lock another thread held at that
//! moment stays held forever. glibc re-initialises its own locks in the child (malloc, stdio,
//! the loader's), Rust's std does not: `std::thread::spawn` takes a process-global mutex (the
//! stack-overflow guard registry) that a parent thread may have held while starting or ending,
//! and the child then hangs in its first spawn. These threads are plain `pthread_create`
//! threads and touch no global lock of std's.

use std::any::Any;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Stack size when the caller does not care: enough for the engine's helpers.
pub const DEFAULT_STACK: usize = 256 << 10;

/// What a thread returned, or its panic.
pub type Result<T> = std::result::Result<T, Box<dyn Any + Send>>;

struct Packet<F, T> {
    f: Option<F>,
    result: Option<Result<T>>,
}

/// An owned thread; [`JoinHandle::join`] waits for it. Dropping the handle detaches it.
pub struct JoinHandle<T> {
    tid: libc::pthread_t,
    /// Type-erased `Box<Packet<F, T>>`, shared with the thread until it ends.
    packet: *mut u8,
    take: fn(*mut u8) -> Option<Result<T>>,
    free: fn(*mut u8),
    joined: bool,
}

// SAFETY: the packet is only touched by the thread (until it ends) and then by the joiner.
unsafe impl<T: Send> Send for JoinHandle<T> {}

/// Starts `f` on a new thread with a `stack`-byte stack.
pub fn spawn<F, T>(stack: usize, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    extern "C" fn start<F: FnOnce() -> T, T>(p: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `p` is the packet spawn leaked for this thread; the joiner reads it only
        // after pthread_join, so this thread has it alone now.
        let packet = unsafe { &mut *(p as *mut Packet<F, T>) };
        if let Some(f) = packet.f.take() {
            packet.result = Some(catch_unwind(AssertUnwindSafe(f)));
        }
        std::ptr::null_mut()
    }
    fn take<F, T>(p: *mut u8) -> Option<Result<T>> {
        // SAFETY: called after the thread ended, on the packet spawn made.
        unsafe { (*(p as *mut Packet<F, T>)).result.take() }
    }
    fn free<F, T>(p: *mut u8) {
        // SAFETY: called once, after the thread ended, on the packet spawn leaked.
        drop(unsafe { Box::from_raw(p as *mut Packet<F, T>) });
    }

    let packet = Box::into_raw(Box::new(Packet::<F, T> {
        f: Some(f),
        result: None,
    }));
    // SAFETY: standard pthread attribute use; the packet outlives the thread (freed by join,
    // or leaked when the handle is dropped while the thread may still run).
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, stack.max(libc::PTHREAD_STACK_MIN));
        let mut tid: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut tid, &attr, start::<F, T>, packet as *mut libc::c_void);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            drop(Box::from_raw(packet));
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(JoinHandle {
            tid,
            packet: packet as *mut u8,
            take: take::<F, T>,
            free: free::<F, T>,
            joined: false,
        })
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread; `Err` carries its panic.
    pub fn join(mut self) -> Result<T> {
        // SAFETY: a thread we created and neither joined nor detached yet.
        unsafe { libc::pthread_join(self.tid, std::ptr::null_mut()) };
        self.joined = true;
        let r = (self.take)(self.packet);
        (self.free)(self.packet);
        r.unwrap_or_else(|| Err(Box::new("thread ended without a result")))
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if !self.joined {
            // SAFETY: a thread we created and did not join. Its packet is leaked: it may
            // still be running.
            unsafe { libc::pthread_detach(self.tid) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_and_the_panic() {
        let v = [1, 2, 3];
        assert_eq!(
            spawn(DEFAULT_STACK, move || v.iter().sum::<i32>())
                .unwrap()
                .join()
                .unwrap(),
            6
        );
        let e = spawn(DEFAULT_STACK, || -> () { panic!("boom") })
            .unwrap()
            .join()
            .unwrap_err();
        assert_eq!(e.downcast_ref::<&str>(), Some(&"boom"));
    }

    /// The reason for this crate: a child forked while another thread holds std's spawn-time
    /// lock can still start threads. Many parent threads start and end around the fork.
    #[test]
    fn spawns_in_a_child_forked_from_a_busy_threaded_parent() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn: Vec<_> = (0..8)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = std::thread::spawn(|| {}).join();
                    }
                })
            })
            .collect();
        for _ in 0..500 {
            // SAFETY: the child only starts and joins a raw thread, then _exits.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let ok = spawn(DEFAULT_STACK, || 7).ok().and_then(|t| t.join().ok()) == Some(7);
                // SAFETY: leave the child without running the parent's exit code.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                // SAFETY: waiting for our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    // SAFETY: our own hung child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    panic!("a forked child hung starting a thread");
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in churn {
            t.join().unwrap();
        }
    }
}

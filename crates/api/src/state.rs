//! What the server keeps between requests: nothing of the containers (the engine's store
//! has them), only live things of this process: open connections (for the idle timeout),
//! attaches waiting for their container's start, exec instances, monitors it forked.

use crate::error::{ApiError, ApiResult};
use engine::{AttachOptions, Attachment, Engine, EngineOptions};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Notify};

/// An attach that came before its container's start (`docker run` attaches first, then
/// starts): the start hands it the stream set up before the process runs, so no output is
/// lost.
pub struct PendingAttach {
    pub opts: AttachOptions,
    pub tx: oneshot::Sender<engine::Result<Attachment>>,
}

pub struct State {
    pub engine_opts: EngineOptions,
    pub insecure_registries: Vec<String>,
    /// Open connections and hijacked streams.
    pub active: AtomicUsize,
    pub activity: Notify,
    pub pending_attach: Mutex<HashMap<String, Vec<PendingAttach>>>,
    pub execs: Mutex<HashMap<String, Arc<crate::execs::ExecEntry>>>,
    /// Pids of container monitors this process forked (its children until they exit).
    pub monitors: Mutex<HashSet<i32>>,
    /// Engines of the latest creates, each making its container's network namespace in the
    /// background (`create_to_start`, as the CLI's `run`), taken by the start that follows.
    /// At most [`PREPARED`]; an old one dropped unstarted just loses the head start.
    pub prepared: Mutex<std::collections::VecDeque<(String, Engine)>>,
}

pub const PREPARED: usize = 32;

/// Counts as an open connection while alive.
pub struct Busy(Arc<State>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Idle now: the heap a burst of requests grew goes back to the system.
            // SAFETY: malloc_trim only releases free memory of the allocator.
            unsafe { libc::malloc_trim(0) };
        }
        self.0.activity.notify_one();
    }
}

impl State {
    pub fn new(engine_opts: EngineOptions, insecure_registries: Vec<String>) -> State {
        State {
            engine_opts,
            insecure_registries,
            active: AtomicUsize::new(0),
            activity: Notify::new(),
            pending_attach: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            monitors: Mutex::new(HashSet::new()),
            prepared: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    pub fn busy(self: &Arc<Self>) -> Busy {
        self.active.fetch_add(1, Ordering::SeqCst);
        self.activity.notify_one();
        Busy(self.clone())
    }

    /// Keeps the engine that created `id` for its start.
    pub fn keep_prepared(&self, id: &str, eng: Engine) {
        let mut p = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() >= PREPARED {
            p.pop_front();
        }
        p.push_back((id.to_string(), eng));
    }

    /// The engine that created `id`, if kept, else a fresh one.
    pub fn engine_for_start(&self, id: &str) -> ApiResult<Engine> {
        let mut p = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        match p.iter().position(|(i, _)| i == id) {
            Some(n) => Ok(p.remove(n).map(|x| x.1).expect("position in range")),
            None => {
                drop(p);
                self.engine()
            }
        }
    }

    /// An engine handle (cheap: no lock, no cache worth sharing across requests).
    pub fn engine(&self) -> ApiResult<Engine> {
        Ok(Engine::open(self.engine_opts.clone())?)
    }

    /// Remembers the monitor of a container this process just started, to reap it.
    pub fn started(&self, eng: &Engine, id: &str) {
        if let Some(pid) = eng.monitor_pid(id) {
            self.monitors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pid);
            // It may have exited already (its SIGCHLD came before we knew it).
            crate::reaper::sweep(self);
        }
    }
}

/// Runs an engine call on the blocking pool.
pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    F: FnOnce() -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))?
}

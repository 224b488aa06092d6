//! The container's load average without a sampling thread: the kernel samples its runnable
//! tasks every 5 s; a per-container sampler would wake every idle monitor as often. Instead the
//! averages advance lazily, at read time, over the elapsed interval, with the rate at which
//! the container's threads were runnable over that interval ((CPU time + time waiting for a
//! CPU) / wall time, i.e. the average number of its threads running or waiting to run) as the
//! interval's load: the same exponential decays (1, 5, 15 minutes) as the kernel's. The first
//! read starts from the average since the container started. (Threads in uninterruptible
//! sleep, which the kernel also counts, are not; the wait time of threads that exited is lost.)

/// Averages and the sample they were last advanced to.
#[derive(Debug, Clone, Default)]
pub struct LoadAvg {
    /// CLOCK_BOOTTIME ns and the container's CPU ns at the last advance (None: never).
    last: Option<(u64, u64)>,
    pub avg: [f64; 3],
}

const PERIODS: [f64; 3] = [60.0, 300.0, 900.0];

impl LoadAvg {
    /// Advances to `now_ns` with the container's total CPU time `cpu_ns`; `start_ns` is its
    /// start (the baseline of a first read).
    pub fn advance(&mut self, start_ns: u64, now_ns: u64, cpu_ns: u64) -> [f64; 3] {
        let (t0, c0) = self.last.unwrap_or((start_ns, 0));
        if now_ns <= t0 {
            return self.avg;
        }
        let dt = (now_ns - t0) as f64 / 1e9;
        let load = cpu_ns.saturating_sub(c0) as f64 / 1e9 / dt;
        for (a, p) in self.avg.iter_mut().zip(PERIODS) {
            let e = (-dt / p).exp();
            *a = *a * e + load * (1.0 - e);
        }
        self.last = Some((now_ns, cpu_ns));
        self.avg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_the_running_load_and_decays() {
        let s = 1_000_000_000u64;
        let mut l = LoadAvg::default();
        // One CPU busy for 10 minutes since the start.
        let a = l.advance(0, 600 * s, 600 * s);
        assert!(a[0] > 0.99 && a[1] > 0.8 && a[2] < a[1], "{a:?}");
        // Then idle for 5 minutes: the 1-minute average decays fastest.
        let b = l.advance(0, 900 * s, 600 * s);
        assert!(
            b[0] < 0.01 && b[1] < a[1] && b[2] < a[2] && b[2] > b[1],
            "{b:?}"
        );
        // Two busy CPUs for a minute.
        let c = l.advance(0, 960 * s, 720 * s);
        assert!(c[0] > 1.2 && c[0] < 2.0, "{c:?}");
    }
}

//! The per-container monitor.

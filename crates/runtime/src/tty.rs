//! Console: a pty whose master is sent over `--console-socket` (SCM_RIGHTS). (in progress)

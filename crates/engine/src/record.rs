//! Container records on disk: `<root>/containers/<id>/config.v2.json` (Docker's shape).

/// A container's persistent record.
#[derive(Debug, Clone, Default)]
pub struct Record {}

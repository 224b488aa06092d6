//! OCI runtime spec generation from image config + HostConfig with Docker's defaults.

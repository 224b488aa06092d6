//! Docker-style generated names (adjective_surname).

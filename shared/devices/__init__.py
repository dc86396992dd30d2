"""Device and connection data: client IP, user-agent parsing, the security log and its retention."""

"""Samples through the sandbox: jobs out, outputs judged on the host, rows back (local, Docker, Ray)."""

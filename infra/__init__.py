"""Development infrastructure: real Redis and S3 (SeaweedFS) servers for tests and local runs."""

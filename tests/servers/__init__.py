"""Real IMAP servers the test suite (and the benchmarks) start on 127.0.0.1."""

"""Shared test helpers: real loopback servers, a daemon process, waiting with a deadline."""

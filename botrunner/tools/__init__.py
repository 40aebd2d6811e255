"""Operator tools: demo, load test, status, preflight checks, local process runs."""

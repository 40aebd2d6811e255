"""Intake: the fenced poll lease, the poller, and the script that makes a batch durable in the lanes."""

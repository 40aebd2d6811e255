"""Sender: outgoing Bot API calls through the cluster-wide flood limiter and the outbox journal."""

"""Lanes: Redis streams leased to one worker each, read into per-chat FIFO queues."""

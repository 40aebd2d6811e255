"""Processing: run a lane entry's handler, then complete it (marker + XACK) or dead-letter it."""

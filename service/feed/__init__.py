"""The change feed: reading it in order, filtering it by portfolio node, waiting on it."""

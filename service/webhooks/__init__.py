"""Webhook receiver: verify, persist once in the inbox, acknowledge; a worker applies the inbox."""

"""Outbound subscriptions: the change feed pushed as signed Standard Webhooks deliveries."""

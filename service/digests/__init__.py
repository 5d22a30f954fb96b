"""Stakeholder digests: what moved in a scope since a point in time, and their schedules."""

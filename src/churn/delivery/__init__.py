"""Shipping the model: package, release plan, serve, predict, smoke test.

May import every layer below it."""

"""The HTTP API under /api: the same service calls as the WebSocket ops, the same events."""

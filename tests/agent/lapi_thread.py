"""The agent tests' in-thread LAPI and port helper (one implementation, in test_push_support)."""

from test_push_support import ThreadServer, free_port

__all__ = ["ThreadServer", "free_port"]

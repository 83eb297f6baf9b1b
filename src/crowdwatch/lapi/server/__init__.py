"""HTTP server of the Local API (aiohttp)."""

from crowdwatch.lapi.server.app import build_app, serve, split_listen

__all__ = ["build_app", "serve", "split_listen"]

"""Hub directories, item resolution, pipeline building and hub tests (HUB.md)."""

from crowdwatch.hub.index import Hub, HubError, HubItem

__all__ = ["Hub", "HubError", "HubItem"]

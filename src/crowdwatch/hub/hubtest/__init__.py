"""Hub functional tests: replay a test directory, evaluate its asserts (HUB.md §7)."""

from crowdwatch.hub.hubtest.config import TestConfig, load_test_config
from crowdwatch.hub.hubtest.replay import DEFAULT_NOW, FORMAT, Replay, ResultRecorder, replay

__all__ = ["DEFAULT_NOW", "FORMAT", "Replay", "ResultRecorder", "TestConfig", "load_test_config", "replay"]

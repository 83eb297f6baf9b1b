"""Parser pipeline: node trees, stages, statics, stash and whitelists (ENGINE.md §4, §8)."""

from crowdwatch.parser.errors import ParserLoadError
from crowdwatch.parser.loader import LoadContext, ParserFile
from crowdwatch.parser.pipeline import NodeStats, ParseRecorder, ParserPipeline

__all__ = ["LoadContext", "NodeStats", "ParseRecorder", "ParserFile", "ParserLoadError", "ParserPipeline"]

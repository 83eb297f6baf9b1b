"""crowdwatch: collaborative intrusion prevention (CrowdSec-compatible)."""

__version__ = "0.1.0"

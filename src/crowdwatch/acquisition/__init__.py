"""Reading log lines from data sources (ENGINE.md §3)."""

"""The `crowdwatch` command line."""

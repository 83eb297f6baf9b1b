"""Clients of the Local API (agents and ``cscli``-style admin commands)."""

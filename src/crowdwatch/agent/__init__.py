"""The live agent: acquisition → detection → durable alert queue → LAPI (see docs/AGENT.md)."""

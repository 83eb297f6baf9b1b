"""Prometheus metrics of the agent and the LAPI, and the ``/metrics`` endpoint.

* :mod:`crowdwatch.metrics.agent`: a collector reading the agent's plain counters (sources,
  parsers, scenarios, alert queue) at scrape time;
* :mod:`crowdwatch.metrics.lapi`: request counts and latency per LAPI route (an aiohttp
  middleware), active decisions and bouncers' last pull;
* :mod:`crowdwatch.metrics.server`: registries built from the ``prometheus`` config section
  and the HTTP endpoint serving them;
* :mod:`crowdwatch.metrics.scrape`: reads an endpoint back into tables (``crowdwatch metrics``).

docs/METRICS.md lists every metric and what it counts. Importing this package is cheap:
``prometheus_client`` is loaded by the submodules only.
"""

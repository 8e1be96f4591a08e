"""Rebuild, export and dead-letter tools over the event log (`python -m projections.replay`).

- `rebuild`: replay a projection's topic through the worker's own handler into fresh
  collections and switch reads to them with an alias document (`rebuild.py`);
- `export`: a topic range as JSON Lines or Parquet for analysis (`export.py`);
- `dlq list` / `dlq redrive`: inspect dead letters and send them back, once (`dlq.py`).
"""

from __future__ import annotations

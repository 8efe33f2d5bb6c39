"""A local StarRocks stand-in: the MySQL-protocol query port, Stream Load and the transaction API.

It answers the way StarRocks 3.x does (statuses, messages, field order, redirects), stores tables in
DuckDB, and can inject StarRocks' failure modes (:class:`Faults`), so the sink can be tested without a
StarRocks cluster. Start one with :class:`StandIn` (tests) or ``cdc-assets starrocks-standin`` (:func:`main`).
"""

from cdc_assets.standin.faults import Faults
from cdc_assets.standin.server import StandIn, main

__all__ = ["Faults", "StandIn", "main"]

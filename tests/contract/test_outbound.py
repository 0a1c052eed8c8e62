"""Every registered outbound adapter passes the outbound contract suite (one class each)."""

from adapters import registry
from tests.contract.outbound import outbound_contract

for _adapter in registry.OUTBOUND.values():
    _suite = outbound_contract(_adapter)
    globals()[_suite.__name__] = _suite

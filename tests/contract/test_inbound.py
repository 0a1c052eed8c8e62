"""Every registered inbound adapter passes the inbound contract suite (one class each)."""

from adapters import registry
from tests.contract.inbound import inbound_contract

for _adapter in registry.INBOUND.values():
    _suite = inbound_contract(_adapter)
    globals()[_suite.__name__] = _suite

"""Every inbound adapter passes the inbound contract suite."""

from adapters import compact, merlin
from tests.contract.inbound import inbound_contract

TestMerlin = inbound_contract(merlin.ADAPTER)
TestCompact = inbound_contract(compact.ADAPTER)

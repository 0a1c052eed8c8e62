"""Every outbound adapter passes the outbound contract suite."""

from adapters import fwi, mosaic, protocol
from tests.contract.outbound import outbound_contract

TestMosaic = outbound_contract(mosaic.ADAPTER)
TestFwi = outbound_contract(fwi.ADAPTER)
TestProtocol = outbound_contract(protocol.ADAPTER)

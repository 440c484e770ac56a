"""Stand-ins for the two outside worlds, each speaking the real protocol on loopback.

Nothing here imports the product: the simulators are written from XAPI's and Slack's
documented behaviour, so that tests against them prove something about the product.
"""

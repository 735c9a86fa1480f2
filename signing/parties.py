"""Party codes that signing itself must know: who the gateway is when it signs.

Agency codes come from ``trust.yaml`` (and the gateway's agency directory); only the gateway's
own code is fixed, because both specs name it as the sender of every gateway document.
"""

GATEWAY_PARTY = "GD-GBA-GW"

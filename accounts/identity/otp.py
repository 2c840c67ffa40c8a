"""What a refused authenticator code was: wrong, or right but spent already.

django-otp accepts each 30-second step of a TOTP device once (sign-in, then each decision):
a code typed twice within the same step is refused like a wrong one. People then doubt
their phone's clock; telling them the code was spent, and to wait for the next, is kinder
and tells an attacker nothing (the code is of no use any more).
"""

from __future__ import annotations

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def code_was_spent(device: TOTPDevice, token: str, *, now: float | None = None) -> bool:
    """True when `token` is the device's code of a step it has accepted already: the
    code was right, but used before (at sign-in or for another decision)."""
    try:
        value = int(str(token).strip())
    except ValueError:
        return False
    if device.last_t < 0:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if now is None else now
    current = totp.t()
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = device.drift + offset
        if current + offset <= device.last_t and totp.token() == value:
            return True
    return False


SPENT_MESSAGE = (
    "That code was used already (to sign in, or for another decision): each code counts "
    "once. Wait for the next code your authenticator app shows, then enter it."
)

"""Poort's own human check: the browser solves a small proof-of-work puzzle. No third party.

The form carries a challenge that Poort signed and that holds everything needed to check it::

    <nonce: 32 hex digits>.<issued at: Unix seconds>.<difficulty: bits>.<HMAC-SHA-256: hex>

``static/pow.js`` finds a counter (decimal digits) such that
``SHA-256(challenge + ":" + counter)`` starts with at least *difficulty* zero bits, and puts it
in ``pow_solution``. ``verify`` checks the signature, the age (at most ten minutes, and not
from the future beyond a minute of clock skew), the work, and that the nonce was not used
before; the last uses the limit counters, so it holds across workers with Redis or the
database alike.

Every extra bit doubles the expected work. To change the difficulty, subclass and register the
subclass under a name of your own, then set ``human_check`` to that name::

    class HarderProofOfWork(ProofOfWork):
        name = "pow_hard"
        difficulty = 20

    # pyproject.toml of your distribution
    [project.entry-points."idp.human_checks"]
    pow_hard = "mypackage.checks:HarderProofOfWork"
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from flask import url_for
from flask_babel import gettext
from markupsafe import Markup

from idp import state
from idp.abuse.store import Window
from idp.security.derived_keys import keyed_hash

_CHALLENGE = re.compile(r"([0-9a-f]{32})\.([0-9]{1,12})\.([0-9]{1,3})\.([0-9a-f]{64})")
_SOLUTION = re.compile(r"[0-9]{1,20}")
_MARKUP = Markup(
    """<div class="human-check" data-human-check="pow">
  <input type="hidden" name="pow_challenge" value="{challenge}">
  <input type="hidden" name="pow_solution" value="">
  <p class="human-check-note">{note}</p>
  <p class="human-check-status" role="status" aria-live="polite" data-busy="{busy}" \
data-failed="{failed}"></p>
  <noscript><p class="human-check-note">{noscript}</p></noscript>
  <script src="{script}" defer></script>
</div>
"""
)


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits *digest* starts with."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


class ProofOfWork:
    """A signed puzzle that costs a browser a moment and a script sending in bulk a lot."""

    name = "pow"
    title = "Proof of work in the browser (no third party)"
    #: Leading zero bits of SHA-256 the browser must find: about 2**difficulty hashes.
    difficulty = 16
    #: How long a challenge may be solved and sent back, in seconds.
    max_age = 600
    #: How far a challenge may seem to come from the future (clock skew between workers).
    max_skew = 60
    _purpose = "human-check/pow"

    def challenge(self) -> str:
        """A new signed challenge: random nonce, issued-at, difficulty, signature."""
        issued = int(state.current().clock().timestamp())
        payload = f"{secrets.token_hex(16)}.{issued}.{self.difficulty}"
        return f"{payload}.{keyed_hash(self._purpose, payload)}"

    def render(self) -> Markup:
        return _MARKUP.format(
            challenge=self.challenge(),
            script=url_for("static", filename="pow.js"),
            note=gettext(
                "Your browser solves a small puzzle before we send a code. "
                "This takes a few seconds."
            ),
            noscript=gettext(
                "This step needs JavaScript. Without it, wait an hour and ask for a code again, "
                "or sign in another way."
            ),
            # pow.js shows these while it works and when it fails (no text of its own).
            busy=gettext("Checking your browser\u2026"),
            failed=gettext("Your browser could not solve the puzzle."),
        )

    def verify(self, form: Mapping[str, str]) -> bool:
        try:
            challenge = form.get("pow_challenge")
            solution = form.get("pow_solution")
        except Exception:  # noqa: BLE001 - a malformed form is a failed check, not a fault
            return False
        if not isinstance(challenge, str) or not isinstance(solution, str):
            return False
        parsed = _CHALLENGE.fullmatch(challenge)
        if parsed is None or _SOLUTION.fullmatch(solution) is None:
            return False
        nonce, issued_text, bits_text, signature = parsed.groups()
        payload = f"{nonce}.{issued_text}.{bits_text}"
        if not hmac.compare_digest(signature, keyed_hash(self._purpose, payload)):
            return False
        issued, bits = int(issued_text), int(bits_text)
        now = state.current().clock()
        age = now.timestamp() - issued
        if age > self.max_age or age < -self.max_skew:
            return False
        if bits < self.difficulty or bits > 256:
            return False
        digest = hashlib.sha256(f"{challenge}:{solution}".encode()).digest()
        if leading_zero_bits(digest) < bits:
            return False
        # Remember the nonce for longer than the challenge could still be accepted.
        window = Window(f"pow:{nonce}", 1, self.max_age + self.max_skew + 240)
        return state.current().counters.take([window], now) is None

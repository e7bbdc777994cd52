"""docs/security.md states the proof of work's difficulty; it must be the code's."""

from __future__ import annotations

import re
from pathlib import Path

from idp.abuse.pow import ProofOfWork

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_documented_zero_bits_and_hashes_are_the_codes_difficulty():
    text = " ".join(SECURITY_MD.read_text(encoding="utf-8").split())
    match = re.search(r"(\d+) zero bits \(`ProofOfWork.difficulty`\): about ([\d,]+) hashes", text)

    assert match, "docs/security.md no longer states the proof of work's difficulty"
    bits, hashes = int(match.group(1)), int(match.group(2).replace(",", ""))
    assert bits == ProofOfWork.difficulty
    # "about": the expected work, 2**bits, rounded to two significant figures.
    assert abs(hashes - 2**bits) <= 2**bits * 0.01

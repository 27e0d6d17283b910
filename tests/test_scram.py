"""SCRAM verifiers: libpq computes them, and our unchanged-password check agrees with libpq.

libpq applies SASLprep (RFC 4013) to non-ASCII passwords, or hashes the raw
bytes when SASLprep refuses them; ``scram.matches`` must land on the same bytes
for every password, or a second bootstrap would rotate an unchanged password.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bootstrap.errors import UsageError
from bootstrap.postgres import scram

# Whole Unicode, minus control characters (check_password refuses those) and surrogates.
PASSWORDS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=24)


@settings(max_examples=300, deadline=None)
@given(password=PASSWORDS)
@example("plain-ascii-Pw1")
@example("Pässwörd")  # SASLprep: NFKC keeps it, bytes differ from Latin-1
@example("ﬁ\u00a0x")  # ligature -> "fi", NBSP -> space
@example("a\u00adb")  # soft hyphen: mapped to nothing
@example("\u0627\u0644\u0639")  # right-to-left only: allowed
@example("a\u0627")  # mixes RandALCat and LCat: prohibited, raw bytes used
@example("\u2028x")  # line separator (category Zl): prohibited output
@example("\U0001f600")  # unassigned in Unicode 3.2: prohibited, raw bytes used
def test_matches_agrees_with_libpq(password: str) -> None:
    stored = scram.verifier(password, "bo1_app")
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert scram.matches(stored, password)
    assert not scram.matches(stored, password + "x")


def test_each_verifier_has_its_own_salt() -> None:
    assert scram.verifier("same", "bo1_app") != scram.verifier("same", "bo1_app")


@pytest.mark.parametrize(
    "stored", [None, "", "md5abc", "SCRAM-SHA-256$bad", "SCRAM-SHA-256$4096:!!$x:y"]
)
def test_what_is_no_verifier_never_matches(stored: str | None) -> None:
    assert not scram.matches(stored, "anything")


@pytest.mark.parametrize("password", ["", "line\nbreak", "tab\there", "nul\x00"])
def test_empty_and_control_characters_are_refused(password: str) -> None:
    with pytest.raises(UsageError) as raised:
        scram.check_password(password, "BO1_X")
    assert "BO1_X" in raised.value.message
    assert password.strip() == "" or password not in raised.value.message

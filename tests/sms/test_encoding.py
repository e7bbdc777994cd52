"""Segments: GSM 03.38 with its extension table, UCS-2 otherwise; 160/153 and 70/67 per segment."""

from __future__ import annotations

import pytest

from idp.sms.encoding import GSM7, UCS2, is_gsm7, segments


def test_plain_ascii_text_is_gsm7():
    info = segments("Your Poort login code is 123456.")

    assert (info.encoding, info.units, info.count) == (GSM7, 32, 1)


@pytest.mark.parametrize(
    "ch", list("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà")
)
def test_every_basic_table_character_is_one_septet(ch):
    info = segments(ch * 10)

    assert (info.encoding, info.units) == (GSM7, 10)


@pytest.mark.parametrize("ch", list("^{}\\[~]|€\f"))
def test_extension_table_characters_count_two_septets(ch):
    info = segments("a" + ch)

    assert (info.encoding, info.units, info.count) == (GSM7, 3, 1)


def test_160_septets_fit_one_sms_and_161_need_two():
    assert segments("a" * 160).count == 1
    assert segments("a" * 161).count == 2


def test_extension_characters_count_against_the_160_limit():
    assert segments("a" * 158 + "€").count == 1  # 160 septets
    assert segments("a" * 159 + "€").count == 2  # 161 septets


@pytest.mark.parametrize(
    ("length", "count"),
    [(161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (153 * 10, 10), (153 * 10 + 1, 11)],
)
def test_multipart_gsm7_holds_153_septets_per_part(length, count):
    assert segments("x" * length).count == count


def test_an_escape_pair_is_never_split_across_parts():
    # 152 septets, then a two-septet € would take septets 153 and 154: it moves to part two.
    text = "a" * 152 + "€" + "b" * 152
    info = segments(text)

    assert info.units == 306  # two full parts of 153 by count alone ...
    assert info.count == 3  # ... but the € cannot straddle parts, so part two overflows


def test_an_escape_pair_that_ends_exactly_on_the_boundary_stays():
    text = "a" * 151 + "€" + "b" * 153  # 153 | 153
    assert segments(text).count == 2


def test_ucs2_70_units_fit_one_sms_and_71_need_two():
    info = segments("ж" * 70)

    assert (info.encoding, info.units, info.count) == (UCS2, 70, 1)
    assert segments("ж" * 71).count == 2


@pytest.mark.parametrize(("length", "count"), [(71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_multipart_ucs2_holds_67_units_per_part(length, count):
    assert segments("ж" * length).count == count


def test_emoji_are_surrogate_pairs_of_two_units():
    info = segments("🙂" * 35)

    assert (info.encoding, info.units, info.count) == (UCS2, 70, 1)
    assert segments("🙂" * 35 + "a").count == 2


def test_an_emoji_is_never_split_across_parts():
    # 66 units, then an emoji would take units 67 and 68: it moves to part two.
    text = "ж" * 66 + "🙂" + "ж" * 66
    info = segments(text)

    assert info.units == 134  # two parts of 67 by count alone ...
    assert info.count == 3  # ... but the surrogate pair cannot straddle parts


def test_one_non_gsm_character_switches_the_whole_text_to_ucs2():
    text = "a" * 100 + "ж"
    info = segments(text)

    assert not is_gsm7(text)
    assert (info.encoding, info.units, info.count) == (UCS2, 101, 2)


def test_characters_that_look_like_gsm_but_are_not():
    # Lower-case ç, curly quotes and the ellipsis are not in GSM 03.38: the text becomes UCS-2.
    for ch in "ç\u2019\u201c…":
        assert segments("code " + ch).encoding == UCS2, ch


def test_empty_text_is_one_segment():
    assert segments("").count == 1

"""Build and check the translation catalogues (English and Dutch).

    python -m tools.i18n todo nl     # messages in the code that have no Dutch text yet
    python -m tools.i18n build       # write translations/<lang>/LC_MESSAGES/messages.po and .mo
    python -m tools.i18n check       # what tests/test_i18n.py asserts: complete and compiled

Translations are kept in ``translations/parts/<area>.<lang>.po`` (one file per part of the
product, so several people can translate at once); ``build`` extracts every message from the
code and templates (see babel.cfg) and fills the catalogues from those parts. English needs no
text of its own: its catalogue lists every message with an empty translation, which means
"as written in the code".
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
PARTS = TRANSLATIONS / "parts"
LANGUAGES = ("en", "nl")
#: Languages whose every message needs a text of its own.
TRANSLATED = ("nl",)


def extract() -> Catalog:
    """Every message marked for translation in the code and templates."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    catalog = Catalog(project="Poort", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords={
            "_": None,
            "gettext": None,
            "ngettext": (1, 2),
            "lazy_gettext": None,
            "_l": None,
            "lazy_ngettext": (1, 2),
        },
        strip_comment_tags=True,
    ):
        if filename.startswith(("tests/", "tools/", "examples/", "bench/")):
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _read(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as handle:
        return read_po(handle, locale=locale)


def part_texts(language: str) -> dict[object, object]:
    """msgid -> msgstr from every part file of *language*."""
    texts: dict[object, object] = {}
    for path in sorted(PARTS.glob(f"*.{language}.po")):
        for message in _read(path, language):
            if (
                message.id
                and message.string
                and (not isinstance(message.string, tuple) or all(message.string))
            ):
                texts[message.id] = message.string
    return texts


def build_catalog(template: Catalog, language: str) -> Catalog:
    texts = part_texts(language) if language in TRANSLATED else {}
    catalog = Catalog(locale=language, project="Poort", charset="utf-8")
    for message in template:
        if not message.id:
            continue
        catalog.add(
            message.id,
            texts.get(message.id),
            message.locations,
            auto_comments=message.auto_comments,
            context=message.context,
        )
    return catalog


def _paths(language: str) -> tuple[Path, Path]:
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    return folder / "messages.po", folder / "messages.mo"


def _po_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    # No file or line references: the catalogue changes only when the messages do.
    write_po(
        buffer,
        catalog,
        omit_header=True,
        sort_output=True,
        include_previous=False,
        no_location=True,
    )
    return buffer.getvalue()


#: The date in the header of every .mo file. Babel stamps a catalogue read from a .po without
#: a header with the current time; a fixed date keeps the built .mo equal to a fresh one.
_MO_DATE = datetime(2000, 1, 1, tzinfo=UTC)


def _mo_bytes(catalog: Catalog) -> bytes:
    catalog.creation_date = catalog.revision_date = _MO_DATE
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def build() -> None:
    template = extract()
    for language in LANGUAGES:
        catalog = build_catalog(template, language)
        po, mo = _paths(language)
        po.parent.mkdir(parents=True, exist_ok=True)
        po.write_bytes(_po_bytes(catalog))
        mo.write_bytes(_mo_bytes(_read(po, language)))
        print(f"{language}: {len(catalog)} messages -> {po.relative_to(ROOT)}")


def missing(language: str, template: Catalog | None = None) -> list[object]:
    """Messages of the code that *language*'s part files do not translate."""
    template = template or extract()
    texts = part_texts(language)
    return [m.id for m in template if m.id and m.id not in texts]


def messages(catalog: Catalog) -> dict[tuple[object, object], object]:
    """(context, id) -> translation, for every translated message.

    This is what a catalogue means, whatever tool wrote its bytes. An empty translation means
    "as written in the code"; a .mo file leaves such messages out, so they are left out here too.
    """

    def plain(value: object) -> object:
        # a plural is a tuple when read from a .po file and a list when read from a .mo file
        return tuple(value) if isinstance(value, list | tuple) else value

    found = {}
    for m in catalog:
        key, text = (m.context, plain(m.id)), plain(m.string)
        if m.id and text and text != key[1] and (not isinstance(text, tuple) or any(text)):
            found[key] = text
    return found


def _read_mo(path: Path) -> Catalog:
    with open(path, "rb") as handle:
        return read_mo(handle)


def problems(template: Catalog | None = None) -> list[str]:
    """Everything that makes the catalogues incomplete or stale; empty when all is well."""
    template = template or extract()
    found: list[str] = []
    for language in LANGUAGES:
        po, mo = _paths(language)
        if not po.is_file() or not mo.is_file():
            found.append(f"{language}: catalogue missing; run python -m tools.i18n build")
            continue
        # Compared as parsed messages, not bytes: another Babel release may write the same
        # catalogue differently (header, ordering), and that must not turn a fresh clone red.
        written = _read(po, language)
        if messages(written) != messages(build_catalog(template, language)):
            found.append(
                f"{language}: {po.relative_to(ROOT)} is stale; run python -m tools.i18n build"
            )
        if messages(_read_mo(mo)) != messages(written):
            found.append(
                f"{language}: {mo.relative_to(ROOT)} is stale; run python -m tools.i18n build"
            )
        if language in TRANSLATED:
            for message_id in missing(language, template):
                found.append(f"{language}: no translation for {message_id!r}")
    return found


def _show(items: Iterable[object]) -> int:
    count = 0
    for item in items:
        print(item)
        count += 1
    return count


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "build":
        build()
        return 0
    if command == "todo":
        language = argv[1] if len(argv) > 1 else "nl"
        _show(f"msgid {message_id!r}" for message_id in missing(language))
        return 0
    if command == "check":
        return 1 if _show(problems()) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

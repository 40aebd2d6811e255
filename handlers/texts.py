"""Message catalogs: handlers/locales/<lang>.json, overridable per text by TEXTS_DIR/<lang>.json.

Texts are plain (no parse_mode), so user-supplied names and odd unicode need no escaping.
A missing key in a language falls back to English; a missing English key is a bug and raises.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loguru import logger

BUILTIN = Path(__file__).resolve().parent / "locales"
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


class Texts:
    """Catalogs by language code; `get(lang, key, **values)` formats one text."""

    def __init__(self, overrides_dir: str = "") -> None:
        self.catalogs: dict[str, dict[str, str]] = {}
        for path in sorted(BUILTIN.glob("*.json")):
            self.catalogs[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        if overrides_dir:
            self._load_overrides(Path(overrides_dir))

    def _load_overrides(self, directory: Path) -> None:
        if not directory.is_dir():
            logger.warning("TEXTS_DIR={} is not a directory; using the built-in texts", directory)
            return
        for path in sorted(directory.glob("*.json")):
            overrides = json.loads(path.read_text(encoding="utf-8"))
            unknown = set(overrides) - set(self.catalogs["en"])
            if unknown:
                logger.warning("{}: unknown text keys ignored: {}", path, ", ".join(sorted(unknown)))
            self.catalogs.setdefault(path.stem, {}).update(
                {k: str(v) for k, v in overrides.items() if k not in unknown})
            logger.info("Texts: {} override(s) for '{}' from {}", len(overrides) - len(unknown), path.stem, path)

    @property
    def languages(self) -> list[str]:
        return sorted(self.catalogs)

    def pick(self, code: str) -> str:
        """The catalog for a Telegram language_code such as 'ru' or 'en-US'."""
        short = (code or "").split("-")[0].lower()
        return short if short in self.catalogs else "en"

    def get(self, lang: str, key: str, **values: Any) -> str:
        template = self.catalogs.get(lang, {}).get(key)
        if template is None:
            template = self.catalogs["en"][key]
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            # an operator override with a wrong placeholder must not break the handler
            logger.warning("Text {}/{} does not fit its values; using English", lang, key)
            return self.catalogs["en"][key].format(**values)

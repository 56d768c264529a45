"""Every message a page asks for exists in Chinese and English (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

from server.enums import Role, SiteKind
from server.specimens.rules import DiscrepancyKind
from web.i18n import MESSAGES, t

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates" / "ui"
PYTHON = Path(__file__).resolve().parents[2] / "web"


def _keys() -> set[str]:
    found = set()
    for path in [*TEMPLATES.glob("*.html"), *PYTHON.glob("*.py")]:
        found.update(
            re.findall(r"""\bt\((?:lang, )?['"]([a-z_]+\.[a-z0-9_.]+)['"]""", path.read_text())
        )
        found.update(re.findall(r"""NavItem\(["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
    return found


def test_every_message_used_has_both_languages() -> None:
    used = _keys()
    used |= {f"role.{role.value}" for role in Role} | {f"disc.{k.value}" for k in DiscrepancyKind}
    used |= {f"error.{status}" for status in (400, 401, 403, 404, 409, 413, 422)}
    used |= {f"site.{kind.value}" for kind in SiteKind}
    used |= {"test.biological_indicator", "test.bowie_dick"}
    assert len(used) > 100
    missing = sorted(key for key in used if key not in MESSAGES)
    assert missing == []
    for key in used:
        zh, en = MESSAGES[key]
        assert (zh and en and zh != en) or key in {"dispatch.pickups"}, key


def test_parameters_are_filled_in_and_unknown_keys_show_themselves() -> None:
    assert t("zh", "cssd.released", load="ST1-1") == "批次 ST1-1 已放行"
    assert t("en", "cssd.released", load="ST1-1") == "Load ST1-1 released"
    assert t("en", "no.such.key") == "no.such.key"

"""The rules one run enables, each built with its options from the settings."""

from __future__ import annotations

from gradlint.check.rule import Rule
from gradlint.core.settings import Settings
from gradlint.rules import ALL_RULES


def enabled_rules(settings: Settings, include_disabled: bool = False) -> list[Rule]:
    """The rules ``settings`` enables (every rule with ``include_disabled``), each with its options."""
    return [rule(settings.rule_options.get(rule.code)) for rule in ALL_RULES
            if include_disabled or settings.enabled(rule.code)]

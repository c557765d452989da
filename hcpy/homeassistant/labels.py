"""Readable names: of an entity, and of the programs a select offers. Pure."""

from __future__ import annotations

import json
import re
from collections import Counter

from ..appliance.model import Feature
from ..appliance.state import ApplianceState

# The name of the sensor telling when the program under way ends (no
# feature of the appliance's: hcpy reckons it from the remaining time).
PROGRAM_END = "Program end"


def label(feature: Feature, first: int | None = None) -> str:
    """A readable entity name: "BSH.Common.Status.DoorState" -> "Door state".

    Segments after the kind segment are kept, so that features whose last
    segment is shared ("IDos1.ContentName", "IDos2.ContentName") stay apart.
    `first` (discovery.yaml's EXPAND_NAME) is the index of the first segment
    kept instead: "BSH.Common.Status.Program.All.Count.Started", 4 -> "All count started".
    """
    parts = feature.name.split(".")
    start = next((i + 1 for i, p in enumerate(parts) if p in _KIND_SEGMENTS and i + 1 < len(parts)), len(parts) - 1)
    if first is not None and parts[first:]:
        start = first if first >= 0 else max(0, len(parts) + first)
    words: list[str] = []
    for word in (w for part in parts[start:] for w in _WORD.findall(part)):
        if not words or word.lower() != words[-1].lower():  # "Spin.SpinAbort" -> "Spin abort"
            words.append(word)
    if not words:
        return feature.name
    tail = [w.lower() if re.fullmatch(r"[A-Z][a-z]+", w) else w for w in words[1:]]
    return " ".join([words[0], *tail])


_KIND_SEGMENTS = frozenset({"Status", "Setting", "Event", "Command", "Option", "Program", "Root"})
# Brand words stay whole; then acronyms before a capitalised word, words, acronyms, numbers.
_WORD = re.compile(r"WiFi|IDos|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def program_labels(state: ApplianceState) -> dict[int, str]:
    """Option label per available program: the short name if no other program has it.

    Uniqueness is judged among all programs, as `commands.resolve` judges it,
    so every label resolves back to exactly its program.
    """
    profile = state.profile
    features = [profile.features[uid] for uid in profile.programs if uid in profile.features]
    counts = Counter(f.short_name for f in features)
    labels = {}
    for feature in features:
        # Live: appliances often describe programs as unavailable and enable
        # them by description changes right after connecting.
        limits = state.limits.get(feature.uid)
        available = limits.available if limits is not None else profile.programs[feature.uid].available
        if available:
            labels[feature.uid] = feature.short_name if counts[feature.short_name] == 1 else feature.name
    return labels


def program_value_template(mapping: dict[str, str]) -> str:
    # A Jinja dict literal with JSON-quoted strings is valid Jinja.
    return "{% set labels = " + json.dumps(mapping, ensure_ascii=False) + ' %}{{ labels.get(value, "None") }}'

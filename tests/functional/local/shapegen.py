"""Random parameters for a botocore input shape (the tests of ``local.speedups.botovalidate`` and ``botoserialize``)."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from botocore.utils import is_json_value_header

from orchestrator.local.speedups import botovalidate


class ParamGen:
    """Random parameters for a shape; ``fast`` turns False when they hold what the checker leaves to botocore."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fast = True

    def value(self, shape: Any, depth: int = 0) -> Any:
        if is_json_value_header(shape):
            self.fast = False
            return {"a": 1}
        kind = shape.type_name
        low = botovalidate._min_allowed(shape)
        if kind == "structure":
            if shape.is_document_type:
                self.fast = False
                return {"doc": [1, "x"]}
            members = dict(shape.members)
            if shape.is_tagged_union:
                name = self.rng.choice(sorted(members))
                return {name: self.value(members[name], depth + 1)}
            names = list(shape.metadata.get("required", []))
            if depth < 4:
                names += [n for n in members if n not in names and self.rng.random() < 0.3]
            return {n: self.value(members[n], depth + 1) for n in names}
        if kind == "list":
            n = max(int(low or 0), self.rng.randint(0, 2) if depth < 4 else 0)
            items = [self.value(shape.member, depth + 1) for _ in range(n)]
            return tuple(items) if self.rng.random() < 0.2 else items
        if kind == "map":
            n = self.rng.randint(0, 2) if depth < 4 else 0
            return {self.value(shape.key, depth + 1): self.value(shape.value, depth + 1) for _ in range(n)}
        if kind == "string":
            return "k" * max(int(low or 0), self.rng.randint(1, 4)) + str(self.rng.randint(0, 999))
        if kind in ("integer", "long"):
            return int(low or 0) + self.rng.randint(0, 5)
        if kind in ("float", "double"):
            return self.rng.choice([float(low or 0) + 0.5, Decimal(int(low or 0) + 2), int(low or 0) + 1])
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "blob":
            return self.rng.choice([b"data", bytearray(b"x"), "text"])
        if kind == "timestamp":
            if self.rng.random() < 0.5:
                return datetime(2026, 1, 1, tzinfo=timezone.utc)
            self.fast = False
            return "2026-01-01T00:00:00Z"
        self.fast = False
        return None

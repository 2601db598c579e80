#!/usr/bin/env python3
"""Seeded, fast generator of realistic MXCP audit logs (JSONL) of any size.

    python benches/generate.py OUT.jsonl --size-mb 1024 [--seed 1] [--now 2026-11-27T00:00:00Z]
        [--expired-fraction 0.5] [--mxcp-version 0.12|0.11|mixed] [--expected-out KEPT.jsonl] [--json]

Records look like MXCP's own JSONL audit writer's: 23 keys for MXCP 0.12 (schema_version 2 for
`mxcp.endpoints`, `...Z` timestamps), 22 keys for 0.11 (no `execution_events`, schema_version 1,
`+00:00` timestamps), keys in MXCP's order, Python's default separators, non-ASCII written raw.
`input_data`/`output_data` carry their own `timestamp`/`schema_name` keys, escaped quotes,
backslashes, `\\n` escapes, JSON text inside strings; about every 8 MiB there is a 100 KB - 1.2 MB
line. Schemas: `mxcp.endpoints` (90 days), `app.payments` (365), `app.debug` (7), `app.forever`
(kept forever) and `app.experiments` (not in the registry: no policy, kept). The registry
`<stem>_schemas.jsonl` is written beside the log in MXCP's format.

Timestamps increase with the byte offset, with a little jitter (some records a second or two older
than the one before), over a window ending a few minutes before `now`; traffic grows over time (the
newest days hold more bytes), and the window is chosen so that about `expired_fraction` of the bytes
are past retention as of `now` (with 0.5: ~15 months, some of every finite retention expired). The
generator knows the fate of every record and returns exact counts (`Stats.deleted_per_schema`,
`deleted_bytes`...), and can write the expected compacted output (`expected_out`) as an oracle.

Speed: records are pre-rendered templates (1024 per MXCP version, built once per call); a line is
its template with a fresh record_id and timestamp spliced in, written in 16 MiB buffers. 1 GiB
takes a few seconds. Output is a pure function of the arguments (same seed, same bytes).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_NOW",
    "SCHEMAS",
    "Stats",
    "generate",
    "parse_time",
    "registry_path_for",
    "write_registry",
]

MiB = 1024 * 1024
DAY_US = 86_400_000_000
DEFAULT_NOW = "2026-11-27T00:00:00Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SEGMENT_SUFFIX = re.compile(r"-\d{8}T\d{6}(?:-\d+)?$")

#: Retention of each schema the generator writes: days, None = kept forever (registry `null`),
#: "unmanaged" = not in the registry at all (no policy: kept).
SCHEMAS: dict[str, int | str | None] = {
    "mxcp.endpoints": 90,
    "app.payments": 365,
    "app.debug": 7,
    "app.forever": None,
    "app.experiments": "unmanaged",
}
#: Share of records per schema.
DEFAULT_MIX: dict[str, float] = {
    "mxcp.endpoints": 0.70,
    "app.payments": 0.10,
    "app.debug": 0.12,
    "app.forever": 0.05,
    "app.experiments": 0.03,
}
_POOL = 1024  # templates per MXCP version (a power of two: picked with getrandbits)
_HUGE_EVERY = 8 * MiB
_HUGE_SIZES = (110_000, 180_000, 350_000, 1_200_000)
_END_BEFORE_NOW_US = 5 * 60 * 1_000_000


@dataclass
class Stats:
    """What `generate` wrote; `deleted_*` is exact: what a correct compaction as of `now` deletes."""

    path: str
    registry: str | None
    bytes: int
    lines: int
    deleted_lines: int
    deleted_bytes: int
    deleted_per_schema: dict[str, int]
    lines_per_schema: dict[str, int]
    huge_lines: int
    max_line_bytes: int
    now: str
    first_timestamp: str
    last_timestamp: str
    mxcp_version: str
    seed: int
    seconds: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def kept_bytes(self) -> int:
        return self.bytes - self.deleted_bytes

    @property
    def deleted_fraction(self) -> float:
        return self.deleted_bytes / self.bytes if self.bytes else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_time(value: str | datetime) -> datetime:
    """An ISO timestamp (`Z` allowed) or a date, as an aware UTC datetime; naive means UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        if text[-1:] in "Zz":
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def registry_path_for(log: Path) -> Path:
    """`<stem>_schemas.jsonl` beside `log`, the stem without a segment suffix (as MXCP names it)."""
    stem = _SEGMENT_SUFFIX.sub("", log.name.removesuffix(".jsonl"))
    return log.with_name(stem + "_schemas.jsonl")


# --------------------------------------------------------------------------------------------
# The schema registry


def _registry_fields(with_events: bool) -> list[dict[str, object]]:
    fields = [
        ("operation_type", "string", True, False),
        ("operation_name", "string", True, False),
        ("input_data", "object", True, True),
        ("output_data", "object", False, False),
    ]
    if with_events:
        fields.append(("execution_events", "array", False, False))
    fields += [
        ("error", "string", False, False),
        ("policy_decision", "string", False, False),
        ("policy_reason", "string", False, False),
    ]
    return [{"name": n, "type": t, "required": r, "description": None, "sensitive": s} for n, t, r, s in fields]


def registry_entries(now: datetime) -> list[dict[str, object]]:
    """The registry lines, in file order. `app.payments` v1 is registered twice (180 days, then
    365): a later line replaces an earlier one, so 365 applies."""

    def entry(name: str, version: int, days: int | None, description: str, age_days: float) -> dict:
        created = (now - timedelta(days=age_days)).isoformat()
        return {
            "schema_name": name,
            "version": version,
            "description": description,
            "retention_days": days,
            "evidence_level": "detailed" if name != "app.debug" else "basic",
            "extract_fields": ["operation_type", "operation_name", "operation_status", "policy_decision"],
            "require_signature": name == "app.payments",
            "created_at": created,
            "created_by": "system" if name.startswith("mxcp.") else "billing-service",
            "active": True,
            "indexes": ["operation_type", "operation_name", "timestamp", "user_id"],
            "fields": _registry_fields(with_events=version >= 2 and name == "mxcp.endpoints"),
            "field_redactions": [] if name != "app.payments" else ["input_data.iban"],
        }

    endpoints = "Audit schema for all endpoint executions (tools, resources, prompts)"
    return [
        entry("mxcp.endpoints", 1, 90, endpoints, 700.25),
        entry("app.payments", 1, 180, "Payment operations (PSD2 evidence)", 650.5),
        entry("app.debug", 1, 7, "Verbose debugging traces", 640.75),
        entry("app.forever", 1, None, "Legal hold and consent records: never deleted", 600.125),
        entry("app.payments", 1, 365, "Payment operations (PSD2 evidence)", 420.0),
        entry("mxcp.endpoints", 2, 90, endpoints, 130.5),
        entry("mxcp.endpoints", 2, 90, endpoints, 130.4),
    ]


def write_registry(path: Path, now: datetime) -> Path:
    lines = [json.dumps(e, ensure_ascii=False) for e in registry_entries(now)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _policy(name: str, version: int) -> int | None:
    """Days for (name, version) under the registry above (None: kept)."""
    days = SCHEMAS[name]
    return None if days == "unmanaged" else days  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Record templates

_FIRST = ["Zoë", "José", "Łukasz", "Søren", "Ana", "李", "Мария", "Αλέξης", "Olu", "Chloé", "Jürgen", "أحمد"]
_LAST = ["Müller", "Ñúñez", "Żółć", "O'Brien", "Nakamura", "王", "Иванова", "Παπαδόπουλος", "Dvořák"]
_CITIES = ["Zürich", "São Paulo", "Kraków", "東京都渋谷区", "北京市朝阳区", "Москва", "Reykjavík", "Montréal"]
_TEXTS = [
    'Customer says: "the invoice total is wrong" — please check line 3.\nThanks!',
    "Path: C:\\Users\\zoe\\Documents\\report (final).xlsx\tsize=1.2 MB",
    "Regex used: ^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$",
    "Привет! Заказ №4711 доставлен. Спасибо 🙏",
    "配送状況を確認してください。注文番号: 2026-11-0042 🚚",
    'Nested JSON as text: {"timestamp": "2001-02-03T04:05:06Z", "schema_name": "mxcp.endpoints"}',
    "Line one\nLine two with a tab\there\nand a backslash \\ at the end\\",
    "Emoji mix: 😀🚀✨ and accents: naïve café déjà vu, ß, Ångström",
    'SQL said: ERROR:  syntax error at or near "FROM"\nLINE 1: SELECT , FROM orders\n               ^',
    "مرحبا بكم في خدمة العملاء — تم استلام طلبك",
]
_TOOLS = [
    "get_user",
    "search_orders",
    "execute_sql_query",
    "summarize_document",
    "ingest_event",
    "list_files",
    "send_email",
]
_SQL = [
    "SELECT id, name, email FROM users WHERE name = 'O''Brien' AND city = \"Zürich\"\nORDER BY id LIMIT 50",
    "SELECT date_trunc('day', ts) AS day, count(*) FROM orders\nWHERE path LIKE 'C:\\\\data\\\\%'\nGROUP BY 1",
    "SELECT payload->>'timestamp' AS \"timestamp\", payload->>'schema_name' FROM events WHERE id > 42",
]


def _hex(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 16)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _iso_z(rng: random.Random, year_lo: int = 1999, year_hi: int = 2026) -> str:
    return (
        f"{rng.randint(year_lo, year_hi)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
    )


def _rows(rng: random.Random, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": rng.randint(1, 10**6),
            "name": _name(rng),
            "city": rng.choice(_CITIES),
            "email": f"user{rng.randint(1, 99999)}@example.com",
            "created_at": _iso_z(rng, 2015, 2026),
            "note": rng.choice(_TEXTS) if rng.random() < 0.3 else None,
            "balance": round(rng.uniform(-500, 50_000), 2),
        }
        for _ in range(count)
    ]


def _endpoint_call(rng: random.Random) -> tuple[str, str, dict, object]:
    """(operation_type, operation_name, input_data, output_data) of an `mxcp.endpoints` record."""
    kind = rng.random()
    if kind < 0.12:
        uri = f"customers://{rng.randint(1, 99999)}"
        doc = {"id": uri.rsplit("/", 1)[1], "name": _name(rng), "city": rng.choice(_CITIES)}
        out = {"uri": uri, "mime_type": "application/json", "text": json.dumps(doc, ensure_ascii=False)}
        return "resource", "customers://{id}", {"id": doc["id"]}, out
    if kind < 0.20:
        ticket = rng.choice(_TEXTS) + "\n\n" + rng.choice(_TEXTS)
        out = {"messages": [{"role": "user", "content": {"type": "text", "text": f"Summarise:\n{ticket}"}}]}
        return (
            "prompt",
            "summarize_ticket",
            {"ticket": ticket, "language": rng.choice(["de", "fr", "ja"])},
            out,
        )
    tool = rng.choice(_TOOLS)
    if tool == "get_user":
        email = f"user{rng.randint(1, 99999)}@example.com"
        return "tool", tool, {"email": email}, {"email": email, "name": _name(rng), "roles": ["reader"]}
    if tool == "search_orders":
        orders = [
            {
                "order_id": f"ORD-{rng.randint(10**5, 10**6)}",
                "total": round(rng.uniform(1, 2000), 2),
                "currency": rng.choice(["EUR", "USD", "JPY"]),
                "timestamp": _iso_z(rng, 2024, 2026),
                "items": [{"sku": f"SKU-{rng.randint(1, 999)}", "title": rng.choice(_CITIES)}],
            }
            for _ in range(rng.randint(0, 12))
        ]
        inp = {"customer_id": rng.randint(1, 10**6), "status": "open", "since": _iso_z(rng, 2025, 2026)}
        return "tool", tool, inp, {"orders": orders, "count": len(orders)}
    if tool == "execute_sql_query":
        rows = _rows(rng, rng.choice([0, 1, 3, 8, 20, 40]))
        return "tool", tool, {"sql": rng.choice(_SQL)}, {"rows": rows, "row_count": len(rows)}
    if tool == "summarize_document":
        text = "\n".join(rng.choice(_TEXTS) for _ in range(rng.randint(2, 10)))
        return "tool", tool, {"document": text, "max_words": 120}, {"summary": rng.choice(_TEXTS)}
    if tool == "ingest_event":
        event = {
            "schema_name": rng.choice(["app.events", "mxcp.endpoints"]),
            "timestamp": _iso_z(rng),
            "payload": {"user": _name(rng), "text": rng.choice(_TEXTS)},
        }
        raw = json.dumps({"timestamp": _iso_z(rng), "schema_name": "mxcp.endpoints", "id": rng.randint(1, 99)})
        return (
            "tool",
            tool,
            {"event": event, "raw": raw, "timestamp": "1999-12-31T23:59:59Z"},
            {"accepted": True},
        )
    if tool == "list_files":
        folder = f"C:\\srv\\exports\\{rng.choice(_CITIES)}"
        files = [f"{folder}\\report-{i:03d}.csv" for i in range(rng.randint(1, 15))]
        return "tool", tool, {"folder": folder, "pattern": "*.csv"}, {"files": files}
    to = f"{rng.choice(_FIRST)} <user{rng.randint(1, 9999)}@example.com>"
    body = rng.choice(_TEXTS)
    return (
        "tool",
        tool,
        {"to": to, "subject": rng.choice(_TEXTS)[:40], "body": body},
        {"message_id": _uuid(rng)},
    )


def _app_call(rng: random.Random, schema: str) -> tuple[str, str, dict, object]:
    if schema == "app.payments":
        amount = f"{rng.uniform(1, 5000):.2f}"
        inp = {
            "amount": amount,
            "currency": "EUR",
            "iban": f"DE89 3704 0044 0532 {rng.randint(1000, 9999)} 00",
            "reference": f"Rechnung Nr. 2026/{rng.randint(1, 9999):04d} – {_name(rng)} GmbH",
        }
        out = {
            "payment_id": _uuid(rng),
            "status": rng.choice(["settled", "pending"]),
            "timestamp": _iso_z(rng),
        }
        return "tool", rng.choice(["create_payment", "refund_payment"]), inp, out
    if schema == "app.debug":
        frames = "".join(
            f'  File "C:\\srv\\app\\handlers\\{rng.choice(_TOOLS)}.py", line {rng.randint(1, 900)}, in run\n'
            for _ in range(rng.randint(2, 12))
        )
        inp = {
            "level": "DEBUG",
            "message": f'cache miss for key "user:{rng.randint(1, 999)}"',
            "stack": f"Traceback (most recent call last):\n{frames}KeyError: 'timestamp'",
            "context": {"timestamp": _iso_z(rng), "schema_name": "app.debug", "locals": {"x": rng.random()}},
        }
        return "tool", "debug_trace", inp, None
    if schema == "app.forever":
        inp = {"subject": _name(rng), "consent": rng.random() < 0.8, "text": rng.choice(_TEXTS)}
        return (
            "tool",
            rng.choice(["record_consent", "legal_hold"]),
            inp,
            {"stored": True, "timestamp": _iso_z(rng)},
        )
    inp = {"experiment": f"exp-{rng.randint(1, 40)}", "variant": rng.choice("AB"), "user": _name(rng)}
    return "tool", "assign_variant", inp, {"variant": inp["variant"], "sticky": True}


def _record(rng: random.Random, schema: str, v12: bool, huge_size: int = 0) -> dict[str, object]:
    if huge_size:
        sample = _rows(rng, 300)
        per_row = len(json.dumps(sample, ensure_ascii=False).encode()) / len(sample)
        rows = [sample[i % len(sample)] for i in range(int(huge_size / per_row) + 1)]
        op_type, op_name = "tool", "export_report"
        input_data: dict[str, object] = {"sql": rng.choice(_SQL), "format": "json", "timestamp": _iso_z(rng)}
        output_data: object = {"rows": rows, "row_count": len(rows)}
    elif schema == "mxcp.endpoints":
        op_type, op_name, input_data, output_data = _endpoint_call(rng)
    else:
        op_type, op_name, input_data, output_data = _app_call(rng, schema)
    failed = rng.random() < 0.08
    decision = None if failed else rng.choice(["allow", "allow", "allow", None])
    policies = [f"input[0]: email == '{rng.choice(['ceo', 'cfo'])}@example.com'"] if rng.random() < 0.3 else []
    context: dict[str, object] = {
        "operation_type": op_type,
        "operation_name": op_name,
        "operation_status": "error" if failed else "success",
    }
    if decision is not None:
        context["policy_decision"] = decision
    signed = schema == "app.payments"
    version = (2 if v12 else 1) if schema == "mxcp.endpoints" else 1
    record: dict[str, object] = {
        "schema_name": schema,
        "schema_version": version,
        "record_id": "@@RID@@",
        "timestamp": "@@TS@@",
        "operation_type": op_type,
        "operation_name": op_name,
        "operation_status": "error" if failed else "success",
        "duration_ms": rng.randint(1, 3000),
        "caller_type": rng.choice(["http", "stdio"]),
        "user_id": rng.choice([None, "alice", "Zoë", "svc-reporting", "李雷", "bob@example.com"]),
        "session_id": _uuid(rng) if rng.random() < 0.5 else None,
        "trace_id": _hex(rng, 16) if rng.random() < 0.4 else None,
        "input_data": input_data,
        "output_data": None if failed else output_data,
        "error": 'Policy enforcement failed: Executive records are "restricted"' if failed else None,
        "policies_evaluated": policies,
        "policy_decision": decision,
        "policy_reason": "Executive records are restricted" if failed and policies else None,
        "business_context": context,
    }
    if v12:
        events = []
        if rng.random() < 0.25:
            events = [
                {
                    "event_type": "sql_query",
                    "timestamp": _iso_z(rng, 2026, 2026),
                    "data": {"rows": rng.randint(0, 99)},
                }
            ]
        record["execution_events"] = events
    record["prev_hash"] = _hex(rng, 32) if signed else None
    record["record_hash"] = _hex(rng, 32) if signed else None
    record["signature"] = None
    return record


@dataclass(frozen=True)
class _Template:
    head: bytes  # up to and including `"record_id": "`
    tail: bytes  # from the `"` after the timestamp to the newline
    fixed: int  # line length without the timestamp
    key: str  # "schema_name:schema_version"
    days: int | None


def _template(record: dict[str, object]) -> _Template:
    text = json.dumps(record, ensure_ascii=False)
    before, rest = text.split("@@RID@@")
    between, after = rest.split("@@TS@@")
    assert between == '", "timestamp": "', between
    head, tail = before.encode(), (after + "\n").encode()
    name, version = str(record["schema_name"]), int(record["schema_version"])  # type: ignore[call-overload]
    key = f"{name}:{version}"
    return _Template(head, tail, len(head) + 36 + len(between) + len(tail), key, _policy(name, version))


def _pool(rng: random.Random, mix: Mapping[str, float], v12: bool) -> list[_Template]:
    total = sum(mix.values())
    counts = {name: round(_POOL * share / total) for name, share in mix.items()}
    biggest = max(counts, key=lambda n: counts[n])
    counts[biggest] += _POOL - sum(counts.values())
    pool = [_template(_record(rng, name, v12)) for name, count in counts.items() for _ in range(count)]
    rng.shuffle(pool)
    return pool


# --------------------------------------------------------------------------------------------
# The time window


def _expired_share(pool: list[_Template], span_days: float, end_age_days: float, growth: float) -> float:
    """Byte share past retention for records at byte fraction p aged end_age + span * (1 - p) ** growth."""
    total = sum(t.fixed for t in pool)
    share = 0.0
    for t in pool:
        if t.days is not None:
            # expired when the age is >= days + 1, i.e. (1 - p) ** growth >= x
            x = min(1.0, max(0.0, (t.days + 1 - end_age_days) / span_days))
            share += t.fixed * (1.0 - x ** (1.0 / growth))
    return share / total


def _window(pool: list[_Template], now_us: int, fraction: float, growth: float) -> tuple[int, int]:
    """(start, end) in microseconds so that about `fraction` of the bytes are past retention."""
    end_us = now_us - _END_BEFORE_NOW_US
    end_age = _END_BEFORE_NOW_US / DAY_US
    finite = [t.days for t in pool if t.days is not None]
    reachable = _expired_share(pool, 1e9, end_age, growth)
    if fraction >= 1.0 and reachable > 0.999:
        # everything past retention: a month of records ending a day after the longest retention
        end_us = now_us - (max(finite) + 1) * DAY_US - 3_600_000_000
        return end_us - 30 * DAY_US, end_us
    if fraction <= 0.0 or not finite:
        span = (min(finite) + 1 - end_age) * 0.95 if finite else 30.0
        return end_us - int(span * DAY_US), end_us
    limit = _expired_share(pool, 20_000, end_age, growth)
    if fraction >= limit:
        raise ValueError(
            f"expired_fraction {fraction} is out of reach with this schema mix (at most {limit:.0%}; "
            f"schemas kept forever or without a policy hold {1 - reachable:.0%} of the bytes)"
        )
    lo, hi = 1e-3, 20_000.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _expired_share(pool, mid, end_age, growth) < fraction:
            lo = mid
        else:
            hi = mid
    return end_us - int(hi * DAY_US), end_us


# --------------------------------------------------------------------------------------------
# The writer


@dataclass(frozen=True)
class _Plan:
    """What the writer writes: the templates, where the huge lines and the upgrade to 0.12 fall, and
    the time window."""

    size_bytes: int
    pools: dict[bool, list[_Template]]  # by "MXCP 0.12"
    huge: dict[bool, list[_Template]]  # 4 per version; {} without huge lines
    first_huge: int  # byte offset of the first huge line (1 << 62: none)
    huge_every: int
    v12: bool  # the first records are MXCP 0.12's
    switch_at: int  # byte offset from which "mixed" writes 0.12 records (1 << 62: never)
    start_us: int
    end_us: int
    now_us: int
    growth: float


def generate(
    path: str | Path,
    size_bytes: int,
    *,
    seed: int = 1,
    now: str | datetime = DEFAULT_NOW,
    expired_fraction: float = 0.5,
    mxcp_version: str = "0.12",
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    schema_mix: Mapping[str, float] | None = None,
    registry: bool = True,
    huge_every_bytes: int = _HUGE_EVERY,
    growth: float = 2.0,
    expected_out: str | Path | None = None,
) -> Stats:
    """Write an MXCP JSONL audit log of about `size_bytes` bytes (whole lines) to `path`.

    The time window is `start`..`end` when both are given, else derived from `expired_fraction`.
    Traffic grows over time: the record at byte fraction p is `(1 - p) ** growth` of the window
    old (`growth` 1: uniform). `mxcp_version` "mixed" writes 0.11 records for the first half and
    0.12 after (an upgrade).
    `huge_every_bytes` spaces the 100 KB+ lines (0: none); a file of at least a quarter of it gets
    one. `expected_out` receives the lines a correct compaction as of `now` keeps.
    """
    began = time.perf_counter()
    mix = _checked_mix(mxcp_version, schema_mix)
    path = Path(path)
    now_dt = parse_time(now)
    now_us = _to_us(now_dt)
    rng = random.Random(seed)
    pools, huge, first_huge = _templates(rng, mix, mxcp_version, size_bytes, huge_every_bytes)
    if start is not None and end is not None:
        start_us, end_us = _to_us(parse_time(start)), _to_us(parse_time(end))
    else:
        start_us, end_us = _window(next(iter(pools.values())), now_us, expired_fraction, growth)
    switch_at = size_bytes // 2 if mxcp_version == "mixed" else 1 << 62
    plan = _Plan(
        size_bytes, pools, huge, first_huge, huge_every_bytes, mxcp_version == "0.12", switch_at,
        start_us, end_us, now_us, growth,
    )  # fmt: skip
    tally = _write_log(path, expected_out, plan, rng)
    reg = write_registry(registry_path_for(path), now_dt) if registry else None
    return Stats(
        path=str(path),
        registry=str(reg) if reg else None,
        **tally,
        now=now_dt.isoformat().replace("+00:00", "Z"),
        mxcp_version=mxcp_version,
        seed=seed,
        seconds=round(time.perf_counter() - began, 3),
        extra={"window_start": _from_us(start_us).isoformat(), "window_end": _from_us(end_us).isoformat()},
    )


def _checked_mix(mxcp_version: str, schema_mix: Mapping[str, float] | None) -> dict[str, float]:
    """The schema mix to write (the default one unless given); ValueError on an unknown name."""
    if mxcp_version not in ("0.12", "0.11", "mixed"):
        raise ValueError(f"mxcp_version must be 0.12, 0.11 or mixed, not {mxcp_version!r}")
    mix = dict(schema_mix or DEFAULT_MIX)
    unknown = set(mix) - set(SCHEMAS)
    if unknown:
        raise ValueError(f"unknown schemas in schema_mix: {sorted(unknown)}; known: {sorted(SCHEMAS)}")
    return mix


def _templates(
    rng: random.Random, mix: Mapping[str, float], mxcp_version: str, size_bytes: int, huge_every_bytes: int
) -> tuple[dict[bool, list[_Template]], dict[bool, list[_Template]], int]:
    """The pools of templates and the huge templates, by "MXCP 0.12", and where the first huge line
    falls (1 << 62: no huge lines)."""
    pools = {
        v12: _pool(rng, mix, v12) for v12 in ((True, False) if mxcp_version == "mixed" else (mxcp_version == "0.12",))
    }
    huge_schema = "mxcp.endpoints" if "mxcp.endpoints" in mix else next(iter(mix))
    if not (huge_every_bytes and size_bytes >= huge_every_bytes // 4):
        return pools, {}, 1 << 62
    first_huge = int(min(huge_every_bytes, size_bytes) * rng.uniform(0.1, 0.9))
    sizes = [n for n in _HUGE_SIZES if n <= size_bytes // 8] or [_HUGE_SIZES[0]]
    sizes = (sizes * 4)[:4]  # picked with getrandbits(2)
    huge = {v12: [_template(_record(rng, huge_schema, v12, n)) for n in sizes] for v12 in pools}
    return pools, huge, first_huge


def _write_log(path: Path, expected_out: str | Path | None, plan: _Plan, rng: random.Random) -> dict[str, Any]:
    """The log at `path` and, when `expected_out` is given, the lines a correct compaction keeps there."""
    out = path.open("wb")
    kept_out = Path(expected_out).open("wb") if expected_out is not None else None  # noqa: SIM115
    try:
        return _write_lines(plan, rng, out, kept_out)
    finally:
        out.close()
        if kept_out is not None:
            kept_out.close()


def _write_lines(plan: _Plan, rng: random.Random, out: IO[bytes], kept_out: IO[bytes] | None) -> dict[str, Any]:
    """The lines, written in 16 MiB blocks (the kept ones to `kept_out` too), and their counts."""
    # One loop with its state in locals: it runs once a line, about 800 times a MiB.
    size_bytes, end_us, span_us, now_us, growth = (
        plan.size_bytes, plan.end_us, plan.end_us - plan.start_us, plan.now_us, plan.growth,
    )  # fmt: skip
    huge, huge_every, next_huge, switch_at, v12 = plan.huge, plan.huge_every, plan.first_huge, plan.switch_at, plan.v12
    hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
    dates: dict[int, str] = {}
    lines_per: dict[str, int] = {}
    deleted_per: dict[str, int] = {}
    pos = lines = deleted_lines = deleted_bytes = huge_lines = max_line = 0
    first_ts = ts = ""
    getrandbits, rand = rng.getrandbits, rng.random
    pool, zone = plan.pools[v12], "Z" if v12 else "+00:00"
    parts: list[bytes] = []
    kept_parts: list[bytes] | None = [] if kept_out is not None else None
    buffered = 0
    while pos < size_bytes:
        if pos >= switch_at:
            v12, switch_at = True, 1 << 62
            pool, zone = plan.pools[True], "Z"
        if pos >= next_huge:
            tpl = huge[v12][getrandbits(2)]
            next_huge = pos + int(huge_every * (0.5 + rand()))
            huge_lines += 1
        else:
            tpl = pool[getrandbits(10)]
        left = (size_bytes - pos) / size_bytes
        t_us = end_us - int(span_us * left**growth)
        jitter = rand()
        if jitter < 0.05:  # written a little out of order (batched writers)
            t_us -= int(jitter * 40_000_000)
        sec, us = divmod(t_us, 1_000_000)
        day, sod = divmod(sec, 86_400)
        date = dates.get(day)
        if date is None:
            date = dates[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        if jitter > 0.985:  # MXCP omits a zero fraction
            ts = f"{date}T{hms[sod]}{zone}"
            t_us = sec * 1_000_000
        else:
            ts = f"{date}T{hms[sod]}.{us:06d}{zone}"
        h = f"{getrandbits(128):032x}"
        var = f'{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}", "timestamp": "{ts}'.encode()
        size = tpl.fixed + len(ts)
        parts += (tpl.head, var, tpl.tail)
        key = tpl.key
        lines_per[key] = lines_per.get(key, 0) + 1
        days = tpl.days
        if days is not None and (now_us - t_us) // DAY_US > days:
            deleted_lines += 1
            deleted_bytes += size
            deleted_per[key] = deleted_per.get(key, 0) + 1
        elif kept_parts is not None:
            kept_parts += (tpl.head, var, tpl.tail)
        if size > max_line:
            max_line = size
        if not first_ts:
            first_ts = ts
        pos += size
        lines += 1
        buffered += size
        if buffered >= 16 * MiB:
            _flush(out, parts, kept_out, kept_parts)
            buffered = 0
    _flush(out, parts, kept_out, kept_parts)
    # What the writer wrote, under the names of Stats' fields.
    return {
        "bytes": pos, "lines": lines, "deleted_lines": deleted_lines, "deleted_bytes": deleted_bytes,
        "deleted_per_schema": dict(sorted(deleted_per.items())), "lines_per_schema": dict(sorted(lines_per.items())),
        "huge_lines": huge_lines, "max_line_bytes": max_line, "first_timestamp": first_ts, "last_timestamp": ts,
    }  # fmt: skip


def _flush(out: IO[bytes], parts: list[bytes], kept_out: IO[bytes] | None, kept_parts: list[bytes] | None) -> None:
    out.write(b"".join(parts))
    parts.clear()
    if kept_out is not None and kept_parts is not None:
        kept_out.write(b"".join(kept_parts))
        kept_parts.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="log file to write (its registry is written beside it)")
    parser.add_argument("--size-mb", type=float, required=True, help="size in MiB (whole lines, a little over)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default=DEFAULT_NOW, help=f"retention reference instant (default {DEFAULT_NOW})")
    parser.add_argument("--expired-fraction", type=float, default=0.5, help="share of bytes past retention")
    parser.add_argument("--mxcp-version", choices=["0.12", "0.11", "mixed"], default="0.12")
    parser.add_argument(
        "--schema-mix",
        help="share of records per schema, e.g. mxcp.endpoints=0.9,app.debug=0.1 (default: "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items())
        + ")",
    )
    parser.add_argument("--no-registry", action="store_true", help="do not write <stem>_schemas.jsonl")
    parser.add_argument("--no-huge", action="store_true", help="no 100 KB+ lines")
    parser.add_argument("--expected-out", type=Path, help="also write the lines a correct compaction keeps")
    parser.add_argument("--json", action="store_true", help="print the stats as JSON")
    args = parser.parse_args(argv)
    try:
        mix = None
        if args.schema_mix:
            mix = {k.strip(): float(v) for k, _, v in (item.partition("=") for item in args.schema_mix.split(","))}
        stats = generate(
            args.out,
            int(args.size_mb * MiB),
            seed=args.seed,
            now=args.now,
            expired_fraction=args.expired_fraction,
            mxcp_version=args.mxcp_version,
            registry=not args.no_registry,
            schema_mix=mix,
            huge_every_bytes=0 if args.no_huge else _HUGE_EVERY,
            expected_out=args.expected_out,
        )
    except ValueError as error:
        print(f"generate.py: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(stats.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(
            f"wrote {stats.path}: {stats.bytes / MiB:.1f} MiB, {stats.lines} lines "
            f"(MXCP {stats.mxcp_version}, {stats.huge_lines} lines of 100 KB+), "
            f"{stats.deleted_fraction:.1%} of bytes / {stats.deleted_lines} lines past retention as of "
            f"{stats.now}, in {stats.seconds:.1f} s; registry: {stats.registry}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

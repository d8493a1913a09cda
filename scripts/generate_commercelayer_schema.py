"""Regenerate the Commerce Layer schema bundled with the provider.

Reads the reduced copy of Commerce Layer's published API schema (``gen/resources.json`` of
``commercelayer/commercelayer-sdk``, reduced to list/filter/sort/field facts: per resource type
its actions, fields with type and filterable/sortable/fetchable flags, relationships with
cardinality, related resource and includability, and the documented filter list; its ``meta``
names the source commit and licence) and writes
``airflow_provider_inventory/hooks/_commercelayer_schema.json``, the compact form
``hooks/_commercelayer_schema.py`` loads. The output depends only on the input: rerunning on the
same file gives the same bytes (keys sorted, one resource per line).

The reduced upstream file used for the bundled schema is kept in
``scripts/upstream/commercelayer-schema.json`` (the default input). To move to a newer schema,
replace it with the reduction of a newer ``gen/resources.json`` (its ``meta.source`` naming the
new commit) and rerun.

Usage::

    python scripts/generate_commercelayer_schema.py [path/to/commercelayer-schema.json] [--check]

``--check`` writes nothing and exits 1 when the bundled file differs from what would be written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

UPSTREAM = Path(__file__).resolve().parent / "upstream" / "commercelayer-schema.json"
OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "airflow_provider_inventory"
    / "hooks"
    / "_commercelayer_schema.json"
)
FORMAT = 1
_SOURCE = re.compile(
    r"(?P<repository>\S+/\S+) (?P<path>\S+) at commit (?P<commit>[0-9a-f]{40}) "
    r"\(SDK (?P<sdk>[\w.]+), schema (?P<schema>[\w.]+), (?P<date>\d{4}-\d\d-\d\d)\), "
    r"(?P<licence>[^,]+), (?P<copyright>Copyright .+)$"
)


def source_of(meta: dict[str, Any]) -> dict[str, str]:
    """The origin recorded in the input's ``meta.source``: repository, path, commit, versions,
    licence and copyright line.

    Raises:
        SystemExit: ``meta.source`` does not name a commit in the expected form.
    """
    match = _SOURCE.match(str(meta.get("source", "")))
    if match is None:
        raise SystemExit(
            f"meta.source does not name the repository, commit, versions and licence: "
            f"{meta.get('source')!r}"
        )
    return match.groupdict()


def flags(spec: dict[str, Any], *names: tuple[str, str, bool]) -> str:
    """Letters for the flags of a field or relationship: ``(key, letter, default)`` each; a
    letter is written when the flag differs from its default."""
    return "".join(letter for key, letter, default in names if spec.get(key, default) != default)


def compact_resource(spec: dict[str, Any], singulars: dict[str, str]) -> dict[str, Any]:
    """One resource in the bundled form.

    ``f``: field -> ``"<type>:<flags>"`` (``f`` filterable, ``s`` sortable, ``x`` not
    fetchable); fields starting with ``_`` are update triggers, not data, and are left out.
    ``r``: relationship -> ``"<one|many>:<resource type or empty>:<flags>"`` (``f`` filterable,
    ``x`` not includable); the resource type is empty when the schema names no resource type
    (polymorphic relationships such as ``attachable``). ``p``: the plain filters, i.e. the
    documented filter list without ``q`` and without the names ``filter[q]`` predicates already
    reach (filterable fields, ``<filterable relationship>_id``): ``ids``, ``created_at_from``... ``a``: ``l`` listable, ``r`` retrievable.
    """
    fields = {
        name: f"{field['type']}:"
        + flags(
            field, ("filterable", "f", False), ("sortable", "s", False), ("fetchable", "x", True)
        )
        for name, field in spec["fields"].items()
        if not name.startswith("_")
    }
    relationships = {
        name: ":".join(
            (
                "many" if rel["cardinality"] == "has_many" else "one",
                singulars.get(rel["resource"], ""),
                flags(rel, ("filterable", "f", False), ("includable", "x", True)),
            )
        )
        for name, rel in spec["relationships"].items()
    }
    ransack = {name for name, field in spec["fields"].items() if field.get("filterable")}
    ransack |= {
        f"{name}_id" for name, rel in spec["relationships"].items() if rel.get("filterable")
    }
    actions = spec["actions"]
    return {
        "a": ("l" if "list" in actions else "") + ("r" if "retrieve" in actions else ""),
        "f": fields,
        "p": [name for name in spec["filters"] if name != "q" and name not in ransack],
        "r": relationships,
    }


def generate(upstream: dict[str, Any]) -> str:
    """The bundled file's text for the reduced upstream schema."""
    resources = upstream["resources"]
    singulars = {spec["singular"]: name for name, spec in resources.items()}
    meta = {"format": FORMAT, "resources": len(resources), **source_of(upstream["meta"])}
    lines = [f'{{"meta":{json.dumps(meta, sort_keys=True, separators=(",", ":"))},']
    lines.append('"resources":{')
    body = [
        f"{json.dumps(name)}:"
        f"{json.dumps(compact_resource(spec, singulars), sort_keys=True, separators=(',', ':'))}"
        for name, spec in sorted(resources.items())
    ]
    lines.append(",\n".join(body))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the bundled schema; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "upstream",
        type=Path,
        nargs="?",
        default=UPSTREAM,
        help="the reduced commercelayer-schema.json (default: scripts/upstream/)",
    )
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = generate(json.loads(args.upstream.read_text(encoding="utf-8")))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; rerun without --check.", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"Wrote {args.output} ({len(text)} bytes).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Reading pack files safely: size and encoding checks, YAML with line numbers, CSV rows with lines."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import PackFileMissing, PackFileUnreadable, PackSyntaxError, PackValueError

MAX_BYTES = 50 * 1024 * 1024


def read_text(path: Path, rel: str, *, required: bool = True) -> str | None:
    """The file's text; checks existence, size (50 MB at most), emptiness and UTF-8."""
    if not path.is_file():
        if not required:
            return None
        raise PackFileMissing(
            "file not found", file=rel, hint=f"create {rel} in the pack folder (see docs/market-pack.md)"
        )
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise PackFileUnreadable(
            f"file is {size / 1e6:.0f} MB, over the 50 MB limit",
            file=rel,
            hint="split the evidence into smaller files or remove what the market does not need",
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PackFileUnreadable(
            f"byte 0x{raw[e.start]:02x} is not valid UTF-8",
            file=rel,
            line=line,
            hint="save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8')",
        ) from None
    if not text.strip():
        raise PackFileUnreadable("file is empty", file=rel, hint="fill it in or delete it if it is optional")
    return text


class LineDict(dict):
    """A mapping from YAML that remembers the line of each key (1-based)."""

    lines: dict[str, int]
    line: int


class _LineLoader(yaml.SafeLoader):
    """SafeLoader (no object construction) whose mappings remember their lines."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.lines = {}
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.MarkedYAMLError(
                problem=f"the key {key!r} appears twice in one mapping (first on line {out.lines[str(key)]})",
                problem_mark=key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[str(key)] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, rel: str, *, required: bool = True) -> LineDict | None:
    text = read_text(path, rel, required=required)
    if text is None:
        return None
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise PackSyntaxError(
            f"malformed YAML: {e.problem or e.context}",
            file=rel,
            line=mark.line + 1 if mark else None,
            hint="check that line: indentation, quoting (a value with ': ' needs quotes), a key given twice",
        ) from None
    except yaml.YAMLError as e:
        raise PackSyntaxError(f"malformed YAML: {e}", file=rel, hint="check the file's syntax") from None
    if data is None:
        raise PackFileUnreadable(
            "the file holds no keys (only comments?)", file=rel, hint="fill it in, or delete it if it is optional"
        )
    if not isinstance(data, LineDict):
        raise PackValueError(
            "the top level must be a mapping of keys to values", file=rel, line=1, hint="see docs/market-pack.md"
        )
    return data


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return (self.values.get(column) or "").strip()


def read_csv(path: Path, rel: str, required_columns: tuple[str, ...], *, required: bool = True) -> list[Row] | None:
    """Rows of a CSV file, each with the line it starts on; checks the header and row widths."""
    text = read_text(path, rel, required=required)
    if text is None:
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
        missing = [c for c in required_columns if c not in header]
        if missing:
            raise PackValueError(
                f"missing column(s) {', '.join(missing)}",
                file=rel,
                line=1,
                hint=f"the header must name: {', '.join(required_columns)}",
            )
        rows: list[Row] = []
        start = reader.line_num + 1
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                if len(cells) != len(header):
                    raise PackSyntaxError(
                        f"row has {len(cells)} fields, the header has {len(header)}",
                        file=rel,
                        line=start,
                        hint="quote any field that contains a comma with double quotes",
                    )
                rows.append(Row(start, dict(zip(header, cells))))
            start = reader.line_num + 1
    except csv.Error as e:
        raise PackSyntaxError(
            f"malformed CSV: {e}", file=rel, line=reader.line_num, hint="check the quotes on that line"
        ) from None
    return rows


def parse_int(text: str, rel: str, line: int | None, column: str, *, required: bool = False) -> int | None:
    if not text:
        if required:
            raise PackValueError(f"{column} is empty", file=rel, line=line, hint=f"give {column} as a whole number")
        return None
    try:
        return int(text)
    except ValueError:
        raise PackValueError(
            f"{column} {text!r} is not a whole number", file=rel, line=line, hint=f"write {column} as e.g. 2024"
        ) from None


def parse_float(
    text: str, rel: str, line: int | None, column: str, *, required: bool = False, positive: bool = True
) -> float | None:
    if not text:
        if required:
            raise PackValueError(f"{column} is empty", file=rel, line=line, hint=f"give {column} as a number")
        return None
    try:
        value = float(text)
    except ValueError:
        raise PackValueError(
            f"{column} {text!r} is not a number",
            file=rel,
            line=line,
            hint=f"write {column} as a plain number such as 162.55 (no units or words)",
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise PackValueError(f"{column} {text!r} is not a finite number", file=rel, line=line, hint="give a finite number")
    if positive and value <= 0:
        raise PackValueError(
            f"{column} {text!r} must be positive", file=rel, line=line, hint=f"{column} is a size or rate above zero"
        )
    return value


def need(mapping: Any, key: str, rel: str, typ: type | tuple[type, ...], *, where_line: int | None = None) -> Any:
    """``mapping[key]``, checked for presence and type, with a pointed error."""
    line = getattr(mapping, "lines", {}).get(key) or getattr(mapping, "line", None) or where_line
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] is None:
        raise PackValueError(f"'{key}' is missing", file=rel, line=line, hint=f"add '{key}:' (see docs/market-pack.md)")
    value = mapping[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        want = {"str": "text", "int": "a whole number", "float": "a number", "list": "a list", "dict": "a mapping"}
        raise PackValueError(
            f"'{key}' must be {want.get(names, names)}, not {type(value).__name__} {value!r}",
            file=rel,
            line=line,
            hint=f"correct the value of '{key}'",
        )
    return value


def line_of(mapping: Any, key: str | None = None) -> int | None:
    if key is not None and hasattr(mapping, "lines") and key in mapping.lines:
        return mapping.lines[key]
    return getattr(mapping, "line", None)

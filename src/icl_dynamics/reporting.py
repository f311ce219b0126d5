"""Tables for ``snakemake --report``: the scorecard and the run time and peak memory of every job.

Snakemake writes one benchmark file per job (the rule's ``benchmark:`` path, a one-row TSV with the
columns ``s, h:m:s, max_rss, max_vms, max_uss, max_pss, io_in, io_out, mean_load, cpu_time``; memory
in MB). :func:`collect_benchmarks` gathers them into one table, naming each file's rule and wildcards
by matching its path against the rules' benchmark patterns. :func:`html_page` renders a table as a
self-contained HTML page, which the report shows as an item.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

BENCHMARK_COLUMNS = ["rule", "wildcards", "seconds", "max_rss_mb", "cpu_seconds", "file"]


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex matching the paths a Snakemake file pattern such as ``a/{setting}/b_{seed}.tsv`` produces.

    Each ``{name}`` (or ``{name,constraint}``) becomes a named group that matches within one path
    component, so ``{setting}`` never swallows a ``/``; everything else is literal."""
    parts = []
    position = 0
    for field in re.finditer(r"\{([A-Za-z_]\w*)(?:,[^{}]*)?\}", pattern):
        parts.append(re.escape(pattern[position:field.start()]))
        name = field.group(1)
        # A wildcard repeated in one pattern must take the same value: refer back to its group.
        parts.append(f"(?P={name})" if f"(?P<{name}>" in "".join(parts) else f"(?P<{name}>[^/]+)")
        position = field.end()
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts) + r"\Z")


def identify(path: str, patterns: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    """The rule whose benchmark pattern produced ``path`` and its wildcards, or None.

    Where several patterns match, the one with the fewest wildcards (the most literal) wins."""
    matches = []
    for rule, pattern in patterns.items():
        found = pattern_regex(pattern).match(path)
        if found:
            matches.append((len(found.groupdict()), rule, found.groupdict()))
    if not matches:
        return None
    _, rule, wildcards = min(matches, key=lambda m: m[0])
    return rule, wildcards


def read_benchmark(path: Path) -> dict:
    """Seconds, peak resident memory (MB) and CPU seconds of one benchmark file (its last row: the
    latest repetition). Memory the job did not report ('-') is NaN."""
    row = pd.read_csv(path, sep="\t").iloc[-1]
    value = lambda key: pd.to_numeric(row.get(key), errors="coerce")  # noqa: E731
    return {"seconds": value("s"), "max_rss_mb": value("max_rss"), "cpu_seconds": value("cpu_time")}


def collect_benchmarks(root: str | Path, patterns: dict[str, str]) -> pd.DataFrame:
    """One row per benchmark file found under ``root`` whose path matches a rule's benchmark pattern.

    ``patterns`` maps rule name -> benchmark path pattern relative to the working directory (as written
    in the rule); ``root`` is the working directory. Rows are sorted by rule, then wildcards."""
    root = Path(root)
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        relative = path.relative_to(root).as_posix()
        found = identify(relative, patterns)
        if found is None:
            continue
        rule, wildcards = found
        rows.append({"rule": rule, "wildcards": ", ".join(f"{k}={v}" for k, v in wildcards.items()),
                     **read_benchmark(path), "file": relative})
    table = pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)
    return table.sort_values(["rule", "wildcards"], ignore_index=True)


def benchmark_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: number of jobs, total and largest run time, largest peak memory."""
    grouped = table.groupby("rule")
    return pd.DataFrame({
        "jobs": grouped.size(),
        "total_seconds": grouped["seconds"].sum(),
        "max_seconds": grouped["seconds"].max(),
        "max_rss_mb": grouped["max_rss_mb"].max(),
    }).reset_index().sort_values("total_seconds", ascending=False, ignore_index=True)


_STYLE = """
body { font-family: sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.reproduced td.verdict { background: #d8f0d8; }
tr.partial td.verdict { background: #f6ecc8; }
tr.not_reproduced td.verdict { background: #f4d0d0; }
p.note { color: #555; max-width: 60em; }
"""


def _cell(value, column: str) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return '<td class="num"></td>'
        # Seconds and megabytes to one decimal; other numbers (claim values) to four significant digits.
        text = f"{value:.1f}" if column.endswith(("seconds", "_mb")) else f"{value:.4g}"
        return f'<td class="num">{text}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    css = ' class="verdict"' if column == "verdict" else ""
    return f"<td{css}>{html.escape(str(value))}</td>"


def html_table(table: pd.DataFrame, row_class_column: str | None = None) -> str:
    """``table`` as an HTML table; each row gets the CSS class of its ``row_class_column`` value."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for record in table.to_dict("records"):
        css = ""
        if row_class_column is not None:
            css = f' class="{html.escape(str(record[row_class_column]))}"'
        cells = "".join(_cell(record[c], c) for c in table.columns)
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_page(title: str, sections: list[tuple[str, str]], note: str = "") -> str:
    """A self-contained HTML page: a title, an optional note, then (heading, html) sections."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if note:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{content}")
    parts.append("</body></html>")
    return "\n".join(parts)


def scorecard_page(claims: pd.DataFrame) -> str:
    """The scorecard (results/claims.csv) as a page, rows coloured by verdict, with verdict counts."""
    counts = claims["verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v.replace('_', ' ')}" for v in ("reproduced", "partial", "not_reproduced"))
    return html_page("Reproduction scorecard", [(f"{len(claims)} claims: {summary}", html_table(claims, "verdict"))],
                     note="One row per checked claim of the paper (results/claims.csv). value is the measured "
                          "metric, threshold the criterion from the config; note says what was compared.")


def benchmarks_page(table: pd.DataFrame) -> str:
    """Run time and peak memory per rule (summary) and per job (every benchmark file)."""
    return html_page(
        "Run time and peak memory",
        [("Per rule", html_table(benchmark_summary(table))), ("Per job", html_table(table))],
        note="From the benchmark: file of every job (logs/<experiment>/<rule>/..., beside its log): wall-clock seconds, peak resident "
             "memory (max_rss, MB) and CPU seconds. Jobs that did not run in the latest invocation keep "
             "the numbers of the run that made their outputs.")

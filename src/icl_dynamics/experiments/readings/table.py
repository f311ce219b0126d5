"""The readings of a scorecard row, their table and the sentence they add to the row's note.

A *reading* assigns one value to each factor the paper leaves open (config ``<section>.readings``) and names a
verdict ladder. The readings of a row are: the primary (every factor at its first value, the row's own rule),
each other value of each factor with the rest primary, each named combination, and each other ladder with
every factor primary. Readings with the same factor values and ladder are one reading (a combination that
equals a single-factor change is listed under both names). Each is scored on the same runs by the
experiment's readings module; none is a verdict of the row.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pandas as pd

from icl_dynamics.config import ConfigError
from icl_dynamics.scorecard import VERDICTS, ClaimRow

PRIMARY = "primary"
UNAVAILABLE = "unavailable"  # a reading that needs a checkpoint some run does not have
TABLE_VERDICTS = (*VERDICTS, UNAVAILABLE)
HEAD_COLUMNS = ["claim", "reading", "primary"]
TAIL_COLUMNS = ["ladder", "value", "threshold", "verdict", "passed", "scored", "shallow_passed", "shallow_scored",
                "per_run", "note"]


class Reading(NamedTuple):
    """One reading of a row: its name, the value of every factor and its verdict ladder."""

    name: str
    factors: dict
    ladder: str

    @property
    def is_primary(self) -> bool:
        """Whether this is the primary reading (also when a combination equals it)."""
        return self.name.split(" (")[0] == PRIMARY


def enumerate_readings(factors: dict[str, list], combinations: dict[str, dict], ladders: list[str]) -> list[Reading]:
    """The readings of one row (module docstring), primary first.

    Parameters
    ----------
    factors : dict of str to list
        Each factor's values, the primary first (``<section>.readings.factors.<row>``).
    combinations : dict of str to dict
        Name -> {factor: value} of this row (the row's part of ``<section>.readings.combinations``; a
        combination without a part for this row is left out).
    ladders : list of str
        The verdict ladders, ``primary`` first.
    """
    primary = {name: values[0] for name, values in factors.items()}
    readings = [Reading(PRIMARY, primary, ladders[0])]
    readings += [Reading(f"{name}={value}", {**primary, name: value}, ladders[0])
                 for name, values in factors.items() for value in values[1:]]
    for label, changes in combinations.items():
        reading = Reading(label, {**primary, **changes}, ladders[0])
        same = [i for i, r in enumerate(readings) if (r.factors, r.ladder) == (reading.factors, reading.ladder)]
        if same:
            readings[same[0]] = readings[same[0]]._replace(name=f"{readings[same[0]].name} ({label})")
        else:
            readings.append(reading)
    readings += [Reading(f"ladder={ladder}", primary, ladder) for ladder in ladders[1:]]
    return readings


def check_readings(claim: str, readings: dict, primary: dict, prefix: str) -> None:
    """Refuse readings whose first values are not the row's own rule, or combinations naming an unknown
    factor or value; raises ConfigError naming the keys.

    Parameters
    ----------
    claim : str
        The row (``N2``).
    readings : dict
        The validated ``<section>.readings``.
    primary : dict
        Factor -> the value of the row's own rule, with ``primary[factor] = (value, key)``, ``key`` the
        config key that sets it (for the message).
    prefix : str
        The section's name (``attention``).
    """
    factors = readings["factors"][claim]
    base = f"{prefix}.readings.factors.{claim}"
    for name, (value, key) in primary.items():
        if factors[name][0] != value:
            raise ConfigError(f"config key '{base}.{name}' = {factors[name]!r} must start with the primary reading, "
                              f"the row's own rule: {value!r} ({key}); put that value first")
    if readings["ladder"][0] != PRIMARY:
        raise ConfigError(f"config key '{prefix}.readings.ladder' = {readings['ladder']!r} must start with 'primary'")
    for label, rows in readings["combinations"].items():
        for name, value in rows.get(claim, {}).items():
            key = f"{prefix}.readings.combinations.{label}.{claim}.{name}"
            if name not in factors:
                raise ConfigError(f"config key '{key}' names no factor of row {claim} (known: {', '.join(factors)})")
            if value not in factors[name]:
                raise ConfigError(f"config key '{key}' = {value!r} is not one of '{base}.{name}' = {factors[name]!r}")


def readings_frame(rows: list[dict], factor_names: list[str]) -> pd.DataFrame:
    """The readings table of an experiment: :data:`HEAD_COLUMNS`, the factors of all its rows (empty where a
    factor is not one of the row's), then :data:`TAIL_COLUMNS`; one row per (claim, reading)."""
    frame = pd.DataFrame(rows)
    for name in factor_names:
        if name not in frame:
            frame[name] = None
    if not frame["verdict"].isin(TABLE_VERDICTS).all():
        raise ValueError(f"verdicts {sorted(set(frame['verdict']) - set(TABLE_VERDICTS))} not in {TABLE_VERDICTS}")
    return frame[HEAD_COLUMNS + factor_names + TAIL_COLUMNS]


def _names(table: pd.DataFrame, verdict: str) -> list[str]:
    return list(table.loc[table["verdict"] == verdict, "reading"])


def readings_sentence(table: pd.DataFrame, claim: str, source: str) -> str:
    """The sentence a row's note ends with: how many of its readings reproduce it, which are partial,
    which are unavailable, and how many share the primary's verdict.

    Example: "Readings (results/readings/attention.csv): of 11 scored, reproduced under 1 (dip_rel=0.02),
    partial under 3 (primary, ...), not reproduced under 7; the primary's verdict (partial) is shared by 3
    of 11."
    """
    rows = table[table["claim"] == claim]
    scored = rows[rows["verdict"] != UNAVAILABLE]
    primary = rows.loc[rows["primary"].astype(bool), "verdict"].iloc[0]

    def listed(verdict):
        names = _names(scored, verdict)
        return f"{len(names)}" + (f" ({', '.join(names)})" if names else "")

    sentence = (f"Readings ({source}): of {len(scored)} scored, reproduced under {listed('reproduced')}, partial "
                f"under {listed('partial')}, not reproduced under {len(_names(scored, 'not_reproduced'))}")
    if len(scored) < len(rows):
        sentence += f"; unavailable (runs too short): {', '.join(_names(rows, UNAVAILABLE))}"
    agree = int((scored["verdict"] == primary).sum())
    return sentence + f"; the primary's verdict ({primary}) is shared by {agree} of {len(scored)}."


def with_readings_note(row: ClaimRow, table: pd.DataFrame, source: str) -> ClaimRow:
    """``row`` with :func:`readings_sentence` appended to its note when the table has readings of its
    claim (its verdict, value and threshold unchanged)."""
    if row.claim not in set(table["claim"]):
        return row
    return dataclasses.replace(row, note=f"{row.note}. {readings_sentence(table, row.claim, source)}")

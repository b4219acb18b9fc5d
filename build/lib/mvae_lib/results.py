"""Tidy results of a grid: one row per (model, setting, split, metric) and their summary.

The summary over splits stands beside the paper's value; both are written as JSON and CSV."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from .paper import paper_value
from .runcache import atomic_write


@dataclass
class Results:
    """Tidy results: one dict per (model, setting, split, metric) with its value."""

    rows: list[dict]
    dataset: str
    timing_s: dict[str, float]
    encoding: str = "sample"
    trained: tuple[str, ...] = ()  # file stems of the runs trained by this call (the others were loaded)

    def summary(self) -> list[dict]:
        """Mean and sample std over splits per (table, model, setting, metric), with the paper's value."""
        groups: dict[tuple, list[float]] = {}
        for r in self.rows:
            groups.setdefault((r["table"], r["model"], r["setting"], r["metric"]), []).append(r["value"])
        return [
            {"table": t, "model": m, "setting": s, "metric": k, "mean": statistics.fmean(v),
             "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n_splits": len(v),
             "paper": paper_value(m, s, k)}
            for (t, m, s, k), v in groups.items()
        ]

    def cell(self, model: str, setting: int, metric: str = "lrap") -> dict:
        """The summary entry for one table cell."""
        for r in self.summary():
            if (r["model"], r["setting"], r["metric"]) == (model, setting, metric):
                return r
        raise KeyError(f"no result for {model} in setting {setting} ({metric})")

    def to_json(self, path) -> None:
        blob = {"dataset": self.dataset, "encoding": self.encoding, "rows": self.rows,
                "summary": self.summary(), "timing_s": self.timing_s}
        atomic_write(Path(path), lambda f: f.write(json.dumps(blob, indent=1).encode()))

    def to_csv(self, path) -> None:
        cols = ["dataset", "table", "model", "setting", "split", "metric", "value"]
        lines = [",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in self.rows]
        atomic_write(Path(path), lambda f: f.write(("\n".join(lines) + "\n").encode()))

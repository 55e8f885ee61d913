"""Success statistics of evaluation episodes: Wilson intervals, the summary table, files."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

EPISODE_FIELDS = ("model", "task", "seed", "episode", "instruction", "goal_instruction", "success",
                  "success_time", "reward", "max_reward", "duration", "commands")


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (default 95 %) of a success rate; (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(results: list[dict]) -> list[dict]:
    """One row per (model, task), in first-seen order: n, successes, rate, Wilson 95 % CI, mean
    time to success (s, over successful episodes; None if none)."""
    rows: dict = {}
    for r in results:
        rows.setdefault((r["model"], r["task"]), []).append(r)
    table = []
    for (model, task), group in rows.items():
        n, k = len(group), sum(bool(r["success"]) for r in group)
        low, high = wilson_interval(k, n)
        times = [r["success_time"] for r in group if r["success"] and r["success_time"] is not None]
        table.append({"model": model, "task": task, "episodes": n, "successes": k, "success_rate": k / n,
                      "ci95_low": low, "ci95_high": high,
                      "mean_time_to_success": sum(times) / len(times) if times else None})
    return table


def format_table(rows: list[dict]) -> str:
    """The summary as a Markdown table (what `pi0 eval` prints and saves as table.md)."""
    lines = ["| model | task | episodes | success | 95 % CI (Wilson) | mean time to success |",
             "|---|---|---:|---:|---|---:|"]
    for r in rows:
        time_text = "–" if r["mean_time_to_success"] is None else f"{r['mean_time_to_success']:.1f} s"
        lines.append(f"| {r['model']} | {r['task']} | {r['episodes']} | {100 * r['success_rate']:.0f} % "
                     f"({r['successes']}/{r['episodes']}) | {100 * r['ci95_low']:.0f}–{100 * r['ci95_high']:.0f} % "
                     f"| {time_text} |")
    return "\n".join(lines)


def write_results(out: Path, results: list[dict], rows: list[dict], config: dict,
                  policy_timing: dict | None = None) -> list[Path]:
    """results.json (config, summary, policy timing per embodiment, episodes), episodes.csv,
    summary.csv, table.md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    episodes = [{k: r.get(k) for k in EPISODE_FIELDS} for r in results]
    paths = [out / "results.json", out / "episodes.csv", out / "summary.csv", out / "table.md"]
    paths[0].write_text(json.dumps({"config": config, "summary": rows, "policy_timing": policy_timing or {},
                                       "episodes": episodes}, indent=2))
    tables = ((paths[1], episodes, EPISODE_FIELDS), (paths[2], rows, list(rows[0]) if rows else []))
    for path, records, fields in tables:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
    paths[3].write_text(format_table(rows) + "\n")
    return paths

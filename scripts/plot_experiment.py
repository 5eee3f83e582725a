#!/usr/bin/env python3
"""Draws an experiment's plots (docs/EXPERIMENTS.md) from its results.csv, as PNG and SVG.

  python3 plot_experiment.py PLOTS.json RESULTS.csv OUT_DIR

`alisa experiment` writes PLOTS.json (the file's `plots`, checked) and RESULTS.csv, then runs
this script (compiled into the binary; a copy lands in the output folder as plot_experiment.py).
Each plot: x against one y column per line (or per stacked part), lines split by the series
columns; rows with an error or without the y value are left out. Numeric x is drawn to scale,
other x as categories in the order the points ran.
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: small SVG files
matplotlib.rcParams["svg.hashsalt"] = "alisa"  # the same SVG for the same results
import matplotlib.pyplot as plt  # noqa: E402


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def label_of(row, columns):
    """"model=opt-code, swa.score=window": paths by their last part."""
    return ", ".join(f"{c}={os.path.basename(row.get(c, '').rstrip('/'))}" for c in columns)


def draw(plot, rows, out_dir):
    x = plot["x"]
    rows = [r for r in rows if not r.get("error")]
    numeric_x = all(number(r.get(x, "")) is not None for r in rows)
    categories = []
    for r in rows:
        if r.get(x, "") not in categories:
            categories.append(r.get(x, ""))

    def x_of(row):
        return number(row[x]) if numeric_x else categories.index(row.get(x, ""))

    # Several y columns are named by what differs between them ("compute.busy_s").
    common = os.path.commonprefix(plot["y"]) if len(plot["y"]) > 1 else ""
    common = common[:common.rfind(".") + 1]
    lines = {}  # label -> [(x, y)]
    for r in rows:
        for y in plot["y"]:
            value = number(r.get(y, ""))
            if value is None:
                continue
            label = y[len(common):] if len(plot["y"]) > 1 else (label_of(r, plot["series"]) or y)
            lines.setdefault(label, []).append((x_of(r), value))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    kind = plot["kind"]
    if kind == "line":
        for label, points in lines.items():
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    else:
        width = 0.8 / (1 if kind == "stacked" else max(1, len(lines)))
        bottom = {}
        for i, (label, points) in enumerate(lines.items()):
            xs = [p[0] + (0 if kind == "stacked" else (i - (len(lines) - 1) / 2) * width)
                  for p in points]
            base = [bottom.get(p[0], 0.0) for p in points] if kind == "stacked" else None
            ax.bar(xs, [p[1] for p in points], width=width, bottom=base, label=label)
            if kind == "stacked":
                for p in points:
                    bottom[p[0]] = bottom.get(p[0], 0.0) + p[1]
    if not numeric_x:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels([os.path.basename(str(c)) for c in categories], rotation=20,
                           ha="right", fontsize=8)
    if plot["log_x"]:
        ax.set_xscale("log")
    if plot["log_y"]:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(plot["y"][0] if len(plot["y"]) == 1 else common.rstrip("."))
    ax.set_title(plot["title"] or plot["name"], fontsize=10)
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out_dir, f"{plot['name']}.{ext}"), metadata={"Date": None}
                    if ext == "svg" else None)
    plt.close(fig)
    return sum(len(p) for p in lines.values())


def main():
    plots_path, csv_path, out_dir = sys.argv[1:4]
    with open(plots_path) as f:
        plots = json.load(f)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    for plot in plots:
        drawn = draw(plot, rows, out_dir)
        if drawn == 0:
            print(f"plot {plot['name']}: no point has a value of {', '.join(plot['y'])}",
                  file=sys.stderr)


if __name__ == "__main__":
    main()

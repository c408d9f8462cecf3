"""Calibration of the early stop: Markov chains with known answers through the real live observer.

For each chain, independent replicas of per-Li label streams go through ``attach`` on real ASE dynamics with
early stop on (``_chains.py``). At the stop (or at the budget) the table gives, for the current criterion and,
side by side, for the previous one (point estimates unchanged for 3 checks, intervals from 50 resamples of Li
atoms, read off the same runs): the stop as a fraction of the budget, how many replicas stopped before it, the
coverage of the true top-route share and of the true slowest timescale by the 90% intervals, and how often the
top route was the true one; then, for the replicas that stopped, the forecast of the stop made at 25, 50 and 75%
of it against the actual stop (``analysis.forecast``).

    python benchmarks/bench_early_stop.py [--replicas 20] [--processes 2] [--chains 0,1,2] [--n-bootstrap 100]
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _chains import FORECAST_AT, chains, judge_replica, run_replica

from getsei_live.analysis.criteria import ConvergenceCriteria


def replica(args: tuple[int, int, int]) -> dict:
    logging.disable(logging.WARNING)
    index, seed, n_bootstrap = args
    chain = chains()[index]
    criteria = ConvergenceCriteria(n_bootstrap=n_bootstrap)
    return judge_replica(chain, run_replica(chain, seed, criteria), chain.truth(), patience=criteria.patience,
                         seed=seed)


def _ratio_cells(ratios: list[dict]) -> list[str]:
    """Median [10th, 90th percentile] of forecast / actual at each share of the stop ('-' where none was made)."""
    cells = []
    for share in FORECAST_AT:
        r = np.array([x[share] for x in ratios], dtype=float)
        r = r[~np.isnan(r)]
        low, high = np.percentile(r, [10, 90], method="nearest") if r.size else (np.nan, np.nan)  # inf-safe
        cells.append(f"{np.median(r):.2f} [{low:.2f}, {high:.2f}]" if r.size else "-")
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--chains", default=None, help="comma-separated indices (default: all)")
    parser.add_argument("--n-bootstrap", type=int, default=ConvergenceCriteria().n_bootstrap,
                        help="resamples per scheme (default: the library's)")
    args = parser.parse_args()
    every = chains()
    picked = [int(k) for k in args.chains.split(",")] if args.chains else range(len(every))
    start = time.perf_counter()
    header = (f"{'chain':<28} {'criterion':<9} {'stop/budget':>11} {'stopped':>8} {'share cov':>9} "
              f"{'all shares':>10} {'t1 cov':>7} {'top right':>9} {'tie':>5}")
    print(f"{args.replicas} replicas per chain, nominal coverage 90%\n{header}\n{'-' * len(header)}", flush=True)
    forecasts: dict[str, list[dict]] = {}
    with ProcessPoolExecutor(args.processes) as pool:
        for index in picked:
            rows = list(pool.map(replica, [(index, 1000 + r, args.n_bootstrap) for r in range(args.replicas)]))
            stopped = [row["forecast"] for row in rows if "forecast" in row]
            if stopped:
                forecasts[every[index].name] = stopped
                print(f"{'':<28} forecast / actual at 25, 50, 75% of the stop: "
                      + ", ".join(_ratio_cells(stopped)), flush=True)
            for name in ("new", "old"):
                r = [row[name] for row in rows if name in row]
                if not r:
                    continue
                mean = {key: float(np.mean([x[key] for x in r])) for key in r[0]}
                median = float(np.median([x["stop"] for x in r]))

                def cell(key: str, width: int) -> str:
                    return f"{100 * mean[key]:>{width - 1}.0f}%" if key in mean else f"{'-':>{width}}"

                print(f"{every[index].name:<28} {name:<9} {median:>11.2f} {cell('stopped', 8)} "
                      f"{cell('share_cover', 9)} {cell('every_share_cover', 10)} {cell('t1_cover', 7)} "
                      f"{cell('top_right', 9)} {cell('tie', 5)}", flush=True)
    if forecasts:
        print(f"\nForecast of the stop time, made at 25, 50 and 75% of the actual stop: forecast / actual, median "
              "[10th, 90th percentile] over the replicas that stopped (inf: forecast never to converge)")
        print(f"{'chain':<28} {'stopped':>7} {'at 25%':>20} {'at 50%':>20} {'at 75%':>20}")
        for name, ratios in forecasts.items():
            print(f"{name:<28} {len(ratios):>7} " + " ".join(f"{cell:>20}" for cell in _ratio_cells(ratios)))
    print(f"\n{time.perf_counter() - start:.0f} s; stop/budget is the median over replicas; 'all shares': every true "
          f"route share of 10% or more reported and inside its interval; 'top right': the true top route is the top "
          f"route or among those reported as comparable; 'tie': stopped with comparable routes; 'old' = unchanged "
          f"point estimates for 3 checks with intervals from 50 Li resamples, read off the same runs.")


if __name__ == "__main__":
    main()

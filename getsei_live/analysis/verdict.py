"""The verdict on a snapshot: each convergence condition, passed or not and by how much, the streak of checks
that held, and why in words. "Converged" means the answer will not change with more MD, within the intervals shown.
"""

from __future__ import annotations

import numpy as np

from .criteria import ConvergenceCriteria

__all__ = ["ConvergenceMonitor", "RETRAIN", "conditions", "explain"]

#: What the verdict says instead of "converged" when the state model no longer fits the frames.
RETRAIN = "states no longer describe the structure; retrain"


def _condition(name: str, passed: bool, value, threshold, unit: str, detail: str) -> dict:
    return {"name": name, "passed": bool(passed), "value": value, "threshold": threshold, "unit": unit,
            "detail": detail}


def _slow(snap: dict, n_timescales: int) -> list[int]:
    """Indices of the slowest timescales at the analysis lag that are longer than the lag."""
    return [k for k, t in enumerate(snap["timescales"][:n_timescales]) if t is not None and t > snap["lag_ps"]]


def conditions(snap: dict, criteria: ConvergenceCriteria) -> list[dict]:
    """The convergence conditions of one snapshot (all but ``unchanged``, which needs the history): passed or
    not, by how much."""
    c = criteria
    out = []
    active = set(snap["active_set"])
    exits = {s: k for s, k in enumerate(snap["transitions_out"]) if s in active}
    fewest = min(exits.values(), default=0)
    scarce = [f"S{s}" for s, k in exits.items() if k < c.min_transitions]
    out.append(_condition("min_transitions", not scarce, fewest, c.min_transitions, "transitions",
                          f"fewer than {c.min_transitions} transitions out of {', '.join(scarce)}" if scarce
                          else f"at least {fewest} transitions out of every state"))
    markov = snap["markov"]
    at = markov["lags_ps"].index(snap["lag_ps"])
    suggestion = markov["suggested_lag_ps"]
    why = "; ".join(markov["reasons"][at])
    if markov["markovian"][at]:
        detail = f"CK test passed at lag {snap['lag_ps']:g} ps"
    else:
        shortest = (f"the shortest stored lag that passes is {suggestion:g} ps" if suggestion is not None
                    else "no stored lag passes (count longer lags)")
        detail = f"lag {snap['lag_ps']:g} ps is not Markovian: {why}; {shortest}"
    out.append(_condition("markovian", markov["markovian"][at], why or "passed", "plateau and CK", "", detail))
    n_blocks = snap.get("n_blocks", 0)
    out.append(_condition("time_blocks", n_blocks >= c.min_blocks, n_blocks, c.min_blocks, "blocks",
                          f"{n_blocks} blocks of time to resample (need {c.min_blocks})"))
    ci = snap.get("pathway_fraction_ci")
    if not snap["pathways"] or not ci:
        out.append(_condition("route_interval", False, None, c.share_ci_width, "share",
                              "no pathway intervals yet"))
        out.append(_condition("top_route_resolved", False, None, c.top_route_confidence, "fraction of resamples",
                              "no pathway intervals yet"))
    else:
        widths = [np.inf if None in w else w[1] - w[0] for w in ci]
        widest = float(max(widths))
        out.append(_condition("route_interval", widest <= c.share_ci_width, widest, c.share_ci_width, "share",
                              f"widest route-share interval {100 * widest:.1f} points "
                              f"(at most {100 * c.share_ci_width:g})"))
        resolved = snap.get("top_route_resolved", 0.0)
        out.append(_condition("top_route_resolved", resolved >= c.top_route_confidence, resolved,
                              c.top_route_confidence, "fraction of resamples",
                              f"top route on top in {100 * resolved:.0f}% of resamples "
                              f"(need {100 * c.top_route_confidence:g}%)"))
    fit = snap.get("fit")
    if fit is not None:
        ood = fit["ood_fraction"]
        out.append(_condition("states_fit", ood <= c.max_ood_fraction, ood, c.max_ood_fraction, "fraction of Li",
                              f"{100 * ood:.1f}% of Li environments outside the state model's training distribution"
                              + (f" (at most {100 * c.max_ood_fraction:g}%)" if ood <= c.max_ood_fraction else
                                 f": {RETRAIN} (at most {100 * c.max_ood_fraction:g}%)")))
    slow = _slow(snap, c.n_timescales)
    ts_ci = snap.get("timescales_ci") or []
    rel = [np.inf if k >= len(ts_ci) or ts_ci[k] is None or None in ts_ci[k]
           else (ts_ci[k][1] - ts_ci[k][0]) / snap["timescales"][k] for k in slow]
    worst = float(max(rel)) if rel else np.inf
    out.append(_condition("timescale_interval", bool(rel) and worst <= c.timescale_ci_rwidth,
                          worst if np.isfinite(worst) else None, c.timescale_ci_rwidth, "relative",
                          f"widest slow-timescale interval {100 * worst:.0f}% of the estimate "
                          f"(at most {100 * c.timescale_ci_rwidth:g}%)" if rel
                          else "no timescale longer than the lag"))
    return out


def _unchanged(streak: int, patience: int) -> dict:
    return _condition("unchanged", streak >= patience, streak, patience, "checks",
                      f"estimates unchanged, with every other condition met, for {streak} of {patience} checks")


def _moved(snap: dict, prev: dict | None, criteria: ConvergenceCriteria) -> list[str]:
    """Why the point estimates differ from the previous check (empty: unchanged)."""
    if prev is None:
        return ["first check"]
    if snap["lag_ps"] != prev["lag_ps"]:
        return ["the analysis lag changed"]
    reasons = []
    if [p["states"] for p in snap["pathways"]] != [p["states"] for p in prev["pathways"]]:
        reasons.append("top pathways changed")
    else:
        moved = max((abs(a["fraction"] - b["fraction"]) for a, b in zip(snap["pathways"], prev["pathways"])),
                    default=0.0)
        if moved >= criteria.fraction_tol:
            reasons.append(f"a pathway share moved by {moved:.3f}")
    now, before = snap["timescales"], prev["timescales"]
    changes = [abs(a - b) / abs(b) for a, b in zip(now, before) if a is not None and b is not None and b != 0]
    if len(now) != len(before) or [a is None for a in now] != [b is None for b in before]:
        reasons.append("the set of finite timescales changed")
    elif changes and max(changes) >= criteria.timescale_rtol:
        reasons.append(f"a timescale moved by {100 * max(changes):.0f}%")
    return reasons


class ConvergenceMonitor:
    """Judges each snapshot against the criteria and the previous snapshot.

    Parameters
    ----------
    criteria : ConvergenceCriteria
    """

    def __init__(self, criteria: ConvergenceCriteria) -> None:
        self.criteria = criteria
        self.previous: dict | None = None
        self.streak = 0
        self.converged = False

    def restore(self, history: list[dict]) -> None:
        """Continue from the stored snapshot history."""
        if history:
            self.previous = history[-1]
            self.streak = int(history[-1].get("stable_streak", 0))
            self.converged = bool(history[-1].get("converged", False))

    def judge(self, snap: dict) -> dict:
        """Add ``stable`` (unchanged since the last check), ``stable_streak`` (checks in a row that were
        unchanged with every other condition met), ``conditions`` (each with its value and threshold), ``failed``
        (their names), ``reasons`` (what failed, in words) and ``converged``.

        Counting only checks where everything held means one check whose noisy
        interval happens to be narrow cannot end a run.
        """
        moved = _moved(snap, self.previous, self.criteria)
        self.previous = snap
        checks = conditions(snap, self.criteria)
        held = not moved and all(c["passed"] for c in checks)
        self.streak = self.streak + 1 if held else 0
        checks.append(_unchanged(self.streak, self.criteria.patience))
        failed = [c for c in checks if not c["passed"]]
        self.converged = not failed
        reasons = [c["detail"] for c in failed if c["name"] != "unchanged"] + moved
        if held and self.streak < self.criteria.patience:
            reasons.append(f"every condition held for {self.streak} of {self.criteria.patience} checks")
        return {**snap, "stable": not moved, "stable_streak": self.streak, "conditions": checks,
                "failed": [c["name"] for c in failed], "converged": self.converged, "reasons": reasons}


def explain(snap: dict) -> str:
    """Why a judged snapshot is, or is not, converged, in a user's words."""
    if "states_fit" in snap.get("failed", ()):
        return f"{RETRAIN}: " + "; ".join(snap.get("reasons") or [])
    if not snap.get("converged"):
        return "not converged: " + "; ".join(snap.get("reasons") or ["no analysis yet"])
    parts = []
    if snap["pathways"]:
        top = snap["pathways"][0]
        ci = (snap.get("pathway_fraction_ci") or [None])[0]
        half = f" +/- {50 * (ci[1] - ci[0]):.0f}" if ci and None not in ci else ""
        parts.append(f"top route {' -> '.join(f'S{s}' for s in top['states'])} resolved in "
                     f"{100 * snap.get('top_route_resolved', 0):.0f}% of resamples, share "
                     f"{100 * top['fraction']:.0f}%{half}")
    ts = [f"t{k + 1} = {t:.3g} ps" for k, t in enumerate(snap["timescales"][:2]) if t is not None]
    if ts:
        parts.append(", ".join(ts))
    parts.append(f"CK test passed at lag {snap['lag_ps']:g} ps")
    runs = snap.get("n_replicas", 1)
    return f"converged{f' ({runs} runs together)' if runs > 1 else ''}: " + "; ".join(parts)

"""L-BFGS: a quasi-Newton method that re-evaluates the loss through a closure, as
``torch.optim.LBFGS`` (fixed steps or a strong-Wolfe line search)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import positive_int
from .optimizer import Optimizer, Params, _call, _real

#: the keys of L-BFGS's own state in ``state_dict()`` (beside the base class's)
_MEMORY = ("n_iter", "func_evals", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
           "prev_flat_grad", "prev_loss")  # fmt: skip


def _cubic_minimum(
    x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:  # fmt: skip
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2,
    clamped to ``bounds`` (the interval between x1 and x2 by default); the midpoint of the
    bounds where the cubic has no minimum (d1² < g1·g2):

        d1 = g1 + g2 − 3(f1 − f2)/(x1 − x2),   d2 = √(d1² − g1·g2)
        x* = x2 − (x2 − x1)·(g2 + d2 − d1)/(g2 − g1 + 2·d2)   (x1 ≤ x2; mirrored otherwise)
    """
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1**2 - g1 * g2
    if square < 0:
        return (low + high) / 2.0
    d2 = np.sqrt(square)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, low), high)


Evaluate = Callable[[float], tuple[float, np.ndarray]]


def _strong_wolfe(
    evaluate: Evaluate, t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float,
    c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:  # fmt: skip
    """A step t along d meeting the strong Wolfe conditions,

        f(x + t d) ≤ f(x) + c1·t·gᵀd   and   |g(x + t d)ᵀd| ≤ −c2·gᵀd,

    by bracketing (the step grows by cubic extrapolation until the conditions hold or an
    interval holds a point that meets them) and zooming (cubic interpolation inside the
    interval, kept at least a tenth of its width from its ends when progress stalls), at most
    ``max_ls`` evaluations after the first. ``evaluate(t)`` is (f, g) at x + t d. Returns
    (f, g, t, evaluations) at the best step found (PyTorch's rules, step for step)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:  # bracket
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g, bracket_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        t_next = _cubic_minimum(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10)
        )
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g, bracket_gtd = (
            [0.0, t],
            [f, f_new],
            [g, g_new],
            [gtd, gtd_new],
        )

    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:  # zoom
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:  # too close to an end of the interval
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high] = t, f_new, g_new
            bracket_gtd[high] = gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low] = t, f_new, g_new
            bracket_gtd[low] = gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    """L-BFGS, as ``torch.optim.LBFGS``. Each ``step(closure)`` runs up to ``max_iter``
    iterations, each calling ``closure`` (zero the gradients, forward, backward, return the
    loss) to re-evaluate the loss f and its gradient g at the parameters x (all of them as one
    flat vector). With the last m pairs s_k = x_{k+1} − x_k, y_k = g_{k+1} − g_k (kept when
    y_kᵀs_k > 1e-10; m ≤ ``history_size``), ρ_k = 1/(y_kᵀs_k) and γ = y_kᵀs_k / y_kᵀy_k of the
    newest pair, the direction d = −H g comes from the two-loop recursion

        q ← −g;  for k newest→oldest: α_k = ρ_k s_kᵀq,  q ← q − α_k y_k
        r ← γ q;  for k oldest→newest: β_k = ρ_k y_kᵀr,  r ← r + (α_k − β_k) s_k;   d = r

    (d = −g at the very first iteration), and x ← x + t d with t = η (the first iteration:
    η·min(1, 1/‖g‖₁)), or the t of a strong-Wolfe line search (``line_search_fn=
    "strong_wolfe"``). An iteration stops the step when ‖g‖_∞ ≤ ``tolerance_grad``, gᵀd >
    −``tolerance_change``, ‖t d‖_∞ or the change of f ≤ ``tolerance_change``, or the closure
    has been called ``max_eval`` times (default ``max_iter``·5/4). The history, the last
    direction and step carry over from one ``step`` to the next. ``step`` returns the loss
    of its first evaluation.

    As PyTorch's: one parameter group only; every parameter in one dtype (they form one
    vector); the state is the history, written by ``state_dict()`` as "lbfgs.<name>" (the
    pairs stacked as (m, n) arrays "lbfgs.old_dirs" (the y) and "lbfgs.old_stps" (the s),
    "lbfgs.ro", the scalars as 0-d arrays) beside the base class's keys; the line search is
    the flag "strong_wolfe" there, "line_search_fn" in ``param_groups``. A frozen parameter
    (``requires_grad`` False) counts as a zero gradient and is not moved (PyTorch's moves one
    frozen after steps were taken, by the history's share of it). In float64 the iterates
    are PyTorch's to rounding; in float32 the scalar work (gᵀd, ρ, γ, the line search) runs
    in float64 here and in float32 in PyTorch, so float32 runs drift apart by float32's
    rounding (1e-7–1e-4 over a few steps). Memory: n·(2m + 3) numbers for n parameters.
    """

    _flags = ("strong_wolfe",)

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        super().__init__(params, lr)
        if len(self._members) != 1:
            raise ValueError(
                "LBFGS: params: one parameter group only (as PyTorch's L-BFGS), got "
                f"{len(self._members)}"
            )
        dtypes = sorted({str(p.dtype) for p in self.params})
        if len(dtypes) != 1:
            raise ValueError(
                "LBFGS: params: expected parameters of one dtype (they form one vector), got "
                f"{dtypes}"
            )
        settings = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        if settings["max_eval"] is None:
            max_iter = positive_int("max_iter", max_iter, func="LBFGS", minimum=1)
            settings["max_eval"] = max_iter * 5 // 4
        self._set_defaults(**self._own_settings("LBFGS", settings))
        self._memory: dict[str, Any] = {"n_iter": 0, "func_evals": 0}

    # -- settings ----------------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
        "history_size", "strong_wolfe"} (torch's names, the line search as a flag)."""
        return {
            "lr": self.lr,
            "max_iter": self.max_iter,
            "max_eval": self.max_eval,
            "tolerance_grad": self.tolerance_grad,
            "tolerance_change": self.tolerance_change,
            "history_size": self.history_size,
            "strong_wolfe": self.strong_wolfe,
        }

    def _configure(self, **settings: Any) -> None:
        owner = "LBFGS"
        counts = {
            name: positive_int(name, _whole(settings[name]), func=owner, minimum=1)
            for name in ("max_iter", "max_eval", "history_size")
        }
        tolerances = {
            name: _real(owner, name, settings[name])
            for name in ("tolerance_grad", "tolerance_change")
        }
        strong_wolfe = settings["strong_wolfe"]
        if not isinstance(strong_wolfe, bool):
            raise TypeError(f"{owner}: strong_wolfe: expected a bool, got {strong_wolfe!r}")
        self.lr = settings["lr"]
        self.max_iter, self.max_eval = counts["max_iter"], counts["max_eval"]
        self.history_size = counts["history_size"]
        self.tolerance_grad = tolerances["tolerance_grad"]
        self.tolerance_change = tolerances["tolerance_change"]
        self.strong_wolfe = strong_wolfe

    def _torch_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        named = dict(settings)
        named["line_search_fn"] = "strong_wolfe" if named.pop("strong_wolfe") else None
        return named

    def _own_settings(self, owner: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        own = dict(settings)
        line_search_fn = own.pop("line_search_fn")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                f"{owner}: line_search_fn: expected None or 'strong_wolfe', got "
                f"{line_search_fn!r:.80}"
            )
        own["strong_wolfe"] = line_search_fn == "strong_wolfe"
        return own

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Refused: L-BFGS has one parameter group (as PyTorch's)."""
        raise ValueError("LBFGS.add_param_group: L-BFGS has one parameter group (as PyTorch's)")

    # -- the flat vector ---------------------------------------------------------------------
    def _flat_grad(self) -> np.ndarray:
        """g: every parameter's gradient in one vector (zeros for a frozen one)."""
        return np.concatenate(
            [
                p.grad.reshape(-1) if p.requires_grad else np.zeros(p.size, p.dtype)
                for p in self.params
            ]
        )

    def _move(self, t: float, d: np.ndarray) -> None:
        """x ← x + t d, parameter by parameter (a frozen one stays)."""
        start = 0
        for p in self.params:
            stop = start + p.size
            if p.requires_grad:
                p.data += t * d[start:stop].reshape(p.shape)
            start = stop

    def _evaluate(self, closure: Callable[[], Any] | None) -> tuple[float, np.ndarray]:
        return _loss_of(_call(closure, "LBFGS")), self._flat_grad()

    # -- the step ----------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Up to ``max_iter`` L-BFGS iterations (the class docstring); ``closure`` is
        required: it zeroes the gradients, runs the forward and backward passes and returns
        the loss. Returns the closure's first loss."""
        memory = self._memory
        first = _call(closure, "LBFGS")  # (None refused there, naming the argument)
        loss = _loss_of(first)
        self.step_count += 1
        g = self._flat_grad()
        evals = 1
        memory["func_evals"] += 1
        if np.abs(g).max() <= self.tolerance_grad:
            return first
        d, t = memory.get("d"), memory.get("t", 0.0)
        dirs, stps, ro = (
            memory.get("old_dirs", []),
            memory.get("old_stps", []),
            memory.get("ro", []),
        )
        H_diag = memory.get("H_diag", 1.0)
        g_prev, loss_prev = memory.get("prev_flat_grad"), memory.get("prev_loss", loss)
        converged = False
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            memory["n_iter"] += 1
            if memory["n_iter"] == 1:
                d, dirs, stps, ro, H_diag = -g, [], [], [], 1.0
            else:
                assert d is not None and g_prev is not None
                y, s = g - g_prev, d * t
                ys = float(y @ s)
                if ys > 1e-10:
                    if len(dirs) == self.history_size:
                        del dirs[0], stps[0], ro[0]
                    dirs.append(y)
                    stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y @ y)
                d = self._two_loops(g, dirs, stps, ro, H_diag)
            g_prev, loss_prev = g.copy(), loss
            t = (min(1.0, 1.0 / float(np.abs(g).sum())) if memory["n_iter"] == 1 else 1.0) * self.lr
            gtd = float(g @ d)
            if gtd > -self.tolerance_change:
                break
            spent = 0
            if self.strong_wolfe:
                x0 = [p.data.copy() for p in self.params]

                def evaluate(
                    step: float, d: np.ndarray = d, x0: list[np.ndarray] = x0
                ) -> tuple[float, np.ndarray]:
                    self._move(step, d)
                    value = self._evaluate(closure)
                    for p, x in zip(self.params, x0, strict=True):
                        p.data[...] = x
                    return value

                loss, g, t, spent = _strong_wolfe(
                    evaluate, t, d, loss, g, gtd, max_ls=self.max_eval - evals
                )
                self._move(t, d)
                converged = bool(np.abs(g).max() <= self.tolerance_grad)
            else:
                self._move(t, d)
                if n_iter != self.max_iter:  # the last iteration's loss is not needed
                    loss, g = self._evaluate(closure)
                    converged = bool(np.abs(g).max() <= self.tolerance_grad)
                    spent = 1
            evals += spent
            memory["func_evals"] += spent
            if n_iter == self.max_iter or evals >= self.max_eval or converged:
                break
            if (
                np.abs(d * t).max() <= self.tolerance_change
                or abs(loss - loss_prev) < self.tolerance_change
            ):
                break
        memory.update(
            d=d, t=t, old_dirs=dirs, old_stps=stps, ro=ro, H_diag=H_diag,
            prev_flat_grad=g_prev, prev_loss=loss_prev,
        )  # fmt: skip
        return first

    @staticmethod
    def _two_loops(
        g: np.ndarray, dirs: list[np.ndarray], stps: list[np.ndarray], ro: list[float],
        H_diag: float,
    ) -> np.ndarray:  # fmt: skip
        """d = −H g by the two-loop recursion (the class docstring)."""
        alpha = [0.0] * len(dirs)
        q = -g
        for k in range(len(dirs) - 1, -1, -1):
            alpha[k] = float(stps[k] @ q) * ro[k]
            q -= alpha[k] * dirs[k]
        r = q * H_diag
        for k in range(len(dirs)):
            beta = float(dirs[k] @ r) * ro[k]
            r += (alpha[k] - beta) * stps[k]
        return r

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The base class's keys and the history as "lbfgs.<name>" (the class docstring);
        only "lbfgs.n_iter" and "lbfgs.func_evals" before the first iteration."""
        out = super().state_dict()
        memory = self._memory
        out["lbfgs.n_iter"] = np.array(memory["n_iter"], dtype=np.int64)
        out["lbfgs.func_evals"] = np.array(memory["func_evals"], dtype=np.int64)
        if memory.get("d") is None:
            return out
        n, dtype = memory["d"].size, memory["d"].dtype
        for name in ("old_dirs", "old_stps"):
            out[f"lbfgs.{name}"] = (
                np.stack(memory[name]) if memory[name] else np.zeros((0, n), dtype)
            )
        out["lbfgs.ro"] = np.array(memory["ro"], dtype=np.float64)
        out["lbfgs.d"] = memory["d"].copy()
        out["lbfgs.prev_flat_grad"] = memory["prev_flat_grad"].copy()
        for name in ("t", "H_diag", "prev_loss"):
            out[f"lbfgs.{name}"] = np.array(float(memory[name]), dtype=np.float64)
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: the base class's keys (checked as it checks them) and
        the history, whose shapes must fit these parameters (n numbers, at most
        ``history_size`` pairs); nothing changes unless everything fits."""
        owner = "LBFGS.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{owner}: state_dict: expected a mapping, got {type(state_dict).__name__}"
            )
        mine = {k: state_dict[k] for k in state_dict if k.startswith("lbfgs.")}
        # the pairs are checked against the checkpoint's history_size, the one restored (a
        # bad one is refused by the base class's load below, before anything changes)
        history_size = _whole(_as_number(state_dict.get("history_size")))
        if not isinstance(history_size, int) or history_size < 1:
            history_size = self.history_size
        given = {k[len("lbfgs.") :]: v for k, v in mine.items()}
        memory = self._read_memory(owner, given, history_size)
        super().load_state_dict({k: v for k, v in state_dict.items() if k not in mine})
        self._memory = memory

    def _read_memory(self, owner: str, given: dict[str, Any], history_size: int) -> dict[str, Any]:
        unknown = [k for k in given if k not in _MEMORY]
        if unknown:
            raise ValueError(
                f"{owner}: state_dict: unexpected key(s) {['lbfgs.' + k for k in unknown]}"
            )
        memory: dict[str, Any] = {}
        for name in ("n_iter", "func_evals"):
            if name not in given:
                raise ValueError(f"{owner}: state_dict: missing key 'lbfgs.{name}'")
            value = np.asarray(given[name])
            if value.shape != () or not np.issubdtype(value.dtype, np.integer) or value < 0:
                raise ValueError(
                    f"{owner}: state_dict['lbfgs.{name}']: expected a 0-d integer array >= 0, "
                    f"got dtype {value.dtype} shape {value.shape}"
                )
            memory[name] = int(value)
        rest = _MEMORY[2:]
        if memory["n_iter"] == 0 and not any(k in given for k in rest):
            return memory
        n, dtype = sum(p.size for p in self.params), self.params[0].dtype
        for name in rest:
            if name not in given:
                raise ValueError(
                    f"{owner}: state_dict: missing key 'lbfgs.{name}' (the history of "
                    f"{memory['n_iter']} iterations)"
                )
        m = np.asarray(given["ro"]).shape[0] if np.asarray(given["ro"]).ndim == 1 else -1
        expected = {
            "d": ((n,), dtype), "prev_flat_grad": ((n,), dtype),
            "old_dirs": ((m, n), dtype), "old_stps": ((m, n), dtype),
            "ro": ((m,), np.dtype(np.float64)),
            "t": ((), np.dtype(np.float64)), "H_diag": ((), np.dtype(np.float64)),
            "prev_loss": ((), np.dtype(np.float64)),
        }  # fmt: skip
        for name, (shape, want) in expected.items():
            value = np.asarray(given[name])
            if value.shape != shape or value.dtype != want or not np.isfinite(value).all():
                raise ValueError(
                    f"{owner}: state_dict['lbfgs.{name}']: expected finite values of shape "
                    f"{shape} and dtype {want}, got shape {value.shape} and dtype {value.dtype}"
                )
        if not 0 <= m <= history_size:
            raise ValueError(
                f"{owner}: state_dict['lbfgs.ro']: expected at most history_size = "
                f"{history_size} pairs (the checkpoint's), got {m}"
            )
        memory["d"] = np.array(given["d"])
        memory["prev_flat_grad"] = np.array(given["prev_flat_grad"])
        memory["old_dirs"] = list(np.array(given["old_dirs"]))
        memory["old_stps"] = list(np.array(given["old_stps"]))
        memory["ro"] = [float(r) for r in np.asarray(given["ro"])]
        for name in ("t", "H_diag", "prev_loss"):
            memory[name] = float(given[name])
        return memory

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v!r}" for k, v in self._torch_settings(self.hyperparameters()).items()
        )
        return f"LBFGS({settings})"


def _loss_of(result: Any) -> float:
    """The closure's loss as a float, or a TypeError naming the closure."""
    try:
        return float(result)
    except (TypeError, ValueError):
        raise TypeError(
            f"LBFGS.step: closure: expected it to return the loss (a number), got "
            f"{type(result).__name__}"
        ) from None


def _as_number(value: Any) -> Any:
    """A 0-d array's value as a Python number; anything else as given."""
    if isinstance(value, np.ndarray) and value.shape == ():
        return value.item()
    return value


def _whole(value: Any) -> Any:
    """A count read back from a float64 checkpoint (3.0) as the int it was; others as given."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

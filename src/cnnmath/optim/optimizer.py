"""The base class of the optimisers: the parameter list, the learning rate, the step counter,
the per-parameter buffers and their flat ``state_dict`` (the update rules and the state's keys
are in the docstring of :mod:`cnnmath.optim`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from .._checks import flag, real_number
from ..nn import Parameter


def _real(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """A finite real in [low, high] (or [low, high) with ``high_open``) as a Python float."""
    return real_number(name, value, func=owner, low=low, high=high, high_open=high_open)


_GROUPS = (
    "{owner}: parameter groups (dicts of params and settings) are not supported: an "
    "optimiser holds one group; for another rate on part of a model (a backbone and a "
    "head), give each part its own optimiser (and schedule), stepped together"
)


class ParamGroup(MutableMapping[str, Any]):
    """An optimiser's one parameter group, read and written as PyTorch's
    ``param_groups[0]`` dict: "params" (the parameters, a tuple), each hyperparameter by
    PyTorch's name ("lr", "momentum", "weight_decay", "betas" as a pair, …; not the flags
    cnnmath has no use for: "maximize", "foreach", "fused", …) and "initial_lr" once a
    schedule has set it (or the script does). Writing a key sets the optimiser's setting,
    checked as its constructor checks it; other keys cannot be added, none removed."""

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = dict(self._optimizer.hyperparameters())
        if "beta1" in settings:
            settings["betas"] = (settings.pop("beta1"), settings.pop("beta2"))
        if self._optimizer.initial_lr is not None:
            settings["initial_lr"] = self._optimizer.initial_lr
        return settings

    def _unknown(self, key: Any) -> KeyError:
        return KeyError(
            f"{type(self._optimizer).__name__}.param_groups[0]: no key {key!r}; expected one "
            f"of {['params', *self._settings()]}"
        )

    def __getitem__(self, key: str) -> Any:
        if key == "params":  # a tuple: the parameters are fixed when the optimiser is made
            return tuple(self._optimizer.params)
        settings = self._settings()
        if key not in settings:
            raise self._unknown(key)
        return settings[key]

    def __setitem__(self, key: str, value: Any) -> None:
        opt = self._optimizer
        if key == "lr":
            opt.lr = value
            return
        if key == "initial_lr":  # a schedule's base rate (PyTorch's custom schedules set it)
            opt.initial_lr = _real(type(opt).__name__, "initial_lr", value)
            return
        settings: dict[str, Any] = dict(opt.hyperparameters())
        if key == "betas" and "beta1" in settings:
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise TypeError(
                    f"{type(opt).__name__}: betas: expected a pair (beta1, beta2), got {value!r}"
                )
            settings["beta1"], settings["beta2"] = value
        elif key in settings and key not in ("beta1", "beta2"):
            settings[key] = value
        elif key == "params":
            raise TypeError(
                f"{type(opt).__name__}.param_groups[0]['params']: the parameters are fixed "
                "when the optimiser is made; make a new optimiser for others"
            )
        else:
            raise self._unknown(key)
        opt._configure(**settings)

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"{type(self._optimizer).__name__}.param_groups[0]: keys cannot be removed")

    def __iter__(self) -> Iterator[str]:
        return iter(["params", *self._settings()])

    def __len__(self) -> int:
        return 1 + len(self._settings())

    def __repr__(self) -> str:
        return repr(dict(self))


class Optimizer:
    """Base class: the parameter list, the learning rate, the step counter and the state.

    Subclasses name their per-parameter buffers in ``_buffers`` and implement ``_update``.
    """

    _buffers: tuple[str, ...] = ()
    #: the rate when the first learning-rate scheduler was made (None before): the base rate
    #: η₀ of every scheduler of this optimiser, as PyTorch's param_group["initial_lr"]
    initial_lr: float | None = None
    #: whether the first step makes the buffers (Adam's moments); SGD's momentum buffers
    #: appear at the first step with μ > 0, which may come late (μ raised mid-run)
    _buffers_from_step_one = False
    #: buffers that are one number per parameter, a 0-d float32 array (NAdam's "mu_product",
    #: as torch keeps it in a 0-d tensor of its default scalar dtype); the others are arrays
    #: of the parameter's shape and dtype
    _scalar_buffers: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        owner = type(self).__name__
        if isinstance(params, Parameter) or not isinstance(params, Iterable):
            raise TypeError(
                f"{owner}: params: expected a list of cnnmath.nn.Parameter (e.g. "
                f"model.parameters()), got {type(params).__name__}"
            )
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError(f"{owner}: params: expected at least one Parameter, got none")
        if any(isinstance(p, Mapping) for p in self.params):
            raise TypeError(_GROUPS.format(owner=owner))
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{owner}: params[{i}]: expected a cnnmath.nn.Parameter, got {type(p).__name__}"
                )
            if id(p) in seen:
                raise ValueError(f"{owner}: params[{i}]: the same Parameter appears twice")
            seen.add(id(p))
        self.lr = lr
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self._sat_out: dict[int, int] = {}  # parameter index -> steps taken while it was frozen
        self._t = 0  # the step number of the parameter `_update` is updating

    @property
    def lr(self) -> float:
        """The learning rate η; settable (for schedules), a finite number >= 0."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _real(type(self).__name__, "lr", value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's grad to zero in place. ``set_to_none`` is taken for
        PyTorch's scripts: a gradient here is always an array, so either way it is zeroed."""
        flag("set_to_none", set_to_none, func=f"{type(self).__name__}.zero_grad")
        for p in self.params:
            p.grad[...] = 0

    @property
    def param_groups(self) -> list[ParamGroup]:
        """PyTorch's ``optimizer.param_groups``: one group, every parameter (a dict-like
        view: ``param_groups[0]["lr"]`` reads the rate, ``g["lr"] = η`` sets it, as the
        loops of PyTorch's scripts do; see :class:`ParamGroup`)."""
        return [ParamGroup(self)]

    def add_param_group(self, param_group: Any) -> None:
        """Refused: one group per optimiser (see ``param_groups``)."""
        raise TypeError(_GROUPS.format(owner=f"{type(self).__name__}.add_param_group"))

    def step(self) -> None:
        """One update of every parameter from its current grad (see the module docstring);
        a frozen parameter (``requires_grad`` False) is left as it is, and so are its
        buffers: one frozen from the start has none (PyTorch's has no state either) and
        makes them at its first step. As in PyTorch each parameter counts its own steps:
        the t of Adam's bias corrections (and of its kin's, and Adagrad's ``lr_decay``) is
        the number of steps the parameter took, the optimiser's ``step_count`` less the
        steps it sat out (``state_dict`` "i.step", written for such a parameter)."""
        self.step_count += 1
        for i, (p, state) in enumerate(zip(self.params, self.state, strict=True)):
            if p.requires_grad:
                self._t = self.step_count - self._sat_out.get(i, 0)
                self._update(p, state)
            else:
                self._sat_out[i] = self._sat_out.get(i, 0) + 1

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- hyperparameters ---------------------------------------------------------------------
    _flags: tuple[str, ...] = ()  # hyperparameters that are bools (stored as 0.0 / 1.0)

    def hyperparameters(self) -> dict[str, float | bool]:
        """The settings, by name ("lr", "momentum", "beta1", …), as Python numbers."""
        return {"lr": self.lr}

    def _configure(self, **settings: Any) -> None:
        """Validate and set the hyperparameters (all of them, as ``hyperparameters()`` names)."""
        self.lr = settings["lr"]

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat copy of the state, every value an array: "step" (0-d int64), each
        hyperparameter ("lr", "momentum", "beta1", …; 0-d float64, flags as 0.0/1.0) and
        "i.<buffer>" arrays (like parameter i) for the buffers that exist, and "i.step" (0-d
        int64, PyTorch's per-parameter step) for a parameter that sat out steps, frozen."""
        out: dict[str, np.ndarray] = {"step": np.array(self.step_count, dtype=np.int64)}
        for name, value in self.hyperparameters().items():
            out[name] = np.array(float(value), dtype=np.float64)
        for i, state in enumerate(self.state):
            for name, buf in state.items():
                out[f"{i}.{name}"] = buf.copy()
            if i in self._sat_out:
                out[f"{i}.step"] = np.array(self.step_count - self._sat_out[i], dtype=np.int64)
        return out

    def _required_buffers(
        self, settings: Mapping[str, Any], states: list[dict[str, np.ndarray]], step: int
    ) -> tuple[str, ...]:
        """The buffers every parameter must bring in a loaded state with these ``settings``:
        a step makes every buffer of every parameter, so all of them once any exists, and
        (``_buffers_from_step_one``, Adam's moments) once a step is taken."""
        if any(states) or (self._buffers_from_step_one and step > 0):
            return self._buffers
        return ()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: the step, the hyperparameters (as PyTorch restores its
        param_groups, so a checkpoint's learning rate wins over the constructor's) and the
        buffers.

        Raises ValueError naming the key for a missing key ("step" and every
        hyperparameter are required; a parameter's buffers come all or none: none for one
        that was frozen until then, as PyTorch's state of a parameter that never stepped),
        an unknown key, a buffer whose shape or dtype differs from its parameter's, or a
        flag other than 0.0 or 1.0. Nothing is changed unless everything fits.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{owner}: state_dict: expected a mapping, got {type(state_dict).__name__}"
            )
        hyper_names = list(self.hyperparameters())
        for key in ("step", *hyper_names):
            if key not in state_dict:
                raise ValueError(f"{owner}: state_dict: missing key {key!r}")
        step = np.asarray(state_dict["step"])
        if step.shape != () or not np.issubdtype(step.dtype, np.integer) or int(step) < 0:
            raise ValueError(
                f"{owner}: state_dict['step']: expected a 0-d integer array >= 0, got "
                f"dtype {step.dtype} shape {step.shape}"
            )
        settings: dict[str, Any] = {}
        for name in hyper_names:
            value = np.asarray(state_dict[name])
            if value.shape != () or not np.issubdtype(value.dtype, np.floating):
                raise ValueError(
                    f"{owner}: state_dict[{name!r}]: expected a 0-d float array, got dtype "
                    f"{value.dtype} shape {value.shape}"
                )
            if name in self._flags and value not in (0.0, 1.0):
                raise ValueError(
                    f"{owner}: state_dict[{name!r}]: expected 0.0 or 1.0 (a flag), got {value}"
                )
            settings[name] = bool(value) if name in self._flags else float(value)
        new_state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        sat_out: dict[int, int] = {}
        for key, value in state_dict.items():
            if key == "step" or key in settings:
                continue
            index, _, name = key.partition(".")
            if name == "step" and index.isdigit() and int(index) < len(self.params):
                own = np.asarray(value)
                if (
                    own.shape != ()
                    or not np.issubdtype(own.dtype, np.integer)
                    or not 0 <= int(own) <= int(step)
                ):
                    given = f" value {own}" if own.shape == () else ""
                    raise ValueError(
                        f"{owner}: state_dict[{key!r}]: expected a 0-d integer array in "
                        f"[0, {int(step)}] (the steps parameter {index} took), got dtype "
                        f"{own.dtype} shape {own.shape}{given}"
                    )
                sat_out[int(index)] = int(step) - int(own)
                continue
            if not (index.isdigit() and int(index) < len(self.params) and name in self._buffers):
                raise ValueError(
                    f"{owner}: state_dict: unexpected key {key!r}; expected 'step', "
                    f"{', '.join(map(repr, hyper_names))}, 'i.<buffer>' and 'i.step' with "
                    f"i < {len(self.params)} and buffer in {self._buffers}"
                )
            p = self.params[int(index)]
            buf = np.asarray(value)
            scalar = name in self._scalar_buffers
            shape, dtype = ((), np.dtype(np.float32)) if scalar else (p.shape, p.dtype)
            if buf.shape != shape or buf.dtype != dtype:
                raise ValueError(
                    f"{owner}: state_dict[{key!r}]: expected shape {shape} and dtype "
                    f"{dtype} (parameter {index}), got shape {buf.shape} and dtype {buf.dtype}"
                )
            new_state[int(index)][name] = buf.copy()
        # A partial state would fail at the next step or resume inexactly.
        required = self._required_buffers(settings, new_state, int(step))
        for i, state in enumerate(new_state):
            if sat_out.get(i) == int(step):
                required_here = self._required_buffers(settings, new_state, 0) if state else ()
            else:
                required_here = required
            missing = [f"{i}.{b}" for b in required_here if b not in state]
            if missing:
                raise ValueError(
                    f"{owner}: state_dict: missing key(s) {missing} (step {int(step)}: "
                    f"every parameter has {list(required_here)} once one has, or none does"
                    + (" before its first step)" if self._buffers_from_step_one else ")")
                )
        before = self.hyperparameters()
        try:
            self._configure(**settings)
        except (TypeError, ValueError) as error:
            self._configure(**before)
            raise ValueError(f"{owner}: state_dict: {error}") from None
        self.step_count = int(step)
        self.state = new_state
        self._sat_out = sat_out

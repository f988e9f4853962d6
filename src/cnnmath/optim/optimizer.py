"""The base class of the optimisers: the parameters and their groups (each with its own
settings, as PyTorch's param_groups), the step counter, the per-parameter buffers and their
flat ``state_dict`` (the update rules and the state's keys are in the docstring of
:mod:`cnnmath.optim`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import numpy as np

from .._checks import flag, real_number
from ..nn import Parameter, UninitializedParameter, enable_grad


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


#: what an optimiser's ``params`` takes: Parameters (one group) or parameter groups (dicts)
Params = Iterable[Parameter] | Iterable[Mapping[str, Any]]


def _torch_names(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings by PyTorch's names: Adam's "beta1" and "beta2" as the pair "betas"."""
    named = dict(settings)
    if "beta1" in named:
        named["betas"] = (named.pop("beta1"), named.pop("beta2"))
    return named


def _own_names(owner: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings by PyTorch's names as ``_configure`` takes them: "betas" split in two."""
    split = dict(settings)
    if "betas" in split:
        betas = split.pop("betas")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{owner}: betas: expected a pair (beta1, beta2), got {betas!r}")
        split["beta1"], split["beta2"] = betas
    return split


def _without(owner: str, error: Exception) -> str:
    """An error's message without its leading "Owner: " (for a message that names more)."""
    message = str(error)
    return message[len(owner) + 2 :] if message.startswith(f"{owner}: ") else message


def _call(closure: Any, owner: str) -> Any:
    """``closure()`` (the loss it returns) under gradient mode, as PyTorch's optimisers call
    it; a TypeError naming the argument if it is not callable."""
    if not callable(closure):
        raise TypeError(
            f"{owner}.step: closure: expected a function that re-evaluates the model (zero "
            f"the gradients, forward, backward) and returns the loss, got {closure!r:.80}"
        )
    with enable_grad():
        return closure()


class _ParamGroups(tuple[Any, ...]):
    """``optimizer.param_groups``: the groups' views in order, a tuple (indexed, iterated,
    measured as PyTorch's list) whose ``append`` says to call ``add_param_group`` (the list
    is made afresh at each read, so appending to it would silently do nothing)."""

    def append(self, group: Any) -> None:
        """Refused, with the way to add a group."""
        raise TypeError(
            "param_groups.append: the groups are the optimiser's; add one with "
            "optimizer.add_param_group(group)"
        )

    extend = insert = append


class ParamGroup(MutableMapping[str, Any]):
    """One parameter group of an optimiser, read and written as a dict of PyTorch's
    ``param_groups``: "params" (the group's parameters, a tuple), each hyperparameter by
    PyTorch's name ("lr", "momentum", "weight_decay", "betas" as a pair, …; not the flags
    cnnmath has no use for: "maximize", "foreach", "fused", …) and "initial_lr" once a
    schedule has set it (or the script does). Writing a key sets that group's setting,
    checked as the constructor checks it; other keys cannot be added, none removed."""

    def __init__(self, optimizer: Optimizer, index: int = 0) -> None:
        self._optimizer = optimizer
        self._index = index

    def _settings(self) -> dict[str, Any]:
        opt, g = self._optimizer, self._index
        settings = opt._torch_settings(opt._group_settings(g))
        if opt._initial_lrs[g] is not None:
            settings["initial_lr"] = opt._initial_lrs[g]
        return settings

    def _where(self) -> str:
        return f"{type(self._optimizer).__name__}.param_groups[{self._index}]"

    def _unknown(self, key: Any) -> KeyError:
        return KeyError(
            f"{self._where()}: no key {key!r}; expected one of {['params', *self._settings()]}"
        )

    def __getitem__(self, key: str) -> Any:
        if key == "params":  # a tuple: add_param_group is the way to add parameters
            return tuple(self._optimizer._group_params(self._index))
        settings = self._settings()
        if key not in settings:
            raise self._unknown(key)
        return settings[key]

    def __setitem__(self, key: str, value: Any) -> None:
        opt, g = self._optimizer, self._index
        owner = type(opt).__name__
        if key == "initial_lr":  # a schedule's base rate (PyTorch's custom schedules set it)
            opt._initial_lrs[g] = _real(owner, "initial_lr", value)
            return
        if key == "params":
            raise TypeError(
                f"{self._where()}['params']: a group's parameters are fixed; add others with "
                "add_param_group"
            )
        settings = opt._torch_settings(opt._group_settings(g))
        if key not in settings:
            raise self._unknown(key)
        settings[key] = value
        try:
            with opt._group(g):
                opt._configure(**opt._own_settings(owner, settings))
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self._where()}: {_without(owner, error)}") from None

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"{self._where()}: keys cannot be removed")

    def __iter__(self) -> Iterator[str]:
        return iter(["params", *self._settings()])

    def __len__(self) -> int:
        return 1 + len(self._settings())

    def __repr__(self) -> str:
        return repr(dict(self))


class Optimizer:
    """Base class: the parameters in their groups, the settings of each group, the step
    counter and the state.

    ``params`` is a list of :class:`cnnmath.nn.Parameter` (one group), or, as PyTorch's, a
    list of dicts, each a group: "params" (its parameters) and any of the constructor's
    settings by PyTorch's names, which override the constructor's for that group::

        SGD([{"params": backbone.parameters(), "lr": 1e-3},
             {"params": head.parameters()}], lr=1e-2, momentum=0.9)

    A key the optimiser has no setting for (a misspelt "weight_decy", PyTorch's "foreach")
    is refused rather than ignored. The parameters of all groups, in order, are ``params``
    (the "i" of ``state_dict``'s keys). The attributes (``lr``, ``momentum``, …) and
    ``hyperparameters()`` are the first group's settings; ``param_groups[k]`` reads and sets
    group k's, as in PyTorch.

    Subclasses name their per-parameter buffers in ``_buffers``, make their settings with
    ``_set_defaults`` and implement ``_update``, which reads the attributes: ``step`` loads
    each group's settings into them in turn (``_group``).
    """

    _buffers: tuple[str, ...] = ()
    #: settings a group cannot set for itself (PyTorch's update ignores a group's)
    _not_per_group: tuple[str, ...] = ()
    #: whether the first step makes the buffers (Adam's moments); SGD's momentum buffers
    #: appear at the first step with μ > 0, which may come late (μ raised mid-run)
    _buffers_from_step_one = False
    #: buffers that are one number per parameter, a 0-d float32 array (NAdam's "mu_product",
    #: as torch keeps it in a 0-d tensor of its default scalar dtype); the others are arrays
    #: of the parameter's shape and dtype
    _scalar_buffers: tuple[str, ...] = ()

    def __init__(self, params: Params, lr: float) -> None:
        owner = type(self).__name__
        if isinstance(params, (Parameter, Mapping)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{owner}: params: expected a list of cnnmath.nn.Parameter (e.g. "
                f"model.parameters()) or of parameter groups (dicts), got {type(params).__name__}"
            )
        entries: list[Any] = list(params)
        grouped = bool(entries) and all(isinstance(e, Mapping) for e in entries)
        if not grouped and any(isinstance(e, Mapping) for e in entries):
            raise TypeError(
                f"{owner}: params: expected Parameters or parameter groups (dicts), not both"
            )
        self.params: list[Parameter] = []
        self._members: list[list[int]] = []  # group k -> the indices of its parameters
        self._overrides: list[dict[str, Any]] = []  # each group's own settings, until _set_defaults
        for k, entry in enumerate(entries if grouped else [{"params": entries}]):
            group_params, own = self._group_spec(f"params[{k}]" if grouped else "params", entry)
            self._take(group_params)
            self._overrides.append(own)
        if not self.params:
            raise ValueError(f"{owner}: params: expected at least one Parameter, got none")
        self.lr = lr
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self._sat_out: dict[int, int] = {}  # parameter index -> steps taken while it was frozen
        self._t = 0  # the step number of the parameter `_update` is updating

    # -- parameter groups --------------------------------------------------------------------
    def _checked_params(self, where: str, params: Any, owner: str) -> list[Parameter]:
        """``params`` as a list of Parameters new to this optimiser; TypeError/ValueError
        naming ``where`` otherwise. An UninitializedParameter (a lazy module's, before its
        first forward) is refused: torch.optim takes one (and trains it once a dry run has
        materialised it in place), but an optimiser made before the dry run is the usual
        slip of a d2l-style port, so it is named here, where it was made."""
        if isinstance(params, Parameter):
            params = [params]  # PyTorch takes one tensor for a group's "params"
        if isinstance(params, (Mapping, set, frozenset)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{owner}: {where}: expected a list of cnnmath.nn.Parameter (in a fixed order: "
                f"the checkpoint's keys count them), got {type(params).__name__}"
            )
        listed = list(params)
        seen = {id(p) for p in self.params}
        for i, p in enumerate(listed):
            if not isinstance(p, Parameter):
                named = isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Parameter)
                raise TypeError(
                    f"{owner}: {where}[{i}]: expected a cnnmath.nn.Parameter, got "
                    f"{type(p).__name__}"
                    + (" (a (name, parameter) pair: pass model.parameters())" if named else "")
                )
            if isinstance(p, UninitializedParameter):
                raise ValueError(
                    f"{owner}: {where}[{i}]: an uninitialised parameter of a lazy module; run "
                    "one forward pass first (a lazy module infers its input size), then make "
                    "the optimiser"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{owner}: {where}[{i}]: the same Parameter appears twice (in one group or "
                    "in two)"
                )
            seen.add(id(p))
        return listed

    def _group_spec(
        self, where: str, group: Mapping[str, Any], owner: str = ""
    ) -> tuple[list[Parameter], dict]:
        """A group dict's parameters and its settings (by PyTorch's names), checked. (The
        plain list of Parameters comes as {"params": the list} with ``where`` "params".)"""
        owner = owner or type(self).__name__
        if "params" not in group:
            raise ValueError(f"{owner}: {where}: a parameter group needs the key 'params'")
        overrides = {k: v for k, v in group.items() if k != "params"}
        for key in overrides:
            if not isinstance(key, str):
                raise TypeError(f"{owner}: {where}: expected string keys, got {key!r}")
        where_params = where if where == "params" else f"{where}['params']"
        return self._checked_params(where_params, group["params"], owner), overrides

    def _take(self, group_params: list[Parameter]) -> None:
        start = len(self.params)
        self.params.extend(group_params)
        self._members.append(list(range(start, len(self.params))))

    def _set_defaults(self, **settings: Any) -> None:
        """Check and set the constructor's settings (``_configure``'s names), then each group's
        own (checked as the constructor's; an unknown key refused): the subclass's
        constructor calls this once, after ``Optimizer.__init__``."""
        self._configure(**settings)
        self._defaults = self.hyperparameters()
        self._groups: list[dict[str, Any]] = []
        self._initial_lrs: list[float | None] = []
        self._active = 0  # the group whose settings the attributes hold
        overrides, self._overrides = self._overrides, []
        for k, own in enumerate(overrides):
            settings, initial = self._settings_for(f"params[{k}]", own)
            self._groups.append(settings)
            self._initial_lrs.append(initial)
        self._configure(**self._groups[0])

    def _settings_for(
        self, where: str, own: Mapping[str, Any], owner: str = ""
    ) -> tuple[dict[str, Any], float | None]:
        """The constructor's settings with a group's ``own`` (PyTorch's names) over them,
        checked by ``_configure`` (which leaves them in the attributes), and the group's
        "initial_lr" if it gives one, checked."""
        owner = owner or type(self).__name__
        names = self._torch_settings(self._defaults)
        unknown = [k for k in own if k not in names and k != "initial_lr"]
        if unknown:
            raise ValueError(
                f"{owner}: {where}: unknown setting(s) {unknown}; a parameter group takes "
                f"'params' and {list(names)}"
            )
        for key in self._not_per_group:
            if key in own:
                raise ValueError(
                    f"{owner}: {where}: {key} is the constructor's for every group (PyTorch's "
                    "is too, whatever a group says); give it to the constructor"
                )
        settings = self._own_settings(
            owner, {**names, **{k: v for k, v in own.items() if k in names}}
        )
        try:
            self._configure(**settings)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {where}: {_without(type(self).__name__, error)}") from None
        initial = own.get("initial_lr")
        if initial is not None:
            initial = _real(owner, f"{where}['initial_lr']", initial)
        return self.hyperparameters(), initial

    def _torch_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``hyperparameters()``'s settings by PyTorch's names (Adam's betas a pair)."""
        return _torch_names(settings)

    def _own_settings(self, owner: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Settings by PyTorch's names as ``_configure`` takes them."""
        return _own_names(owner, settings)

    def _group_settings(self, g: int) -> dict[str, Any]:
        """Group g's settings (``hyperparameters()``'s names)."""
        return self.hyperparameters() if g == self._active else dict(self._groups[g])

    def _group_params(self, g: int) -> list[Parameter]:
        return [self.params[i] for i in self._members[g]]

    @contextmanager
    def _group(self, g: int) -> Iterator[None]:
        """Group g's settings in the attributes for the block, the first group's after it.
        With one group nothing moves: the attributes are that group's settings."""
        try:
            self._use(g)
            yield
        finally:
            self._use(0)

    def _use(self, g: int) -> None:
        if g == self._active:
            return
        self._groups[self._active] = self.hyperparameters()
        self._configure(**self._groups[g])
        self._active = g

    @property
    def initial_lr(self) -> float | None:
        """The first group's rate when the first learning-rate scheduler was made (None
        before), PyTorch's ``param_groups[0]["initial_lr"]``."""
        return self._initial_lrs[0]

    @initial_lr.setter
    def initial_lr(self, value: float | None) -> None:
        self._initial_lrs[0] = (
            None if value is None else _real(type(self).__name__, "initial_lr", value)
        )

    @property
    def defaults(self) -> Mapping[str, Any]:
        """The constructor's settings by PyTorch's names ("betas" a pair): what a group
        added by ``add_param_group`` starts from, as PyTorch's ``optimizer.defaults``. Read
        only (PyTorch's may be written to change what later groups start from; here a
        write raises: give the setting in the ``add_param_group`` dict)."""
        return MappingProxyType(self._torch_settings(self._defaults))

    @property
    def lr(self) -> float:
        """The learning rate η; settable (for schedules), a finite number >= 0."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _real(type(self).__name__, "lr", value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's grad to zero in place (a gradient here is always an
        array). With ``set_to_none`` (PyTorch's default) each then has no gradient, as
        PyTorch's grad of None, and ``step`` skips a parameter no backward reached since;
        without, each has a zero gradient (``Parameter.zero_grad``)."""
        flag("set_to_none", set_to_none, func=f"{type(self).__name__}.zero_grad")
        for p in self.params:
            p.zero_grad(set_to_none)

    @property
    def param_groups(self) -> _ParamGroups:
        """PyTorch's ``optimizer.param_groups``: one dict-like view per group, in order
        (``param_groups[k]["lr"]`` reads group k's rate, ``g["lr"] = η`` sets it, as the
        loops of PyTorch's scripts do; see :class:`ParamGroup`)."""
        return _ParamGroups(ParamGroup(self, g) for g in range(len(self._members)))

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group, as PyTorch's: a dict with "params" (Parameters new to this optimiser)
        and any settings, the others the constructor's (``defaults``), not the first group's
        current ones. Its parameters follow the others in ``params`` and start without state
        (a fine-tuning script unfreezing the backbone adds it this way). A learning-rate
        schedule made before refuses to step afterwards: it schedules the groups it was
        made with."""
        owner = f"{type(self).__name__}.add_param_group"
        if not isinstance(param_group, Mapping):
            raise TypeError(
                f"{owner}: param_group: expected a dict with 'params' and settings, got "
                f"{type(param_group).__name__}"
            )
        group_params, own = self._group_spec("param_group", param_group, owner)
        first = self.hyperparameters()  # the attributes hold the first group's at rest
        try:
            settings, initial = self._settings_for("param_group", own, owner)
        finally:
            self._configure(**first)
        start = len(self.params)
        self._take(group_params)
        self._groups.append(settings)
        self._initial_lrs.append(initial)
        self.state.extend({} for _ in group_params)
        # Each parameter counts its own steps: the ones taken before it came, it sat out
        # (Adam's bias correction starts at t = 1 for it, as torch's).
        if self.step_count:
            self._sat_out.update(dict.fromkeys(range(start, len(self.params)), self.step_count))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter from its current grad (see the module docstring).
        A ``closure`` (PyTorch's: a function that zeroes the gradients, runs the forward and
        backward passes and returns the loss) is called first and its loss returned;
        without one the step returns None.

        A parameter without a gradient since the last ``zero_grad`` (``Parameter.has_grad``
        False: the batch did not reach it — an unused branch, a head that sat this batch
        out), as PyTorch's with a grad of None, and a frozen one (``requires_grad`` False)
        are left as they are, and so are their buffers: one that never stepped has none
        (PyTorch's has no state either) and makes them at its first step. As in PyTorch
        each parameter counts its own steps: the t of Adam's bias corrections (and of its
        kin's, and Adagrad's ``lr_decay``) is the number of steps the parameter took, the
        optimiser's ``step_count`` less the steps it sat out (``state_dict`` "i.step",
        written for such a parameter)."""
        loss = None if closure is None else _call(closure, type(self).__name__)
        self.step_count += 1
        for g, members in enumerate(self._members):
            with self._group(g):
                for i in members:
                    p = self.params[i]
                    if p._stepped():
                        self._t = self.step_count - self._sat_out.get(i, 0)
                        self._update(p, self.state[i])
                    else:
                        self._sat_out[i] = self._sat_out.get(i, 0) + 1
        return loss

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
        hyperparameter of the first group ("lr", "momentum", "beta1", …; 0-d float64, flags
        as 0.0/1.0), "i.<buffer>" arrays (like parameter i) for the buffers that exist, and
        "i.step" (0-d int64, PyTorch's per-parameter step) for a parameter that sat out
        steps, frozen; "initial_lr" (0-d float64), a schedule's base rate, once one has set
        it (PyTorch's param_groups keep it, so a schedule made after resuming starts from
        it). With several groups also "groups.sizes" (1-d int64, the number of parameters in
        each group) and "groups.k.<hyperparameter>" (and "groups.k.initial_lr") for each
        group k >= 1."""
        out: dict[str, np.ndarray] = {"step": np.array(self.step_count, dtype=np.int64)}
        for g in range(len(self._members)):
            prefix = f"groups.{g}." if g else ""
            for name, value in self._group_settings(g).items():
                out[prefix + name] = np.array(float(value), dtype=np.float64)
            if self._initial_lrs[g] is not None:
                out[prefix + "initial_lr"] = np.array(self._initial_lrs[g], dtype=np.float64)
        if len(self._members) > 1:
            out["groups.sizes"] = np.array([len(m) for m in self._members], dtype=np.int64)
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
        n_groups = len(self._members)
        prefixes = [f"groups.{g}." if g else "" for g in range(n_groups)]
        group_keys = [prefix + name for prefix in prefixes for name in hyper_names]
        if n_groups > 1:
            group_keys.append("groups.sizes")
        for key in ("step", *group_keys):
            if key not in state_dict:
                raise ValueError(
                    f"{owner}: state_dict: missing key {key!r}"
                    + (f" (this optimiser has {n_groups} parameter groups)" if n_groups > 1 else "")
                )
        if n_groups > 1:
            sizes = np.asarray(state_dict["groups.sizes"])
            own_sizes = [len(m) for m in self._members]
            if sizes.shape != (n_groups,) or sizes.tolist() != own_sizes:
                raise ValueError(
                    f"{owner}: state_dict['groups.sizes']: expected the groups' sizes "
                    f"{own_sizes}, got {sizes.tolist()}"
                )
        step = np.asarray(state_dict["step"])
        if step.shape != () or not np.issubdtype(step.dtype, np.integer) or int(step) < 0:
            raise ValueError(
                f"{owner}: state_dict['step']: expected a 0-d integer array >= 0, got "
                f"dtype {step.dtype} shape {step.shape}"
            )
        groups: list[dict[str, Any]] = [{} for _ in range(n_groups)]
        for settings, prefix in zip(groups, prefixes, strict=True):
            for name in hyper_names:
                key = prefix + name
                value = np.asarray(state_dict[key])
                if value.shape != () or not np.issubdtype(value.dtype, np.floating):
                    raise ValueError(
                        f"{owner}: state_dict[{key!r}]: expected a 0-d float array, got dtype "
                        f"{value.dtype} shape {value.shape}"
                    )
                if name in self._flags and value not in (0.0, 1.0):
                    raise ValueError(
                        f"{owner}: state_dict[{key!r}]: expected 0.0 or 1.0 (a flag), got {value}"
                    )
                settings[name] = bool(value) if name in self._flags else float(value)
        new_state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        sat_out: dict[int, int] = {}
        initial_lrs: list[float | None] = []
        for prefix in prefixes:  # optional: a schedule's base rate, once one was made
            key = prefix + "initial_lr"
            if key not in state_dict:
                initial_lrs.append(None)
                continue
            value = np.asarray(state_dict[key])
            if value.shape != () or not np.issubdtype(value.dtype, np.floating):
                raise ValueError(
                    f"{owner}: state_dict[{key!r}]: expected a 0-d float array, got dtype "
                    f"{value.dtype} shape {value.shape}"
                )
            initial_lrs.append(_real(owner, f"state_dict[{key!r}]", float(value)))
        read = {"step", *group_keys, *(prefix + "initial_lr" for prefix in prefixes)}
        for key, value in state_dict.items():
            if key in read:  # (another group's "initial_lr" is an unexpected key below)
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
                    + (
                        f", and 'groups.sizes' and 'groups.k.<hyperparameter>' for k < {n_groups}"
                        if n_groups > 1
                        else ""
                    )
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
        # A partial state would fail at the next step or resume inexactly. The groups step
        # together, each with its own settings (RMSprop's momentum buffer is one's, not all's).
        for settings, members in zip(groups, self._members, strict=True):
            states = [new_state[i] for i in members]
            required = self._required_buffers(settings, states, int(step))
            for i in members:
                state = new_state[i]
                if sat_out.get(i) == int(step):
                    required_here = self._required_buffers(settings, states, 0) if state else ()
                else:
                    required_here = required
                missing = [f"{i}.{b}" for b in required_here if b not in state]
                if missing:
                    raise ValueError(
                        f"{owner}: state_dict: missing key(s) {missing} (step {int(step)}: "
                        f"every parameter has {list(required_here)} once one has, or none does"
                        + (" before its first step)" if self._buffers_from_step_one else ")")
                    )
        before = [self._group_settings(g) for g in range(n_groups)]
        try:
            for g, settings in enumerate(groups):
                try:
                    with self._group(g):
                        self._configure(**settings)
                except (TypeError, ValueError) as error:
                    where = f" (group {g})" if n_groups > 1 else ""
                    raise ValueError(f"{owner}: state_dict{where}: {error}") from None
        except ValueError:
            self._groups = [dict(b) for b in before]
            self._active = 0
            self._configure(**before[0])
            raise
        self.step_count = int(step)
        self.state = new_state
        self._sat_out = sat_out
        self._initial_lrs = [
            mine if loaded is None else loaded
            for mine, loaded in zip(self._initial_lrs, initial_lrs, strict=True)
        ]

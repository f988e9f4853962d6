"""Hooks on a module's forward and backward passes, with PyTorch's four kinds and calling
conventions (``Module.register_forward_pre_hook`` and its siblings register them):

    forward pre-hook      hook(module, args)                     -> None or new args
                          hook(module, args, kwargs)             -> None or (args, kwargs)
    forward hook          hook(module, args, output)             -> None or new output
                          hook(module, args, kwargs, output)     -> None or new output
    backward pre-hook     hook(module, grad_output)              -> None or new grad_output
    backward hook         hook(module, grad_input, grad_output)  -> None or new grad_input

``args`` is the tuple of the module's inputs; ``grad_output`` the tuple of ∂ℓ/∂outputs (one
per output) and ``grad_input`` the tuple of ∂ℓ/∂inputs, None for an input that takes no
gradient (integer indices, or a batch of images when the backward needs none: the first
layer of a training step). A returned value replaces the one given (a single array for a
tuple of one); hooks run in the order they were registered, each seeing what the one before
returned. ``handle.remove()`` (or leaving ``with handle:``) unregisters a hook; PyTorch's
``prepend=True`` puts a hook before the others. A forward hook or pre-hook registered with
``with_kwargs=True`` also gets the keyword arguments of the call (a dict, empty when there
are none) and a pre-hook of that kind returns None or the pair (args, kwargs). A forward
hook registered with ``always_call=True`` runs even when the forward raises (or a pre-hook,
or a forward hook before it): it is given the output as far as it got (None when the
forward itself failed), an error of its own is turned into a warning, and the first error
is raised again — PyTorch's rules, for hooks that must close what a pre-hook opened.

A forward hook or pre-hook that returns a new value changes what the forward computes, but
not what the backward differentiates (cnnmath differentiates its layers, not the hook's own
computation, as PyTorch's autograd would): after such a forward the module's backward is
refused, naming the module, unless the forward ran under ``nn.no_grad()``, where nothing is
differentiated. A change made in place to the array a hook is given is not seen at all.
Backward hooks' replacements are exact. On a hand-written module (its own ``forward`` and
``backward``) the forward hooks run when it is called; its backward hooks, and the
shielding of frozen parameters, only when a container runs its backward: its own
``backward``, called directly, runs as written.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

KINDS = ("forward_pre", "forward", "backward_pre", "backward")

_ids = itertools.count()


class RemovableHandle:
    """What registering a hook returns: ``remove()`` unregisters it (again: nothing)."""

    __slots__ = ("_table", "_key")

    def __init__(self, table: dict[int, Callable[..., Any]], key: int) -> None:
        self._table, self._key = table, key

    def remove(self) -> None:
        """Unregister the hook."""
        self._table.pop(self._key, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Hooks:
    """A module's hooks, one ordered table per kind (``KINDS``)."""

    __slots__ = (*KINDS, "with_kwargs", "always_call")

    def __init__(self) -> None:
        self.forward_pre: dict[int, Callable[..., Any]] = {}
        self.forward: dict[int, Callable[..., Any]] = {}
        self.backward_pre: dict[int, Callable[..., Any]] = {}
        self.backward: dict[int, Callable[..., Any]] = {}
        self.with_kwargs: set[int] = set()  # keys of the hooks that get the keyword arguments
        self.always_call: set[int] = set()  # keys of the forward hooks run when it raises

    def add(
        self,
        kind: str,
        hook: Any,
        *,
        prepend: Any = False,
        func: str,
        with_kwargs: Any = False,
        always_call: Any = False,
    ) -> RemovableHandle:
        """Register ``hook`` (a callable) under ``kind``, after the others or, with
        ``prepend``, before them (PyTorch's keyword); its handle. ``with_kwargs`` (forward
        hooks and pre-hooks) and ``always_call`` (forward hooks) as the module docstring
        says."""
        if not callable(hook):
            raise TypeError(f"{func}: hook: expected a callable, got {type(hook).__name__}")
        for name, flag in (("prepend", prepend), ("with_kwargs", with_kwargs)):
            if not isinstance(flag, bool):
                raise TypeError(f"{func}: {name}: expected a bool, got {flag!r:.40}")
        if not isinstance(always_call, bool):
            raise TypeError(f"{func}: always_call: expected a bool, got {always_call!r:.40}")
        table: dict[int, Callable[..., Any]] = getattr(self, kind)
        key = next(_ids)
        if with_kwargs:
            self.with_kwargs.add(key)
        if always_call:
            self.always_call.add(key)
        if prepend:
            rest = dict(table)
            table.clear()
            table[key] = hook
            table.update(rest)
        else:
            table[key] = hook
        return RemovableHandle(table, key)

    def __deepcopy__(self, memo: dict[int, Any]) -> Hooks:
        """A copied module calls the same hooks (not copies of them: a hook that records
        into a list records into that list), as PyTorch's; removing a hook from the
        original leaves the copy's."""
        copied = Hooks()
        for kind in KINDS:
            getattr(copied, kind).update(getattr(self, kind))
        copied.with_kwargs.update(self.with_kwargs)
        copied.always_call.update(self.always_call)
        return copied

    def __reduce__(self) -> tuple[type[Hooks], tuple[()]]:
        """A pickled module arrives without hooks (a worker of a Dask cluster has no use
        for the caller's, which are often closures that cannot be pickled)."""
        return Hooks, ()


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _like(new: Any, old: Any, module: Any, kind: str) -> Any:
    """``new`` (a hook's result) in the form of ``old``: a single value for a single one,
    as many values as were given."""
    new, given = _as_tuple(new), _as_tuple(old)
    if len(new) != len(given):
        raise ValueError(
            f"{type(module).__name__}: a {kind} hook returned {len(new)} value(s) for the "
            f"{len(given)} it was given; return a tuple of as many, or None to keep them"
        )
    return new if isinstance(old, tuple) else new[0]


def replaced(before: Any, after: Any) -> bool:
    """Whether a hook's result is other than what it was given (an array, or a tuple of
    them, compared by identity: a change made in place is not seen)."""
    if isinstance(before, tuple) and isinstance(after, tuple) and len(before) == len(after):
        return any(a is not b for a, b in zip(before, after, strict=True))
    return before is not after


def run_forward(
    hooks: Hooks,
    module: Any,
    compute: Callable[..., tuple[Any, Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any], Any, Any, Any]:
    """One forward of ``module`` with its forward pre-hooks and hooks around
    ``compute(*args, **kwargs) -> (y, extra)``: (the args and kwargs after the pre-hooks, y,
    the output after the hooks, extra). When any step raises, the ``always_call`` hooks not
    yet run are run before the error goes on."""
    output: Any = None
    called: set[int] = set()
    try:
        for key, hook in list(hooks.forward_pre.items()):
            if key in hooks.with_kwargs:
                result = hook(module, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"{type(module).__name__}: a forward pre-hook registered with "
                            "with_kwargs=True must return None or a pair (args, kwargs), got "
                            f"{type(result).__name__} {result!r:.60}"
                        )
                    new_args, kwargs = result[0], dict(result[1])
                    args = tuple(new_args) if isinstance(new_args, (tuple, list)) else (new_args,)
            else:
                result = hook(module, args)
                if result is not None:
                    args = _as_tuple(result)
        y, extra = compute(*args, **kwargs)
        output = y
        for key, hook in list(hooks.forward.items()):
            called.add(key)
            output = _after(hooks, key, hook, module, args, kwargs, output)
        return args, kwargs, y, output, extra
    except Exception:
        for key, hook in list(hooks.forward.items()):
            if key not in hooks.always_call or key in called:
                continue
            try:
                output = _after(hooks, key, hook, module, args, kwargs, output)
            except Exception as error:
                warnings.warn(
                    f"{type(module).__name__}: a forward hook registered with always_call=True "
                    f"raised while the forward was failing; its error is dropped: {error}",
                    UserWarning,
                    stacklevel=3,
                )
        raise


def _after(
    hooks: Hooks,
    key: int,
    hook: Callable[..., Any],
    module: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output: Any,
) -> Any:
    """The output after one forward hook: hook(module, args[, kwargs], output), or the
    output as it was when the hook returns None."""
    if key in hooks.with_kwargs:
        result = hook(module, args, kwargs, output)
    else:
        result = hook(module, args, output)
    return output if result is None else result


def replaced_kwargs(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a pre-hook changed the keyword arguments (a key, or a value by identity)."""
    return before.keys() != after.keys() or any(after[k] is not v for k, v in before.items())


def backward_pre(hooks: Hooks, module: Any, grad_output: Any) -> Any:
    """∂ℓ/∂outputs after the backward pre-hooks (in the form given: one array or a tuple)."""
    for hook in list(hooks.backward_pre.values()):
        result = hook(module, _as_tuple(grad_output))
        if result is not None:
            grad_output = _like(result, grad_output, module, "backward pre-")
    return grad_output


def backward(hooks: Hooks, module: Any, grad_input: Any, grad_output: Any) -> Any:
    """∂ℓ/∂inputs after the backward hooks (None given for the inputs' gradients not
    computed: the hooks see (None,))."""
    for hook in list(hooks.backward.values()):
        result = hook(module, _as_tuple(grad_input), _as_tuple(grad_output))
        if result is not None:
            grad_input = _like(result, grad_input, module, "backward")
    return grad_input

"""A module's forward and backward as the containers run them: its hooks around each pass
(`cnnmath.nn.hooks`) and its frozen parameters honoured (``requires_grad``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import hooks as _hooks
from .grad_mode import grad_enabled
from .parameter import Parameter

if TYPE_CHECKING:
    from .module import Module


def run_forward(module: Module, *inputs: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``module.forward_ctx(*inputs)`` with the module's forward hooks around it (the
    containers run their children through this function)."""
    hooks = vars(module).get("_hooks")
    if hooks is None or not (hooks.forward_pre or hooks.forward):
        return module.forward_ctx(*inputs, **kwargs)
    args, new_kwargs, y, out, ctx = _hooks.run_forward(
        hooks, module, module.forward_ctx, inputs, kwargs
    )
    if grad_enabled() and (
        _hooks.replaced(inputs, args)
        or _hooks.replaced_kwargs(kwargs, new_kwargs)
        or _hooks.replaced(y, out)
    ):
        ctx = _HookReplaced(ctx)  # the backward would miss what the hook computed
    return out, ctx


class _HookReplaced:
    """The context of a forward whose hooks replaced an input or the output: refused by
    the backward (`run_backward`), which cannot differentiate what the hook computed."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx


def has_hooks(module: Module) -> bool:
    """Whether any hook is registered on ``module`` (a container then runs it alone, not
    fused with its neighbour)."""
    hooks = vars(module).get("_hooks")
    return hooks is not None and any(getattr(hooks, kind) for kind in _hooks.KINDS)


def run_backward(module: Module, ctx: Any, grad_output: Any, *, input_grad: bool) -> Any:
    """``_run_backward`` with the module's backward hooks around it: the pre-hooks may
    replace G, the hooks ∂ℓ/∂input (``None`` given where the input's gradient is not
    computed). A module the backward skips calls neither."""
    if isinstance(ctx, _HookReplaced):
        raise RuntimeError(
            f"{type(module).__name__}.backward: a forward hook (or pre-hook) of this module "
            "replaced a value it was given, which the backward cannot differentiate; run "
            "that forward without the hook to differentiate it (or under nn.no_grad() when "
            "no backward follows)"
        )
    hooks = vars(module).get("_hooks")
    if hooks is None or not (hooks.backward_pre or hooks.backward):
        return _run_backward(module, ctx, grad_output, input_grad=input_grad)
    if not input_grad and not module.trains():
        return None
    grad_output = _hooks.backward_pre(hooks, module, grad_output)
    grad_input = _run_backward(module, ctx, grad_output, input_grad=input_grad)
    if not hooks.backward:
        return grad_input
    return _hooks.backward(hooks, module, grad_input, grad_output)


def _run_backward(module: Module, ctx: Any, grad_output: Any, *, input_grad: bool) -> Any:
    """One module's backward pass from ``ctx`` and G = ∂ℓ/∂y, honouring ``requires_grad``:
    ∂ℓ/∂input (None without ``input_grad``), each trainable parameter's ∂ℓ/∂θ added into
    its ``grad``.

    Without ``input_grad`` a module with no trainable parameter is skipped (nothing it
    computes is needed). A container routes its children through this function; any other
    module runs whole, each frozen parameter's ``grad`` replaced by a scratch array for the
    call, so that the layers need not know about freezing and the frozen gradients stay as
    they were (PyTorch's frozen parameter gets none)."""
    if module._routes_backward:
        if input_grad:
            return module.backward_ctx(ctx, grad_output)
        if module.trains():
            module.backward_params_ctx(ctx, grad_output)
        return None
    trainable, frozen = False, list[Parameter]()
    for _, p in module._walk_parameters(""):  # (a tied parameter may come twice)
        if p.requires_grad:
            trainable = True
        elif all(q is not p for q in frozen):
            frozen.append(p)
    if not input_grad and not trainable:
        return None
    kept = [(p.grad, p.has_grad) for p in frozen]
    for p in frozen:
        p.grad = None  # a fresh array of zeros, dropped after the call
    try:
        if input_grad:
            return module.backward_ctx(ctx, grad_output)
        module.backward_params_ctx(ctx, grad_output)
        return None
    finally:
        for p, (grad, has_grad) in zip(frozen, kept, strict=True):
            p.grad = grad
            p._has_grad = has_grad

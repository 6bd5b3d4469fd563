"""Adagrad with a fast step for the embedding table's sparse gradients."""

from __future__ import annotations

import torch


class SparseAdagrad(torch.optim.Optimizer):
    """`torch.optim.Adagrad`'s arithmetic (no lr decay, no weight decay), with a faster sparse update.

    torch's sparse step coalesces (sorts) the gradient and adds the update through
    `dense.add_(sparse, alpha=-lr)`, a slow path on the CPU that dominates training with a table of millions
    of rows. Here repeated rows are summed without sorting (`summed_rows`) and the touched rows are updated
    by gather and scatter.

    Args:
        params (`Iterable`): parameters or parameter groups.
        lr (`float`): learning rate.
        eps (`float`): added to the root of the accumulated squares.
    """

    def __init__(self, params, lr: float = 1e-2, eps: float = 1e-10):
        if lr <= 0 or eps <= 0:
            raise ValueError(f"lr and eps must be positive, got {lr} and {eps}")
        super().__init__(params, {"lr": lr, "eps": eps, "weight_decay": 0.0})
        # As with torch's Adagrad, weight decay cannot be applied lazily to sparse rows.
        if any(group["weight_decay"] for group in self.param_groups):
            raise ValueError("Adagrad here takes no weight decay (the table's gradients are sparse)")

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["sum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                squares = state["sum"]
                if param.grad.is_sparse:
                    rows, grad = summed_rows(param.grad, state)  # [U], [U, D]
                    # Rows are distinct, so gather-update-scatter is exact and several times faster than
                    # index_add_ on a table of millions of rows.
                    sums = squares.index_select(0, rows).addcmul_(grad, grad)  # [U, D]
                    squares.index_put_((rows,), sums)
                    step = grad.div_(sums.sqrt_().add_(eps)).mul_(-lr)  # [U, D]
                    param.index_put_((rows,), param.index_select(0, rows).add_(step))
                else:
                    squares.addcmul_(param.grad, param.grad)
                    param.addcdiv_(param.grad, squares.sqrt().add_(eps), value=-lr)
        return loss


def summed_rows(grad: torch.Tensor, state: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of a sparse row gradient and each one's summed gradient, without sorting.

    `coalesce()` sorts the row ids; here every entry finds its row's representative entry through a
    table-sized scratch array kept in `state`, two linear passes. Rows come in order of first use.

    Args:
        grad (`torch.Tensor`): sparse COO gradient of a [R, D] table, rows possibly repeated.
        state (`dict`): the parameter's optimizer state; holds the scratch array.
    """
    rows, values = grad._indices()[0], grad._values()  # [E], [E, D]
    if "row_marker" not in state:
        state["row_marker"] = torch.zeros(grad.shape[0], dtype=torch.long, device=rows.device)
    positions = torch.arange(rows.shape[0], device=rows.device)  # [E]
    marker = state["row_marker"]
    marker[rows] = positions  # one entry per row wins; which one does not matter
    representative = marker[rows]  # [E] the winning entry of each entry's row
    is_first = representative == positions  # [E] one True per distinct row
    slots = is_first.cumsum(0) - 1  # [E] compact index of each representative
    summed = values.new_zeros(int(is_first.sum()), values.shape[1])  # [U, D]
    return rows[is_first], summed.index_add_(0, slots[representative], values)

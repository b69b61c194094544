"""Method metadata: every method module declares one :class:`MethodInfo` named ``INFO``.

Family packages collect their modules' ``INFO`` in a tuple ``METHODS``; :func:`paretojax.methods`
concatenates them. There is no mutable global registry: the catalogue is what the code imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = ["MethodInfo", "FAMILIES"]

#: The families of methods, in the order of the catalogue (METHODS.md).
FAMILIES = ("weighting", "manipulation", "scalarization", "balancing", "preference", "set")


class MethodInfo(NamedTuple):
    """One method of the catalogue.

    Attributes:
      name: the public name, ``pj.<name>`` is ``factory``.
      family: one of :data:`FAMILIES`.
      factory: the optax factory ``pj.<name>(**hyperparams) -> GradientTransformationExtraArgs``
        (or, for scalarizations, the scalar function).
      description: one line for ``paretojax list`` and the README table.
      reference: the paper and the reference implementation whose behaviour is matched.
      requires: extra args the update needs: ``"task_losses"``, ``"pref"``, or the names of
        further mini-batch Jacobians (e.g. ``"jac1"``, ``"jac2"`` for MoDo / SDMGrad).
      example_kwargs: hyperparameters that build a working instance for ``num_tasks=m``; a
        callable ``m -> dict`` when they depend on m (used by the tests, the CLI and the bench).
      properties: claimed properties tested by the conformance battery: ``"NC"`` non-conflicting,
        ``"PI"`` permutation invariant, ``"LUS"`` linear under scaling, ``"SS"`` non-zero output
        unless stationary, ``"W"`` weights on the simplex.
      min_tasks: smallest m the method accepts.
      stochastic: whether the output depends on a PRNG key in the state.
    """

    name: str
    family: str
    factory: Callable[..., Any]
    description: str
    reference: str
    requires: tuple[str, ...] = ()
    example_kwargs: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] = {}
    properties: frozenset[str] = frozenset()
    min_tasks: int = 1
    stochastic: bool = False

    def kwargs_for(self, m: int) -> dict[str, Any]:
        """The example hyperparameters for ``m`` tasks."""
        kw = self.example_kwargs(m) if callable(self.example_kwargs) else self.example_kwargs
        return dict(kw)

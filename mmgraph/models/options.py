"""Model options: each declared once, in the model's constructor signature.

An option's type carries its range as :class:`~typing.Annotated` metadata (a
:class:`~mmgraph.utils.spec.Spec`), so that a grid, a config file or ``--set`` is checked
before a run starts, by real bounds rather than by the option's name::

    def __init__(self, num_users: int, num_items: int, embedding_dim: Size = 64,
                 dropout: Rate = 0.0, variant: Annotated[str, Spec(choices=VARIANTS)] = "a")
"""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any

from mmgraph.errors import MMGraphError
from mmgraph.utils.spec import Spec

Size = Annotated[int, Spec(low=1)]  # a width, a neighbour count, a rank: >= 1
Count = Annotated[int, Spec(low=0)]  # a number of layers (0: none), a size that may be 0
Rate = Annotated[float, Spec(low=0, high=1, high_open=True)]  # a dropout probability
Fraction = Annotated[float, Spec(low=0, high=1)]  # a share or a mixing coefficient
Weight = Annotated[float, Spec(low=0)]  # a loss or regularizer weight
Positive = Annotated[float, Spec(low=0, low_open=True)]  # a temperature


def constructor_options(cls: type) -> dict[str, Any]:
    """The options of ``cls``'s constructor with their defaults: its keyword-only parameters
    (the positional ones, graph sizes and vocabularies, come from the graph,
    :meth:`~mmgraph.models.Recommender.from_graph`)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def option_specs(cls: type) -> dict[str, Spec]:
    """The :class:`Spec` each option of ``cls`` declares in its annotation (options without
    one are absent)."""
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    found = {k: _spec(hints.get(k)) for k in constructor_options(cls)}
    return {k: spec for k, spec in found.items() if spec is not None}


def _spec(hint: Any) -> Spec | None:
    """The first :class:`Spec` in ``hint``'s ``Annotated`` metadata, looking through unions
    and element types (``Sequence[Rate] | None``)."""
    if typing.get_origin(hint) is Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, Spec)), None)
    for arg in typing.get_args(hint):
        spec = _spec(arg)
        if spec is not None:
            return spec
    return None


def check_model_options(cls: type, name: str, options: dict) -> None:
    """:class:`MMGraphError` for an option model ``name`` (class ``cls``) does not take, or a
    value outside the range its annotation declares; the constructor checks the rest."""
    known = constructor_options(cls)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise MMGraphError(
            f"unknown option(s) {', '.join(unknown)} for model '{name}'; "
            f"it takes {', '.join(known)}"
        )
    specs = option_specs(cls)
    for key, value in options.items():
        why = (
            specs[key].violation(list(value) if isinstance(value, tuple) else value)
            if key in specs
            else None
        )
        if why is not None:
            raise MMGraphError(f"model '{name}': {key}={value!r} must be {why}")

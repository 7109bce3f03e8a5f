"""Methods that take one value's arguments: a signature spelled once, for several methods.

``TrutoClient.request`` and ``AsyncTrutoClient.request`` take the arguments of one
:class:`~airflow_provider_truto.wire.ApiCall`; the ``unified`` methods of both clients and of the hook
those of one :class:`~airflow_provider_truto.wire.UnifiedCall`. Rather than restate them, each
method is written as ``def request(self, call: ApiCall)`` and decorated with ``@taking(ApiCall)``: its
callers pass the value's arguments, typed as such, and the method receives them made into the value.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
Call = TypeVar("Call")
Owner = TypeVar("Owner")
Result = TypeVar("Result")


def taking(
    call_type: Callable[P, Call],
) -> Callable[[Callable[[Owner, Call], Result]], Callable[Concatenate[Owner, P], Result]]:
    """A decorator for ``def method(self, call: call_type)``, called with ``call_type``'s arguments."""

    def decorate(method: Callable[[Owner, Call], Result]) -> Callable[Concatenate[Owner, P], Result]:
        @functools.wraps(method)
        def with_arguments(self: Owner, /, *args: P.args, **kwargs: P.kwargs) -> Result:
            return method(self, call_type(*args, **kwargs))

        # help() and IDEs show the value's own arguments, not (self, call).
        own = inspect.signature(method)
        with_arguments.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[
                next(iter(own.parameters.values())),
                *inspect.signature(call_type).parameters.values(),
            ]
        )
        return with_arguments

    return decorate

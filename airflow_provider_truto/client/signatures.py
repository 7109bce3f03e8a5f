"""Methods that take one value's arguments: a signature spelled once, for several methods.

``TrutoClient.request`` and ``AsyncTrutoClient.request`` take the arguments of one
:class:`~airflow_provider_truto.client.request.ApiCall`; the ``unified`` methods of both clients and of the
hook those of one :class:`~airflow_provider_truto.client.request.UnifiedCall`. Rather than restate them,
each method is written as ``def request(self, call: ApiCall)`` and decorated with ``@taking(ApiCall)``: its
callers pass the value's arguments, typed as such, and the method receives them made into the value.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

P = ParamSpec("P")
Call = TypeVar("Call")
Owner = TypeVar("Owner")
Result = TypeVar("Result")


def taking(
    call_type: Callable[P, Call],
) -> Callable[[Callable[[Owner, Call], Result]], Callable[Concatenate[Owner, P], Result]]:
    """A decorator for ``def method(self, call: call_type)``, called with ``call_type``'s arguments.

    An ``async def`` stays a coroutine function (``inspect.iscoroutinefunction`` and autospec mocks see
    it as one), and a wrong argument is reported against the method, as Python would report it.
    """

    def decorate(method: Callable[[Owner, Call], Result]) -> Callable[Concatenate[Owner, P], Result]:
        def make_call(*args: Any, **kwargs: Any) -> Call:
            try:
                return call_type(*args, **kwargs)
            except TypeError as error:
                problem = str(error)
            # "UnifiedCall.__init__() got an unexpected keyword ..." -> "TrutoClient.unified() got ..."
            own_name = f"{getattr(call_type, '__name__', 'call')}.__init__()"
            raise TypeError(problem.replace(own_name, f"{method.__qualname__}()"))

        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(method):
            coroutine = cast("Callable[[Owner, Call], Any]", method)

            @functools.wraps(method)
            async def wrapper(self: Owner, /, *args: Any, **kwargs: Any) -> Any:
                return await coroutine(self, make_call(*args, **kwargs))

        else:

            @functools.wraps(method)
            def wrapper(self: Owner, /, *args: Any, **kwargs: Any) -> Any:
                return method(self, make_call(*args, **kwargs))

        # help() and IDEs show the value's own arguments, not (self, call).
        own = inspect.signature(method)
        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[
                next(iter(own.parameters.values())),
                *inspect.signature(call_type).parameters.values(),
            ]
        )
        return cast("Callable[Concatenate[Owner, P], Result]", wrapper)

    return decorate

"""Switchable tracer and meter providers.

The OpenTelemetry API lets a process set its global providers only once, and libraries usually cache
the tracers and instruments they get at import time. ``init_otel`` therefore installs, once, a pair of
*switchable* providers as the globals; each ``init_otel`` (or ``capture_spans``) then swaps the SDK
providers behind them. Every tracer and instrument handed out re-resolves its delegate when the
generation counter moves, so code that cached a tracer at import time follows every switch, and a
shut-down provider is never used again.

With no SDK installed behind the switch, tracers fall back to whatever the process's global provider
is (a user may configure OpenTelemetry without ``init_otel``), and to no-op objects otherwise.
"""

from __future__ import annotations

import threading
import weakref
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

from opentelemetry import metrics, trace
from opentelemetry.metrics import (
    CallbackT,
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.metrics import _Gauge as Gauge
from opentelemetry.trace import SpanKind

from llm_infra.errors import ConfigError
from llm_infra.otel import _codes as codes

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import Attributes

__all__ = [
    "RUNTIME",
    "SWITCH_METER_PROVIDER",
    "SWITCH_TRACER_PROVIDER",
    "get_meter",
    "get_tracer",
    "install_globals",
]

_T = TypeVar("_T")
_NOOP_TRACER = trace.NoOpTracer()
_NOOP_METER = metrics.NoOpMeter("llm_infra.noop")


@final
class _Runtime:
    """The SDK providers currently behind the switch, and a generation counter bumped on each swap."""

    __slots__ = ("_observables", "generation", "lock", "meter_provider", "owner", "tracer_provider")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        self.tracer_provider: trace.TracerProvider | None = None
        self.meter_provider: metrics.MeterProvider | None = None
        self.owner: object | None = None
        self._observables: weakref.WeakSet[_SwitchObservable] = weakref.WeakSet()

    def swap(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        owner: object | None,
    ) -> tuple[trace.TracerProvider | None, metrics.MeterProvider | None, object | None]:
        """Install new delegates; returns the previous ones."""
        with self.lock:
            previous = (self.tracer_provider, self.meter_provider, self.owner)
            self.tracer_provider = tracer_provider
            self.meter_provider = meter_provider
            self.owner = owner
            self.generation += 1
            observables = list(self._observables)
        # Observable instruments are only ever called back by the provider they were created in, so
        # they are re-created eagerly in the new one.
        for observable in observables:
            observable.rebind()
        return previous

    def register(self, observable: _SwitchObservable) -> None:
        """Track an observable instrument so that it follows every swap."""
        with self.lock:
            self._observables.add(observable)


RUNTIME = _Runtime()


class _Switched(Generic[_T]):
    """Forwards to a delegate that is looked up again whenever the switch's generation moves.

    A subclass sets ``_generation = -1`` when built and says in ``_lookup`` how to find the delegate.
    """

    __slots__ = ("_generation", "_real")

    _generation: int
    _real: _T

    @abstractmethod
    def _lookup(self) -> _T:
        """The delegate behind the switch as it is now."""

    def _resolve(self) -> _T:
        generation = RUNTIME.generation
        if generation != self._generation:
            self._real = self._lookup()
            self._generation = generation
        return self._real


class _SwitchProvider(Generic[_T]):
    """A switch provider: its tracers or meters, cached per name/version/schema (unless with attributes)."""

    _make: Callable[[str, str | None, str | None, Attributes], _T]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str | None, str | None], _T] = {}

    def _get(self, name: str, version: str | None, schema_url: str | None, attributes: Attributes) -> _T:
        if attributes:
            return self._make(name, version, schema_url, attributes)
        key = (name, version, schema_url)
        item = self._items.get(key)
        if item is None:
            with self._lock:
                item = self._items.setdefault(key, self._make(*key, None))
        return item


@final
class SwitchTracer(_Switched[trace.Tracer], trace.Tracer):
    """A tracer that delegates to the tracer of the provider currently behind the switch."""

    __slots__ = ("_args",)

    def __init__(
        self, name: str, version: str | None, schema_url: str | None, attributes: Attributes
    ) -> None:
        self._args = (name, version, schema_url, attributes)
        self._generation = -1

    def _lookup(self) -> trace.Tracer:
        # With no SDK behind the switch, the process's global provider; that may be the switch itself,
        # or a proxy delegating to it, which would loop.
        tracer = (RUNTIME.tracer_provider or trace.get_tracer_provider()).get_tracer(*self._args)
        return _NOOP_TRACER if isinstance(tracer, SwitchTracer) else tracer

    def start_span(  # noqa: PLR0917 - the OpenTelemetry API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: trace._Links = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """Start a span on the current delegate (see ``opentelemetry.trace.Tracer.start_span``)."""
        return self._resolve().start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # noqa: PLR0917 - the API's signature and private decorator
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: trace._Links = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        """Start a span and make it current (see ``opentelemetry.trace.Tracer.start_as_current_span``)."""
        with self._resolve().start_as_current_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        ) as span:
            yield span


@final
class SwitchTracerProvider(_SwitchProvider[trace.Tracer], trace.TracerProvider):
    """The tracer provider ``init_otel`` installs as the process global (once)."""

    _make = SwitchTracer

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        """A switchable tracer; tracers without attributes are cached per name/version/schema."""
        return self._get(instrumenting_module_name, instrumenting_library_version, schema_url, attributes)


SWITCH_TRACER_PROVIDER = SwitchTracerProvider()


# --- metrics ---------------------------------------------------------------------------------------


class _SwitchInstrument(_Switched[Any]):
    __slots__ = ("_args", "_create", "_kwargs", "_meter")

    def __init__(
        self, meter: SwitchMeter, create: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
    ) -> None:
        self._meter = meter
        self._create = create
        self._args = args
        self._kwargs = kwargs or {}
        self._generation = -1

    def _lookup(self) -> Any:
        return getattr(self._meter._resolve(), self._create)(*self._args, **self._kwargs)


@final
class _SwitchCounter(_SwitchInstrument, Counter):
    __slots__ = ()

    def add(self, amount: int | float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._resolve().add(amount, attributes, context)


@final
class _SwitchUpDownCounter(_SwitchInstrument, UpDownCounter):
    __slots__ = ()

    def add(self, amount: int | float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._resolve().add(amount, attributes, context)


@final
class _SwitchHistogram(_SwitchInstrument, Histogram):
    __slots__ = ()

    def record(
        self, amount: int | float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        self._resolve().record(amount, attributes, context)


@final
class _SwitchGauge(_SwitchInstrument, Gauge):
    __slots__ = ()

    def set(self, amount: int | float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._resolve().set(amount, attributes, context)


class _SwitchObservable(_SwitchInstrument):
    __slots__ = ("__weakref__",)

    def rebind(self) -> None:
        self._resolve()


@final
class _SwitchObservableCounter(_SwitchObservable, ObservableCounter):
    __slots__ = ()


@final
class _SwitchObservableUpDownCounter(_SwitchObservable, ObservableUpDownCounter):
    __slots__ = ()


@final
class _SwitchObservableGauge(_SwitchObservable, ObservableGauge):
    __slots__ = ()


@final
class SwitchMeter(_Switched[metrics.Meter], metrics.Meter):
    """A meter whose instruments follow the meter provider currently behind the switch."""

    def __init__(
        self, name: str, version: str | None, schema_url: str | None, attributes: Attributes
    ) -> None:
        super().__init__(name, version, schema_url)
        self._key = (name, version, schema_url, attributes)
        self._generation = -1

    def _lookup(self) -> metrics.Meter:
        meter = (RUNTIME.meter_provider or metrics.get_meter_provider()).get_meter(*self._key)
        return _NOOP_METER if isinstance(meter, SwitchMeter) else meter

    def _observable(
        self, cls: Callable[..., _SwitchObservable], create: str, args: tuple[Any, ...]
    ) -> _SwitchObservable:
        instrument = cls(self, create, args)
        RUNTIME.register(instrument)
        instrument.rebind()
        return instrument

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Counter:
        """A counter (monotonic sum)."""
        return _SwitchCounter(self, "create_counter", (name, unit, description))

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> UpDownCounter:
        """An up-down counter (non-monotonic sum)."""
        return _SwitchUpDownCounter(self, "create_up_down_counter", (name, unit, description))

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Histogram:
        """A histogram, optionally with advisory bucket boundaries."""
        kwargs: dict[str, Any] = {}
        if explicit_bucket_boundaries_advisory is not None:
            kwargs["explicit_bucket_boundaries_advisory"] = list(explicit_bucket_boundaries_advisory)
        return _SwitchHistogram(self, "create_histogram", (name, unit, description), kwargs)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Gauge:
        """A synchronous gauge."""
        return _SwitchGauge(self, "create_gauge", (name, unit, description))

    def create_observable_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> ObservableCounter:
        """An observable counter; its callbacks follow every provider swap."""
        args = (name, callbacks, unit, description)
        return self._observable(_SwitchObservableCounter, "create_observable_counter", args)  # type: ignore[return-value]

    def create_observable_gauge(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> ObservableGauge:
        """An observable gauge; its callbacks follow every provider swap."""
        args = (name, callbacks, unit, description)
        return self._observable(_SwitchObservableGauge, "create_observable_gauge", args)  # type: ignore[return-value]

    def create_observable_up_down_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> ObservableUpDownCounter:
        """An observable up-down counter; its callbacks follow every provider swap."""
        args = (name, callbacks, unit, description)
        return self._observable(  # type: ignore[return-value]
            _SwitchObservableUpDownCounter, "create_observable_up_down_counter", args
        )


@final
class SwitchMeterProvider(_SwitchProvider[metrics.Meter], metrics.MeterProvider):
    """The meter provider ``init_otel`` installs as the process global (once)."""

    _make = SwitchMeter

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> metrics.Meter:
        """A switchable meter; meters without attributes are cached per name/version/schema."""
        return self._get(name, version, schema_url, attributes)


SWITCH_METER_PROVIDER = SwitchMeterProvider()


def get_tracer(name: str = "llm_infra", version: str | None = None) -> trace.Tracer:
    """A tracer that follows every ``init_otel``/``capture_spans`` switch (cache it freely).

    Args:
        name: the instrumentation scope, usually the module name.
        version: the scope's version.

    .. versionadded:: 0.1.0
    """
    return SWITCH_TRACER_PROVIDER.get_tracer(name, version)


def get_meter(name: str = "llm_infra", version: str | None = None) -> metrics.Meter:
    """A meter whose instruments follow every ``init_otel`` switch (cache them freely).

    .. versionadded:: 0.1.0
    """
    return SWITCH_METER_PROVIDER.get_meter(name, version)


def _is_unset_meter_provider(provider: metrics.MeterProvider) -> bool:
    # The API's default is a private proxy class; compare by name rather than import it.
    return type(provider).__name__ == "_ProxyMeterProvider"


def install_globals() -> None:
    """Make the switchable providers the process's global OpenTelemetry providers (once).

    Raises:
        ConfigError: when other code already installed its own global provider (``otel.global_conflict``).
    """
    with RUNTIME.lock:
        tracer_provider = trace.get_tracer_provider()
        meter_provider = metrics.get_meter_provider()
        tracer_ok = tracer_provider is SWITCH_TRACER_PROVIDER or isinstance(
            tracer_provider, trace.ProxyTracerProvider
        )
        meter_ok = meter_provider is SWITCH_METER_PROVIDER or _is_unset_meter_provider(meter_provider)
        if not (tracer_ok and meter_ok):
            owner = type(tracer_provider if not tracer_ok else meter_provider).__name__
            raise ConfigError(
                f"another global OpenTelemetry provider ({owner}) is already installed",
                code=codes.GLOBAL_CONFLICT,
                remediation=[
                    "Call init_otel before any other code sets a global TracerProvider/MeterProvider,",
                    "or skip init_otel: llm-infra's spans and metrics then go to the provider you installed.",
                ],
            )
        # Switch objects resolved while the global was unset hold API proxies, which are about to
        # point back at the switch (and run callbacks under their own locks): re-resolve them first.
        RUNTIME.generation += 1
        if tracer_provider is not SWITCH_TRACER_PROVIDER:
            trace.set_tracer_provider(SWITCH_TRACER_PROVIDER)
        if meter_provider is not SWITCH_METER_PROVIDER:
            metrics.set_meter_provider(SWITCH_METER_PROVIDER)

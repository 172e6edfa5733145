"""DefaultContainer: constructor hints, instances, factories, per-message scopes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cqrs_worker.container import Container, DefaultContainer
from cqrs_worker.errors import ConfigurationError, ResolutionError


class Clock:
    pass


class Repository:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock


class Handler:
    def __init__(self, repository: Repository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock


class Session:
    def __init__(self) -> None:
        self.committed = False
        self.closed = False


class UsesSession:
    def __init__(self, session: Session) -> None:
        self.session = session


class Settings:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn


class NeedsSettings:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Defaults:
    def __init__(self, name: str = "fallback", clock: Clock | None = None) -> None:
        self.name = name
        self.clock = clock


class Unhinted:
    def __init__(self, thing) -> None:  # type: ignore[no-untyped-def]  # the case under test
        self.thing = thing


class CycleA:
    def __init__(self, b: CycleB) -> None:
        self.b = b


class CycleB:
    def __init__(self, a: CycleA) -> None:
        self.a = a


class WantsContainer:
    def __init__(self, container: Container, session: Session) -> None:
        self.container = container
        self.session = session


async def session_factory() -> AsyncIterator[Session]:
    session = Session()
    try:
        yield session
        session.committed = True
    finally:
        session.closed = True


async def test_builds_classes_from_constructor_type_hints() -> None:
    container = DefaultContainer()

    handler = await container.resolve(Handler)

    assert isinstance(handler, Handler)
    assert isinstance(handler.repository, Repository)
    assert isinstance(handler.repository.clock, Clock)


async def test_plain_classes_are_built_afresh_for_each_dependent() -> None:
    container = DefaultContainer()

    async with container.scope() as scope:
        handler = await scope.resolve(Handler)

    # Unregistered classes are transient: only factories are cached per scope.
    assert handler.clock is not handler.repository.clock


async def test_registered_instance_is_shared_everywhere() -> None:
    container = DefaultContainer()
    clock = Clock()
    container.register_instance(Clock, clock)

    async with container.scope() as scope:
        first = await scope.resolve(Handler)
    second = await container.resolve(Handler)

    assert first.clock is clock
    assert first.repository.clock is clock
    assert second.clock is clock


async def test_message_factory_builds_one_instance_per_scope() -> None:
    container = DefaultContainer()
    calls = []

    def make_session() -> Session:
        calls.append(1)
        return Session()

    container.register_factory(Session, make_session)

    async with container.scope() as scope:
        a = await scope.resolve(UsesSession)
        b = await scope.resolve(UsesSession)
    async with container.scope() as scope:
        c = await scope.resolve(UsesSession)

    assert a.session is b.session
    assert c.session is not a.session
    assert len(calls) == 2


async def test_process_factory_builds_once() -> None:
    container = DefaultContainer()
    calls = []

    def make_clock() -> Clock:
        calls.append(1)
        return Clock()

    container.register_factory(Clock, make_clock, lifetime="process")

    async with container.scope() as scope:
        first = await scope.resolve(Clock)
    async with container.scope() as scope:
        second = await scope.resolve(Clock)

    assert first is second
    assert len(calls) == 1


async def test_factory_parameters_are_resolved_by_type() -> None:
    container = DefaultContainer()
    container.register_instance(Clock, clock := Clock())

    def make_repository(clock: Clock) -> Repository:
        return Repository(clock)

    container.register_factory(Repository, make_repository)

    handler = await container.resolve(Handler)

    assert handler.repository.clock is clock


async def test_async_factory_is_awaited() -> None:
    container = DefaultContainer()

    async def make_settings() -> Settings:
        await asyncio.sleep(0)
        return Settings("postgresql://db")

    container.register_factory(Settings, make_settings)

    needs = await container.resolve(NeedsSettings)

    assert needs.settings.dsn == "postgresql://db"


async def test_async_generator_factory_is_closed_when_the_scope_ends() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory)

    async with container.scope() as scope:
        session = (await scope.resolve(UsesSession)).session
        assert not session.closed

    assert session.committed
    assert session.closed


async def test_async_generator_factory_is_closed_without_commit_on_error() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory)
    sessions: list[Session] = []

    async def failing_message() -> None:
        async with container.scope() as scope:
            sessions.append((await scope.resolve(UsesSession)).session)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_message()

    [session] = sessions
    assert session.closed
    assert not session.committed


async def test_process_async_generator_factory_stays_open_across_scopes() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory, lifetime="process")

    async with container.scope() as scope:
        first = await scope.resolve(Session)
    async with container.scope() as scope:
        second = await scope.resolve(Session)

    assert second is first
    assert not first.closed


async def test_nested_scope_reenters_the_active_one() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory)

    async with container.scope() as outer:
        outer_session = await outer.resolve(Session)
        async with container.scope() as inner:
            inner_session = await inner.resolve(Session)
        assert not outer_session.closed, "leaving a re-entered scope must not close it"
        also_outer = await container.resolve(Session)

    assert inner_session is outer_session
    assert also_outer is outer_session
    assert outer_session.closed


async def test_resolve_outside_a_scope_uses_a_throwaway_scope() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory)

    first = await container.resolve(Session)
    second = await container.resolve(Session)

    assert first is not second
    assert first.closed


async def test_concurrent_tasks_get_separate_scopes() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory)
    both_resolved = asyncio.Event()
    sessions: list[Session] = []

    async def one_message() -> None:
        async with container.scope() as scope:
            sessions.append(await scope.resolve(Session))
            if len(sessions) == 2:
                both_resolved.set()
            await asyncio.wait_for(both_resolved.wait(), timeout=5)

    await asyncio.gather(one_message(), one_message())

    assert sessions[0] is not sessions[1]


async def test_container_dependency_is_the_current_scope() -> None:
    container = DefaultContainer()
    container.register_factory(Session, session_factory)

    async with container.scope():
        wants = await container.resolve(WantsContainer)
        via_injected = await wants.container.resolve(Session)

    assert via_injected is wants.session


async def test_defaults_are_used_for_what_cannot_be_resolved() -> None:
    container = DefaultContainer()

    defaults = await container.resolve(Defaults)

    assert defaults.name == "fallback"
    assert defaults.clock is None


async def test_dependency_cycle_is_reported_with_its_path() -> None:
    container = DefaultContainer()

    with pytest.raises(ResolutionError, match=r"dependency cycle: CycleA -> CycleB -> CycleA"):
        await container.resolve(CycleA)


async def test_builtin_dependency_names_what_needed_it() -> None:
    container = DefaultContainer()

    with pytest.raises(ResolutionError) as caught:
        await container.resolve(NeedsSettings)

    message = str(caught.value)
    assert "cannot build str" in message
    assert "NeedsSettings -> Settings" in message
    assert "register an instance or a factory" in message
    assert isinstance(caught.value, ConfigurationError)


async def test_registered_builtin_satisfies_the_dependency() -> None:
    container = DefaultContainer()
    container.register_instance(str, "sqlite://")

    needs = await container.resolve(NeedsSettings)

    assert needs.settings.dsn == "sqlite://"


async def test_parameter_without_type_hint_is_reported() -> None:
    container = DefaultContainer()

    with pytest.raises(ResolutionError, match=r"parameter 'thing' of Unhinted has no type hint"):
        await container.resolve(Unhinted)


async def test_unbuildable_type_is_reported() -> None:
    container = DefaultContainer()

    with pytest.raises(ResolutionError, match=r"cannot build int: register an instance"):
        await container.resolve(int)


async def test_provide_puts_a_value_into_the_active_scope_only() -> None:
    container = DefaultContainer()

    class Session:
        pass

    given = Session()
    async with container.scope():
        container.provide(Session, given)
        assert await container.resolve(Session) is given
        async with container.scope() as inner:
            assert await inner.resolve(Session) is given
    async with container.scope():
        assert await container.resolve(Session) is not given
    with pytest.raises(ResolutionError, match="outside a scope"):
        container.provide(Session, given)


async def test_registering_a_class_already_built_plain_takes_effect() -> None:
    container = DefaultContainer()
    async with container.scope():
        built = await container.resolve(Clock)  # plain: built afresh each time
        given = Clock()
        container.provide(Clock, given)
        assert await container.resolve(Clock) is given
    assert await container.resolve(Clock) is not built

    shared = Clock()
    container.register_instance(Clock, shared)
    async with container.scope():
        assert await container.resolve(Clock) is shared

    async with container.scope():
        plain = await container.resolve(Session)
        assert await container.resolve(Session) is not plain
    container.register_factory(Session, Session)
    async with container.scope():
        first = await container.resolve(Session)
        assert await container.resolve(Session) is first  # one per scope now

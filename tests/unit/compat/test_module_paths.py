"""python-cqrs 5.3's import paths of the features in issue 15 reach our classes."""

from __future__ import annotations

import cqrs_worker as cqrs
from cqrs_worker.chain import CORRequestHandler, build_chain
from cqrs_worker.chain.mermaid import CoRMermaid
from cqrs_worker.streaming_mediator import StreamingRequestHandler, StreamingRequestMediator


def test_handlers_chain_and_mermaid_paths() -> None:
    from cqrs_worker.handlers import CORRequestHandler as Handlers_COR
    from cqrs_worker.handlers import StreamingRequestHandler as Handlers_Streaming
    from cqrs_worker.handlers.cor import CORRequestHandler as Cor_COR
    from cqrs_worker.handlers.cor import build_chain as cor_build_chain
    from cqrs_worker.mermaid import CoRMermaid as Mermaid
    from cqrs_worker.mermaid.cor import CoRMermaid as MermaidCor

    assert Handlers_COR is Cor_COR is CORRequestHandler
    assert cor_build_chain is build_chain
    assert Handlers_Streaming is StreamingRequestHandler
    assert Mermaid is MermaidCor is CoRMermaid


def test_top_level_names() -> None:
    assert cqrs.StreamingRequestMediator is StreamingRequestMediator
    assert cqrs.CORRequestHandler is CORRequestHandler
    assert {"DCRequest", "DCResponse", "DCEvent", "DCDomainEvent", "DCNotificationEvent"} <= set(
        cqrs.__all__
    )


async def test_python_cqrs_streaming_shapes_build_our_streaming_mediator() -> None:
    from cqrs_worker import DefaultContainer, RequestMap
    from cqrs_worker.brokers.memory import InMemoryBroker
    from cqrs_worker.mediator import StreamingRequestMediator as TheirMediator
    from cqrs_worker.requests.bootstrap import bootstrap_streaming
    from tests.unit.test_streaming_mediator import Import, ImportRows, Log, Session

    def commands(request_map: RequestMap) -> None:
        request_map.bind(Import, ImportRows)

    container = DefaultContainer()
    container.register_instance(Log, Log())
    container.register_instance(Session, Session())
    broker = InMemoryBroker()
    mediator = bootstrap_streaming(
        di_container=container,
        message_broker=broker,
        commands_mapper=commands,
        max_concurrent_event_handlers=2,
    )

    assert isinstance(mediator, StreamingRequestMediator)
    assert mediator.event_mediator is not None
    assert mediator.event_mediator.max_concurrent_event_handlers == 2
    rows = [done.row async for done in mediator.stream(Import(rows=2))]
    assert rows == [0, 1]
    assert len(broker.messages()) == 2  # each row's notification, through the broker
    plain = TheirMediator(request_map=RequestMap(), container=container, event_emitter=None)
    assert isinstance(plain, StreamingRequestMediator)

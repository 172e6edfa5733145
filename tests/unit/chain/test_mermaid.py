"""CoRMermaid: a chain drawn as Mermaid sequence and class diagrams."""

from __future__ import annotations

from cqrs_worker.chain.mermaid import CoRMermaid
from tests.unit.chain.test_chain import ByPassword, ByToken


def test_the_sequence_shows_each_link_answering_or_passing_on() -> None:
    assert CoRMermaid([ByPassword, ByToken]).sequence() == "\n".join(
        [
            "sequenceDiagram",
            "    participant C as Chain",
            "    participant L1 as ByPassword",
            "    participant L2 as ByToken",
            "    C->>L1: handle(request)",
            "    alt ByPassword takes the request",
            "        L1-->>C: result",
            "    else not its request",
            "        L1->>L2: next(request)",
            "        alt ByToken takes the request",
            "            L2-->>C: result",
            "        else not its request",
            "            L2-->>C: None (end of chain)",
            "        end",
            "    end",
        ]
    )


def test_an_empty_chain_is_a_note() -> None:
    assert CoRMermaid([]).sequence().endswith("Note over C: no handlers bound")


def test_the_class_diagram_shows_links_their_types_and_the_order() -> None:
    diagram = CoRMermaid([ByPassword, ByToken]).class_diagram().splitlines()

    assert diagram[0] == "classDiagram"
    assert "    CORRequestHandler <|-- ByPassword" in diagram
    assert "    ByPassword ..> Login : handles" in diagram
    assert "    ByToken ..> Session : returns" in diagram
    assert "    ByPassword --> ByToken : next" in diagram
    assert diagram.count("    class Login") == 1  # each type drawn once

"""A saga definition as a Mermaid flowchart: :func:`mermaid`.

Forward steps run left to right (a remote step shows the replies it waits
for and its timeout); a failure leads to the compensations, in reverse.
"""

from __future__ import annotations

from typing import Any

from cqrs_worker.sagas.definition import (
    Fallback,
    LocalStep,
    RemoteStep,
    SagaDefinition,
    action_of,
    variants,
)

__all__ = ["mermaid"]


def _label(action: LocalStep[Any] | RemoteStep[Any]) -> str:
    if isinstance(action, RemoteStep):
        replies = ", ".join(r.__name__ for r in action.replies)
        timeout = f"; timeout {action.timeout:g}s" if action.timeout is not None else ""
        return f"{action.name} (remote: waits for {replies}{timeout})"
    return f"{action.name} (local command)"


def mermaid(definition: SagaDefinition[Any]) -> str:
    """The flowchart text (paste into a ```mermaid block)."""
    lines = ["flowchart LR", f'    start(["{definition.name}"])']
    previous = "start"
    for index, step in enumerate(definition.steps):
        lines.append(f'    s{index}["{_label(action_of(step, 0))}"]')
        lines.append(f"    {previous} --> s{index}")
        if isinstance(step, Fallback):
            lines.append(f'    s{index}f["{_label(step.fallback)}: fallback"]')
            lines.append(f"    s{index} -. fails .-> s{index}f")
        previous = f"s{index}"
    lines += ['    completed(["completed"])', f"    {previous} --> completed"]
    lines += ['    compensated(["compensated"])', '    failed(["failed: retry by hand"])']
    undo: dict[int, str] = {}
    after = "compensated"
    for index, step in enumerate(definition.steps):
        names = [f"undo {a.name}" for a in variants(step) if a.compensation is not None]
        if names:
            undo[index] = f"c{index}"
            lines.append(f'    c{index}["{" / ".join(names)}"]')
            lines.append(f"    c{index} --> {after}")
            if any(isinstance(a, LocalStep) and a.compensation for a in variants(step)):
                lines.append(f"    c{index} -. keeps failing .-> failed")
            after = f"c{index}"
    for index in range(len(definition.steps)):
        earlier = [node for i, node in undo.items() if i < index]
        lines.append(f"    s{index} -. fails .-> {earlier[-1] if earlier else 'compensated'}")
        step = definition.steps[index]
        if index in undo and any(
            isinstance(a, RemoteStep) and a.timeout is not None for a in variants(step)
        ):
            lines.append(f"    s{index} -. times out .-> c{index}")
    return "\n".join(lines) + "\n"

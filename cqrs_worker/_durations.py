"""A settings type for durations that environment variables give as plain seconds."""

from __future__ import annotations

import datetime
from typing import Annotated

import pydantic

__all__ = ["Retention"]


def _text_seconds(value: object) -> object:
    # Environment variables are text: "3600" means seconds, as a number would.
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return float(value)
    return value


#: A retention period: seconds (number or numeric text) or a timedelta; None keeps forever.
Retention = Annotated[datetime.timedelta | None, pydantic.BeforeValidator(_text_seconds)]

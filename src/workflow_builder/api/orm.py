"""The declarative base every domain's ORM tables share, and column helpers they repeat."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from sqlalchemy import DateTime, FetchedValue, MetaData, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import Text

# The schema belongs to the migrations; these classes only map it, they never create it.
UuidPk = Annotated[
    UUID,
    mapped_column(PgUUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
]
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=func.now())]
# Triggers keep updated_at current, so the ORM reads it back instead of writing it.
UpdatedAt = Annotated[
    datetime,
    mapped_column(
        DateTime(timezone=True), server_default=func.now(), server_onupdate=FetchedValue()
    ),
]


def db_default(*args: Any) -> Any:
    """A column whose default the database supplies when the ORM leaves it unset."""
    return mapped_column(*args, server_default=FetchedValue())


class Base(DeclarativeBase):
    """Base of the ORM classes mapping the migrated tables."""

    metadata = MetaData()
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        UUID: PgUUID(as_uuid=True),
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[str]: ARRAY(Text),
    }

"""Parameter types shared by the tools, with the descriptions a model reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

RunRef = Annotated[str, Field(description="run id, or any unique prefix of it")]
ProjectRef = Annotated[str, Field(description="project name (see list_projects)")]
Limit = Annotated[int, Field(ge=1, le=500, description="at most this many items")]

"""What a model call asked for and what the model did, as pydantic records."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Final

from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """Token counts of one model call; ``None`` where the provider did not say."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None


class ToolCall(BaseModel):
    """A tool call the model asked for."""

    model_config = ConfigDict(frozen=True)

    name: str
    id: str | None = None
    arguments: str | None = None
    """The arguments as the model wrote them (JSON text; possibly malformed)."""


class ModelResponse(BaseModel):
    """What the model did, in one shape for every provider.

    Return one from a ``@model_call`` function (or build one by hand for a provider
    agenttrace does not read) and it is recorded like an OpenAI or Anthropic response.

    Example:
        >>> import agenttrace
        >>> response = agenttrace.ModelResponse(
        ...     model="my-model-2025-01-01", finish_reasons=("stop",), text="hello"
        ... )
    """

    model_config = ConfigDict(frozen=True)

    model: str | None = None
    """The model that answered (``gen_ai.response.model``)."""
    id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    """As the provider reports them: ``stop``, ``length``, ``end_turn``, ``max_tokens``…"""
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    text: str | None = None
    """The output text, assembled (capped for streams)."""
    refusal: str | None = None
    """The model's refusal, when the provider reports one as such."""
    operation: str | None = None
    """``chat``, ``embeddings``… when the response says which."""
    chunks: int | None = Field(default=None, ge=0)
    """For a stream: how many chunks arrived."""


# --- what agenttrace reads, internally ---------------------------------------------------
# Plain slotted records: read on every model call, so built without validation (what goes
# in is checked by the adapters). A ModelResponse a function returns is copied into them.


@dataclass(slots=True)
class Tokens:
    """Token counts, as :class:`Usage` has them."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None


@dataclass(slots=True)
class Call:
    """A tool call the model asked for, as :class:`ToolCall` has it."""

    name: str
    id: str | None = None
    arguments: str | None = None


@dataclass(slots=True)
class Response:
    """What the model did, as :class:`ModelResponse` has it."""

    model: str | None = None
    id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    usage: Tokens | None = None
    tool_calls: tuple[Call, ...] = ()
    text: str | None = None
    refusal: str | None = None
    operation: str | None = None
    chunks: int | None = None

    @classmethod
    def of(cls, given: ModelResponse) -> Response:
        """The record of a :class:`ModelResponse`."""
        usage = given.usage
        return cls(
            model=given.model,
            id=given.id,
            finish_reasons=given.finish_reasons,
            usage=Tokens(
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_input_tokens,
                usage.cache_creation_input_tokens,
                usage.reasoning_output_tokens,
            )
            if usage is not None
            else None,
            tool_calls=tuple(Call(c.name, c.id, c.arguments) for c in given.tool_calls),
            text=given.text,
            refusal=given.refusal,
            operation=given.operation,
            chunks=given.chunks,
        )


@dataclass(slots=True)
class Request:
    """What a model call asked for: read from the call's keyword arguments."""

    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop_sequences: tuple[str, ...] | None = None
    seed: int | None = None
    stream: bool | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    choice_count: int | None = None
    tools: dict[str, dict[str, object] | None] = field(default_factory=dict)
    """Offered tools by name, with their JSON schema when given."""

    def merged(self, other: Request) -> Request:
        """This request with what ``other`` gives (a value that is set) on top."""
        update = {
            name: value
            for name in _REQUEST_FIELDS
            if (value := getattr(other, name)) is not None and value != {}
        }
        return replace(self, **update) if update else self


_REQUEST_FIELDS: Final = tuple(f.name for f in fields(Request))

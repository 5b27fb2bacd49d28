"""Span attribute names: the OpenTelemetry GenAI semantic conventions daytwo emits, and its own.

The GenAI conventions are still in development; the names here are the current ones
(``gen_ai.provider.name``, not the older ``gen_ai.system``; ``gen_ai.input.messages`` on the
span, not the older per-message events). Keeping every name in one module makes a future
rename one edit, and lets ``docs/observability.md`` be checked against the code.
"""

from __future__ import annotations

from typing import Final

# -- GenAI semantic conventions --------------------------------------------------------------

OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
OUTPUT_TYPE: Final = "gen_ai.output.type"

REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
#: The conventions' OpenAI attribute (it replaced ``gen_ai.openai.response.system_fingerprint``),
#: set for any upstream that reports a fingerprint (Azure and OpenAI-compatible servers too).
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"

INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"

# -- general conventions ---------------------------------------------------------------------

ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
SERVICE_NAME: Final = "service.name"

# -- daytwo ----------------------------------------------------------------------------------

CALL_ID: Final = "daytwo.call_id"
STATUS: Final = "daytwo.status"
STREAM: Final = "daytwo.stream"
TTFT_MS: Final = "daytwo.ttft_ms"
PROVIDER: Final = "daytwo.provider"
DEPLOYMENT: Final = "daytwo.deployment"
ATTEMPTS: Final = "daytwo.attempts"
COST_USD: Final = "daytwo.cost.usd"
PRICE_REF: Final = "daytwo.price_ref"
TOKENS_ESTIMATED: Final = "daytwo.usage.estimated"
REASONING_TOKENS: Final = "daytwo.usage.reasoning_tokens"
CACHE: Final = "daytwo.cache"
SAVED_USD: Final = "daytwo.saved.usd"
BUDGET_DECISION: Final = "daytwo.budget.decision"
PROJECT: Final = "daytwo.project"
WORKFLOW: Final = "daytwo.workflow"
FEATURE: Final = "daytwo.feature"
AGENT: Final = "daytwo.agent"
SESSION: Final = "daytwo.session"
ENVIRONMENT: Final = "daytwo.environment"
KEY_ID: Final = "daytwo.key_id"
#: The prompt that made the call (prompts as code): name, version, label, content hash.
PROMPT_NAME: Final = "gen_ai.prompt.name"
PROMPT_VERSION: Final = "gen_ai.prompt.version"
PROMPT_LABEL: Final = "daytwo.prompt.label"
PROMPT_HASH: Final = "daytwo.prompt.hash"
CONTENT_TRUNCATED: Final = "daytwo.content.truncated"

ATTEMPT: Final = "daytwo.attempt"
ATTEMPT_OUTCOME: Final = "daytwo.attempt.outcome"
RETRY_DECISION: Final = "daytwo.retry.decision"
RETRY_DELAY_MS: Final = "daytwo.retry.delay_ms"

#: OpenTelemetry GenAI's evaluation event and its attributes (the quality room's scores).
EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
EVALUATION_NAME: Final = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"

#: daytwo provider ``type`` → ``gen_ai.provider.name``. An OpenAI-compatible server (vLLM,
#: Groq, ...) configured as ``type: openai`` is reported as ``openai``: the convention names the
#: telemetry flavour the client speaks, and ``daytwo.provider`` names the configured upstream.
PROVIDER_NAMES: Final[dict[str, str]] = {
    "openai": "openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "sim": "daytwo.sim",
}

#: Error classes of a call spend control refused before it reached an upstream.
SPEND_REFUSALS: Final = frozenset(
    {"BudgetExceeded", "RateLimited", "FeatureDisabled", "StateUnavailable"}
)

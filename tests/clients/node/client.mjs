// One call by a real Node client against a daytwo gateway, for tests/clients/test_node_clients.py.
//
//   echo '<json case>' | node client.mjs
//
// The case names the client ("openai" or "ai-sdk"), the gateway's base URL, the key, the model,
// and optionally maxRetries (the client's default when absent), stream, headers and prompt.
// Prints one JSON line: what the client returned or threw, and how long the call took.

import { readFileSync } from "node:fs";

import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const spec = JSON.parse(readFileSync(0, "utf8"));
const messages = [{ role: "user", content: spec.prompt ?? "hello there" }];

function headersOf(h) {
  if (!h) return null;
  if (typeof h.entries === "function") return Object.fromEntries(h.entries());
  return { ...h };
}

async function viaOpenAI() {
  const options = { baseURL: spec.baseURL, apiKey: spec.apiKey, defaultHeaders: spec.headers };
  if (spec.maxRetries !== undefined) options.maxRetries = spec.maxRetries;
  const client = new OpenAI(options);
  if (spec.stream) {
    // withResponse() is how openai-node gives a stream's request id.
    const { data: stream, request_id: requestId } = await client.chat.completions
      .create({
        model: spec.model,
        messages,
        max_tokens: spec.maxTokens ?? 20,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    return { text, usage, requestId };
  }
  const completion = await client.chat.completions.create({
    model: spec.model,
    messages,
    max_tokens: spec.maxTokens ?? 20,
  });
  return {
    text: completion.choices[0].message.content,
    usage: completion.usage,
    requestId: completion._request_id ?? null,
  };
}

async function viaAISDK() {
  const provider = createOpenAI({
    baseURL: spec.baseURL,
    apiKey: spec.apiKey,
    headers: spec.headers,
  });
  const options = {
    model: provider.chat(spec.model),
    messages,
    maxOutputTokens: spec.maxTokens ?? 20,
  };
  if (spec.maxRetries !== undefined) options.maxRetries = spec.maxRetries;
  if (spec.stream) {
    let failure = null;
    const result = streamText({ ...options, onError: ({ error }) => (failure = error) });
    let text = "";
    for await (const part of result.textStream) text += part;
    if (failure) throw failure;
    return { text, usage: await result.usage };
  }
  const result = await generateText(options);
  return { text: result.text, usage: result.usage };
}

function describe(err) {
  // The AI SDK wraps the last failure of its retries in a RetryError.
  const last = err?.lastError ?? err;
  return {
    name: err?.constructor?.name ?? typeof err,
    lastName: last?.constructor?.name ?? null,
    message: String(err?.message ?? err),
    status: last?.status ?? last?.statusCode ?? null,
    requestId: last?.requestID ?? null,
    headers: headersOf(last?.headers ?? last?.responseHeaders),
    body: last?.error ?? last?.data ?? null,
    attempts: Array.isArray(err?.errors) ? err.errors.length : 1,
  };
}

const started = performance.now();
let out;
try {
  const result = spec.client === "ai-sdk" ? await viaAISDK() : await viaOpenAI();
  out = { ok: true, result };
} catch (err) {
  out = { ok: false, error: describe(err) };
}
out.elapsedMs = performance.now() - started;
process.stdout.write(JSON.stringify(out) + "\n");

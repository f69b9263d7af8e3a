// Run by tests/mockserver/test_ts_sdk.py: the official TypeScript SDK against the busysignal mock.
// Creates a message, streams one, counts tokens, and prints what it saw as one JSON line.
import Anthropic from "@anthropic-ai/sdk";

const baseURL = process.env.BUSYSIGNAL_URL;
if (!baseURL) {
  console.error("BUSYSIGNAL_URL is not set");
  process.exit(2);
}
const client = new Anthropic({ baseURL, apiKey: "ts-test-key", maxRetries: 0 });
const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 40,
  messages: [{ role: "user", content: "Hello from TypeScript" }],
};

const created = await client.messages.create(params);
const stream = client.messages.stream(params);
const deltas = [];
stream.on("text", (text) => deltas.push(text));
const streamed = await stream.finalMessage();
const counted = await client.messages.countTokens({ model: params.model, messages: params.messages });

let notFound = null;
try {
  await client.messages.create({ ...params, model: "claude-imaginary" });
} catch (err) {
  notFound = { name: err.constructor.name, status: err.status, type: err.type ?? err.error?.error?.type };
}

console.log(
  JSON.stringify({
    created: { id: created.id, text: created.content[0].text, stop: created.stop_reason, usage: created.usage },
    streamed: { id: streamed.id, text: streamed.content[0].text, stop: streamed.stop_reason, usage: streamed.usage },
    deltas,
    counted,
    notFound,
  }),
);

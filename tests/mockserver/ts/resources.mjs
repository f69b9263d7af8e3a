// Run by tests/mockserver/test_ts_sdk.py: the official TypeScript SDK against the busysignal mock,
// one resource family of each kind: an upload (files: bytes up and back), CRUD (agents) and a
// stream (a session's events). Prints what it saw as one JSON line.
import Anthropic, { toFile } from "@anthropic-ai/sdk";

const baseURL = process.env.BUSYSIGNAL_URL;
if (!baseURL) {
  console.error("BUSYSIGNAL_URL is not set");
  process.exit(2);
}
const client = new Anthropic({ baseURL, apiKey: "ts-test-key", maxRetries: Number(process.env.RETRIES ?? 0) });

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return { name: err.constructor.name, status: err.status };
  }
}

// upload: bytes that are not text, up and back
const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
const uploaded = await client.files.upload({ file: await toFile(bytes, "data.bin", { type: "application/octet-stream" }) });
const metadata = await client.files.retrieveMetadata(uploaded.id);
const listed = [];
for await (const f of client.files.list({ limit: 1 })) listed.push(f.id);
const downloaded = Buffer.from(await (await client.files.download(uploaded.id)).arrayBuffer());
const deleted = await client.files.delete(uploaded.id);
const fileGone = await failure(client.files.retrieveMetadata(uploaded.id));

// CRUD: an agent made, changed (a new version), listed; archived once its session is made
const agents = client.beta.agents;
const agent = await agents.create({ model: "claude-opus-4-6", name: "ts-agent", system: "one" });
const updated = await agents.update(agent.id, { system: "two", version: agent.version });
const versions = [];
for await (const v of agents.versions.list(agent.id)) versions.push(v.version);
const agentGone = await failure(agents.retrieve("agent_nope"));

// stream: a session of that agent in a real environment, its events sent and read back as SSE
const environment = await client.beta.environments.create({ name: "ts-env" });
const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
await client.beta.sessions.events.send(session.id, {
  events: [{ type: "user.message", content: [{ type: "text", text: "Hello from TypeScript" }] }],
});
const streamed = [];
for await (const ev of await client.beta.sessions.events.stream(session.id)) streamed.push(ev.type);
const archived = await agents.archive(agent.id);
const afterArchive = await failure(client.beta.sessions.create({ agent: agent.id, environment_id: environment.id }));

console.log(
  JSON.stringify({
    file: { id: uploaded.id, size: metadata.size_bytes, mime: metadata.mime_type, listed, same: downloaded.equals(bytes) },
    deleted: deleted.type,
    fileGone,
    agent: { id: agent.id, version: agent.version, updated: updated.version, versions, archived: archived.archived_at !== null },
    agentGone,
    session: { id: session.id, agentVersion: session.agent.version, system: session.agent.system },
    afterArchive,
    streamed,
  }),
);

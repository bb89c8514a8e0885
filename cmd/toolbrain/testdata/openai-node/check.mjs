// Drives a toolbrain serve with the official openai package: a plain
// completion, a streamed one, and a tool call round trip in the history.
// Usage: node check.mjs BASE_URL API_KEY MODEL; prints one JSON line.
import OpenAI from "openai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const out = {};

const plain = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "Say hi" }], max_tokens: 5, temperature: 0,
});
out.plain = plain.choices[0].message.content;

let streamed = "";
let chunks = 0;
const stream = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "Say hi" }], max_tokens: 5, temperature: 0, stream: true,
});
for await (const c of stream) {
  chunks++;
  streamed += c.choices[0]?.delta?.content ?? "";
}
out.streamed = streamed;
out.chunks = chunks;

const tools = await client.chat.completions.create({
  model, max_tokens: 5, temperature: 0,
  messages: [
    { role: "user", content: "What is 2+3?" },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "add", arguments: "{\"a\":2,\"b\":3}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "5" },
  ],
});
out.tool_round_trip = tools.choices[0].message.content;

try {
  await client.chat.completions.create({ model, messages: [] });
  out.bad = "accepted";
} catch (e) {
  out.bad = { status: e.status, param: e.param ?? e.error?.param ?? null };
}
console.log(JSON.stringify(out));

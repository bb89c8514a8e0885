// Drives a toolbrain serve with the official openai package: a plain
// completion, a streamed one, a tool call round trip in the history, and,
// against a second server on a scripted model (SCRIPTED_URL), a tool call
// the model makes, answered and read back, plain and streamed.
// Usage: node check.mjs BASE_URL API_KEY MODEL SCRIPTED_URL; prints one JSON line.
import OpenAI from "openai";

const [baseURL, apiKey, model, scriptedURL] = process.argv.slice(2);
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

const history = await client.chat.completions.create({
  model, max_tokens: 5, temperature: 0,
  messages: [
    { role: "user", content: "What is 2+3?" },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "add", arguments: "{\"a\":2,\"b\":3}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "5" },
  ],
});
out.tool_round_trip = history.choices[0].message.content;

try {
  await client.chat.completions.create({ model, messages: [] });
  out.bad = "accepted";
} catch (e) {
  out.bad = { status: e.status, param: e.param ?? e.error?.param ?? null };
}
// The scripted model calls add when it sees the tool, and answers once it
// sees the tool's result.
const scripted = new OpenAI({ baseURL: scriptedURL, apiKey: "none", maxRetries: 0 });
const tools = [{
  type: "function",
  function: {
    name: "add", description: "Adds two numbers.",
    parameters: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] },
  },
}];
const messages = [{ role: "user", content: "What is 2+3?" }];
const first = await scripted.chat.completions.create({ model, messages, tools, tool_choice: "auto", temperature: 0 });
const call = first.choices[0].message.tool_calls?.[0];
out.tool_call = { finish: first.choices[0].finish_reason, name: call?.function.name, arguments: JSON.parse(call?.function.arguments ?? "null"), id: call?.id };
messages.push(first.choices[0].message);
const args = out.tool_call.arguments ?? {};
messages.push({ role: "tool", tool_call_id: call?.id, content: String(args.a + args.b) });
const second = await scripted.chat.completions.create({ model, messages, tools, temperature: 0 });
out.tool_answer = second.choices[0].message.content;

// The same call streamed: the client's accumulator puts the deltas together.
const s2 = scripted.beta.chat.completions.stream({ model, messages: messages.slice(0, 1), tools, temperature: 0 });
const final = await s2.finalChatCompletion();
const sc = final.choices[0].message.tool_calls?.[0];
out.streamed_tool_call = { finish: final.choices[0].finish_reason, name: sc?.function.name, arguments: JSON.parse(sc?.function.arguments ?? "null") };
console.log(JSON.stringify(out));

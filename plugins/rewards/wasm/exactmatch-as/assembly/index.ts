// The exact-match reward in AssemblyScript with the upstream Extism AS PDK.
//
// Input: an sdk.RewardRequest; output {"score":1} when the trace's final answer equals the
// expected answer, else {"score":0}. Like the WAT version it relies on the SDK's field order
// ("expected" first in the request, "final_answer" first in the trace) instead of a JSON
// parser, and compares the strings in their canonical escaped form.
//
// Build: npm ci && npm run build -- --outFile exactmatch-as.wasm (plugins/build.sh does it).
import { Host } from "@extism/as-pdk";

function myAbort(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {}

function find(buf: Uint8Array, pat: string): i32 {
  const p = Uint8Array.wrap(String.UTF8.encode(pat));
  for (let i = 0; i + p.length <= buf.length; i++) {
    let j = 0;
    while (j < p.length && buf[i + j] == p[j]) j++;
    if (j == p.length) return i + p.length;
  }
  return -1;
}

function strEnd(buf: Uint8Array, i: i32): i32 {
  while (i < buf.length) {
    const c = buf[i];
    if (c == 34) break; // '"'
    if (c == 92) i++; // '\\' escapes the next byte
    i++;
  }
  return i;
}

export function reward(): i32 {
  const buf = Host.input();
  const e = find(buf, '"expected":"');
  const f = find(buf, '"final_answer":"');
  if (e < 0 || f < 0) {
    return 1;
  }
  const ee = strEnd(buf, e);
  const fe = strEnd(buf, f);
  let same = ee - e == fe - f;
  for (let i = 0; same && i < ee - e; i++) {
    if (buf[e + i] != buf[f + i]) same = false;
  }
  Host.outputString(same ? '{"score":1}' : '{"score":0}');
  return 0;
}

export function toolbrain_sdk_version(): i32 {
  Host.outputString("1.0");
  return 0;
}

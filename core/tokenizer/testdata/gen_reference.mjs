// Writes reference_extra.json: ids from transformers.js (@lenml/tokenizers,
// the implementation behind shared/testdata/tokenizers/*/reference.json) for
// the Llama 3 and Qwen3 tokenizers and for testdata/tiny (WriteTiny output).
//
// Regenerate from core/tokenizer:
//   npm install --prefix /tmp/tjs @lenml/tokenizers@3.7.2
//   NODE_PATH=/tmp/tjs/node_modules node testdata/gen_reference.mjs "$(go env GOROOT)/doc/go_spec.html"
import { createRequire } from "module";
import fs from "fs";

const require = createRequire(process.env.NODE_PATH + "/");
const { TokenizerLoader } = require("@lenml/tokenizers");

function load(dir) {
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(dir + "/tokenizer.json")),
    tokenizerConfig: JSON.parse(fs.readFileSync(dir + "/tokenizer_config.json")),
  });
}

const toks = {
  llama3: load("../../../shared/testdata/tokenizers/llama3"),
  qwen3: load("../../../shared/testdata/tokenizers/qwen3"),
  tiny: load("testdata/tiny"),
};

const texts = [
  "e\u0301 café vs cafe\u0301 and a\u0308\u0301 stacked",
  "Hangul 한국어 텍스트 Arabic مرحبا بالعالم Devanagari नमस्ते दुनिया Thai สวัสดีครับ",
  "emoji ZWJ 👩‍👩‍👧‍👦 flags 🇫🇷🇩🇪 skin 👍🏽 and 🤖🔧",
  "CRLF\r\nline\r\n\r\n  \r\nend",
  "tabs\t\t\tand\t spaces \t mixed",
  "NBSP\u00a0here\u3000ideographic\u2003em\u2009thin",
  "   ",
  "\n",
  "x\n",
  " \n ",
  "a\n\n\nb",
  "  \n\n  word",
  "12345678901234567890",
  "3.14159e-10 and 1,234,567.89 and -42",
  "٣٤٥ ١٢ Ⅻ ½ ²³ ١٢٣٤٥",
  "'s 's 'S 'Ll 'RE 'VE 'm 'D 'Sx 'dx 'llama",
  "don't DON'T Don'T ''quoted'' 'tis the season's end",
  "ſ long s 'ſ and K Kelvin",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello",
  "<|im_start|><|im_end|><|endoftext|>",
  "<|im_start <|im_end| <| |> <<|im_start|>>",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
  "<tool_call>\n{\"name\": \"search_emails\", \"arguments\": {\"keywords\": [\"invoice\"]}}\n</tool_call>",
  "<tool_response>\n[{\"id\": \"m42\"}]\n</tool_response>",
  "def search(query: str, limit: int = 10) -> list[dict]:\n    \"\"\"Search.\"\"\"\n    return [r for r in index if query in r['text']][:limit]\n",
  "func main() {\n\tfmt.Println(\"hello, 世界\")\n\tos.Exit(run(os.Args[1:]))\n}\n",
  "{\"a\": [1, 2.5, true, null], \"b\": {\"c\": \"d\\n\"}}",
  "| col | other |\n|-----|-------|\n| 1   | two   |\n",
  "$ ls -la /tmp && echo \"done\" > /dev/null 2>&1; grep -rn 'x' .",
  "mail: first.last+tag@example.co.uk, https://user:pw@host.example.com:8443/p/a/t/h?q=1&r[]=2#frag",
  "a".repeat(100),
  "=".repeat(200),
  " ".repeat(300) + "word",
  "\t".repeat(70) + "\n".repeat(70),
  "abcабв中文日本語ｶﾀｶﾅ",
  "ǅ Titlecase ﬁ ligature Ω ohm Å angstrom",
  "\u0001\u0002 control \u007f chars \u0000 nul",
  "The quick brown fox jumps over the lazy dog.",
  "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!!!",
  "Mixed123Numbers456 and x2 and 2x and v1.2.3-rc4",
  "...!!!???---___***",
  " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
  "¡¿ «guillemets» “curly” ‘single’ — en–dash … ellipsis",
  "I'M YOU'RE WE'LL THEY'VE SHE'D HE'S IT'T",
  "trailing space ",
  " leading space",
  "word\u200bzero\u200cwidth\u200djoiner",
  "Ελληνικά κείμενο και Русский текст",
  "עברית טקסט",
  "Tiếng Việt có dấu",
];

// Chunks of the Go specification: English prose with code in HTML.
const spec = fs.readFileSync(process.argv[2], "utf8");
for (let i = 0; i < 20; i++) {
  const start = Math.floor((spec.length - 1500) * i / 20);
  texts.push(spec.slice(start, start + 1500));
}

const cases = texts.map((text) => {
  const ids = {};
  for (const [name, tok] of Object.entries(toks)) {
    ids[name] = tok.encode(text, { add_special_tokens: false });
  }
  return { text, ids };
});
fs.writeFileSync("testdata/reference_extra.json",
  JSON.stringify({ generator: "transformers.js @lenml/tokenizers 3.7.2 via testdata/gen_reference.mjs", cases }) + "\n");
console.log(cases.length, "cases");

#!/usr/bin/env python3
"""Render chat templates with Jinja2 set up exactly as Hugging Face transformers
does in apply_chat_template, and write the results to reference.json.

The Go tests compare core/chattemplate against this file, so the values come
from an independent implementation (Jinja2 itself, the engine transformers uses).

Run from this directory:  pip install jinja2 && python3 make_reference.py
Made with Jinja2 3.1.6 and Python 3.
"""
import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TOK = os.path.join(HERE, "..", "..", "..", "..", "shared", "testdata", "tokenizers")


class AssistantTracker(Extension):
    """The {% generation %} block of transformers, rendering its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render", [], [], None, None)
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


# transformers.utils.chat_template_utils._compile_jinja_template
def compile_template(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def special_tokens(cfg):
    """special_tokens_map as transformers builds it: set tokens only, AddedToken dicts reduced to content."""
    out = {}
    for k in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if v is not None:
            out[k] = v
    if cfg.get("additional_special_tokens"):
        out["additional_special_tokens"] = cfg["additional_special_tokens"]
    return out


def render(source, tokens, case):
    kwargs = dict(tokens)
    kwargs.update(case.get("extra") or {})
    try:
        text = compile_template(source).render(
            messages=case["messages"],
            tools=case.get("tools"),
            documents=None,
            add_generation_prompt=case.get("add_generation_prompt", False),
            **kwargs,
        )
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}
    if case.get("continue_final_message"):
        final = case["messages"][-1]["content"]
        loc = text.rindex(final.strip())
        if text[loc : loc + len(final.lstrip())] == final:
            text = text[: loc + len(final.lstrip())]
        else:
            text = text[: loc + len(final.strip())]
    return {"text": text}


def call(name, args, id=None):
    tc = {}
    if id is not None:
        tc["id"] = id
    tc["type"] = "function"
    tc["function"] = {"name": name, "arguments": args}
    return tc


SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_emails",
        "description": "Search the inbox for messages matching keywords.",
        "parameters": {
            "type": "object",
            "properties": {
                "keywords": {"type": "array", "items": {"type": "string"}, "description": "Words to look for"},
                "limit": {"type": "integer", "description": "Max results", "default": 10},
                "after": {"type": "string", "description": "ISO date, e.g. \"2024-01-01\""},
            },
            "required": ["keywords"],
        },
    },
}
READ_TOOL = {
    "type": "function",
    "function": {
        "name": "read_email",
        "description": "Read one message by id — returns its body.",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    },
}

SYS = {"role": "system", "content": "You are an email assistant."}
USER = {"role": "user", "content": "When is the Acme meeting?"}

CONVERSATIONS = {
    "plain": [SYS, USER],
    "no_system": [USER],
    "multi_turn": [
        SYS,
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "  Find the invoice from ACME, please.  "},
    ],
    "tool_round": [
        SYS,
        USER,
        {"role": "assistant", "content": "", "tool_calls": [call("search_emails", {"keywords": ["Acme", "meeting"], "limit": 3})]},
        {"role": "tool", "content": "[{\"id\": \"m42\", \"snippet\": \"Acme meeting moved to Thursday\"}]", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "The meeting is on Thursday."},
    ],
    "parallel_tools": [
        USER,
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                call("search_emails", {"keywords": ["Acme"], "after": "2024-01-01"}, id="call_a"),
                call("read_email", "{\"id\": \"m42\"}", id="call_b"),
            ],
        },
        {"role": "tool", "content": "[]", "tool_call_id": "call_a", "name": "search_emails"},
        {"role": "tool", "content": "Subject: Acme\nThursday 10:00", "tool_call_id": "call_b", "name": "read_email"},
    ],
    "thinking": [
        USER,
        {"role": "assistant", "content": "<think>\nThe user wants a date.\n</think>\n\nThursday."},
        {"role": "user", "content": "And the room?"},
        {"role": "assistant", "content": "Room 4.", "reasoning_content": "Look at the invite."},
        {"role": "user", "content": "<tool_response>ok</tool_response>"},
    ],
    "unicode": [
        {"role": "user", "content": "Café ☕ — naïve 日本語 \"quotes\" \\ back\tslash"},
        {"role": "assistant", "content": "", "tool_calls": [call("search_emails", {"keywords": ["Café", "日本", "a\"b", "line\nbreak", "\u0001ctl"], "score": 0.5, "big": 1e20, "tiny": 1.5e-07, "ratio": 2.0, "neg": -3, "flag": True, "none": None, "nested": {"z": [], "a": {}}})]},
    ],
}

# Small templates that each lean on a group of Jinja features HF templates use.
FEATURES = {
    "loop_vars": "{% for m in messages %}{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }} {{ loop.revindex0 }} {{ loop.first }} {{ loop.last }} {{ loop.cycle('a', 'b') }}{% if not loop.first %} prev={{ loop.previtem.role }}{% endif %}{% if not loop.last %} next={{ loop.nextitem.role }}{% endif %}\n{% endfor %}",
    "string_methods": "{% for m in messages %}{% set c = m.content %}{{ c.startswith('Hi') }} {{ c.endswith('?') }} [{{ c.strip() }}] [{{ c.lstrip() }}] [{{ c.rstrip() }}] {{ c.split(' ') }} {{ c.upper() }} {{ c.lower() }} {{ c.replace('e', 'E') }} {{ 'e' in c }} {{ 'zz' not in c }} {{ c[1:4] }} {{ c[::-1] }} {{ c[-3:] }} {{ c|length }} [{{ c|trim }}] {{ c.split()|join(',') }} {{ c.title() }} {{ c.strip().split('!')[0] }} {{ c.find('e') }} {{ c.count('e') }}\n{% endfor %}",
    "namespace_slicing": "{% set ns = namespace(n=0, last='', found=false) %}{% for m in messages[::-1] %}{% set ns.n = ns.n + 1 %}{% if m.role == 'user' and not ns.found %}{% set ns.found = true %}{% set ns.last = m.content %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.last }} {{ ns.found }}\n{% for m in messages[1:] %}{{ m.role }},{% endfor %}\n{% for m in messages[:-1] %}{{ m.role }},{% endfor %}\n{{ messages[-1].role }} {{ messages[0]['role'] }} {{ (messages|length) // 2 }} {{ (messages|length) % 2 }} {{ messages|length - 1 }}\n{% for m in messages[::2] %}{{ loop.index0 }}{% endfor %}",
    "tojson": "{{ tools|tojson }}\n{{ tools[0]|tojson(indent=2) }}\n{{ tools[0].function.parameters|tojson(sort_keys=true) }}\n{{ tools[0]|tojson(separators=(',', ':')) }}\n{% for m in messages %}{% if m.tool_calls is defined %}{% for tc in m.tool_calls %}{{ tc|tojson }}\n{{ tc.function.arguments|tojson(indent=4) }}\n{{ tc.function.arguments|tojson(ensure_ascii=true) }}\n{% endfor %}{% endif %}{{ m.content|tojson }}\n{% endfor %}{{ [1, 2.5, 'x', none, true, {'k': 'v'}]|tojson }} {{ 'a\\'b<>&'|tojson }}",
    "dict_access": "{% for tool in tools %}{% set fn = tool.function %}{{ fn.name }}:{% for name, spec in fn.parameters.properties.items() %} {{ name }}={{ spec.type }}{% if spec.description is defined %}({{ spec.description }}){% endif %}{% if name in fn.parameters.required %}*{% endif %}{% endfor %} keys={{ fn.parameters.properties.keys()|list }} n={{ fn.parameters.properties|length }} {{ fn.parameters.get('missing', 'dflt') }} {{ fn.get('name') }} {{ 'required' in fn.parameters }} {{ fn.parameters is mapping }} {{ fn.name is string }}{% for k in fn.parameters.properties %} {{ k }}{% endfor %}{% for k, v in fn.parameters.properties|dictsort %} {{ k }}{% endfor %}{% for k, v in fn.parameters.properties|items %} {{ k }}{% endfor %}\n{% endfor %}",
    "defined_tests": "{% for m in messages %}{{ m.role }} tc={{ m.tool_calls is defined }} name={{ m.name is defined }} id={{ m.tool_call_id is defined }} rc={{ m.reasoning_content is defined }} {% if m.tool_calls %}{% for tc in m.tool_calls %}{{ tc.function.arguments is string }}{{ tc.function.arguments is mapping }}{{ tc.id is defined }} {% endfor %}{% endif %}\n{% endfor %}et={{ enable_thinking is defined }} {% if enable_thinking is defined %}{{ enable_thinking is false }} {{ enable_thinking is true }} {{ enable_thinking is boolean }}{% endif %} zz={{ zz is defined }} {{ zz is undefined }} [{{ zz }}] {{ bos_token is defined }} {{ eos_token }} {{ 3 is number }} {{ 3 is integer }} {{ 2.5 is float }} {{ 4 is even }} {{ messages is iterable }} {{ messages is sequence }} {{ none is none }} {{ 'abc' is lower }} {{ 'x' is in 'xyz' }} {{ 3 is divisibleby 3 }}",
    "control_flow": "{% macro render(m, prefix='> ') %}{{ prefix }}{{ m.role|upper }}: {{ m.content|trim }}{% endmacro %}{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% elif m.role == 'tool' %}{% break %}{% else %}{{ render(m) }}{{ render(m, prefix='# ') }}{% endif %}\n{% endfor %}{% set block %}{{ messages|length }} messages{% endset %}{{ block }} {{ 'yes' if add_generation_prompt else 'no' }} {{ messages|map(attribute='role')|join('|') }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|first }} {{ (messages|last).role }} {{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ 'a' ~ 1 ~ true }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ '%s-%d'|format('x', 3) }} {{ undefined_thing|default('dflt') }} {{ ''|default('e', true) }} {{ '42'|int + 1 }} {{ 3|string + 'x' }} {{ [3, 1, 2]|sort|list }} {{ ['b', 'a']|reverse|list }} {{ 'abc'|capitalize }} {{ [1, 2]|sum }} {{ messages[0].content|wordcount }} {{ 'x'|replace('x', 'y') }} {{ 'Hi'|center(6) }}|",
    # No whitespace-control dashes: trim_blocks and lstrip_blocks decide the layout.
    "whitespace": "{% for message in messages %}\n    {% if message['role'] == 'user' %}\n        [INST] {{ message['content'] }} [/INST]\n    {% elif message['role'] == 'assistant' %}\n        {{ message['content'] }}{{ eos_token }}\n    {% else %}\n        <<SYS>>\n{{ message['content'] }}\n<</SYS>>\n    {% endif %}\n{% endfor %}\n  {# comment #}\n{% if add_generation_prompt %}  ASSISTANT:{% endif %}\n",
    "generation_block": "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}<a>{{ m.content }}</a>{% endgeneration %}{% else %}<{{ m.role[0] }}>{{ m.content }}{% endif %}{% endfor %}",
    "raise": "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.content }}{% endfor %}",
}

# Whitespace control: trim_blocks, lstrip_blocks, "-" and "+" markers, raw blocks,
# comments, CRLF, the trailing newline. Rendered with x = "X" and items = [1, 2].
WHITESPACE = [
    "a\n  {% if true %}\n  b\n  {% endif %}\nc\n",
    "x {% if true %}y{% endif %} z",
    "{{ x }} {% if true %}y{% endif %}\n",
    "  {{ x }}\n  {% for i in items %}\n    [{{ i }}]\n  {% endfor %}\n",
    "a   {%- if true %} b {% endif -%}   c",
    "a\n   {%+ if true %}b{% endif +%}\nc",
    "  {# note #}\nline\n  {#- trimmed -#}  \n end",
    "{% raw %}\n  {{ not_a_var }} {% if %}\n  {% endraw %}\nafter",
    "{%- raw -%}  {{ x }}  {%- endraw -%}  tail",
    "line1\r\n  {% if true %}\r\nline2\r\n  {% endif %}\r\n",
    "{{- x -}}  \n  {{ x }}\n\n",
    "{{ '{%' }} {{ \"%}\" }} {{ {'a': {'b': 1}}['a']['b'] }}\n  {% set d = {'k': '}}'} %}\n{{ d.k }}",
    "\t{% if true %}\ttab{% endif %}\n\t\t{% if true %}x\n{% endif %}",
    "{% for i in items -%}\n  {{ i }}\n{%- endfor %}\n\n",
    "A{% if true %}\n\nB{% endif %}C",
    "{% macro m(v) %}\n  <{{ v }}>\n{% endmacro %}\n{{ m(1) }}{{ m(2) }}",
    "{% set s %}\n  inner {{ x }}\n{% endset %}\n[{{ s }}]",
    "no newline at end",
    "\n\n",
]

# Real templates kept as files here. llama3.2.jinja is Meta's Llama 3.2
# Instruct chat template (tool calling through JSON, tools in the first user
# message), copied from a public repository that quotes it verbatim.
TEMPLATE_FILES = {"llama3.2": "templates/llama3.2.jinja"}
TEMPLATE_FILE_TOKENS = {"llama3.2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}}

CASES = [
    # (template key, conversation key, tools, add_generation_prompt, extra, continue_final_message)
    ("qwen3", "plain", None, True, None, False),
    ("qwen3", "plain", None, False, None, False),
    ("qwen3", "no_system", None, True, {"enable_thinking": False}, False),
    ("qwen3", "multi_turn", None, True, None, False),
    ("qwen3", "plain", [SEARCH_TOOL, READ_TOOL], True, None, False),
    ("qwen3", "no_system", [SEARCH_TOOL], True, None, False),
    ("qwen3", "tool_round", [SEARCH_TOOL], True, None, False),
    ("qwen3", "tool_round", [SEARCH_TOOL], False, None, False),
    ("qwen3", "parallel_tools", [SEARCH_TOOL, READ_TOOL], True, None, False),
    ("qwen3", "thinking", None, True, None, False),
    ("qwen3", "unicode", [SEARCH_TOOL], True, {"enable_thinking": True}, False),
    ("qwen3", "multi_turn_prefill", None, False, None, True),
    ("llama3", "plain", None, True, None, False),
    ("llama3", "multi_turn", None, True, None, False),
    ("llama3", "tool_round", [SEARCH_TOOL], True, None, False),
    ("llama3", "unicode", None, False, None, False),
    ("llama3.2", "plain", None, True, {"date_string": "26 Jul 2024"}, False),
    ("llama3.2", "multi_turn", None, True, {"date_string": "05 Jan 2025"}, False),
    ("llama3.2", "tool_round", [SEARCH_TOOL, READ_TOOL], True, {"date_string": "26 Jul 2024"}, False),
    ("llama3.2", "tool_round", [SEARCH_TOOL], False, {"date_string": "26 Jul 2024", "tools_in_user_message": False}, False),
    ("llama3.2", "parallel_tools", [SEARCH_TOOL], True, {"date_string": "26 Jul 2024"}, False),
    ("llama3.2", "unicode", [SEARCH_TOOL], True, {"date_string": "26 Jul 2024", "tools_in_user_message": False}, False),
]
for name in FEATURES:
    conv = {"raise": "tool_round", "tojson": "unicode"}.get(name, "multi_turn")
    CASES.append((name, conv, [SEARCH_TOOL, READ_TOOL], True, None, False))
    if name == "raise":
        CASES.append((name, "alternating", None, True, None, False))
    if name in ("defined_tests", "raise", "control_flow", "whitespace"):
        CASES.append((name, "parallel_tools" if name != "raise" else "multi_turn", [SEARCH_TOOL], False, {"enable_thinking": False}, False))

CONVERSATIONS["alternating"] = CONVERSATIONS["multi_turn"][1:]
CONVERSATIONS["multi_turn_prefill"] = CONVERSATIONS["multi_turn"][:3] + [{"role": "assistant", "content": "The invoice is "}]


def main():
    templates = {}
    tokens = {}
    for model in ["qwen3", "llama3"]:
        with open(os.path.join(TOK, model, "tokenizer_config.json")) as f:
            cfg = json.load(f)
        templates[model] = cfg["chat_template"]
        tokens[model] = special_tokens(cfg)
    for name, path in TEMPLATE_FILES.items():
        with open(os.path.join(HERE, path)) as f:
            templates[name] = f.read()
        tokens[name] = TEMPLATE_FILE_TOKENS[name]
    for name, src in FEATURES.items():
        templates[name] = src
        tokens[name] = {"bos_token": "<s>", "eos_token": "</s>"}

    whitespace = []
    for src in WHITESPACE:
        text = compile_template(src).render(x="X", items=[1, 2])
        whitespace.append({"template": src, "text": text})

    out = {"generator": "make_reference.py, Jinja2 %s configured as transformers.apply_chat_template" % jinja2.__version__,
           "features": FEATURES, "template_files": TEMPLATE_FILES, "whitespace": whitespace, "cases": []}
    for tpl, conv, tools, agp, extra, cont in CASES:
        case = {
            "name": "%s/%s%s%s%s%s" % (tpl, conv, "/tools" if tools else "", "/gen" if agp else "",
                                     "/" + ",".join("%s=%s" % kv for kv in extra.items()) if extra else "",
                                     "/continue" if cont else ""),
            "template": tpl,
            "messages": CONVERSATIONS[conv],
            "tools": tools,
            "add_generation_prompt": agp,
            "extra": extra,
            "continue_final_message": cont,
            "special_tokens": tokens[tpl],
        }
        case.update(render(templates[tpl], tokens[tpl], case))
        out["cases"].append(case)
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d cases" % len(out["cases"]))


if __name__ == "__main__":
    main()

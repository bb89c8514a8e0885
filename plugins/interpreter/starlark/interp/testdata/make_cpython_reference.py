import json, re, math
cases = [
 ('fstr_basic', 'x = 3\nname = "Ann"\nprint(f"{name} has {x} apples, {x*2} after doubling")'),
 ('fstr_spec', 'v = 3.14159\nprint(f"{v:.2f}|{v:10.3f}|{v:<10.1f}|{v:^9.0f}|{v:e}|{v:g}|{1234567.891:,.2f}")'),
 ('fstr_int', 'n = 42\nprint(f"{n:05d}|{n:x}|{n:#x}|{n:b}|{n:>6}|{-n:08d}|{n:+d}|{1234567:,}|{255:#010b}")'),
 ('fstr_conv', 's = "hi"\nl = [1, "a", None, True, 2.5]\nprint(f"{s!r} {l} {l!r} {s:>5}|{s:*^8}|")'),
 ('fstr_eq', 'x = 7\nprint(f"{x=} {x + 1=}")'),
 ('fstr_nested', 'w = 8\np = 3\nprint(f"{3.14159:{w}.{p}f}|{{literal}}|{\'q\'}")'),
 ('fstr_pct', 'print(f"{0.256:.1%}|{1e20}|{1e-7}|{0.1+0.2}|{1/3}|{2.0}|{100.0:g}|{1e16:.3g}")'),
 ('round', 'print(round(2.5), round(3.5), round(-0.5), round(2.675, 2), round(1.005, 2), round(0.125, 2), round(1234.5678, -2), round(15, -1), round(25, -1), round(-2.5))'),
 ('sum', 'print(sum([1, 2, 3]), sum([0.1] * 10), sum([[1], [2]], []), sum(range(101)), sum([x * x for x in range(4)], 10))'),
 ('json', 'import json\nd = {"b": [1, 2.5, None, True], "a": "é\\n\\"q\\"", "c": {}}\nprint(json.dumps(d))\nprint(json.dumps(d, sort_keys=True))\nprint(json.dumps(d, indent=2, ensure_ascii=False))\nprint(json.loads(\'{"x": [1, 2.0, "s", null, false]}\'))'),
 ('re', 'import re\nt = "Order 66: 12 apples, 7 pears; call 555-1234"\nprint(re.findall(r"\\d+", t))\nprint(re.findall(r"(\\d+) (\\w+)", t))\nprint(re.sub(r"(\\d+)", r"<\\1>", t))\nprint(re.sub(r"(?P<n>\\d)(\\d)", r"\\g<2>\\g<n>", "1234"))\nm = re.search(r"call (\\d{3})-(\\d{4})", t)\nprint(m.group(0), m.group(1), m.groups(), m.span(), m.start(2))\nprint(re.match(r"\\w+", t).group(), re.match(r"\\d", t))\nprint(re.split(r"[,;:]\\s*", t))\nprint(re.split(r"(\\d)", "a1b2c"))\nprint(re.fullmatch(r"[a-z]+", "abc") is not None, re.fullmatch(r"[a-z]+", "abc1"))\nprint(re.sub(r"a", "b", "aaa", count=2), re.subn(r"a", "b", "aaa"))\nprint(re.findall(r"^\\w", "ab\\ncd", re.M), re.search(r"B", "abc", re.I).group())\np = re.compile(r"(\\w+)@(\\w+)\\.com")\nprint(p.findall("x@y.com, a@b.com"), p.sub(r"\\2", "x@y.com"))'),
 ('repr', 'print([1, "it\'s", {"k": (1,)}, None, 1e100, -0.0, 3.0, "tab\\t"], str(2.5), repr("a\\nb"), (1, 2))'),
 ('print', 'print("a", "b", sep="-", end="!\\n")\nprint(1, 2.0, None, True)\nprint()\nprint("x", end="")\nprint("y")'),
 ('math', 'import math\nprint(math.sqrt(16), math.floor(2.7), math.ceil(2.1), math.pi, math.log10(1000), math.factorial(20), math.gcd(12, 18), math.isclose(0.1 + 0.2, 0.3), math.log(math.e), math.inf)'),
 ('builtins', 'print(abs(-3), abs(-2.5), min([3, 1, 2]), max(3, 9), sorted([3, 1, 2], reverse=True), list(enumerate(["a", "b"])), pow(2, 10), pow(2, 0.5), pow(3, 4, 5), divmod(17, 5), divmod(-7, 2), format(3.5, ".3f"), format(42))'),
 ('comprehension', 'sq = [x * x for x in range(6) if x % 2 == 0]\nd = {k: v for k, v in zip(["a", "b", "c"], range(3))}\nprint(sq, d, sum(sq), any([x > 10 for x in sq]), all([x >= 0 for x in sq]))'),
 ('while', 'n, steps = 27, 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps += 1\nprint(steps)'),
]
out = {}
for name, code in cases:
    import io, contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {})
    out[name] = buf.getvalue()
print(json.dumps({"python": __import__("sys").version.split()[0], "cases": [{"name": n, "code": c, "stdout": out[n]} for n, c in cases]}, indent=1, ensure_ascii=False))

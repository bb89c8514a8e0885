#!/usr/bin/env python3
"""Independent reference values for the Go reader's tests.

Parses the shared tiny checkpoints with nothing but the Python standard library
(struct + json) and records, for every tensor, its dtype, shape, the first and last
three elements and the float64 sum of all elements. Run from this directory:

    python3 make_reference.py > reference_values.json
"""
import json, struct, sys

MODELS = "../../../../shared/testdata/models/"
FILES = ["llama-tiny/model.safetensors", "qwen2-tiny-bf16/model.safetensors",
         "llama-tiny-lora/adapter_model.safetensors"]

def values(dtype, raw):
    if dtype == "F32":
        return list(struct.unpack("<%df" % (len(raw) // 4), raw))
    if dtype == "BF16":
        # bfloat16 is the top half of a float32.
        hs = struct.unpack("<%dH" % (len(raw) // 2), raw)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in hs]
    if dtype == "F16":
        return list(struct.unpack("<%de" % (len(raw) // 2), raw))
    raise SystemExit("unhandled dtype " + dtype)

out = {}
for f in FILES:
    b = open(MODELS + f, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    data = b[8 + n:]
    ts = {}
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        v = values(info["dtype"], data[s:e])
        ts[name] = {"dtype": info["dtype"], "shape": info["shape"],
                    "head": v[:3], "tail": v[-3:], "sum": sum(v)}
    out[f] = {"metadata": hdr.get("__metadata__"), "tensors": ts}
json.dump(out, sys.stdout, indent=1, sort_keys=True)

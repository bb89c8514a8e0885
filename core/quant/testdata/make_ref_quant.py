"""Reference values for core/quant, written from bitsandbytes' own code.

Re-implements, in PyTorch, the bitsandbytes "default" (CPU reference) backend
ops that produce the on-disk formats -- quantize_4bit (nf4),
quantize_blockwise (dynamic map, double quantization), dequantize_4bit,
int8_vectorwise_quant / int8_vectorwise_dequant -- and QuantState.as_dict's
JSON, following bitsandbytes/backends/default/ops.py and
bitsandbytes/functional.py (bitsandbytes 0.45+) line by line. bitsandbytes
itself is not packaged for Debian; torch is.

Run with Debian's python (apt-get install python3-torch):
    /usr/bin/python3 make_ref_quant.py > reference.json
"""
import base64
import json
import sys

import torch

NF4 = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=torch.float32)


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    # bitsandbytes.functional.create_dynamic_map
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    assert additional_items == 0
    data.append(0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def quantize_blockwise(A, code, blocksize):
    # backends/default/ops.py quantize_blockwise
    n = A.numel()
    rem = n % blocksize
    has_rem = rem > 0
    blocks = n // blocksize + has_rem
    absmax = torch.zeros((blocks,), dtype=torch.float32)
    A_reshaped = A.reshape(n)
    A_com = A_reshaped[: n - rem]
    A_com_reshaped = A_com.reshape(n // blocksize, blocksize)
    absmax[: blocks - has_rem] = torch.abs(A_com_reshaped).max(dim=-1)[0]
    scaled_A = torch.clamp(A_com_reshaped * (1 / absmax[: blocks - has_rem].view(-1, 1)), -1, 1)
    scaled_A = scaled_A.reshape(-1)
    if has_rem:
        absmax[-1] = torch.abs(A_reshaped[n - rem:]).max()
        scaled_A_rem = torch.clamp(A_reshaped[n - rem:] * (1 / absmax[-1]), -1, 1)
        scaled_A = torch.cat([scaled_A, scaled_A_rem], dim=0)
    diff = torch.abs(scaled_A.unsqueeze(-1) - code)
    out = torch.argmin(diff, dim=-1).to(torch.uint8).reshape(A.shape)
    return out, absmax


def dequantize_blockwise(A, absmax, code, blocksize):
    out = code[A.reshape(-1).long()]
    blocks = out.shape[-1] // blocksize
    res = out.shape[-1] % blocksize
    if res != 0:
        out = torch.nn.functional.pad(out, (0, blocksize - res), mode="constant", value=0)
    out = (out.view(-1, blocksize) * absmax.view(-1, 1)).reshape(-1)
    return out[: blocks * blocksize + res].reshape(A.shape)


def quantize_4bit(A, blocksize):
    # backends/default/ops.py quantize_4bit (quant_type nf4, uint8 storage)
    n = A.numel()
    full_blocks = n // blocksize
    rem = n % blocksize
    blocks = full_blocks + 1 if rem else full_blocks
    absmax = torch.zeros((blocks,), dtype=torch.float32)
    A_flattened = A.reshape(n)
    A_full_blocks = A_flattened[: n - rem].reshape(n // blocksize, blocksize)
    absmax[:full_blocks] = torch.abs(A_full_blocks).max(dim=-1)[0]
    scaled = torch.clamp(A_full_blocks * (1 / absmax[:full_blocks].view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        A_rem = A_flattened[-rem:]
        absmax[-1] = torch.abs(A_rem).max()
        scaled_rem = torch.clamp(A_rem * (1 / absmax[-1]), -1, 1)
        scaled = torch.cat([scaled, scaled_rem], dim=0)
    if scaled.numel() % 2 != 0:
        scaled = torch.nn.functional.pad(scaled, (0, 1), value=0.0)
    quantized = torch.argmin(torch.abs(scaled.view(-1, 1) - NF4), dim=-1, keepdim=True).to(torch.uint8)
    packed = quantized[::2] << 4 | quantized[1::2]
    return packed, absmax


def dequantize_4bit(A, absmax, blocksize, shape):
    # backends/default/ops.py _dequantize_4bit_impl
    A = A.reshape(-1)
    out_dq = torch.empty(A.size(0) * 2, dtype=torch.int64)
    out_dq[1::2] = A & 0xF
    out_dq[::2] = A >> 4
    out_dq = NF4[out_dq]
    n = 1
    for s in shape:
        n *= s
    out_dq = out_dq[:n]
    blocks = n // blocksize + (1 if n % blocksize > 0 else 0)
    rem = n % blocksize
    has_rem = rem > 0
    out = torch.empty(n, dtype=torch.float32)
    if has_rem:
        out[: n - rem] = (out_dq[: n - rem].view(-1, blocksize) * absmax[: blocks - has_rem].view(-1, 1)).reshape(-1)
        out[n - rem:] = out_dq[n - rem:] * absmax[-1]
    else:
        out = out_dq.view(-1, blocksize) * absmax.view(-1, 1)
    return out.reshape(shape)


def b64(t):
    return base64.b64encode(t.contiguous().numpy().tobytes()).decode()


def weights(shape, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=torch.float32) * 0.02
    # A few outliers, as real checkpoints have, to make blocks differ in scale.
    flat = w.view(-1)
    idx = torch.randint(0, flat.numel(), (max(1, flat.numel() // 97),), generator=g)
    flat[idx] *= 12
    return w


def nf4_case(name, shape, seed, double_quant, blocksize=64):
    w = weights(shape, seed)
    packed, absmax = quantize_4bit(w, blocksize)
    case = {"name": name, "shape": list(shape), "blocksize": blocksize, "double_quant": double_quant,
            "input_f32": b64(w), "packed_u8": b64(packed)}
    state = {"quant_type": "nf4", "blocksize": blocksize, "dtype": "float32", "shape": list(shape)}
    if double_quant:
        # functional.quantize_4bit with compress_statistics=True
        offset = absmax.mean()
        qabsmax, nested_absmax = quantize_blockwise(absmax - offset, create_dynamic_map(), 256)
        absmax = dequantize_blockwise(qabsmax, nested_absmax, create_dynamic_map(), 256) + offset
        case.update({"absmax_u8": b64(qabsmax), "nested_absmax_f32": b64(nested_absmax),
                     "nested_offset": offset.item()})
        state.update({"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": offset.item()})
    else:
        case["absmax_f32"] = b64(absmax)
    case["dequantized_f32"] = b64(dequantize_4bit(packed, absmax, blocksize, shape))
    # QuantState.as_dict(packed=True): the non-tensor items, json.dumps'ed.
    case["quant_state_json"] = json.dumps(state)
    return case


def int8_case(name, shape, seed):
    w = weights(shape, seed)
    # backends/default/ops.py int8_vectorwise_quant (threshold 0)
    row_stats = torch.max(w.abs(), dim=1).values.float()
    out_row = torch.round(w * (127.0 / row_stats.unsqueeze(-1))).to(torch.int8)
    # functional.int8_vectorwise_dequant
    deq = out_row * row_stats.view(-1, 1) * 7.874015718698502e-3
    return {"name": name, "shape": list(shape), "input_f32": b64(w), "weight_i8": b64(out_row),
            "scb_f32": b64(row_stats), "dequantized_f32": b64(deq)}


def main():
    ref = {
        "generator": "make_ref_quant.py, torch " + torch.__version__,
        "dynamic_map_f32": b64(create_dynamic_map()),
        "nf4": [
            nf4_case("odd_partial_block", (7, 9), 1, False),
            nf4_case("rows_partial_block", (20, 50), 2, False),
            nf4_case("blocksize_128", (16, 64), 3, False, blocksize=128),
            nf4_case("double_quant_two_nested_blocks", (97, 201), 4, True),
            nf4_case("double_quant_small", (8, 64), 5, True),
        ],
        "int8": [int8_case("rows", (16, 40), 6), int8_case("wide", (3, 700), 7)],
    }
    json.dump(ref, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

# mktflite.py - writes the hand-made TFLite models of tests/regress/tflite/:
# two small valid graphs (float32 and float16 weights) covering CONV_2D, PRELU,
# MAX_POOL_2D, SOFTMAX, ADD, RESHAPE, CONCATENATION, PAD, RESIZE_BILINEAR, MEAN and
# DEQUANTIZE, and copies with one defect each. A minimal forward flatbuffer writer:
# every object is placed after whatever refers to it. Usage: mktflite.py OUTDIR
import struct, sys, os
class B:
    def __init__(s): s.b = bytearray()
    def align(s, a):
        while len(s.b) % a: s.b.append(0)
    def obj(s, spec):
        kind = spec[0]
        if kind == 'table': return s.table(spec[1])
        if kind == 'str': return s.vec_u8(spec[1].encode())
        if kind == 'vec_u8': return s.vec_u8(spec[1])
        if kind == 'vec_i32':
            s.align(4); p = len(s.b); s.b += struct.pack('<I', len(spec[1]))
            for v in spec[1]: s.b += struct.pack('<i', v)
            return p
        if kind == 'vec_tables':
            s.align(4); p = len(s.b); n = len(spec[1]); s.b += struct.pack('<I', n)
            slots = [len(s.b) + 4 * i for i in range(n)]; s.b += bytes(4 * n)
            for slot, f in zip(slots, spec[1]):
                c = s.table(f); struct.pack_into('<I', s.b, slot, c - slot)
            return p
        raise ValueError(kind)
    def vec_u8(s, data):
        s.align(4); p = len(s.b); s.b += struct.pack('<I', len(data)) + bytes(data); return p
    def table(s, fields):
        n = max(fields) + 1 if fields else 0
        vsize = 4 + 2 * n
        s.align(2)
        while (len(s.b) + vsize) % 4: s.b += b'\0\0'
        vt = len(s.b)
        ids = sorted(fields)
        offs = {i: 4 + 4 * k for k, i in enumerate(ids)}
        s.b += struct.pack('<HH', vsize, 4 + 4 * len(ids))
        for i in range(n): s.b += struct.pack('<H', offs.get(i, 0))
        t = len(s.b); assert t % 4 == 0
        s.b += struct.pack('<i', t - vt)
        refs = []
        for i in ids:
            k, v = fields[i]
            if k == 'u8': s.b += struct.pack('<Bxxx', v & 255)
            elif k == 'i32': s.b += struct.pack('<i', v)
            elif k == 'u32': s.b += struct.pack('<I', v)
            elif k == 'f32': s.b += struct.pack('<f', v)
            else: refs.append((len(s.b), v)); s.b += bytes(4)
        for pos, child in refs:
            c = s.obj(child); struct.pack_into('<I', s.b, pos, c - pos)
        return t

def f32(vals): return ('vec_u8', b''.join(struct.pack('<f', v) for v in vals))
def f16(vals): return ('vec_u8', b''.join(struct.pack('<e', v) for v in vals))
def i32(vals): return ('vec_u8', b''.join(struct.pack('<i', v) for v in vals))

def tensor(shape, buf, name, typ=0):
    return {0: ('ref', ('vec_i32', shape)), 1: ('u8', typ), 2: ('u32', buf), 3: ('ref', ('str', name))}
def operator(code_idx, ins, outs, opts=None):
    f = {0: ('u32', code_idx), 1: ('ref', ('vec_i32', ins)), 2: ('ref', ('vec_i32', outs))}
    if opts is not None: f[3] = ('u8', opts[0]); f[4] = ('ref', ('table', opts[1]))
    return f
def model(codes, tensors, inputs, outputs, ops, buffers):
    b = B()
    b.b += bytes(4) + b'TFL3'
    m = b.table({0: ('u32', 3),
                 1: ('ref', ('vec_tables', [{0: ('u8', min(c, 127)), 3: ('i32', c)} for c in codes])),
                 2: ('ref', ('vec_tables', [{0: ('ref', ('vec_tables', tensors)), 1: ('ref', ('vec_i32', inputs)),
                                             2: ('ref', ('vec_i32', outputs)), 3: ('ref', ('vec_tables', ops)),
                                             4: ('ref', ('str', 'main'))}])),
                 4: ('ref', ('vec_tables', [({0: ('ref', d)} if d else {}) for d in buffers]))})
    struct.pack_into('<I', b.b, 0, m)
    return bytes(b.b)

import random
random.seed(5)
R = lambda n: [round(random.uniform(-1, 1), 3) for _ in range(n)]
CONV, PRELU, MAXPOOL, SOFTMAX, ADD, DEQ, RESHAPE, CONCAT, PAD, RESIZE, MEAN = 3, 54, 17, 25, 0, 6, 22, 2, 34, 23, 40

def base(conv_code=CONV, conv_in=0, w_buf=2, w_data=None, in_type=0, in_shape=(1, 4, 5, 2), bad_shape=None):
    w = w_data if w_data is not None else f32(R(3 * 3 * 3 * 2))
    buffers = [None, None, w, f32(R(3)), f32(R(3)), None, None, None, f32(R(3)), None, None,
               i32([1, 2, 10, 3]), None, None, i32([0, 0, 1, 0, 0, 1, 0, 2]), None, i32([4, 6]), None,
               i32([2]), None]
    tensors = [tensor(list(in_shape), 1, 'input', in_type),     # 0
               tensor([1, 4, 5, 3], 0, 'conv'),                 # 1
               tensor(bad_shape or [3, 3, 3, 2], w_buf, 'w'),   # 2
               tensor([3], 3, 'b'),                             # 3
               tensor([3], 4, 'alpha'),                         # 4
               tensor([1, 4, 5, 3], 0, 'prelu'),                # 5
               tensor([1, 2, 3, 3], 0, 'pool'),                 # 6
               tensor([1, 2, 3, 3], 0, 'prob'),                 # 7
               tensor([3], 8, 'k'),                             # 8
               tensor([1, 4, 5, 3], 0, 'sum'),                  # 9
               tensor([1, 2, 10, 3], 0, 'shaped'),              # 10 (rank-3 target as [1,20,3]? keep rank 4)
               tensor([4], 11, 'newshape', 2),                  # 11
               tensor([1, 2, 10, 6], 0, 'cat'),                 # 12
               tensor([1, 3, 10, 8], 0, 'padded'),              # 13
               tensor([4, 2], 14, 'pads', 2),                   # 14
               tensor([1, 4, 6, 8], 0, 'resized'),              # 15
               tensor([2], 16, 'size', 2),                      # 16
               tensor([1, 4, 1, 8], 0, 'mean'),                 # 17
               tensor([1], 18, 'axis', 2),                      # 18
               ]
    codes = [conv_code, PRELU, MAXPOOL, SOFTMAX, ADD, RESHAPE, CONCAT, PAD, RESIZE, MEAN]
    ops = [operator(0, [conv_in, 2, 3], [1], (1, {0: ('u8', 0), 1: ('i32', 1), 2: ('i32', 1), 3: ('u8', 3)})),
           operator(1, [1, 4], [5]),
           operator(2, [5], [6], (5, {0: ('u8', 0), 1: ('i32', 2), 2: ('i32', 2), 3: ('i32', 2), 4: ('i32', 2)})),
           operator(3, [6], [7], (9, {0: ('f32', 1.0)})),
           operator(4, [5, 8], [9], (11, {0: ('u8', 1)})),
           operator(5, [9, 11], [10], (17, {0: ('ref', ('vec_i32', [1, 2, 10, 3]))})),
           operator(6, [10, 10], [12], (10, {0: ('i32', 3), 1: ('u8', 0)})),
           operator(7, [12, 14], [13]),
           operator(8, [13, 16], [15], (15, {2: ('u8', 0), 3: ('u8', 1)})),
           operator(9, [15, 18], [17], (27, {0: ('u8', 1)})),
           ]
    return codes, tensors, [0], [7, 17], ops, buffers

def write(name, data):
    open(os.path.join(sys.argv[1], name), 'wb').write(data)

write('ok-small-graph', model(*base()))
write('ok-float16-weights', (lambda c, t, i, o, ops, b: model(c + [DEQ], t[:2] + [tensor([3, 3, 3, 2], 0, 'w')] + t[3:] + [tensor([3, 3, 3, 2], 19, 'w16', 1)], i, o,
      [operator(len(c), [19], [2])] + ops, b[:19] + [f16(R(54))]))(*base()))
write('unsupported-transpose', model(*base(conv_code=39)))
write('model-tensor-index', model(*base(conv_in=99)))
write('model-buffer-index', model(*base(w_buf=99)))
write('model-weights-short', model(*base(w_data=f32(R(50)))))
write('limit-shape-overflow', model(*base(bad_shape=[1 << 24, 1 << 24, 64])))
write('model-dimension-zero', model(*base(bad_shape=[3, 0, 3, 2])))
write('unsupported-int8-input', model(*base(in_type=9)))
good = model(*base())
write('model-truncated', good[: len(good) // 2])
write('model-root-outside', struct.pack('<I', 0x7fffff00) + b'TFL3' + good[8:64])
write('model-not-tflite', b'{"format": "graph-model"}\n')
write('model-empty', b'')

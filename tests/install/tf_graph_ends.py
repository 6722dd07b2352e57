"""The input (the float Placeholder) and output (the last node) of a frozen TensorFlow graph,
as the fixtures' README defines them, read from the GraphDef's wire format (no TensorFlow or
protobuf package needed): GraphDef field 1 = NodeDef; NodeDef field 1 = name, 2 = op."""


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 1:
            v, i = b[i : i + 8], i + 8
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i : i + n], i + n
        elif wire == 5:
            v, i = b[i : i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield num, v


def ends(path):
    nodes = []
    for num, v in _fields(open(path, "rb").read()):
        if num == 1:
            f = {n: x for n, x in _fields(v) if n in (1, 2)}
            nodes.append((f.get(1, b"").decode(), f.get(2, b"").decode()))
    inputs = [n for n, op in nodes if op == "Placeholder"]
    return f"{inputs[0]} {nodes[-1][0]}"

#!/usr/bin/env python3
"""Seeds the fuzz corpora (fuzz/corpus/<target>/) from protocols/vectors and fuzz/seeds.

message   every frame body of messages.json and the session transcripts
frames    each direction of each session transcript as one stream of frames
holder    each transcript's verifier-to-holder frames (a whole valid session), and its prefixes
          (session.json, classify_session.json, who_session.json)
he_wire   toy_he.json's query, its public-key ciphertext and its response block
importers a small .npy with its ids, a CSV and a JSON-lines file
client_id the demo PKI's certificates (fuzz/seeds/client_id/*.der)
"""
import json
import pathlib
import shutil
import struct

here = pathlib.Path(__file__).resolve().parent
vectors = here.parent / "protocols" / "vectors"
corpus = here / "corpus"


def load(name):
    return json.loads((vectors / name).read_text())["cases"]


def frame(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


def put(target, name, data: bytes):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


for case in load("messages.json"):
    put("message", f"messages-{case['id']}", bytes.fromhex(case["body"]))

for name in ("session", "classify_session", "who_session"):
    for case in load(f"{name}.json"):
        for direction in ("verifier_to_holder", "holder_to_verifier"):
            bodies = [bytes.fromhex(f["body"]) for f in case[direction]]
            for i, b in enumerate(bodies):
                put("message", f"{name}-{case['id']}-{direction}-{i}", b)
            put("frames", f"{name}-{case['id']}-{direction}", b"".join(frame(b) for b in bodies))
        bodies = [bytes.fromhex(f["body"]) for f in case["verifier_to_holder"]]
        for n in range(1, len(bodies) + 1):
            put("holder", f"{name}-{case['id']}-first-{n}", b"".join(frame(b) for b in bodies[:n]))

for case in load("toy_he.json"):
    query = bytes.fromhex(case["query"])
    block = bytes.fromhex(case["response_block"])
    put("he_wire", f"query-{case['id']}", b"\x01" + query)
    put("he_wire", f"public-key-{case['id']}", b"\x00" + query[: 32 + 512 * 8])
    put("he_wire", f"block-{case['id']}", b"\x02" + bytes([len(case["scores"])]) + block)

header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
npy += struct.pack("<6f", 1.0, 0.0, 0.0, 0.0, 1.0, 0.5)
ids = b"alice\nbob\n"
put("importers", "npy", b"\x00" + struct.pack("<H", len(ids)) + ids + npy)
put("importers", "csv", b"\x01id,label,v0,v1,v2\nc,Carol,0.1,0.2,0.3\nd,Dan,1e-3,-2,3.5\n")
put("importers", "jsonl", b'\x02{"id":"e","label":"Eve","embedding":[0.5,-0.25,1]}\n{"id":"f","embedding":[1,2,3]}\n')

for der in sorted((here / "seeds" / "client_id").glob("*.der")):
    d = corpus / "client_id"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(der, d / der.name)

print("seeded", ", ".join(f"{p.name} ({len(list(p.iterdir()))})" for p in sorted(corpus.iterdir())))

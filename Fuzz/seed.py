"""Seed corpora for the fuzz targets from the conformance fixtures (Tests/Fixtures)."""
import json
import os
import sys

root = sys.argv[1]
here = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures")


def write(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


for case in json.load(open(os.path.join(here, "procfile.json"), encoding="utf-8")):
    write("procfile", case["id"], case["procfile"])
for case in json.load(open(os.path.join(here, "dotenv.json"), encoding="utf-8")):
    write("dotenv", case["id"], case["env_text"])
for i, text in enumerate(["web=2,worker=1", "all=3", " web = 1 , all=0", "web+1 worker-2", "web=x"]):
    write("formation", "seed%d" % i, text)
requests = [
    '{"command":"ps"}', '{"command":"stop"}', '{"command":"env"}',
    '{"command":"restart","target":"web.2"}', '{"command":"restart","target":null}',
    '{"command":"scale","counts":{"web":4},"deltas":{"worker":-1}}', '{"a":[1,2.5e3,"\\u00e9\\ud83d\\ude00"]}',
]
for i, text in enumerate(requests):
    write("control", "seed%d" % i, text)
for i, data in enumerate([b"\x05\x01\x40\x02line one\nline two\r\n\nlast", b"\x00\x00\x00\x00" + b"x" * 70000 + b"\n"]):
    write("lines", "seed%d" % i, data)

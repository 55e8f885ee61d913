"""Run by test_serve_openpi_client.py with .venv-openpi-client's Python (openpi-client 0.1.2,
numpy<2): openpi's unmodified WebsocketClientPolicy against a server. Prints one JSON line.

    python openpi_client_probe.py HOST PORT KEY
"""
import json
import sys

import numpy as np
import websockets.sync.client
from openpi_client import msgpack_numpy
from openpi_client.websocket_client_policy import WebsocketClientPolicy

host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
aloha = {  # openpi's ALOHA layout, as examples/aloha_real sends it: images [3, H, W] uint8
    "images": {name: rng.integers(0, 256, (3, 224, 224), dtype=np.uint8)
               for name in ("cam_high", "cam_left_wrist", "cam_right_wrist")},
    "state": np.zeros(14, np.float32),
    "prompt": "fold the towel",
}
raw = {  # the project's layout
    "images": {name: rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
               for name in ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")},
    "state": np.zeros(14, np.float32),
    "prompt": "fold the towel",
}
report = {"numpy": np.__version__}
first = WebsocketClientPolicy(host, port, api_key=key)
report["metadata"] = {k: v for k, v in first.get_server_metadata().items() if isinstance(v, (int, str, list))}
out = first.infer(aloha)
report["aloha"] = {"shape": list(out["actions"].shape), "dtype": str(out["actions"].dtype),
                   "server_timing": sorted(out["server_timing"]), "policy_timing": sorted(out["policy_timing"]),
                   "finite": bool(np.isfinite(out["actions"]).all())}
out = first.infer(raw)
report["raw"] = {"shape": list(out["actions"].shape), "server_timing": sorted(out["server_timing"])}
try:
    first.infer({"images": {"nope": np.zeros((2, 2, 3), np.uint8)}, "state": np.zeros(3), "prompt": ""})
except RuntimeError as e:
    report["bad_request"] = str(e)
report["after_bad_request"] = list(first.infer(aloha)["actions"].shape)

# A second client while the first one's request is out: the first sends and does not read yet;
# the second connects (metadata), and gets its own answer; then the first reads its answer.
first._ws.send(first._packer.pack(aloha))
second = WebsocketClientPolicy(host, port, api_key=key)
report["second_metadata"] = second.get_server_metadata()["state_dim"]
report["second"] = list(second.infer(raw)["actions"].shape)
report["first_after_second"] = list(msgpack_numpy.unpackb(first._ws.recv())["actions"].shape)

# Wrong and missing keys: refused at the handshake (openpi-client 0.1.2 raises from the constructor).
for name, bad in (("wrong_key", key + "x"), ("no_key", None)):
    try:
        WebsocketClientPolicy(host, port, api_key=bad)
        report[name] = "accepted"
    except websockets.exceptions.InvalidStatus as e:
        report[name] = e.response.status_code
report["after_refusals"] = list(WebsocketClientPolicy(host, port, api_key=key).infer(raw)["actions"].shape)
print(json.dumps(report))

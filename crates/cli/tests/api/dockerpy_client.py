"""docker-py (PyPI `docker`) against berth's API socket (DOCKER_HOST). Run by api_docker.rs;
any failed assertion exits non-zero. Expects the image busybox:latest and a default bridge."""
import os
import socket
import struct
import sys
import threading

import docker

c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=60)
assert c.ping() is True
v = c.version()
assert v["ApiVersion"] >= "1.44", v
assert c.info()["Images"] >= 1

# containers.run: output, exit code, remove
out = c.containers.run("busybox", ["sh", "-c", "echo hi; echo err >&2"], remove=True, stderr=True)
assert out == b"hi\nerr\n", out
try:
    c.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    raise AssertionError("exit 3 did not raise")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

# create/start/logs/exec_run/wait/remove
ct = c.containers.create("busybox", ["sh", "-c", "echo started; sleep 100"], name="py1", labels={"k": "v"})
assert ct.status == "created"
ct.start()
ct.reload()
assert ct.status == "running", ct.status
assert ct.labels == {"k": "v"}
assert [x.name for x in c.containers.list(filters={"label": "k=v"})] == ["py1"]
code, output = ct.exec_run(["sh", "-c", "echo from-exec; exit 5"])
assert (code, output) == (5, b"from-exec\n"), (code, output)
code, output = ct.exec_run("cat /etc/hostname")
assert code == 0 and output.strip() == ct.id[:12].encode(), output
for _ in range(100):
    if ct.logs() == b"started\n":
        break
assert ct.logs() == b"started\n", ct.logs()
ct.kill()
res = ct.wait()
assert res["StatusCode"] == 137, res
ct.remove()
try:
    c.containers.get("py1")
    raise AssertionError("py1 still there")
except docker.errors.NotFound:
    pass

# attach_socket round trip: stdin in, stdout out, multiplexed frames
ct = c.containers.create("busybox", ["cat"], stdin_open=True, name="py2")
ct.start()
s = c.api.attach_socket(ct.id, params={"stdin": 1, "stdout": 1, "stream": 1})
raw = s._sock
raw.sendall(b"round trip\n")
buf = b""
while len(buf) < 8 + len(b"round trip\n"):
    chunk = raw.recv(4096)
    assert chunk, buf
    buf += chunk
kind, size = struct.unpack(">BxxxL", buf[:8])
assert kind == 1 and buf[8 : 8 + size] == b"round trip\n", buf
raw.shutdown(socket.SHUT_WR)
assert ct.wait(timeout=20)["StatusCode"] == 0
ct.remove()

# images
tags = [t for i in c.images.list() for t in i.tags]
assert "busybox:latest" in tags, tags
img = c.images.get("busybox")
assert img.id.startswith("sha256:")
img.tag("pytag", "1")
assert "pytag:1" in c.images.get("pytag:1").tags
c.images.remove("pytag:1")

# networks
n = c.networks.create("pynet", driver="bridge", ipam=docker.types.IPAMConfig(
    pool_configs=[docker.types.IPAMPool(subnet=os.environ["PY_SUBNET"])]))
assert c.networks.get("pynet").attrs["IPAM"]["Config"][0]["Subnet"] == os.environ["PY_SUBNET"]
ct = c.containers.run("busybox", ["sleep", "100"], detach=True, network="pynet", name="py3")
ct.reload()
assert ct.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"].startswith(os.environ["PY_SUBNET"].rsplit(".", 1)[0])
ct.remove(force=True)
n.remove()

# events: a streamed decode of live events
seen = []
ev = c.events(decode=True, filters={"type": "container"})
def reader():
    for e in ev:
        seen.append((e["Action"], e["Actor"]["Attributes"].get("name")))
        if e["Action"] == "destroy":
            return
t = threading.Thread(target=reader)
t.start()
c.containers.run("busybox", "true", name="pyev", remove=True)
t.join(20)
ev.close()
assert ("start", "pyev") in seen and ("destroy", "pyev") in seen, seen
print("docker-py ok")

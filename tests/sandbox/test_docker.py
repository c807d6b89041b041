"""Docker backend: verdicts equal to the local backend's, isolation, container lifecycle.

Every test needs a reachable Docker engine and the sandbox image (``sandbox/ci-docker.sh`` makes
both in CI); without an engine they skip, saying why. A stale image (another runner version) is
rebuilt from its recorded base image when that base is present locally.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.data.datasets import load_dataset
from harness.execution.execute import ExecuteConfig, execute_samples
from tests.conftest import REPO, judged, read_jsonl, write_jsonl
from tests.contain import run_contained
from tests.mutants import mutants
from tests.sandbox.test_hostile import hostile_verdicts, write_hostile_samples

pytestmark = pytest.mark.docker

EP = "has_close_elements"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The sandbox image's name; skips when no engine is reachable."""
    from sandbox.docker_backend import DEFAULT_IMAGE, IMAGE_ENV, connect
    from sandbox.errors import SandboxUnavailable

    try:
        connect(timeout=30).close()
    except SandboxUnavailable as exc:
        pytest.skip(f"no Docker engine reachable ({exc}); CI starts one with sandbox/ci-docker.sh")
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


@pytest.fixture()
def docker_image(docker_engine: str) -> str:
    """The sandbox image, current with this checkout's runner and candidate packages (checked per
    test: cheap)."""
    import docker.errors

    from sandbox.docker_backend import (
        LABEL_CONTENT,
        OFFLINE_BASE_IMAGE,
        build_image,
        connect,
        content_hash,
    )

    client = connect(timeout=30)
    try:
        try:
            labels = client.images.get(docker_engine).labels or {}
        except docker.errors.ImageNotFound:
            labels = None
        if labels is None or labels.get(LABEL_CONTENT) != content_hash():
            base = (labels or {}).get("distill-harness.base-image") or OFFLINE_BASE_IMAGE
            try:
                client.images.get(base)
            except docker.errors.ImageNotFound:
                pytest.skip(f"sandbox image {docker_engine} missing or stale and base {base} absent: "
                            "run sandbox/ci-docker.sh or `harness sandbox build`")
            build_image(base, docker_engine, client=client)
    finally:
        client.close()
    return docker_engine


@pytest.fixture(scope="session")
def docker_cache(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A reference cache private to these tests (computed in Docker, shared between them)."""
    path = tmp_path_factory.mktemp("docker-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture()
def backend(docker_image: str, docker_cache: Path) -> Iterator[Any]:
    from sandbox.docker_backend import DockerBackend

    b = DockerBackend(jobs=2)
    try:
        yield b
    finally:
        b.close()


def _ours(pid: int | None = None) -> list[dict[str, Any]]:
    """Labelled containers owned by ``pid`` (default: this test process)."""
    from sandbox.docker_backend import LABEL_PID, list_containers

    want = str(pid or os.getpid())
    return [c for c in list_containers() if (c.get("Labels") or {}).get(LABEL_PID) == want]





def _probe(backend: Any, body: str, pre: str = "") -> Any:
    """Run ``f()`` with the given body in a container; returns its decoded result or exception."""
    from sandbox import Job, Output, Raised

    code = textwrap.dedent(pre) + "def f():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    job = Job(id=0, code=code, entry_point="f", inputs_json=b"[[]]", n_inputs=1, limits=[20.0],
              default_limit=20.0, wall_total=120.0, cpu_total=60.0)
    [(_, result)] = list(backend.run([job]))
    for ev in result.events:
        if isinstance(ev, Output):
            return ev.value()
        if isinstance(ev, Raised):
            return f"raised {ev.type}: {ev.msg}"
    raise AssertionError(f"no result: {result}")


def _canonical_samples(ds: Any, task_ids: list[str], with_mutants: bool) -> list[dict[str, str]]:
    rows = []
    for tid in task_ids:
        task = ds.tasks[tid]
        rows.append({"task_id": tid, "solution": task.canonical_program})
        if with_mutants:
            rows += [{"task_id": tid, "solution": m} for _, m in mutants(task.canonical_program, task.entry_point, seed=0)]
    return rows


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, cwd=str(REPO))


# ----------------------------------------------------------------------------- setup and errors


def test_missing_image_is_unavailable_exit_3(docker_image, data_dir, tmp_path):
    from sandbox.docker_backend import DockerBackend
    from sandbox.errors import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match=r"not found: run `harness sandbox build`"):
        DockerBackend(jobs=1, image="distill-harness/no-such-image:none")
    path = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "solution": "x = 1\n"}])
    proc = _cli("execute", "--dataset", "humaneval+", "--samples", str(path), "--out", str(tmp_path / "o"),
                "--data-dir", str(data_dir), "--backend", "docker", "--no-progress",
                env={"HARNESS_SANDBOX_IMAGE": "distill-harness/no-such-image:none"})
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "harness sandbox build" in proc.stderr


def test_no_engine_is_unavailable_exit_3(data_dir, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "solution": "x = 1\n"}])
    proc = _cli("execute", "--dataset", "humaneval+", "--samples", str(path), "--out", str(tmp_path / "o"),
                "--data-dir", str(data_dir), "--backend", "docker", "--no-progress",
                env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Docker engine not reachable" in proc.stderr


def test_container_is_locked_down(backend):
    """Inspect a live worker container: every isolation setting the backend promises."""
    worker = backend._start_worker(0)
    try:
        attrs = backend.client.api.inspect_container(worker.container_id)
        hc = attrs["HostConfig"]
        assert hc["NetworkMode"] == "none" and attrs["Config"]["NetworkDisabled"] is True
        assert hc["ReadonlyRootfs"] is True and hc["Privileged"] is False
        assert hc["CapDrop"] == ["ALL"] and not hc.get("CapAdd")
        assert "no-new-privileges:true" in hc["SecurityOpt"]
        assert hc["PidsLimit"] == 256 and hc["NanoCpus"] == 1_000_000_000
        assert hc["Memory"] == hc["MemorySwap"] > backend.limits.memory_bytes
        assert "/tmp" in hc["Tmpfs"] and f"size={backend.limits.tmpfs_bytes}" in hc["Tmpfs"]["/tmp"]
        assert "/sys" in hc["Tmpfs"]
        assert not hc.get("Binds") and not attrs.get("Mounts") and not hc.get("Devices")
        assert hc["LogConfig"]["Type"] == "none"
        user = attrs["Config"]["User"]
        assert user and not user.startswith("0") and worker.info["uid"] != 0
        assert attrs["Config"]["Labels"]["distill-harness.sandbox"] == "1"
        assert attrs["Config"]["Labels"]["distill-harness.owner-pid"] == str(os.getpid())
    finally:
        worker.close()


def test_frame_with_detach_key_bytes(backend):
    """A frame length of 0x1011 puts ctrl-p ctrl-q on stdin: without a tty it must not detach."""
    from sandbox import Job, Output
    from sandbox.runner import pack_frame

    job = Job(id=0, code="def f():\n    return 1\n#", entry_point="f", inputs_json=b"[[]]", n_inputs=1,
              limits=[5.0])
    job.code += "#" * (0x1011 - len(pack_frame(*job.frame())[0]) + 8)
    assert pack_frame(*job.frame())[0][:4] == b"\x00\x00\x10\x11"  # JSON length in the header
    [(_, result)] = list(backend.run([job]))
    assert result.finished and isinstance(result.events[0], Output) and result.events[0].value() == 1


# ----------------------------------------------------------------------------- isolation


def test_docker_socket_unreachable(backend):
    got = _probe(backend, """
        import os, socket
        out = []
        for path in ('/var/run/docker.sock', '/run/docker.sock', '/var/run/docker/containerd/containerd.sock'):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                out.append('reached ' + path)
            except OSError as e:
                out.append(type(e).__name__)
            finally:
                s.close()
        for host, port in (('172.17.0.1', 2375), ('127.0.0.1', 2375), ('127.0.0.1', 2376)):
            try:
                socket.create_connection((host, port), timeout=2).close()
                out.append('reached %s:%d' % (host, port))
            except OSError as e:
                out.append(type(e).__name__)
        sockets = []
        for root, dirs, files in os.walk('/'):
            if root.startswith(('/proc', '/sys')):
                dirs[:] = []
                continue
            for name in files:
                p = os.path.join(root, name)
                try:
                    if os.stat(p).st_mode & 0o170000 == 0o140000:
                        sockets.append(p)
                except OSError:
                    pass
        return out, sockets
    """)
    attempts, sockets = got
    assert not any(str(x).startswith("reached") for x in attempts), attempts
    assert attempts[:3] == ["FileNotFoundError"] * 3
    assert sockets == [], sockets


def test_no_network_to_host_services(backend):
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"secret")

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        import urllib.request

        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/probe", timeout=5).read() == b"secret"
        hits.clear()
        addrs = ["127.0.0.1", "172.17.0.1"]
        try:
            out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
            addrs += [a for a in out if ":" not in a]
        except OSError:
            pass
        got = _probe(backend, f"""
            import socket, urllib.request
            out = {{}}
            for host in {addrs!r}:
                try:
                    out[host] = urllib.request.urlopen('http://%s:{port}/from-sandbox' % host, timeout=3).read().decode()
                except OSError as e:
                    out[host] = type(e).__name__
            try:
                socket.getaddrinfo('deb.debian.org', 80)
                out['dns'] = 'resolved'
            except OSError as e:
                out['dns'] = type(e).__name__
            out['ifaces'] = sorted(n for _, n in socket.if_nameindex())
            return out
        """)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == [], hits
    assert "secret" not in json.dumps(got)
    assert got["dns"] != "resolved"
    assert got["ifaces"] == ["lo"], got


def test_sample_sees_no_host_files(backend, data_dir, tmp_path):
    marker = tmp_path / "host-marker.txt"
    marker.write_text("host only")
    paths = [str(marker), str(data_dir), str(data_dir / "HumanEvalPlus-v0.1.10.jsonl.gz"), str(REPO),
             str(REPO / "harness" / "datasets.py"), "/work", "/root/.cache", "/var/run/docker.sock",
             "/etc/docker", "/var/lib/docker"]
    got = _probe(backend, f"""
        import fnmatch, os
        seen = {{p: os.path.exists(p) for p in {paths!r}}}
        found = []
        for root, dirs, files in os.walk('/'):
            if root in ('/proc', '/sys', '/dev'):
                dirs[:] = []
                continue
            for name in files + dirs:
                if any(fnmatch.fnmatch(name, pat) for pat in ('HumanEval*', 'Mbpp*', 'mbpp*', '*.jsonl*', 'harness')):
                    found.append(os.path.join(root, name))
        return (seen, found, sorted(os.listdir('/opt/sandbox')), os.getuid(),
                open('/proc/1/cmdline').read().split(chr(0)), os.listdir('/sys'))
    """)
    seen, found, opt, uid, init, sys_entries = got
    assert not any(seen.values()), seen
    assert found == [], found
    assert opt == ["runner.py"] and uid != 0 and sys_entries == []
    assert "/opt/sandbox/runner.py" in init


# ----------------------------------------------------------------------------- verdicts


@pytest.mark.slow
@pytest.mark.parametrize("name", ["humaneval", "humaneval+", "mbpp", "mbpp+"])
def test_canonical_solutions_pass(docker_image, docker_cache, data_dir, tmp_path, name):
    ds = load_dataset(name, data_dir)
    path = write_jsonl(tmp_path / "c.jsonl", _canonical_samples(ds, list(ds.tasks), with_mutants=False))
    res = execute_samples(ExecuteConfig(name, path, tmp_path / "out", backend="docker", jobs=2,
                                        data_dir=str(data_dir), progress=False))
    failed = [(r["task_id"], r["error_type"], r.get("error_message")) for r in res.rows if not r["passed"]]
    assert not failed, failed
    assert len(res.rows) == len(ds) and res.summary["sandbox"]["backend"] == "docker"
    assert res.summary["pass@1"]["base"] == 1.0
    if ds.has_plus:
        assert res.summary["pass@1"]["plus"] == 1.0
    assert _ours() == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["humaneval+", "mbpp+"])
def test_parity_with_local_backend(docker_image, docker_cache, data_dir, tmp_path, name):
    """Canonical and mutated solutions of ~30 tasks: the same results.jsonl as the local backend."""
    ds = load_dataset(name, data_dir)
    ids = list(ds.tasks)
    picked = ids[:: max(1, len(ids) // 30)][:30]
    path = write_jsonl(tmp_path / "s.jsonl", _canonical_samples(ds, picked, with_mutants=True))
    rows = {}
    for backend_name in ("local", "docker"):
        rows[backend_name] = execute_samples(ExecuteConfig(
            name, path, tmp_path / backend_name, backend=backend_name, jobs=2, data_dir=str(data_dir),
            progress=False)).rows
    local, docker = judged(rows["local"]), judged(rows["docker"])
    assert len(local) == len(docker) > 60
    diffs = [(a, b) for a, b in zip(local, docker, strict=True) if a != b]
    assert not diffs, diffs[:3]
    assert any(r["passed"] for r in local) and any(not r["passed"] for r in local)
    assert _ours() == []


@pytest.mark.slow
@pytest.mark.hostile
def test_hostile_samples_fail_and_host_is_intact(docker_image, docker_cache, data_dir, tmp_path):
    """The hostile set of test_hostile.py through `harness execute --backend docker`, the harness
    itself inside a PID namespace and memory/pids cgroups (tests/contain.py)."""
    path, names, canary = write_hostile_samples(data_dir, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_CACHE_DIR": str(docker_cache)}
    proc = run_contained(
        [sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples", str(path),
         "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), "--jobs", "2", "--backend", "docker",
         "--no-progress"], timeout=1500, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = hostile_verdicts(read_jsonl(tmp_path / "out" / "results.jsonl"), names)
    assert canary.read_text() == "intact"
    expected = {
        "os_exit_in_call": "SystemExit", "segfault": "SegmentationFault", "memory_bomb": "MemoryError",
        "ignore_signals_and_spin": "TimeoutError",
        "import_evalplus_canonical": "ModuleNotFoundError", "import_harness_dataset": "ModuleNotFoundError",
        "network_to_host": "ConnectionRefusedError", "always_equal_object": "AssertionError",
    }
    assert {k: verdicts[k][1] for k in expected} == expected
    # the runner is PID 1 of its container: a sample cannot kill it, only itself
    assert verdicts["kill_parent"][1] in ("AssertionError", "SandboxError")
    # walking / through /proc's self-referencing links may run out of time before it ends
    assert verdicts["glob_for_dataset_files"][1] in ("FileNotFoundError", "TimeoutError")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_passed"] == names.count("canonical")
    assert not _leftovers_of_dead_owners()


def _leftovers_of_dead_owners() -> list[dict[str, Any]]:
    """Labelled containers whose owner lock is free (their harness exited): there must be none."""
    from sandbox.docker_backend import LABEL_LOCK, _lock_is_free, list_containers

    out = []
    for c in list_containers():
        lock = (c.get("Labels") or {}).get(LABEL_LOCK)
        if lock and (not os.path.exists(lock) or _lock_is_free(lock)):
            out.append(c)
    return out


# ----------------------------------------------------------------------------- lifecycle


def _slow_samples(ds: Any, n: int, seconds: float) -> list[dict[str, str]]:
    canonical = ds.tasks["HumanEval/0"].canonical_program
    slow = f"import time\ntime.sleep({seconds})\n" + canonical
    return [{"task_id": "HumanEval/0", "solution": slow} for _ in range(n)]


def _warm(data_dir: Path, tmp_path: Path) -> None:
    ds = load_dataset("humaneval+", data_dir)
    path = write_jsonl(tmp_path / "warm.jsonl", _slow_samples(ds, 1, 0))
    execute_samples(ExecuteConfig("humaneval+", path, tmp_path / "warm", backend="docker", jobs=1,
                                  data_dir=str(data_dir), progress=False))


def test_container_killed_from_outside_is_replaced(docker_image, docker_cache, data_dir, tmp_path):
    from sandbox.docker_backend import DockerBackend

    _warm(data_dir, tmp_path)
    ds = load_dataset("humaneval+", data_dir)
    path = write_jsonl(tmp_path / "slow.jsonl", _slow_samples(ds, 10, 1.5))
    out = tmp_path / "out"
    backend = DockerBackend(jobs=2)
    killed: list[str] = []

    def killer() -> None:
        partial = out / "results.partial.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline:
            if partial.exists() and len(partial.read_text().splitlines()) >= 2:
                victims = _ours()
                if victims:
                    backend.client.api.kill(victims[0]["Id"])
                    killed.append(victims[0]["Id"])
                    return
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    try:
        res = execute_samples(ExecuteConfig("humaneval+", path, out, backend="docker", data_dir=str(data_dir),
                                            progress=False), backend=backend)
    finally:
        t.join()
        replaced = backend.replaced
        backend.close()
    assert killed, "no container was killed"
    assert replaced >= 1
    rows = read_jsonl(out / "results.jsonl")
    assert [r["sample_index"] for r in rows] == list(range(10))
    assert all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
    assert res.rows == rows
    assert _ours() == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_containers(docker_image, docker_cache, data_dir, tmp_path, sig):
    _warm(data_dir, tmp_path)
    ds = load_dataset("humaneval+", data_dir)
    path = write_jsonl(tmp_path / "slow.jsonl", _slow_samples(ds, 40, 2.0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_CACHE_DIR": str(docker_cache)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples",
                             str(path), "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), "--jobs", "2",
                             "--backend", "docker", "--no-progress"], env=env, cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(_ours(proc.pid)) < 2:
            time.sleep(0.1)
        assert len(_ours(proc.pid)) == 2, "containers did not start"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert _ours(proc.pid) == [], "containers left after the signal"
    assert "Traceback" not in err, err[-2000:]


def test_stale_containers_of_dead_owner_are_removed(backend, docker_image):
    from sandbox.docker_backend import (
        LABEL,
        LABEL_HOST,
        LABEL_LOCK,
        LABEL_OWNER,
        LABEL_PID,
        LABEL_PIDNS,
        DockerBackend,
    )

    dead = subprocess.Popen(["true"])
    dead.wait()
    api = backend.client.api

    def fake(pid: int, owner: str, lock: str) -> str:
        labels = {LABEL: "1", LABEL_PID: str(pid), LABEL_OWNER: owner, LABEL_HOST: backend._host,
                  LABEL_PIDNS: backend._pidns, LABEL_LOCK: lock}
        c = api.create_container(docker_image, command=["python3", "-c", "import time; time.sleep(300)"],
                                 labels=labels, network_disabled=True,
                                 host_config=api.create_host_config(network_mode="none", auto_remove=True))
        api.start(c["Id"])
        return str(c["Id"])

    stale = fake(dead.pid, f"{dead.pid}:1:x", "/nonexistent/owner.lock")
    alive = fake(os.getpid(), backend._owner, backend._lock_path)  # owner alive: must stay
    try:
        second = DockerBackend(jobs=1)
        try:
            assert second.removed_stale >= 1
        finally:
            second.close()
        ids = {c["Id"] for c in api.containers(all=True, filters={"label": f"{LABEL}=1"})}
        assert stale not in ids and alive in ids
    finally:
        for cid in (stale, alive):
            try:
                api.remove_container(cid, force=True)
            except Exception:
                pass


def test_sandbox_build_command(docker_image):
    """`harness sandbox build` through the SDK: labelled image, reusing cached layers."""
    import docker

    from sandbox.docker_backend import LABEL_CONTENT, LABEL_RUNNER, content_hash, runner_sha256

    client = docker.from_env()
    try:
        base = client.images.get(docker_image).labels.get("distill-harness.base-image")
        if not base:
            pytest.skip("the sandbox image records no base image")
        tag = "distill-harness/sandbox:test-build"
        proc = _cli("sandbox", "build", "--base-image", base, "--tag", tag, "--quiet")
        assert proc.returncode == 0, proc.stderr
        labels = client.images.get(tag).labels
        assert labels[LABEL_CONTENT] == content_hash() and labels[LABEL_RUNNER] == runner_sha256()
        client.images.remove(tag)
        bad = _cli("sandbox", "build", "--base-image", "distill-harness/no-such-base:none", "--tag", tag, "--quiet")
        assert bad.returncode == 3 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    finally:
        client.close()


def test_candidates_import_numpy_but_not_the_harness(docker_image, docker_cache, data_dir, tmp_path):
    from tests.harness.execution.test_execute import check_candidate_packages

    check_candidate_packages("docker", data_dir, tmp_path)

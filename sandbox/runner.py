"""In-sandbox runner: a long-lived fork server that runs one candidate program per child process.

Standard library only: this file is copied into bare images and run with ``python3 -I -S``.

Protocol (both directions): frames of an 8-byte header (two big-endian lengths: a UTF-8 JSON
object, then opaque byte blobs whose sizes the object lists under ``_blobs``). Blobs carry the
bulky parts (the job's encoded inputs, each test's encoded output) so that neither the server
nor the host has to parse them to route them: the host compares an output's bytes with the
reference's bytes and decodes only on a mismatch.
The host sends ``{"op": "run", ...job}``; the server forks a child per job, watches it from
outside (CPU time read from /proc, wall clock, output bounds), kills every process of the
sample when it is done, and answers with one result frame. A ``stream`` job's events also
travel as they arrive (``{"t": "ev"}`` frames before the result), and the host may then
answer ``{"op": "stop"}``: the server kills the sample at once (the host has seen a failure). The child receives only the inputs,
never the expected outputs: verdicts are decided by the host, outside this process tree.

Values cross the boundary in a tagged JSON encoding (:func:`encode` / :func:`decode`) that only
admits exact builtin and stdlib data types, so no candidate-defined class (for example one whose
``__eq__`` always returns True) can reach the comparison.
"""

from __future__ import annotations

import array
import binascii
import collections
import decimal
import fractions
import itertools
import json
import math
import operator
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from typing import Any

PROTOCOL_VERSION = 3
_HEADER = struct.Struct(">II")  # JSON length, blob bytes
FRAME_HEADER = _HEADER
MAX_FRAME = 512 * 1024 * 1024

# ----------------------------------------------------------------------------- codec


_BIG = 1 << 62


class EncodeError(Exception):
    pass


#: Values visited one by one in Python before an output counts as too large to ship and is
#: compared by digest instead (Mbpp/255 returns 1.6 M tuples of 77 strings).
ENCODE_BUDGET = 300_000


_PLAIN = frozenset((str, bool, type(None)))
_ITEM_TYPES = frozenset((int, float, bool, complex, str, bytes))
_SCALARS = frozenset((int, float, str, bool, type(None)))
_NUMBERS = frozenset((int, float))


_EXACT_INT = 1 << 53  # ints that survive a round trip through a double
_PACK_MIN = 256  # shorter sequences of floats stay readable JSON


def _flat(value: list[Any] | tuple[Any, ...]) -> list[Any] | dict[str, Any] | None:
    """Fast path for sequences of plain scalars (C-speed checks; tri(n) returns 10^5 numbers).

    Long sequences of finite floats (and small ints) are packed as little-endian doubles in
    base64 (``$df``, with the positions of the ints): exact, and an order of magnitude cheaper
    than ``repr`` of every float.
    """
    kinds = set(map(type, value))
    if kinds <= _PLAIN:
        return list(value)
    if not kinds <= _SCALARS:
        return None
    if float in kinds and kinds <= _NUMBERS and len(value) >= _PACK_MIN:
        packed = _pack_doubles(value, len(kinds) > 1)
        if packed is not None:
            return packed
    if int in kinds:
        ints = value if len(kinds) == 1 else [v for v in value if type(v) is int]
        if not (min(ints) > -_BIG and max(ints) < _BIG):
            return None
    if float in kinds:
        floats = value if len(kinds) == 1 else [v for v in value if type(v) is float]
        if not all(map(math.isfinite, floats)):
            return None
    return list(value)



def _pack_doubles(value: list[Any] | tuple[Any, ...], mixed: bool) -> dict[str, Any] | None:
    try:
        arr = array.array("d", value)
    except OverflowError:
        return None
    if not math.isfinite(sum(arr)) and not all(map(math.isfinite, arr)):
        return None  # an inf or nan: tagged JSON instead (the sum is the fast check)
    positions: list[int] = []
    if mixed:
        positions = list(itertools.compress(itertools.count(), map(operator.is_, map(type, value),
                                                                       itertools.repeat(int))))
        if not all(-_EXACT_INT < value[i] < _EXACT_INT for i in positions):
            return None
    if sys.byteorder != "little":
        arr.byteswap()
    return {"$df": [positions, binascii.b2a_base64(arr.tobytes(), newline=False).decode("ascii")]}


def _unpack_doubles(body: Any) -> list[Any]:
    positions, text = body
    arr = array.array("d")
    arr.frombytes(binascii.a2b_base64(text.encode("ascii")))
    if sys.byteorder != "little":
        arr.byteswap()
    values: list[Any] = arr.tolist()
    for i in positions:
        if type(i) is not int or not 0 <= i < len(values):
            raise ValueError("bad int position")
        values[i] = int(values[i])
    return values


def encode(value: Any, _depth: int = 0, _budget: list[int] | None = None) -> Any:
    """Plain-data JSON encoding with exact type tags; anything else becomes an opaque marker."""
    if _budget is None:
        _budget = [ENCODE_BUDGET]
    _budget[0] -= 1
    if _budget[0] < 0:
        raise EncodeError("output too large")
    if _depth > 200:
        raise EncodeError("output nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        if -_BIG < value < _BIG:
            return value
        return {"$i": format(value, "x")}  # hex is linear-time; decimal str() of huge ints is not
    if t is float:
        if math.isfinite(value):
            return value
        return {"$f": repr(value)}
    d = _depth + 1
    if t is list or t is tuple:
        flat = _flat(value)
        if flat is not None:
            _budget[0] -= len(value) // 8  # checked at C speed: cheap per element
            if _budget[0] < 0:
                raise EncodeError("output too large")
            return flat if t is list else {"$t": flat}
        if len(value) > _budget[0]:  # every element costs a visit: fail before the walk
            raise EncodeError("output too large")
        items = [encode(v, d, _budget) for v in value]
        return items if t is list else {"$t": items}
    if t is dict:
        return {"$d": [[encode(k, d, _budget), encode(v, d, _budget)] for k, v in value.items()]}
    if t is set:
        return {"$s": [encode(v, d, _budget) for v in value]}
    if t is frozenset:
        return {"$fs": [encode(v, d, _budget) for v in value]}
    if t is complex:
        return {"$c": [encode(value.real, d, _budget), encode(value.imag, d, _budget)]}
    if t is bytes:
        return {"$b": value.hex()}
    if t is collections.OrderedDict:
        return {"$od": [[encode(k, d, _budget), encode(v, d, _budget)] for k, v in value.items()]}
    if t is collections.Counter:
        return {"$ctr": [[encode(k, d, _budget), encode(v, d, _budget)] for k, v in value.items()]}
    if t is collections.defaultdict:
        return {"$dd": [[encode(k, d, _budget), encode(v, d, _budget)] for k, v in value.items()]}
    if t is collections.deque:
        return {"$dq": [encode(v, d, _budget) for v in value]}
    if t is decimal.Decimal:
        return {"$dec": str(value)}
    if t is fractions.Fraction:
        return {"$fr": [value.numerator, value.denominator]}
    if t is range:
        return {"$r": [value.start, value.stop, value.step]}
    name = getattr(t, "__qualname__", "object")
    module = getattr(t, "__module__", "")
    if module == "numpy" and getattr(value, "ndim", None) == 0:
        # A numpy scalar compares as the Python value it holds (np.int64(3) == 3 in evalplus).
        item = value.item()
        if type(item) in _ITEM_TYPES:
            return encode(item, d, _budget)
    return {"$u": f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else "object"}


class Opaque:
    """A value the codec does not admit (e.g. a candidate-defined class): equal to nothing."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


class Digest:
    """A large output known by its type name and the sha256 of its repr."""

    __slots__ = ("type_name", "sha256")

    def __init__(self, type_name: str, sha256: str) -> None:
        self.type_name = type_name
        self.sha256 = sha256

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Digest) and (self.type_name, self.sha256) == (other.type_name, other.sha256)

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"<{self.type_name} sha256={self.sha256[:12]}>"


def _pairs(items: Any) -> list[tuple[Any, Any]]:
    return [(decode(k), decode(v)) for k, v in items]


_JSON_SCALARS = frozenset((int, float, str, bool, type(None)))


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`; builds real Python values (never unpickles anything)."""
    if isinstance(value, list):
        if set(map(type, value)) <= _JSON_SCALARS:
            return value
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError("malformed encoded value")
    tag, body = next(iter(value.items()))
    if tag == "$t":
        if isinstance(body, dict):
            return tuple(decode(body))
        return tuple(decode(v) for v in body)
    if tag == "$df":
        return _unpack_doubles(body)
    if tag == "$d":
        return dict(_pairs(body))
    if tag == "$s":
        return {decode(v) for v in body}
    if tag == "$fs":
        return frozenset(decode(v) for v in body)
    if tag == "$f":
        return float(body)
    if tag == "$i":
        return int(body, 16)
    if tag == "$c":
        return complex(decode(body[0]), decode(body[1]))
    if tag == "$b":
        return bytes.fromhex(body)
    if tag == "$od":
        return collections.OrderedDict(_pairs(body))
    if tag == "$ctr":
        return collections.Counter(dict(_pairs(body)))
    if tag == "$dd":
        return collections.defaultdict(None, _pairs(body))
    if tag == "$dq":
        return collections.deque(decode(v) for v in body)
    if tag == "$dec":
        return decimal.Decimal(body)
    if tag == "$fr":
        return fractions.Fraction(int(body[0]), int(body[1]))
    if tag == "$r":
        return range(int(body[0]), int(body[1]), int(body[2]))
    if tag == "$u":
        return Opaque(str(body))
    if tag == "$h":
        return Digest(str(body[0]), str(body[1]))
    raise ValueError(f"unknown tag {tag!r}")


# ----------------------------------------------------------------------------- framing


def pack_frame(obj: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> list[bytes]:
    """The parts of one frame (header + JSON, then each blob), to be written in order."""
    if blobs:
        obj = {**obj, "_blobs": [len(b) for b in blobs]}
    meta = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return [_HEADER.pack(len(meta), sum(len(b) for b in blobs)) + meta, *blobs]


def write_frame(fd: int, obj: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
    for part in pack_frame(obj, blobs):
        write_all(fd, part)


def widen_pipe(fd: int) -> None:
    """1 MiB pipe buffers (Linux's usual maximum for unprivileged processes): fewer wake-ups
    when large outputs stream through."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def parse_frame(body: bytes | bytearray | memoryview, meta_len: int) -> dict[str, Any]:
    """A frame's JSON object, with ``_blobs`` replaced by the blobs' bytes; ValueError if malformed."""
    msg = json.loads(bytes(body[:meta_len]))
    if not isinstance(msg, dict):
        raise ValueError("frame is not an object")
    sizes = msg.pop("_blobs", None)
    if sizes is None:
        if len(body) != meta_len:
            raise ValueError("unannounced blob bytes")
        return msg
    if (not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes)
            or meta_len + sum(sizes) != len(body)):
        raise ValueError("blob sizes do not match the frame")
    blobs = []
    pos = meta_len
    for n in sizes:
        blobs.append(bytes(body[pos : pos + n]))
        pos += n
    msg["_blobs"] = blobs
    return msg


def read_frame(fd: int) -> Any:
    header = read_exact(fd, _HEADER.size)
    if header is None:
        return None
    meta_len, blob_len = _HEADER.unpack(header)
    if meta_len + blob_len > MAX_FRAME:
        raise ValueError("frame too large")
    body = read_exact(fd, meta_len + blob_len)
    if body is None:
        return None
    return parse_frame(body, meta_len)


# The child's channel to the server has its own, leaner framing: a kind byte and a body length,
# then for ``R`` (one test's result) the test index, CPU seconds and is_floats flag as binary
# followed by the encoded output, and for ``J`` a JSON object (every other event). Tests that
# take microseconds each (HumanEval+ has 124k inputs) make the per-test cost matter.
_CHILD_HEADER = struct.Struct(">cI")
_R_FIELDS = struct.Struct(">IdB")
_R_HEADER = struct.Struct(">cIIdB")  # _CHILD_HEADER + _R_FIELDS in one pack


class FrameBuffer:
    """Incremental frame parser for the untrusted child's result channel."""

    def __init__(self, limit: int) -> None:
        self.buf = bytearray()
        self.limit = limit
        self.error: str | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        buf = self.buf
        buf += data
        out: list[dict[str, Any]] = []
        pos = 0
        hsize = _CHILD_HEADER.size
        view = memoryview(buf)
        try:
            while self.error is None and len(buf) - pos >= hsize:
                kind, size = _CHILD_HEADER.unpack_from(buf, pos)
                if size > self.limit:
                    self.error = "result frame too large"
                    break
                end = pos + hsize + size
                if len(buf) < end:
                    break
                if kind == b"R" and size >= _R_FIELDS.size:
                    i, cpu, fl = _R_FIELDS.unpack_from(buf, pos + hsize)
                    out.append({"t": "R", "i": i, "cpu": cpu, "fl": fl == 1,
                                "payload": view[pos + hsize + _R_FIELDS.size : end].tobytes()})
                elif kind == b"J" and size <= 65536:
                    try:
                        msg = json.loads(view[pos + hsize : end].tobytes())
                    except (ValueError, RecursionError):
                        msg = None
                    if not isinstance(msg, dict) or msg.get("t") == "R":
                        self.error = "malformed result frame"
                        break
                    out.append(msg)
                else:
                    self.error = "malformed result frame"
                    break
                pos = end
        finally:
            view.release()
        del buf[:pos]
        return out


# ----------------------------------------------------------------------------- child side


class _HashSink:
    __slots__ = ("h",)

    def __init__(self, h: Any) -> None:
        self.h = h

    def write(self, data: bytes) -> None:
        self.h.update(data)


def _digest(value: Any) -> dict[str, Any]:
    """Outputs too large to ship (Mbpp/255: 1.6M tuples) are compared by a digest.

    The digest is sha256 over a pickle in "fast" mode (no memo): exact types and values, and
    unlike a normal pickle independent of which objects happen to be shared, at C speed and
    streamed (4x faster than ``repr``, no gigabyte string). Stricter than ``==`` (1 and 1.0
    differ) but exact for the plain data such outputs are; a candidate can only match the
    reference digest by producing the reference's value.
    """
    import hashlib
    import pickle

    h = hashlib.sha256()
    try:
        pickler = pickle.Pickler(_HashSink(h), protocol=4)
        pickler.fast = True
        pickler.dump(value)
    except BaseException as exc:  # cycles, unpicklable objects, bombs in __reduce__
        return {"$u": f"unencodable: {type(exc).__name__}"}
    return {"$h": [type(value).__name__, h.hexdigest()]}


def _exc_info(exc: BaseException, phase: str, index: Any = None) -> dict[str, Any]:
    try:
        message = str(exc)[:2000]
    except BaseException:
        message = "<unprintable>"
    chain = []
    try:
        chain = [c.__name__ for c in type(exc).__mro__]
    except BaseException:
        pass
    files = []
    tb = exc.__traceback__
    try:
        while tb is not None:
            files.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
    except BaseException:
        pass
    deepest = files[-1] if files else ""
    return {
        "t": "X",
        "phase": phase,
        "i": index,
        "type": type(exc).__name__,
        "chain": chain,
        "msg": message,
        "in_solution": "<solution>" in files,
        "deepest": deepest if deepest.startswith("<") else "lib",
        "lineno": getattr(exc, "lineno", None),
    }


def _sender(res_fd: int) -> Any:
    """``send(obj)``: one JSON event on the result channel."""
    _write_all, _head, _dumps = write_all, _CHILD_HEADER.pack, json.dumps

    def send(obj: dict[str, Any]) -> None:
        body = _dumps(obj, separators=(",", ":")).encode("utf-8", "replace")
        _write_all(res_fd, _head(b"J", len(body)) + body)

    return send


def _encode_output(out: Any, not_none: bool) -> bytes:
    """An output as the bytes the host compares (never raises: a bomb becomes an opaque marker)."""
    try:
        enc = {"$nn": out is not None} if not_none and type(out) is not bool else encode(out)
    except EncodeError:
        enc = _digest(out)
    except BaseException as exc:  # a bomb in __class__, __repr__, ...
        enc = {"$u": f"unencodable: {type(exc).__name__}"}
    try:
        return json.dumps(enc, separators=(",", ":")).encode("utf-8", "surrogatepass")
    except BaseException as exc:
        return b'{"$u":"unencodable: %s"}' % type(exc).__name__.encode("ascii", "replace")


def _load_candidate(job: dict[str, Any], send: Any) -> tuple[dict[str, Any], Any, list[Any]] | None:
    """Compile and run the program and the task's setup, find the entry point, read the inputs.
    None (after reporting the exception) when any of it fails."""
    try:
        code = compile(job["code"], "<solution>", "exec", dont_inherit=True)
    except BaseException as exc:  # SyntaxError, IndentationError, ValueError (null bytes)...
        send(_exc_info(exc, "compile"))
        return None
    g: dict[str, Any] = {}
    send({"t": "B"})
    try:
        exec(code, g)
    except BaseException as exc:
        send(_exc_info(exc, "exec"))
        return None
    if job.get("setup"):
        try:
            exec(compile(job["setup"], "<setup>", "exec", dont_inherit=True), g)
        except BaseException as exc:
            send(_exc_info(exc, "setup"))
            return None
    entry = job.get("entry_point") or ""
    fn: Any = g.get(entry) if entry else None
    if entry and fn is None:
        send({"t": "X", "phase": "entry", "i": None, "type": "NameError",
              "chain": ["NameError", "Exception", "BaseException", "object"],
              "msg": f"entry point {entry!r} is not defined", "in_solution": False,
              "deepest": "<harness>", "lineno": None})
        return None
    try:
        inputs = json.loads(job.get("inputs_json") or b"[]")
    except BaseException as exc:  # the candidate broke json: its own inputs are all it can spoil
        send(_exc_info(exc, "exec"))
        return None
    return g, fn, inputs


def _run_tests(job: dict[str, Any], fn: Any, inputs: list[Any], res_fd: int, send: Any) -> tuple[bool, bool]:
    """Call ``fn`` on each input of the job's slice; returns (an exception was raised, paused).

    The hot loop of the runner (HumanEval+ has 124k inputs): helpers are bound to locals and
    an output's event is one binary frame. A CPU budget (reference runs split long tasks
    across runners) stops the loop before the next input and says where (``P``).
    """
    _write_all, _r_head, _r_size = write_all, _R_HEADER.pack, _R_FIELDS.size
    _decode, _perf, _encode_out = decode, time.process_time, _encode_output
    fast = bool(job.get("fast", True))
    not_none = bool(job.get("not_none", False))
    first = int(job.get("first") or 0)
    last = min(int(job.get("last") or len(inputs)), len(inputs))
    budget = job.get("cpu_budget")
    failed = False
    start = _perf()
    for i in range(first, last):
        if budget is not None and i > first and _perf() - start >= budget:
            send({"t": "P", "i": i})
            return failed, True
        args = _decode(inputs[i])
        t0 = _perf()
        try:
            out = fn(*args)
        except BaseException as exc:
            send(_exc_info(exc, "call", i))
            failed = True
            if fast:
                break
            continue
        payload = _encode_out(out, not_none)
        # Only meaningful for the (trusted) reference run: evalplus's is_floats(expected).
        fl = type(out) is float or (type(out) in (list, tuple) and len(out) > 0
                                    and all(type(x) is float for x in out))
        # The reference time includes encoding: the limit must cover what the server measures.
        head = _r_head(b"R", _r_size + len(payload), i, _perf() - t0, fl)
        if len(payload) < 65536:
            _write_all(res_fd, head + payload)
        else:
            _write_all(res_fd, head)
            _write_all(res_fd, payload)
    return failed, False


def _child_main(job: dict[str, Any], res_fd: int) -> None:
    """Runs the candidate: load it (``B``), its tests (``L``, then an event per input), the
    residual asserts (``A``, ``AOK``), end (``E``). The candidate can write to the result channel
    itself; the host never trusts it for more than the candidate's own verdict."""
    send = _sender(res_fd)
    loaded = _load_candidate(job, send)
    if loaded is None:
        return
    g, fn, inputs = loaded
    send({"t": "L"})  # loaded: the tests start now
    failed, paused = _run_tests(job, fn, inputs, res_fd, send)
    if job.get("asserts") and not (failed and job.get("fast", True)) and not paused:
        send({"t": "A"})
        try:
            exec(compile(job["asserts"], "<tests>", "exec", dont_inherit=True), g)
        except BaseException as exc:
            send(_exc_info(exc, "assert"))
            return
        send({"t": "AOK"})
    send({"t": "E"})


def _set_limits(job: dict[str, Any]) -> None:
    def lim(which: int, value: int) -> None:
        try:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    mem = int(job.get("memory_bytes") or 0)
    if mem > 0:
        lim(resource.RLIMIT_AS, mem)
        lim(resource.RLIMIT_DATA, mem)
    cpu = int(math.ceil(float(job.get("cpu_total", 60)))) + 1
    lim(resource.RLIMIT_CPU, cpu)
    lim(resource.RLIMIT_FSIZE, int(job.get("file_bytes", 64 * 1024 * 1024)))
    lim(resource.RLIMIT_NOFILE, int(job.get("open_files", 64)))
    lim(resource.RLIMIT_CORE, 0)
    nproc = int(job.get("nproc", 0))
    if nproc > 0 and os.getuid() != 0:
        lim(resource.RLIMIT_NPROC, nproc)


# ----------------------------------------------------------------------------- server side


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        fields = data[data.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


def _proc_busy(pid: int) -> float | None:
    """Seconds the main thread ran or waited for a CPU (schedstat); None where unsupported.

    Wall time minus this is time spent blocked (sleeping, waiting on I/O): the wall-clock
    backstop counts only that, so a loaded machine does not turn slow samples into time-outs.
    """
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            run, wait = fh.read().split()[:2]
        return (int(run) + int(wait)) / 1e9
    except (OSError, ValueError):
        return None


_CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0

_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGSEGV: "SegmentationFault",
    signal.SIGKILL: "Killed",
    signal.SIGABRT: "Aborted",
    signal.SIGBUS: "BusError",
    signal.SIGFPE: "FloatingPointError",
    signal.SIGXCPU: "TimeoutError",
    signal.SIGXFSZ: "FileSizeLimitExceeded",
}


class Server:
    """The fork server: one job at a time, each in a fresh child."""

    def __init__(self, in_fd: int, out_fd: int, reap_all: bool, tmp_root: str) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.reap_all = reap_all
        self.tmp_root = tmp_root
        self.counter = 0

    def serve(self) -> None:
        write_frame(self.out_fd, {"t": "hello", "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                                  "uid": os.getuid(), "python": sys.version.split()[0]})
        while True:
            msg = read_frame(self.in_fd)
            if msg is None or msg.get("op") == "exit":
                return
            if msg.get("op") == "stop":
                continue  # the job it was meant for had ended already
            if msg.get("op") == "ping":
                write_frame(self.out_fd, {"t": "pong"})
                continue
            if msg.get("op") == "run":
                blobs = msg.pop("_blobs", None) or [b"[]"]
                msg["inputs_json"] = blobs[0]
                result, outputs = self.run_job(msg)
                write_frame(self.out_fd, result, outputs)

    # The child: never returns.
    def _exec_child(self, job: dict[str, Any], res_w: int, out_w: int, workdir: str) -> None:
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.dup2(res_w, 3)
            os.closerange(4, 65536)
            os.chdir(workdir)
            os.umask(0o077)
            for key in list(os.environ):
                del os.environ[key]
            os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/bin:/bin",
                               "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1",
                               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            _set_limits(job)
            sys.stdin = open(0, closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.setrecursionlimit(int(job.get("recursion_limit", 1000)))
            if hasattr(sys, "set_int_max_str_digits"):
                sys.set_int_max_str_digits(0)
            _child_main(job, 3)
        except BaseException:
            pass
        finally:
            os._exit(0)

    def _kill_sample(self, pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        if self.reap_all:
            # Every other process of this sandbox is the sample's (a dedicated uid or PID
            # namespace): kill them all, whatever session or group they moved to.
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass

    def run_job(self, job: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self.counter += 1
        workdir = tempfile.mkdtemp(prefix=f"s{self.counter}-", dir=self.tmp_root)
        os.chmod(workdir, 0o700)
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        widen_pipe(res_r)
        wall0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(res_r)
            os.close(out_r)
            self._exec_child(job, res_w, out_w, workdir)
        os.close(res_w)
        os.close(out_w)
        watch = _Watch(self, job, pid, res_r, out_r, wall0)
        try:
            result = watch.run()
        finally:
            self._kill_sample(pid)
            status: int | None
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = None
            self._reap()
            os.close(res_r)
            os.close(out_r)
            shutil.rmtree(workdir, ignore_errors=True)
        if status is not None and not result.get("finished"):
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                result["exit"] = {"signal": sig, "name": _SIGNAL_NAMES.get(sig, f"Signal{sig}")}
            elif os.WIFEXITED(status):
                result["exit"] = {"code": os.WEXITSTATUS(status)}
        result["id"] = job.get("id")
        result["wall"] = time.monotonic() - wall0
        return result, watch.blobs

    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


class _Watch:
    """One running sample, watched from outside: per-phase CPU and wall budgets, the result
    channel (events, streamed to the host as they arrive when the job asks for it), captured
    output, and the host's ``stop`` (sent once the host has seen a failure)."""

    # Tests that finish within this many seconds of wall time never cost a read of /proc: the
    # CPU baseline of a test is taken lazily, charging the test for the wall time it had already
    # run (at most this much), which is negligible against limits of at least a second.
    LAZY_BASELINE = 0.02

    def __init__(self, server: Server, job: dict[str, Any], pid: int, res_r: int, out_r: int, wall0: float) -> None:
        self.server, self.job, self.pid, self.res_r, self.out_r, self.wall0 = server, job, pid, res_r, out_r, wall0
        self.limits = [float(x) for x in job.get("limits") or []]
        self.n_inputs = int(job.get("n_inputs") or 0)
        # A test may run to (1 + grace) x its limit before it is killed: the host decides what a
        # test that finished over its limit means (see harness.execution.execute).
        self.grace = 1.0 + max(0.0, float(job.get("grace") or 0.0))
        self.wall_factor = float(job.get("wall_factor", 3.0))
        self.wall_total = float(job.get("wall_total", 120.0))
        self.out_limit = int(job.get("output_bytes", 8192))
        self.stream = bool(job.get("stream"))
        self.frames = FrameBuffer(limit=int(job.get("frame_bytes", 64 * 1024 * 1024)))
        self.events: list[Any] = []  # not yet sent to the host
        self.blobs: list[bytes] = []
        self.output = bytearray()
        self.phase = "start"  # start -> exec -> tests -> asserts -> done
        self.current = int(job.get("first") or 0) - 1  # index of the last finished test
        self.timeout: dict[str, Any] | None = None
        self.finished = False
        self.stopped = False
        self.open_fds = {res_r, out_r}
        self.phase_wall = time.monotonic()
        self.phase_cpu: float | None = _proc_cpu(pid)
        self.phase_busy = _proc_busy(pid)
        # Per-run CPU budgets (evalplus's cap on a whole run: see sandbox.protocol.RUN_SLACK).
        self.runs = [(int(a), int(b), float(c)) for a, b, c in job.get("runs") or []]
        self.in_run: tuple[int, int, float] | None = None  # the run of the next test, when it has a budget
        self.run_cpu0 = 0.0  # the sample's CPU seconds when that run started
        self.run_check = 0.0  # when to read its CPU next (one thread's CPU never outruns the clock)

    def budget(self) -> float:
        if self.phase in ("start", "exec"):
            return float(self.job.get("exec_limit", 10.0))
        if self.phase == "tests":
            nxt = self.current + 1
            return self.limits[nxt] if nxt < len(self.limits) else float(self.job.get("default_limit", 1.0))
        return float(self.job.get("assert_limit", 10.0))

    def run(self) -> dict[str, Any]:
        listen = [self.server.in_fd] if self.stream else []
        while self.open_fds:
            wait = self.check_time()
            if self.timeout is not None:
                break
            try:
                ready, _, _ = select.select([*self.open_fds, *listen], [], [], wait)
            except InterruptedError:
                continue
            if self.read_ready(ready):
                self.phase_wall, self.phase_cpu, self.phase_busy = time.monotonic(), None, None
            if self.stopped or self.frames.error or (self.finished and self.res_r not in self.open_fds):
                break
            if self.stream and self.events:
                self.flush()
        return {"t": "result", "events": self.events, "finished": self.finished, "timeout": self.timeout,
                "protocol_error": self.frames.error, "stopped": self.stopped,
                "output": self.output.decode("utf-8", "replace")}

    def track_run(self) -> None:
        """Entering a run with a CPU budget: note the sample's CPU time now (one /proc read per run)."""
        nxt = self.current + 1
        run = self.in_run
        if run is not None and run[0] <= nxt < run[1]:
            return
        self.in_run = next((r for r in self.runs if r[0] <= nxt < r[1]), None)
        if self.in_run is not None:
            self.run_cpu0 = _proc_cpu(self.pid)
            self.run_check = time.monotonic() + self.in_run[2]

    def check_run(self, now: float, used: float, since: float, limit: float) -> float | None:
        """Seconds until the run's CPU must be read again; None (and ``timeout``) when the run's
        budget is spent: evalplus stops the whole run there and calls it a time-out."""
        run = self.in_run
        assert run is not None
        if now >= self.run_check:
            run_used = _proc_cpu(self.pid) - self.run_cpu0
            remaining = run[2] - run_used
            if remaining <= 0:
                self.timeout = {"phase": "tests", "i": self.current + 1, "cpu": used, "wall": since,
                                "limit": limit, "run_cpu": run_used, "run_budget": run[2]}
                return None
            self.run_check = now + max(0.005, remaining)
        return max(0.001, self.run_check - now)

    def check_time(self) -> float:
        """Seconds to wait for the next event; sets ``timeout`` when the budget is spent."""
        limit = self.budget()
        now = time.monotonic()
        since = now - self.phase_wall
        if self.phase_cpu is None and since >= self.LAZY_BASELINE:
            self.phase_cpu = _proc_cpu(self.pid) - since
            busy_now = _proc_busy(self.pid)
            self.phase_busy = None if busy_now is None else busy_now - since
        if self.phase_cpu is None:
            over = now - self.wall0 > self.wall_total
            wait = max(0.001, self.LAZY_BASELINE - since)
            used = 0.0
        else:
            used = _proc_cpu(self.pid) - self.phase_cpu
            blocked = since
            busy = _proc_busy(self.pid)
            if busy is not None and self.phase_busy is not None:
                blocked -= busy - self.phase_busy
            hard = limit * (self.grace if self.phase == "tests" else 1.0)
            over = used > hard or blocked > self.wall_factor * limit + 1.0 or now - self.wall0 > self.wall_total
            wait = min(0.05, max(0.001, hard - used))
        if over:
            self.timeout = {"phase": self.phase, "i": self.current + 1 if self.phase == "tests" else None,
                            "cpu": used, "wall": since, "limit": limit}
        elif self.in_run is not None and self.phase == "tests":
            run_wait = self.check_run(now, used, since, limit)
            if run_wait is not None:
                wait = min(wait, run_wait)
        return wait

    def read_ready(self, ready: list[int]) -> bool:
        """Read what is ready; True when a new test (or phase) started: its budget counts from now."""
        progressed = False
        for fd in ready:
            if fd == self.server.in_fd:
                msg = read_frame(fd)
                self.stopped = msg is None or msg.get("op") == "stop"
                continue
            try:
                data = os.read(fd, 1 << 20)
            except OSError:
                data = b""
            if not data:
                self.open_fds.discard(fd)
            elif fd == self.out_r:
                if len(self.output) < self.out_limit:
                    self.output += data[: self.out_limit - len(self.output)]
            else:
                for msg in self.frames.feed(data):
                    progressed = self.on_event(msg) or progressed
                if self.frames.error:
                    self.open_fds.discard(self.res_r)
                    break
        return progressed

    def on_event(self, msg: dict[str, Any]) -> bool:
        kind = msg.get("t")
        if kind == "B":
            self.phase = "exec"
        elif kind == "L":
            self.phase = "tests"
            if self.runs:
                self.track_run()
            return True
        elif kind == "R" or (kind == "X" and msg.get("phase") == "call"):
            i = msg.get("i")
            if kind == "R":  # compact on the way to the host: [i, cpu, fl, blob]
                self.events.append([i, msg["cpu"], msg["fl"], len(self.blobs)])
                self.blobs.append(msg["payload"])
            else:
                self.events.append(msg)
            if isinstance(i, int) and 0 <= i < max(self.n_inputs, 1):
                self.current = i
                if self.runs and self.phase == "tests":
                    self.track_run()
            return True
        elif kind == "A":
            self.phase = "asserts"
            self.in_run = None
            return True
        elif kind in ("X", "AOK", "P"):
            self.events.append(msg)
        elif kind == "E":
            self.finished = True
        return False

    def flush(self) -> None:
        """Send the events seen so far to the host (streaming jobs)."""
        write_frame(self.server.out_fd, {"t": "ev", "events": self.events}, self.blobs)
        self.events, self.blobs = [], []


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _no_dump() -> None:
    """Forbid ptrace and /proc/<pid>/mem access to this server from same-uid candidates."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="distill-harness sandbox fork server")
    parser.add_argument("--uid", type=int, default=None, help="drop to this uid/gid first (when root)")
    parser.add_argument("--reap-all", action="store_true", help="kill every other process of this uid after each job")
    parser.add_argument("--tmp", default="/tmp")
    parser.add_argument("--packages", action="append", default=[],
                        help="a read-only directory of packages candidates may import (after the standard library)")
    args = parser.parse_args(argv)
    sys.path.extend(args.packages)
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    reap_all = args.reap_all
    if args.uid is not None and os.getuid() == 0:
        _drop_privileges(args.uid)
        reap_all = True
    if reap_all and os.getuid() == 0 and os.getpid() > 10:
        reap_all = False  # never kill(-1) as root outside a PID namespace
    _no_dump()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    Server(in_fd, out_fd, reap_all, args.tmp).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

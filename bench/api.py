"""API benchmark on loopback: submit latency under an open-loop request rate, and asset download
throughput compared with reading the same file directly.

    .venv/bin/python bench/api.py [--duration 10] [--rates 50,200] [--mb 64]

The server runs in its own process (uvicorn, no dispatcher), so the client's event loop and the
server do not share a GIL. Submits are real ``POST /v1/jobs`` of kind ``voice`` (validated, tenant
checked, written to the SQLite job store, queued; nothing renders because no dispatcher runs, so the
queue is not the bottleneck) and, separately, ``dry_run=true`` submits. Requests are sent on a fixed
schedule (open loop): latency is measured from the scheduled send time, so server stalls show up.
Targets: submit p95 <= 25 ms at 200 req/s; download >= 50 % of direct read throughput.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds queue.py etc.; as the script's directory it would shadow the standard library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(data_dir: str, port: int) -> None:
    import uvicorn

    from workers.api import create_app
    from workers.settings import load_settings

    settings = load_settings(env={}, overrides={
        "data_dir": data_dir,
        "limits": {"max_upload_bytes": 512 * 1024 * 1024},
        "api": {"rate_limit_per_minute": 1_000_000},
    })
    app = create_app(settings, webhooks=False)
    if os.environ.get("MAYDO_BENCH_PLAIN"):  # --plain: uvicorn defaults (asyncio loop, no zero-copy)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    from workers.api.server import run

    run(app, "127.0.0.1", port, log_level="warning", access_log=False)  # what `maydo serve` runs


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def submit_load(url: str, key: str, rate: float, duration: float, dry_run: bool) -> dict[str, float]:
    n = int(rate * duration)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, limits=limits, timeout=30,
                                 trust_env=False) as client:
        # Warm the connection pool and the server's code paths.
        for i in range(20):
            await client.post("/v1/jobs?dry_run=true", json={"kind": "voice", "params": {"text": f"warm {i}"}})

        async def one(i: int, at: float) -> None:
            nonlocal errors
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {"kind": "voice", "params": {"text": f"Hello number {i} at rate {rate}", "accent": "en-us"},
                    "lane": "batch"}
            resp = await client.post("/v1/jobs" + ("?dry_run=true" if dry_run else ""), json=body)
            latencies.append((time.perf_counter() - at) * 1000)
            if resp.status_code not in (200, 201):
                errors += 1

        t0 = time.perf_counter() + 0.05
        await asyncio.gather(*(one(i, t0 + i / rate) for i in range(n)))
        wall = time.perf_counter() - t0
    return {"n": n, "achieved_rps": n / wall, "p50": pct(latencies, 50), "p95": pct(latencies, 95),
            "p99": pct(latencies, 99), "mean": statistics.fmean(latencies), "errors": errors}


CHUNK = 4 << 20  # client and direct read use the same 4 MiB reused buffer


def raw_get(port: int, path: str, key: str, buf: bytearray) -> int:
    """One real HTTP/1.1 GET through the server on a plain socket; the body is received into
    ``buf`` (reused, ``recv_into``) and discarded. Returns the body size."""
    import socket

    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
                     "Connection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            part = sock.recv(65536)
            if not part:
                raise RuntimeError("connection closed before the headers")
            head += part
        header, _, body = head.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        assert lines[0].split()[1] == "200", lines[0]
        length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.lower() == "content-length")
        got = len(body)
        while got < length:
            n = sock.recv_into(view, min(len(view), length - got))
            if n == 0:
                raise RuntimeError(f"connection closed after {got} of {length} body bytes")
            got += n
    return got


def download_bench(url: str, port: int, key: str, data_dir: Path, mb: int, repeats: int) -> dict[str, float]:
    payload = os.urandom(1 << 20) * mb
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120, trust_env=False) as c:
        ref = c.post("/v1/assets", files={"file": ("big.bin", payload, "application/octet-stream")}).json()
        path = data_dir / "assets" / ref["id"][:2] / ref["id"]
        del payload
        buf = bytearray(CHUNK)
        view = memoryview(buf)

        def direct() -> float:
            # The file from the page cache into the same reused 4 MiB buffer the HTTP client uses.
            t = time.perf_counter()
            total = 0
            with open(path, "rb", buffering=0) as fh:
                while n := fh.readinto(view):
                    total += n
            assert total == mb << 20
            return total / (time.perf_counter() - t) / 1e6

        def http_raw() -> float:
            t = time.perf_counter()
            total = raw_get(port, f"/v1/assets/{ref['id']}", key, buf)
            assert total == mb << 20
            return total / (time.perf_counter() - t) / 1e6

        def http_httpx() -> float:
            t = time.perf_counter()
            total = 0
            with c.stream("GET", f"/v1/assets/{ref['id']}") as resp:
                assert resp.status_code == 200
                for chunk in resp.iter_raw(CHUNK):
                    total += len(chunk)
            assert total == mb << 20
            return total / (time.perf_counter() - t) / 1e6

        def evicted(fn):  # type: ignore[no-untyped-def]
            # Cold: drop the file's pages first, so both sides read from the disk.
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            return fn()

        direct(), http_raw(), http_httpx()  # warm the page cache and the connection
        d = max(direct() for _ in range(repeats))
        h = max(http_raw() for _ in range(repeats))
        hx = max(http_httpx() for _ in range(repeats))
        ceiling = max(tcp_ceiling(path, buf) for _ in range(repeats))
        dc = max(evicted(direct) for _ in range(repeats))
        hc = max(evicted(http_raw) for _ in range(repeats))
    return {"direct_MBps": d, "http_MBps": h, "ratio": h / d, "httpx_MBps": hx, "tcp_MBps": ceiling,
            "cold_direct_MBps": dc, "cold_http_MBps": hc, "cold_ratio": hc / dc}


def tcp_ceiling(path: Path, buf: bytearray) -> float:
    """No HTTP, no Python on the send side: os.sendfile of the file into a loopback socket, read
    with recv_into the same buffer. What any server on this machine could reach at best."""
    import socket
    import threading

    size = path.stat().st_size
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        def push() -> None:
            conn, _ = lsock.accept()
            with conn, open(path, "rb") as fh:
                conn.sendfile(fh)

        th = threading.Thread(target=push)
        th.start()
        view = memoryview(buf)
        t = time.perf_counter()
        got = 0
        with socket.create_connection(lsock.getsockname()) as sock:
            while got < size:
                n = sock.recv_into(view)
                if n == 0:
                    break
                got += n
        th.join()
    assert got == size
    return got / (time.perf_counter() - t) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    ap.add_argument("--rates", default="50,200")
    ap.add_argument("--mb", type=int, default=64, help="asset size for the download test")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain", action="store_true", help="serve with uvicorn defaults (the old setup)")
    ap.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    import socket

    from workers.api.store import ApiStore

    data_dir = Path(tempfile.mkdtemp(prefix="maydo-bench-api-"))
    key = ApiStore(data_dir / "api.sqlite3").create_key("bench", "creator").key
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if args.plain:
        env["MAYDO_BENCH_PLAIN"] = "1"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(data_dir), str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/healthz", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        rows = []
        for mode in ("submit", "dry_run"):
            for rate in [float(r) for r in args.rates.split(",")]:
                r = asyncio.run(submit_load(url, key, rate, args.duration, dry_run=mode == "dry_run"))
                rows.append((mode, rate, r))
        dl = download_bench(url, port, key, data_dir, args.mb, args.repeats)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(f"\nmaydo API on loopback ({os.cpu_count()} CPUs), {args.duration:g} s per rate, open loop\n")
    print(f"{'request':<10} {'rate/s':>7} {'achieved':>9} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}  target")
    for mode, rate, r in rows:
        target = ""
        if rate == 200:
            target = "p95 <= 25 ms: " + ("PASS" if r["p95"] <= 25 else "MISS")
        print(f"{mode:<10} {rate:>7.0f} {r['achieved_rps']:>9.1f} {r['n']:>6d} {r['p50']:>8.2f} {r['p95']:>8.2f} "
              f"{r['p99']:>8.2f} {r['errors']:>6d}  {target}")
    server = "plain uvicorn (h11/asyncio, read loop)" if args.plain else "maydo serve setup"
    print(f"\ndownload of a {args.mb} MiB asset (best of {args.repeats}), server: {server}")
    print(f"  direct read (page cache -> reused 4 MiB buffer)  {dl['direct_MBps']:>9.0f} MB/s")
    print(f"  GET /v1/assets, socket recv_into 4 MiB buffer    {dl['http_MBps']:>9.0f} MB/s   ratio "
          f"{dl['ratio']:.2f} (target >= 0.50: {'PASS' if dl['ratio'] >= 0.5 else 'MISS'})")
    print(f"  GET /v1/assets, httpx iter_raw (reference)       {dl['httpx_MBps']:>9.0f} MB/s")
    print(f"  loopback TCP ceiling (sendfile, no HTTP)         {dl['tcp_MBps']:>9.0f} MB/s   GET / ceiling "
          f"{dl['http_MBps'] / dl['tcp_MBps']:.2f}")
    print(f"  cold (pages dropped): direct {dl['cold_direct_MBps']:.0f} MB/s, GET {dl['cold_http_MBps']:.0f} MB/s,"
          f" ratio {dl['cold_ratio']:.2f}")


if __name__ == "__main__":
    main()

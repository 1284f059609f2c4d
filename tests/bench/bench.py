#!/usr/bin/env python3
"""tests/bench/bench.py — issue #10's benchmark: measures the worker against a librdkafka ceiling.

Run it through tests/bench/run.sh (`make bench`), which starts the local services when needed.
Settings come from the environment (see tests/bench/README.md): EVF_BIN, EVF_BUILD, QUICK, N,
PARTITIONS, REPS, KAFKA_PORT, REDIS_PORT, LAT_SECONDS, LAT_RATES, RESULTS.

In one run, every measurement REPS times, round-robin so that drift of this noisy machine spreads
over all of them:
  1. ceiling: tests/bench/count (a librdkafka consumer that only counts) and `kcat -C -e -q`
  2. worker, route.*=noop, idempotency off       3. the same, idempotency on
  4. idempotency on, route.*=chaos, 1% of events fail transiently once (in-place retries)
  5. the built-ins on the realistic mix, config/worker.conf (the shipped configuration)
  6. end-to-end latency (event time_ms -> effects applied) at fixed rates, idempotency on, and
     beside it Kafka's share (tests/bench/latency: the same events read by a bare consumer)
  7. per worker run: peak RSS, CPU per event, start -> join -> first event, SIGTERM -> exit idle
Prints a table and writes the raw figures as JSON. Exit 0 when every run completed (targets are
reported, never asserted), 1 when a measurement could not be made.
"""
import datetime
import http.client
import json
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def env_int(name, default):
    v = os.environ.get(name, "").strip()
    return int(v.replace("_", "").replace(",", "")) if v else default


def env_str(name, default):
    v = os.environ.get(name, "").strip()
    return v if v else default


QUICK = env_str("QUICK", "0") not in ("0", "", "no", "false")
N = env_int("N", 50_000 if QUICK else 1_000_000)
PARTITIONS = env_int("PARTITIONS", 12)
REPS = env_int("REPS", 1 if QUICK else 3)
CEIL_REPS = max(REPS, 3)  # the ceiling takes a second: always at least 3 runs
KAFKA_PORT = env_int("KAFKA_PORT", 9092)
REDIS_PORT = env_int("REDIS_PORT", 6379)
BROKERS = f"127.0.0.1:{KAFKA_PORT}"
BIN = os.path.join(ROOT, env_str("EVF_BIN", "bin"))
BUILD = os.path.join(ROOT, env_str("EVF_BUILD", "build/default"))
LAT_SECONDS = env_int("LAT_SECONDS", 5 if QUICK else 20)
LAT_RATES = [int(r) for r in env_str("LAT_RATES", "5000" if QUICK else "5000,20000").split(",")]
CHAOS_BACKOFF_MS = env_int("CHAOS_BACKOFF_MS", 10)
# Experiments: ONLY=count,noop_off,latency runs a subset; WORKER_X="k=v k=v" adds -X settings to
# every worker run (after the measurement's own).
ONLY = [k for k in env_str("ONLY", "").split(",") if k]
WORKER_X = env_str("WORKER_X", "").split()
IDLE_BEFORE_TERM_S = 1.0
POLL_S = 0.01  # /metrics poll interval while a throughput run is going
STALL_S = 60  # a run whose processed count does not move for this long is abandoned
STAMP = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
RUN_ID = f"{STAMP}-{os.getpid()}"
TOPIC = f"bench.{RUN_ID}"
RESULTS = env_str("RESULTS", os.path.join(ROOT, "tests", "bench", f"results-{STAMP}.json"))
LOG_DIR = os.path.join(BUILD, "bench-logs", RUN_ID)
WORKER = os.path.join(BIN, "evfleet-worker")
PRODUCE = os.path.join(BIN, "evfleet-produce")
COUNT = os.path.join(BUILD, "bench", "count")
LATENCY = os.path.join(BUILD, "bench", "latency")
LAT_PRODUCER_X = [x for kv in env_str("LAT_PRODUCER_X", "").split() for x in ("-X", kv)]
SHIPPED_CONF = os.path.join(ROOT, "config", "worker.conf")

children = []  # Popen objects we started (only these are ever signalled)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- Redis (RESP, stdlib only)


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"bad RESP reply {line!r}")

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def cmd(self, *args):
        self.sock.sendall(self._encode(args))
        return self._reply()

    def pipeline(self, cmds):
        self.sock.sendall(b"".join(self._encode(c) for c in cmds))
        return [self._reply() for _ in cmds]

    def info(self, section):
        text = self.cmd("INFO", section).decode()
        out = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def delete_prefix(self, prefix):
        """UNLINK every key starting with prefix + ':'. @returns the number deleted."""
        cursor, deleted = b"0", 0
        while True:
            cursor, keys = self.cmd("SCAN", cursor, "MATCH", prefix + ":*", "COUNT", 20000)
            for i in range(0, len(keys), 5000):
                deleted += self.cmd("UNLINK", *keys[i:i + 5000])
            if cursor == b"0":
                return deleted


# ---------------------------------------------------------------- Prometheus text


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def metric_sum(samples, name, **match):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) in (w if isinstance(w, tuple) else (w,))
                                    for k, w in match.items()))


def finished(samples):
    """Events with a final outcome (a `retry` outcome is a run, not an end)."""
    return int(metric_sum(samples, "evfleet_events_processed_total",
                          outcome=("ok", "duplicate", "dlq")))


def histogram(samples, name):
    """{le: cumulative count} (le as float, +Inf as inf), plus _sum and _count."""
    buckets = {}
    for n, l, v in samples:
        if n == name + "_bucket":
            le = float("inf") if l.get("le") == "+Inf" else float(l["le"])
            buckets[le] = buckets.get(le, 0) + v
    return {"buckets": buckets, "sum": metric_sum(samples, name + "_sum"),
            "count": metric_sum(samples, name + "_count")}


def hist_delta(h1, h0):
    return {"buckets": {le: c - h0["buckets"].get(le, 0) for le, c in h1["buckets"].items()},
            "sum": h1["sum"] - h0["sum"], "count": h1["count"] - h0["count"]}


def hist_quantile(h, q):
    """Prometheus' histogram_quantile: linear interpolation inside the bucket (seconds)."""
    bounds = sorted(h["buckets"])
    if not bounds:
        return None
    total = h["buckets"][bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in bounds:
        c = h["buckets"][le]
        if c >= rank:
            if le == float("inf"):
                return prev_le  # beyond the last finite bound: report that bound
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


# ---------------------------------------------------------------- processes


def proc_stats(pid):
    """Peak RSS (VmHWM, kB), current RSS and CPU seconds (user, system) of a live process."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        out["utime_s"] = int(fields[11]) / tck
        out["stime_s"] = int(fields[12]) / tck
    except OSError:
        pass
    return out


def kafka_pid():
    """The local broker's pid from deploy/local's state (None if unknown)."""
    state = os.environ.get("STATE_DIR") or os.path.join(ROOT, "deploy", "local", ".state")
    try:
        with open(os.path.join(state, f"kafka-{KAFKA_PORT}", "kafka.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Usage:
    """CPU seconds of the broker and of Redis, and Redis' per-command counts, between two points:
    on two cores they compete with the worker, so they are part of where the time goes."""

    def __init__(self, redis, worker_pid):
        self.redis = redis
        self.kpid = kafka_pid()
        self.wpid = worker_pid
        self.t0 = self._take()

    @staticmethod
    def _system_busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

    def _take(self):
        cpu = self.redis.info("cpu")
        wk = proc_stats(self.wpid)
        me = os.times()
        k = proc_stats(self.kpid) if self.kpid else {}
        cmds = {}
        for name, v in self.redis.info("commandstats").items():
            f = dict(x.split("=") for x in v.split(","))
            cmds[name.replace("cmdstat_", "")] = (int(f["calls"]), float(f["usec"]))
        mem = int(self.redis.info("memory")["used_memory"])
        return {"t": time.monotonic(), "busy": self._system_busy(),
                "worker_cpu": wk.get("utime_s", 0) + wk.get("stime_s", 0),
                "self_cpu": me.user + me.system + me.children_user + me.children_system,
                "redis_cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
                "kafka_cpu": k.get("utime_s", 0) + k.get("stime_s", 0) if k else None,
                "cmds": cmds, "mem": mem}

    def per_event(self, n):
        t1 = self._take()
        t0 = self.t0
        out = {"redis_cpu_us_per_event": (t1["redis_cpu"] - t0["redis_cpu"]) / n * 1e6,
               "redis_bytes_per_event": (t1["mem"] - t0["mem"]) / n}
        d = lambda f: t1[f] - t0[f]  # noqa: E731
        if t0["kafka_cpu"] is not None and t1["kafka_cpu"] is not None:
            out["kafka_cpu_us_per_event"] = d("kafka_cpu") / n * 1e6
        known = d("worker_cpu") + d("redis_cpu") + d("self_cpu") + \
            (d("kafka_cpu") if t0["kafka_cpu"] is not None and t1["kafka_cpu"] is not None else 0)
        out["other_cores"] = max(0.0, d("busy") - known) / d("t") if d("t") > 0 else 0
        calls = {}
        for name, (c, us) in t1["cmds"].items():
            c0, us0 = t0["cmds"].get(name, (0, 0.0))
            if c - c0 > 0:
                calls[name] = {"per_event": (c - c0) / n, "usec_per_event": (us - us0) / n}
        out["redis_commands"] = calls
        # Redis counts the commands a script runs under their own names too: all of them here,
        # and the script calls (what the worker sends) apart
        out["redis_calls_per_event"] = sum(v["per_event"] for v in calls.values())
        out["redis_scripts_per_event"] = sum(calls.get(k, {}).get("per_event", 0)
                                             for k in ("evalsha", "eval"))
        return out


def clean_env():
    """The environment without EVFLEET_* (a stray variable must not change what is measured)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EVFLEET_")}


def run_tool(args, timeout=300, check=True):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=clean_env(), text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p


def iso_ms(ts):
    """Epoch seconds of a log line's "ts" (2026-11-27T06:11:36.683Z)."""
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


class Worker:
    """One evfleet-worker process: spawn, endpoints, log facts, stop."""

    def __init__(self, name, args):
        os.makedirs(LOG_DIR, exist_ok=True)
        self.name = name
        self.log_path = os.path.join(LOG_DIR, name + ".log")
        self.logf = open(self.log_path, "wb")
        self.t_spawn = time.monotonic()
        self.wall_spawn = time.time()
        self.proc = subprocess.Popen([WORKER] + args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=clean_env(), cwd=ROOT)
        children.append(self.proc)
        self.port = None
        self.conn = None
        self.exit_ms = None

    def log_lines(self):
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    continue
        return out

    def wait_port(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_lines():
                m = re.search(r"http on port (\d+)", line.get("msg", ""))
                if m:
                    self.port = int(m.group(1))
                    return self.port
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited {self.proc.returncode} at start "
                                   f"(log: {self.log_path})")
            time.sleep(0.005)
        raise RuntimeError(f"worker {self.name}: no HTTP port within {timeout}s "
                           f"(log: {self.log_path})")

    def get(self, path):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                return r.status, r.read().decode()
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if self.proc.poll() is not None or attempt == 2:
                    raise
                time.sleep(0.01)
        raise RuntimeError("unreachable")

    def metrics(self):
        return parse_metrics(self.get("/metrics")[1])

    def status(self):
        try:
            return json.loads(self.get("/status")[1])
        except ValueError:
            return {}

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get("/readyz")[0] == 200:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited {self.proc.returncode}")
            time.sleep(0.01)
        raise RuntimeError(f"worker {self.name} not ready within {timeout}s: "
                           f"{self.get('/readyz')[1].strip()}")

    def first_assigned_wall(self):
        for line in self.log_lines():
            if re.match(r"assigned \d+ partition", line.get("msg", "")):
                return iso_ms(line["ts"])
        return None

    def stop(self, timeout=30):
        """SIGTERM, then wait: @returns ms from the signal to the exit."""
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.proc.poll() is not None:
            return None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            self.exit_ms = (time.monotonic() - t0) * 1000
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exit_ms = None
        self.logf.close()
        return self.exit_ms

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def worker_args(group, prefix, topic, extra, conf_file=None):
    args = ["-c", conf_file] if conf_file else []
    for kv in [f"kafka.bootstrap.servers={BROKERS}",
               f"redis.url=redis://127.0.0.1:{REDIS_PORT}/0",
               f"topics={topic}",
               f"topics.partitions={PARTITIONS}",
               f"kafka.group.id={group}",
               f"idempotency.key.prefix={prefix}",
               "http.listen=127.0.0.1:0",
               "log.format=json"] + extra + WORKER_X:
        args += ["-X", kv]
    return args


def cleanup_after(group, prefix, redis):
    """Remove what one worker run left: its consumer group, its retry/dlq/replay topics and its
    Redis keys. @returns the number of Redis keys deleted."""
    run_tool([COUNT, "-b", BROKERS, "--delete-groups", group], check=False, timeout=60)
    run_tool([COUNT, "-b", BROKERS, "--delete-prefix", f"{TOPIC}.{group}"], check=False,
             timeout=60)
    return redis.delete_prefix(prefix) if prefix else 0


# ---------------------------------------------------------------- measurements


def measure_count(rep):
    p = run_tool([COUNT, "-b", BROKERS, "--expect", str(N), "--timeout-ms", "300000", TOPIC])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    if r["messages"] < N:
        raise RuntimeError(f"count read {r['messages']} of {N}")
    return {"rate": r["rate"], "seconds": r["seconds"], "start_to_first_ms": r["start_to_first_ms"],
            "cpu_s": r["cpu_user_s"] + r["cpu_sys_s"], "bytes": r["bytes"]}


def measure_kcat(rep):
    """kcat reads every partition to its end; the rate runs from its first output to its exit."""
    t0 = time.monotonic()
    p = subprocess.Popen(["kcat", "-C", "-b", BROKERS, "-t", TOPIC, "-o", "beginning", "-e", "-q",
                          "-f", "%o\\n"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=clean_env())
    children.append(p)
    fd = p.stdout.fileno()
    lines = first_lines = 0
    t_first = None
    while True:
        if not select.select([fd], [], [], STALL_S)[0]:
            p.kill()
            p.wait()
            raise RuntimeError(f"kcat: no output for {STALL_S}s after {lines} message(s)")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        if t_first is None:
            t_first = time.monotonic()
            first_lines = lines
    t_end = time.monotonic()
    p.wait()
    err = p.stderr.read().decode()
    if p.returncode != 0 or lines < N:
        raise RuntimeError(f"kcat exited {p.returncode} after {lines} of {N} messages: {err[-500:]}")
    secs = t_end - t_first
    return {"rate": (lines - first_lines) / secs if secs > 0 else 0, "seconds": secs,
            "start_to_first_ms": (t_first - t0) * 1000, "process_seconds": t_end - t0}


def measure_worker(label, rep, extra, conf_file=None, redis=None):
    """One worker over the N preloaded events with a fresh group; see the module comment."""
    group = f"bench-{RUN_ID}-{label}-{rep}"
    prefix = f"evfbench-{RUN_ID}-{label}-{rep}"
    w = Worker(f"{label}-{rep}", worker_args(group, prefix, TOPIC, extra, conf_file))
    res = {"group": group, "log": os.path.relpath(w.log_path, ROOT)}
    try:
        w.wait_port()
        usage = Usage(redis, w.proc.pid)
        deadline_first = time.monotonic() + 120
        done = 0
        while done == 0:
            if time.monotonic() > deadline_first:
                raise RuntimeError(f"{label}: no event processed within 120s (log: {w.log_path})")
            time.sleep(0.005)
            done = finished(w.metrics())
        t_first, wall_first, p_first = time.monotonic(), time.time(), done
        t_prev, p_prev, t_moved, now = t_first, p_first, t_first, t_first
        series, t_sample = [], 0.0  # (seconds, finished, RSS MB) about once a second: a leak shows
        while done < N:
            time.sleep(POLL_S)
            now = time.monotonic()
            done = finished(w.metrics())
            if now - t_sample >= 1.0:
                t_sample = now
                series.append((round(now - t_first, 2), done,
                               round(proc_stats(w.proc.pid).get("VmRSS", 0) / 1024, 1)))
            if done < N:
                if done != p_prev:
                    t_moved = now
                elif now - t_moved > STALL_S:
                    raise RuntimeError(f"{label}: stuck at {done} of {N} for {STALL_S}s "
                                       f"(log: {w.log_path})")
                t_prev, p_prev = now, done
        # the N-th event finished between the last two polls: interpolate
        t_n = t_prev + (now - t_prev) * (N - p_prev) / max(1, done - p_prev)
        st = proc_stats(w.proc.pid)
        samples = w.metrics()
        status = w.status()
        used = usage.per_event(N)
        secs = t_n - t_first
        cpu = st.get("utime_s", 0) + st.get("stime_s", 0)
        res.update({
            "rate": (N - p_first) / secs if secs > 0 else 0,
            "seconds": secs,
            "finished": finished(samples),
            "outcomes": {o: int(metric_sum(samples, "evfleet_events_processed_total", outcome=o))
                         for o in ("ok", "duplicate", "retry", "dlq")},
            "retries": int(metric_sum(samples, "evfleet_retries_total")),
            "rss_peak_mb": st.get("VmHWM", 0) / 1024,
            "rss_end_mb": st.get("VmRSS", 0) / 1024,
            "cpu_s": cpu,
            "cpu_user_s": st.get("utime_s"),
            "cpu_sys_s": st.get("stime_s"),
            "cpu_us_per_event": cpu / N * 1e6,
            **used,
            "rss_series": series,
        })
        if len(series) >= 4:  # RSS growth over the second half of the run, per 100k events
            a, b = series[len(series) // 2], series[-1]
            if b[1] > a[1]:
                res["rss_growth_mb_per_100k"] = (b[2] - a[2]) / (b[1] - a[1]) * 1e5
        first_ms = status.get("first_processed_ms")  # if the worker exposes it, it is exact
        wall_first_exact = first_ms / 1000 if isinstance(first_ms, (int, float)) and first_ms else None
        res["start_to_first_ms"] = ((wall_first_exact or wall_first) - w.wall_spawn) * 1000
        res["start_to_first_source"] = "status.first_processed_ms" if wall_first_exact else \
            "/metrics polled every 5 ms"
        assigned = w.first_assigned_wall()
        if assigned:
            res["start_to_join_ms"] = (assigned - w.wall_spawn) * 1000
            res["join_to_first_ms"] = ((wall_first_exact or wall_first) - assigned) * 1000
        time.sleep(IDLE_BEFORE_TERM_S)
        res["sigterm_exit_ms"] = w.stop()
        res["exit_code"] = w.proc.returncode
    except BaseException:
        w.kill()
        raise
    finally:
        if w.proc.poll() is None:
            w.kill()
        res["redis_keys_deleted"] = cleanup_after(group, prefix, redis)
    return res


def measure_latency(rate, rep, redis):
    """A worker (noop, idempotency on) on a fresh topic while evfleet-produce sends at `rate`."""
    label = f"lat{rate}"
    topic = f"{TOPIC}.{label}.{rep}"
    group = f"bench-{RUN_ID}-{label}-{rep}"
    prefix = f"evfbench-{RUN_ID}-{label}-{rep}"
    count = rate * LAT_SECONDS
    warmup = min(2.0, LAT_SECONDS / 5)
    w = Worker(f"{label}-{rep}", worker_args(group, prefix, topic,
                                             ["route.*=noop", "idempotency.enabled=true"]))
    res = {"group": group, "rate_asked": rate, "events": count, "warmup_s": warmup,
           "log": os.path.relpath(w.log_path, ROOT)}
    prod = None
    try:
        w.wait_port()
        w.wait_ready()
        res["rss_ready_mb"] = proc_stats(w.proc.pid).get("VmRSS", 0) / 1024
        helper = None
        if os.access(LATENCY, os.X_OK):  # Kafka's share: the same events read by a bare consumer
            helper = subprocess.Popen([LATENCY, "-b", BROKERS, "--expect", str(count),
                                       "--warmup-ms", str(int(warmup * 1000)),
                                       "--timeout-ms", str((LAT_SECONDS * 3 + 120) * 1000), topic],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=clean_env())
            children.append(helper)
        t0 = time.monotonic()
        prod = subprocess.Popen([PRODUCE, "-b", BROKERS, "-t", topic, *LAT_PRODUCER_X, "bench", "--rate", str(rate),
                                 "--count", str(count), "--seed", str(1000 + rep)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env())
        children.append(prod)
        time.sleep(warmup)
        h0 = histogram(w.metrics(), "evfleet_event_latency_seconds")
        st0 = proc_stats(w.proc.pid)
        _, perr = prod.communicate(timeout=LAT_SECONDS * 3 + 60)
        t_prod = time.monotonic() - t0
        if prod.returncode != 0:
            raise RuntimeError(f"producer exited {prod.returncode}: {perr.decode()[-500:]}")
        deadline = time.monotonic() + 60
        while True:
            samples = w.metrics()
            if finished(samples) >= count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: {finished(samples)} of {count} processed 60s after "
                                   f"the producer ended (log: {w.log_path})")
            time.sleep(0.05)
        st1 = proc_stats(w.proc.pid)
        if helper:
            hout, herr = helper.communicate(timeout=120)
            try:
                k = json.loads(hout.decode().strip().splitlines()[-1])
                res.update({"kafka_p50_ms": k["p50_ms"], "kafka_p99_ms": k["p99_ms"],
                            "kafka_p999_ms": k["p999_ms"], "kafka_max_ms": k["max_ms"]})
            except (ValueError, IndexError, KeyError):
                log(f"  latency helper failed: {herr.decode().strip()[-300:]}")
        h = hist_delta(histogram(samples, "evfleet_event_latency_seconds"), h0)
        if h["count"] <= 0:
            raise RuntimeError(f"{label}: the worker has no evfleet_event_latency_seconds")
        cpu = (st1["utime_s"] + st1["stime_s"]) - (st0["utime_s"] + st0["stime_s"])
        res.update({
            "rate_achieved": count / t_prod,
            "observed": h["count"],
            "p50_ms": hist_quantile(h, 0.5) * 1000,
            "p99_ms": hist_quantile(h, 0.99) * 1000,
            "p999_ms": hist_quantile(h, 0.999) * 1000,
            "mean_ms": h["sum"] / h["count"] * 1000,
            "buckets": {("+Inf" if le == float("inf") else repr(le)): c
                        for le, c in sorted(h["buckets"].items())},
            "cpu_us_per_event": cpu / h["count"] * 1e6,
            "rss_peak_mb": st1.get("VmHWM", 0) / 1024,
        })
        time.sleep(IDLE_BEFORE_TERM_S)
        res["sigterm_exit_ms"] = w.stop()
        res["exit_code"] = w.proc.returncode
    except BaseException:
        w.kill()
        if prod and prod.poll() is None:
            prod.kill()
            prod.wait()
        raise
    finally:
        if w.proc.poll() is None:
            w.kill()
        res["redis_keys_deleted"] = cleanup_after(group, prefix, redis)
        run_tool([COUNT, "-b", BROKERS, "--delete-prefix", topic], check=False, timeout=60)
    return res


# ---------------------------------------------------------------- summary


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    med = statistics.median(values)
    return {"median": med, "min": min(values), "max": max(values), "n": len(values),
            "spread_pct": (max(values) - min(values)) / med * 100 if med else 0.0,
            "values": values}


def fmt_rate(v):
    return f"{v:,.0f}"


def machine_info():
    info = {"nproc": os.cpu_count(), "loadavg_start": os.getloadavg()}
    try:
        info["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                     capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        info["kcat"] = subprocess.run(["kcat", "-V"], capture_output=True,
                                      text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    return info


MEASUREMENTS = [
    # key, title, kind, worker extra settings, config file
    ("count", "(1) ceiling: tests/bench/count (librdkafka)", "ceiling", None, None),
    ("kcat", "(1) ceiling: kcat -C -e -q", "ceiling", None, None),
    ("noop_off", "(2) worker noop, idempotency off", "worker",
     ["route.*=noop", "idempotency.enabled=false"], None),
    ("noop_on", "(3) worker noop, idempotency on", "worker",
     ["route.*=noop", "idempotency.enabled=true"], None),
    ("chaos_retry", "(4) idempotency on, 1% fail once", "worker",
     ["route.*=chaos", "idempotency.enabled=true", "processor.chaos.fail.rate=0.01",
      "processor.chaos.fail.attempts=1", "processor.chaos.fail.kind=transient",
      f"retry.backoff.initial.ms={CHAOS_BACKOFF_MS}"], None),
    ("builtins", "(5) built-ins, shipped config", "worker",
     [f"processor.iot_rollup.alerts.topic={TOPIC}.alerts"], SHIPPED_CONF),
]
TARGETS = {"noop_off": 0.8, "noop_on": 0.5, "chaos_retry": 0.4}


def main():
    for path in (WORKER, PRODUCE, COUNT, LATENCY):
        if not os.access(path, os.X_OK):
            log(f"{path} is missing: build with `make all tests` (make bench does)")
            return 1
    have_kcat = subprocess.run(["sh", "-c", "command -v kcat"], capture_output=True).returncode == 0
    redis = Redis(REDIS_PORT)
    out = {"meta": {"run_id": RUN_ID, "started": datetime.datetime.now().isoformat(),
                    "quick": QUICK, "n": N, "partitions": PARTITIONS, "reps": REPS,
                    "kafka": BROKERS, "redis": f"127.0.0.1:{REDIS_PORT}", "topic": TOPIC,
                    "latency_rates": LAT_RATES, "latency_seconds": LAT_SECONDS,
                    "chaos_backoff_ms": CHAOS_BACKOFF_MS, "only": ONLY, "worker_x": WORKER_X, "log_dir": os.path.relpath(LOG_DIR, ROOT),
                    **machine_info()},
           "runs": {}, "summary": {}, "errors": []}
    t_all = time.monotonic()
    try:
        log(f"preloading {N:,} events over {PARTITIONS} partitions into {TOPIC}")
        t0 = time.monotonic()
        p = run_tool([PRODUCE, "-b", BROKERS, "-t", TOPIC, "-X", f"topics.partitions={PARTITIONS}",
                      "bench", "--count", str(N), "--seed", "10"], timeout=1800)
        out["meta"]["preload_seconds"] = time.monotonic() - t0
        out["meta"]["preload_summary"] = p.stderr.strip().splitlines()[-1] if p.stderr else ""
        log(out["meta"]["preload_summary"])

        for rep in range(1, max(REPS, CEIL_REPS) + 1):
            for key, title, kind, extra, conf in MEASUREMENTS:
                if (key == "kcat" and not have_kcat) or (ONLY and key not in ONLY):
                    continue
                if rep > (CEIL_REPS if kind == "ceiling" else REPS):
                    continue
                log(f"run {rep}/{CEIL_REPS if kind == 'ceiling' else REPS}: {title}")
                try:
                    if key == "count":
                        r = measure_count(rep)
                    elif key == "kcat":
                        r = measure_kcat(rep)
                    else:
                        r = measure_worker(key, rep, extra, conf, redis)
                    log(f"  {fmt_rate(r['rate'])} events/s" +
                        (f", peak RSS {r['rss_peak_mb']:.1f} MB, {r['cpu_us_per_event']:.1f} us CPU/event,"
                         f" Redis {r['redis_scripts_per_event']:.2f} scripts + {r['redis_calls_per_event']:.2f} cmds,"
                         f" {r['redis_cpu_us_per_event']:.1f} us CPU/event"
                         if kind == "worker" else ""))
                except Exception as e:  # one failed measurement must not lose the others
                    log(f"  FAILED: {e}")
                    out["errors"].append(f"{key} rep {rep}: {e}")
                    r = {"error": str(e)}
                out["runs"].setdefault(key, []).append(r)
            for rate in LAT_RATES:
                key = f"latency_{rate}"
                if (ONLY and "latency" not in ONLY and key not in ONLY) or rep > REPS:
                    continue
                log(f"run {rep}/{REPS}: (6) latency at {rate:,} events/s for {LAT_SECONDS}s")
                try:
                    r = measure_latency(rate, rep, redis)
                    log(f"  p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                        f"p99.9 {r['p999_ms']:.2f} ms (achieved {fmt_rate(r['rate_achieved'])}/s)"
                        + (f"; Kafka alone p50 {r['kafka_p50_ms']} ms, p99 {r['kafka_p99_ms']} ms, "
                           f"p99.9 {r['kafka_p999_ms']} ms" if "kafka_p50_ms" in r else ""))
                except Exception as e:
                    log(f"  FAILED: {e}")
                    out["errors"].append(f"{key} rep {rep}: {e}")
                    r = {"error": str(e)}
                out["runs"].setdefault(key, []).append(r)
    except KeyboardInterrupt:
        out["errors"].append("interrupted")
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
        res = run_tool([COUNT, "-b", BROKERS, "--delete-prefix", TOPIC], check=False, timeout=60)
        if res.returncode != 0:
            log(f"could not delete the benchmark's topics ({TOPIC}*): {res.stderr.strip()}")
    out["meta"]["seconds_total"] = time.monotonic() - t_all
    out["meta"]["loadavg_end"] = os.getloadavg()
    report(out)
    os.makedirs(os.path.dirname(os.path.abspath(RESULTS)), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"\nresults: {os.path.relpath(RESULTS, ROOT) if RESULTS.startswith(ROOT) else RESULTS}"
          f"   worker logs: {out['meta']['log_dir']}   total {out['meta']['seconds_total']:.0f}s")
    return 1 if out["errors"] else 0


def report(out):
    runs, summ, m = out["runs"], out["summary"], out["meta"]
    ok = lambda key: [r for r in runs.get(key, []) if "error" not in r]  # noqa: E731
    for key in runs:
        good = ok(key)
        if good:
            summ[key] = {f: summary([r.get(f) for r in good]) for f, v in good[0].items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)}
    med = lambda key, f: ((summ.get(key) or {}).get(f) or {}).get("median")  # noqa: E731
    ceil_key = max(("count", "kcat"), key=lambda k: med(k, "rate") or 0)
    ceiling = med(ceil_key, "rate")
    summ["ceiling"] = {"from": ceil_key, "rate": ceiling}
    f0 = lambda v: f"{v:,.0f}"  # noqa: E731
    f1 = lambda v: f"{v:.1f}"  # noqa: E731
    f2 = lambda v: f"{v:.2f}"  # noqa: E731

    print()
    print(f"evfleet benchmark: {m['n']:,} events over {m['partitions']} partitions, {m['reps']} "
          f"run(s) each{' (QUICK)' if m['quick'] else ''}; Kafka {m['kafka']}, Redis {m['redis']}; "
          f"{m['nproc']} cores, load average {m['loadavg_start'][0]:.2f} at start, "
          f"{m['loadavg_end'][0]:.2f} at end; {m.get('git', '')}")
    print()
    hdr = (f"{'throughput (events/s)':<40} {'median':>10} {'min … max':>21} {'spread':>7} "
           f"{'× ceil':>7}  target")
    print(hdr)
    print("-" * (len(hdr) + 12))

    def row(title, s, unit="", ratio=None, target="", fmt=f0):
        if not s:
            print(f"{title:<40} {'not measured':>10}")
            return
        rng = f"{fmt(s['min'])} … {fmt(s['max'])}"
        rt = f"{ratio:.3f}" if ratio is not None else ""
        print(f"{title:<40} {fmt(s['median']) + unit:>10} {rng:>21} {s['spread_pct']:>6.1f}% "
              f"{rt:>7}  {target}")

    for key, title, kind, _, _ in MEASUREMENTS:
        s = (summ.get(key) or {}).get("rate")
        ratio = s["median"] / ceiling if s and ceiling else None
        target = "the ceiling" if key == ceil_key else ""
        if key in TARGETS:
            t = TARGETS[key]
            target = f"≥ {t:.1f}× " + ("met" if ratio is not None and ratio >= t else "MISSED")
        row(title, s, "", ratio, target)
    print()
    hdr = f"{'end-to-end latency (ms)':<40} {'median':>10} {'min … max':>21} {'spread':>7}"
    print(hdr)
    print("-" * (len(hdr) + 22))
    if not m["latency_rates"]:
        print("(6) latency: not measured")
    for rate in m["latency_rates"]:
        s = summ.get(f"latency_{rate}") or {}
        for q, name in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
            target = ""
            if rate == 5000 and q == "p99_ms" and s.get(q):
                target = "         ≤ 10 ms " + ("met" if s[q]["median"] <= 10 else "MISSED")
            row(f"(6) {rate:,}/s, idempotency on, {name}", s.get(q), "", None, target, f2)
        for q, name in (("kafka_p50_ms", "p50"), ("kafka_p99_ms", "p99"), ("kafka_p999_ms", "p99.9")):
            if s.get(q):
                row(f"    {rate:,}/s, Kafka alone, {name}", s.get(q), "", None, "", f2)
    print()
    print("per worker run (medians)        peak RSS  worker CPU  Redis CPU  broker CPU   2-core   "
          "Redis cmds  others")
    print("                                    (MB)   (µs/event) (µs/event) (µs/event)  bound ev/s "
          "(scripts)   (cores)")
    print("-" * 110)
    for key, title, kind, _, _ in MEASUREMENTS:
        if kind != "worker" or not summ.get(key):
            continue
        w, r, k = med(key, "cpu_us_per_event"), med(key, "redis_cpu_us_per_event"), \
            med(key, "kafka_cpu_us_per_event")
        total = (w or 0) + (r or 0) + (k or 0)
        bound = 2e6 / total if total else None
        cmds = f"{med(key, 'redis_calls_per_event') or 0:.1f} ({med(key, 'redis_scripts_per_event') or 0:.2f})"
        print(f"{title[:31]:<31} {f1(med(key, 'rss_peak_mb') or 0):>8} {f1(w or 0):>11} "
              f"{f1(r or 0):>10} {f1(k) if k is not None else '?':>10} "
              f"{f0(bound) if bound else '?':>10}  {cmds:>11} {f2(med(key, 'other_cores') or 0):>7}")
    print("  (2-core bound: what the three CPU costs allow if both cores did nothing else; "
          "others: cores busy with\n   anything else during the run, this harness excluded)")
    print()
    worker_keys = [k for k, _, kind, _, _ in MEASUREMENTS if kind == "worker"]
    pool = lambda f: summary([r.get(f) for k in worker_keys for r in ok(k)])  # noqa: E731
    life = {"start_to_join_ms": pool("start_to_join_ms"),
            "start_to_first_ms": pool("start_to_first_ms"),
            "join_to_first_ms": pool("join_to_first_ms"),
            "sigterm_exit_ms": summary([r.get("sigterm_exit_ms") for k in runs for r in ok(k)])}
    summ["lifecycle"] = life
    rss = (summ.get("builtins") or {}).get("rss_peak_mb")
    hdr = f"{'resources and lifecycle':<40} {'median':>10} {'min … max':>21} {'spread':>7}"
    print(hdr)
    print("-" * (len(hdr) + 22))
    row("(7) peak RSS, shipped config (5)", rss, " MB", None,
        "         ≤ 50 MB " + ("met" if rss["max"] <= 50 else "MISSED") if rss else "", f1)
    row("(7) start → group joined", life["start_to_join_ms"], "", None, "", f0)
    row("(7) start → first event processed", life["start_to_first_ms"], "", None, "", f0)
    j2f = life["join_to_first_ms"]
    row("(7) joined → first event processed", j2f, "", None,
        "         ≤ 300 ms " + ("met" if j2f["max"] <= 300 else "MISSED") if j2f else "", f0)
    ex = life["sigterm_exit_ms"]
    row("(7) SIGTERM → exit, idle worker", ex, "", None,
        "         ≤ 1 s " + ("met" if ex["max"] <= 1000 else "MISSED") if ex else "", f0)
    print("  (ms; over every worker run; target checks use the worst run)")
    print()
    print(f"ceiling = the faster of (1): {ceil_key}, {f0(ceiling) if ceiling else '?'} events/s. "
          "Worker throughput runs from the first finished event to the N-th: group join excluded.")
    if out["errors"]:
        print("\nerrors:")
        for e in out["errors"]:
            print(f"  {e}")


if __name__ == "__main__":
    sys.exit(main())

"""A registry on a PostgreSQL server is the same API, shared: managers of other processes see
every write, a context another process cleared gives a fresh registry object (the old one
raises ContextClearedError), a read-only connection creates and writes nothing, server
failures are ServerError, a password never shows in a path, and threads sharing a manager
(which keeps a pool of connections) each get every write through, and what a URL leaves out
comes from libpq's environment variables.

The tests start a throw-away cluster (initdb as the `postgres` user when run as root, a Unix
socket in a temporary directory, no TCP), or use $PIPELINE_DEPS_TEST_PG. Without PostgreSQL
they are skipped, unless PIPELINE_DEPS_REQUIRE_PG=1 (set by .ci/run) makes that a failure."""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import IO, Iterator, List

import pytest

import pipeline_deps as pd
from conftest import run_python


def spec(step_type: str) -> pd.StepSpecification:
    return pd.StepSpecification(
        step_type,
        pd.NodeType.SOURCE,
        outputs=[pd.OutputSpec("out", "processing_output", "properties.Out")],
    )


class Server:
    """A cluster these tests started (or an external server): fresh databases on demand."""

    def __init__(self, url: str, psql: List[str]) -> None:
        self.url = url  # of the maintenance database `postgres`
        self.psql = psql
        self.counter = itertools.count()

    def database(self, name: str) -> str:
        database = f"pd_py_{name}_{os.getpid()}_{next(self.counter)}"
        subprocess.run(
            [*self.psql, "-d", self.url, "-qc", f'CREATE DATABASE "{database}"'],
            check=True,
            capture_output=True,
        )
        base, _, query = self.url.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


def _unavailable(reason: str) -> None:
    if os.environ.get("PIPELINE_DEPS_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required (PIPELINE_DEPS_REQUIRE_PG=1): {reason}")
    pytest.skip(f"no PostgreSQL: {reason}")


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    external = os.environ.get("PIPELINE_DEPS_TEST_PG")
    if external:
        psql = shutil.which("psql") or (binaries and f"{binaries[-1]}/psql")
        if not psql:
            _unavailable("psql not found")
        yield Server(external, [str(psql)])
        return
    if not binaries:
        _unavailable("no /usr/lib/postgresql/*/bin/initdb")
    bin_dir = Path(binaries[-1])
    as_postgres = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []
    directory = Path(tempfile.mkdtemp(prefix="pd-py-pg-"))
    if as_postgres:
        shutil.chown(directory, "postgres")
    data = directory / "data"

    def run(program: str, *args: str) -> None:
        subprocess.run([*prefix, str(bin_dir / program), *args], check=True, capture_output=True)

    try:
        run("initdb", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D", str(data))
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = ''\nunix_socket_directories = '{directory}'\n"
                "port = 5432\nfsync = off\nfull_page_writes = off\n"
            )
        run("pg_ctl", "start", "-w", "-D", str(data), "-l", str(directory / "server.log"))
    except (subprocess.CalledProcessError, OSError) as e:
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable(f"could not start a cluster: {e}")
    host = urllib.parse.quote(str(directory), safe="")
    try:
        yield Server(f"postgres://postgres@{host}:5432/postgres", [str(bin_dir / "psql")])
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(data)],
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


def test_managers_of_one_server_share_every_write(server: Server) -> None:
    url = server.database("share")
    with pd.RegistryManager(url) as a, pd.RegistryManager(url) as b:
        assert a.path.startswith("postgres://")
        a.get_registry("training").register("load", spec("DataLoad"))
        b.get_registry("inference").register("serve", spec("Serve"))
        for manager in (a, b):
            assert manager.list_contexts() == ["training", "inference"]
            assert manager.get_context_stats()["training"]["step_count"] == 1
        loaded = b.get_registry("training").get_specification("load")
        assert loaded is not None and loaded.step_type == "DataLoad"


def test_threads_sharing_a_manager_each_get_every_write_through(server: Server) -> None:
    # Calls release the GIL and the manager keeps a pool of connections, so these run on
    # the server at once; every write must arrive, once, in its own context.
    url = server.database("threads")
    with pd.RegistryManager(url) as manager:
        def work(thread: int) -> None:
            registry = manager.get_registry(f"ctx{thread}")
            for i in range(25):
                registry.register(f"s{i}", spec(f"T{i % 3}"))
                assert registry.get_specification(f"s{i}") is not None

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(work, t) for t in range(8)]:
                future.result()
        stats = manager.get_context_stats()
        assert sorted(stats) == sorted(f"ctx{t}" for t in range(8))
        for t in range(8):
            registry = manager.get_registry(f"ctx{t}")
            assert registry.list_step_names() == [f"s{i}" for i in range(25)]
            assert stats[f"ctx{t}"]["step_count"] == 25


def test_a_context_cleared_by_another_process_gives_a_fresh_registry(server: Server) -> None:
    url = server.database("cleared")
    with pd.RegistryManager(url) as a, pd.RegistryManager(url) as b:
        old = a.get_registry("ml")
        old.register("load", spec("DataLoad"))
        assert a.get_registry("ml") is old
        assert b.clear_context("ml")
        with pytest.raises(pd.ContextClearedError):
            old.register("train", spec("Train"))
        fresh = a.get_registry("ml")
        assert fresh is not old
        assert list(fresh) == []
        fresh.register("train", spec("Train"))
        assert a.get_registry("ml") is fresh
        assert b.get_registry("ml").list_step_names() == ["train"]


def test_a_read_only_connection_creates_and_writes_nothing(server: Server) -> None:
    url = server.database("read_only")
    with pytest.raises(pd.CorruptedError, match="holds no registry"):
        pd.RegistryManager(url, read_only=True)
    with pd.RegistryManager(url) as writer:
        writer.get_registry("ml").register("load", spec("DataLoad"))
        assert not writer.read_only
        with pd.RegistryManager(url, read_only=True) as inspector:
            assert inspector.read_only
            seen = inspector.get_registry("ml")
            assert seen.list_step_names() == ["load"]
            with pytest.raises(pd.Error, match="read-only"):
                seen.register("train", spec("Train"))
            with pytest.raises(pd.Error, match="read-only"):
                inspector.clear_context("ml")
            writer.get_registry("ml").register("train", spec("Train"))
            assert seen.list_step_names() == ["load", "train"]


def test_an_unreachable_server_is_a_server_error() -> None:
    with pytest.raises(pd.ServerError, match="could not connect"):
        pd.RegistryManager("postgresql://127.0.0.1:1/nowhere?connect_timeout=5")


def test_a_password_never_shows_in_the_path(server: Server) -> None:
    url = server.database("password").replace("postgres://postgres@", "postgres://postgres:s3cret@")
    # URL schemes have no case: an upper-case one is a server too, never a file name.
    for given in (url, url.replace("postgres://", "POSTGRES://", 1)):
        with pd.RegistryManager(given) as manager:
            assert manager.path.startswith("postgres://"), manager.path
            assert "s3cret" not in manager.path
            assert "s3cret" not in repr(manager)
            manager.get_registry("ml")
    assert not os.path.exists("POSTGRES:")


def test_the_module_functions_use_the_server_named_by_the_environment(server: Server) -> None:
    url = server.database("default")
    code = (
        "import pipeline_deps as pd\n"
        "pd.get_registry('ml').register('load', pd.StepSpecification('DataLoad', 'singular'))\n"
        "print(pd.list_contexts())\n"
    )
    assert run_python(code, {"PIPELINE_DEPS_DB": url}).strip() == "['ml']"
    with pd.RegistryManager(url) as manager:
        assert manager.get_registry("ml").list_step_names() == ["load"]


def test_the_default_managers_repr_shows_no_password() -> None:
    code = (
        "import pipeline_deps as pd\n"
        "print(repr(pd.registry_manager))\n"
        "print(pd.default_database_path())\n"
    )
    url = "postgres://ci:s3cret@db.internal:5432/registry?password=other&application_name=x"
    shown, path = run_python(code, {"PIPELINE_DEPS_DB": url}).strip().split("\n")
    assert "s3cret" not in shown and "other" not in shown, shown
    assert "postgres://ci@db.internal:5432/registry?application_name=x" in shown, shown
    # The caller's own setting comes back as it was given.
    assert path == url
    # However the password is written: unencoded URL characters, or the key encoded.
    for url, shown_url in [
        ("postgres://qm:se?cr#et@db:5432/reg", "postgres://qm@db:5432/reg"),
        ("postgres://qm@db/reg?pass%77ord=SEcret", "postgres://qm@db/reg"),
        ("postgres://a:b#SEc@db/reg", "postgres://a@db/reg"),
        ("postgres://qm@db/reg?password%=SEcret", "postgres://qm@db/reg"),
    ]:
        shown = run_python(code, {"PIPELINE_DEPS_DB": url}).strip().split("\n")[0]
        assert "cr#et" not in shown and "SEc" not in shown, shown
        assert shown_url in shown, shown


def test_what_the_url_leaves_out_comes_from_libpqs_variables(server: Server) -> None:
    url = server.database("libpq_env")
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname or "%2F" not in url:
        pytest.skip("needs the cluster these tests started (a socket directory)")
    socket = urllib.parse.unquote(url.split("@", 1)[1].split(":", 1)[0])
    database = parsed.path.lstrip("/")
    code = (
        "import pipeline_deps as pd\n"
        "with pd.RegistryManager('postgres://') as m:\n"
        "    m.get_registry('ml').register('load', pd.StepSpecification('DataLoad', 'singular'))\n"
        "    print(m.list_contexts())\n"
    )
    env = {"PGHOST": socket, "PGPORT": "5432", "PGUSER": "postgres", "PGDATABASE": database}
    assert run_python(code, env).strip() == "['ml']"
    with pd.RegistryManager(url) as manager:
        assert manager.get_registry("ml").list_step_names() == ["load"]
    # A variable the client refuses is invalid input naming it.
    bad = (
        "import pipeline_deps as pd\n"
        "try:\n"
        "    pd.RegistryManager('postgres://')\n"
        "except pd.InvalidInputError as e:\n"
        "    print(e)\n"
    )
    assert "PGSSLMODE" in run_python(bad, {**env, "PGSSLMODE": "sometimes"})


PG_FORK_SCRIPT = """
import os
import pipeline_deps as pd
spec = {{"step_type": "A", "node_type": "singular"}}
m = pd.RegistryManager({url!r})
r = m.get_registry("jobs")
r.register("parent_before", spec)
children = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        # The child opens connections of its own: the parent's, which it inherited, are
        # left alone (closing one would end the parent's session).
        for j in range(20):
            r.register(f"child_{{i}}_{{j}}", spec)
        os._exit(0)
    children.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
r.register("parent_after", spec)
print(codes, len(r), m.get_context_stats()["jobs"]["step_count"], flush=True)
"""


def test_forked_processes_write_through_their_own_connections(server: Server) -> None:
    if not hasattr(os, "fork"):
        return
    out = run_python(PG_FORK_SCRIPT.format(url=server.database("forked")), {})
    assert out.strip() == "[0, 0, 0] 62 62", out


# What the child scripts below start with (formatted with them: ``url``, ``psql``): their
# imports, and a wait until some session of the database waits for a lock.
CHILD_PRELUDE = """
import json, signal, subprocess, sys, threading
import pipeline_deps as pd

def wait_for_a_lock_waiter():
    waiting = ""
    while waiting != "t":
        waiting = subprocess.run(
            {psql!r} + ["-d", {url!r}, "-tAc",
             "SELECT bool_or(wait_event_type = 'Lock') FROM pg_stat_activity"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
"""


# Exports a context while a transaction of another session locks its tables, so that the
# export's read waits on the server; its helper thread sends SIGUSR1, whose handler raises,
# until the export has returned. The first signal stops the export, which cannot see it
# before its read returns; the second comes while the export's thread is waited for.
STALLED_EXPORT = CHILD_PRELUDE + """
class Interrupted(Exception):
    pass

calls = []
def handler(signum, frame):
    calls.append(signum)
    if len(calls) <= 2:
        raise Interrupted(len(calls))
signal.signal(signal.SIGUSR1, handler)

manager = pd.RegistryManager({url!r})
registry = manager.get_registry("c")
registry.register("s", {{"step_type": "A", "node_type": "singular"}})
print("ready", flush=True)
sys.stdin.readline()  # the tables are locked

returned = threading.Event()
def interrupt():
    wait_for_a_lock_waiter()  # until the export's read waits for the lock
    while not returned.wait(0.02):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
threading.Thread(target=interrupt, daemon=True).start()
try:
    registry.export_json()
    outcome = {{"raised": None}}
except Interrupted as raised:
    context = raised.__context__
    outcome = {{"raised": raised.args[0], "context": context.args[0] if context else None}}
returned.set()
print(json.dumps(outcome), flush=True)
sys.stdin.readline()  # the lock is released
manager.close()
"""


def _lines(stream: "IO[str]") -> "queue.Queue[str]":
    """The lines of ``stream`` as they come, read on a thread of their own (so that waiting
    for one can time out instead of hanging the test)."""
    lines: "queue.Queue[str]" = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


@contextlib.contextmanager
def _child_behind_a_table_lock(
    server: Server, url: str, script: str
) -> "Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str], queue.Queue[str]]]":
    """Starts ``script`` in a child Python and, once it prints ``ready``, a ``psql`` session
    that locks the registry's tables (so the child's next call waits on the server); yields
    the child, the locking session and the child's output lines. Both are killed at the end
    if still running."""
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    locker = subprocess.Popen(
        [*server.psql, "-d", url, "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert locker.stdout is not None and locker.stdin is not None
        lines = _lines(child.stdout)
        assert lines.get(timeout=120).strip() == "ready"
        locker.stdin.write(
            "BEGIN; LOCK TABLE pd_contexts, pd_specs, pd_step_types IN ACCESS EXCLUSIVE MODE;\n"
            "\\echo locked\n"
        )
        locker.stdin.flush()
        assert locker.stdout.readline().strip() == "locked"
        yield child, locker, lines
    finally:
        for process in (child, locker):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_second_signal_ends_the_wait_for_an_export_stalled_on_the_server(
    server: Server,
) -> None:
    """An interrupted export is waited for until its thread stops, at its next write of
    text; a read that waits on the server cannot stop before the server answers. Python's
    signal handlers now run during that wait too, so a second Ctrl-C raises at once (the
    first as its ``__context__``); the wait ran none, and the call returned only once the
    server answered (here: once the lock was released, which this test does only after the
    export returned, so the test failed on its timeout)."""
    url = server.database("stalled")
    script = STALLED_EXPORT.format(url=url, psql=server.psql)
    with _child_behind_a_table_lock(server, url, script) as (child, locker, lines):
        assert child.stdin is not None and locker.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        # Before, the export returned only once the lock was released: this timed out.
        outcome = json.loads(lines.get(timeout=60))
        assert outcome == {"raised": 2, "context": 1}, outcome
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        child.stdin.write("released\n")
        child.stdin.close()
        assert child.wait(timeout=120) == 0


# Imports into a context of an odd name while another session locks the tables, so that
# the import's write waits on the server; its helper thread sends SIGUSR1 (whose handler
# raises) once the write waits, then says so, and the test releases the lock.
WRITE_PHASE_IMPORT = CHILD_PRELUDE + """
class Interrupted(Exception):
    pass

def handler(signum, frame):
    raise Interrupted()
signal.signal(signal.SIGUSR1, handler)

manager = pd.RegistryManager({url!r})
registry = manager.get_registry({context!r})
document = json.dumps({{"steps": [
    {{"step_name": f"s{{i}}", "step_type": "A", "node_type": "singular"}} for i in range(3)
]}})
print("ready", flush=True)
sys.stdin.readline()  # the tables are locked

def interrupt():
    wait_for_a_lock_waiter()  # until the import's write waits for the lock
    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
    print("sent", flush=True)
threading.Thread(target=interrupt, daemon=True).start()
try:
    registry.import_json(document)
    outcome = {{"raised": False}}
except Interrupted as raised:
    outcome = {{"raised": True, "notes": getattr(raised, "__notes__", [])}}
outcome["steps"] = registry.list_step_names()
print(json.dumps(outcome), flush=True)
manager.close()
"""


def test_a_signal_during_an_imports_write_is_raised_after_it_with_a_note_naming_the_context(
    server: Server,
) -> None:
    """An import's write is one transaction that runs to its end; a signal that came during
    it is raised once it is done, with a note saying the import was completed, which shows
    the context as every message shows a name: escaped, and cut after 100 characters. The
    write waits here on a lock another session holds, so the signal comes during it, every
    time."""
    odd = "a\\n \u202e" * 40
    shown = "'" + ("a\\\\n \\u{202e}" * 40)[:100] + f"…' ({len(odd.encode())} bytes)"
    url = server.database("write_phase")
    script = WRITE_PHASE_IMPORT.format(url=url, psql=server.psql, context=odd)
    with _child_behind_a_table_lock(server, url, script) as (child, locker, lines):
        assert child.stdin is not None and locker.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
        assert lines.get(timeout=120).strip() == "sent"
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        outcome = json.loads(lines.get(timeout=120))
        assert outcome == {
            "raised": True,
            "notes": [
                f"the import into context {shown} was writing when the signal came, and was "
                "completed: its 3 step(s) were written"
            ],
            "steps": ["s0", "s1", "s2"],
        }, outcome
        assert child.wait(timeout=120) == 0

"""Ctrl-C during a long call raises KeyboardInterrupt while the call runs, not after it, and
leaves every context whole: an import interrupted while its document is read writes
nothing; one interrupted while it writes is written whole and says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pipeline_deps as pd

# The child sends SIGINT to itself from a second thread, and only once its long call has
# started: the main thread never lets go of the GIL in Python code (a switch interval of
# a minute), so the second thread runs only when the call releases it. A signal sent from
# outside could land before the call, which proves nothing. The child restores Python's
# own SIGINT handler: a process started with SIGINT ignored (a shell's background job, as
# the CI runner's may be) keeps it ignored, and Python installs its handler only when it
# was not.
CHILD = """
import json, os, signal, sys, threading
signal.signal(signal.SIGINT, signal.default_int_handler)
import pipeline_deps as pd

def step(i):
    return {{
        "step_name": f"s{{i}}", "step_type": f"T{{i % 50}}", "node_type": "internal",
        "dependencies": {{"data": {{"logical_name": "data", "dependency_type": "processing_output",
            "semantic_keywords": ["data", "input"], "description": "d" * 40}}}},
        "outputs": {{"out": {{"logical_name": "out", "output_type": "processing_output",
            "property_path": "properties.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri",
            "aliases": ["o"], "description": "o" * 40}}}},
    }}
document = json.dumps({{"schema": "pipeline-deps-export/v1", "steps": [step(i) for i in range({steps})]}})
manager = pd.RegistryManager({db!r})
registry = manager.get_registry("big")
if {export}:
    registry.import_json(document)

gate = threading.Lock()
gate.acquire()
def ctrl_c():
    gate.acquire()  # returns at once when opened, then waits for the GIL: inside the call
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=ctrl_c, daemon=True).start()
sys.setswitchinterval(60)
outcome = {{"interrupted": False, "notes": []}}
try:
    gate.release()
    if {export}:
        registry.export_json()
    else:
        registry.import_json(document)
except KeyboardInterrupt as interrupt:
    outcome = {{"interrupted": True, "notes": getattr(interrupt, "__notes__", [])}}
sys.setswitchinterval(0.005)
outcome["steps"] = len(registry)
manager.close()
# Whether nothing holds the file any more: a second open in this process is refused while
# anything does.
try:
    pd.RegistryManager({db!r}).close()
    outcome["released"] = True
except pd.InUseError as held:
    outcome["released"] = str(held)
print(json.dumps(outcome), flush=True)
"""


def interrupted(db: Path, steps: int, export: bool) -> Dict[str, Any]:
    """Runs the child on `db` and returns what it saw once SIGINT came during its long call
    (`interrupted`, the exception's `notes`, the context's `steps` afterwards, and whether
    the file was `released` once the manager was closed, else the error saying why not)."""
    ended = subprocess.run(
        [sys.executable, "-c", CHILD.format(db=str(db), steps=steps, export=export)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ended.returncode == 0, ended.stderr[-3000:]
    return json.loads(ended.stdout.strip().splitlines()[-1])


def test_ctrl_c_during_an_import_raises_and_leaves_the_context_whole(tmp_path):
    """The import's document is read on a thread of its own while the caller runs Python's
    signal handlers, so Ctrl-C while it is read (most of a large import) raises at once and
    writes nothing. Before, the handler ran only once the call returned: the whole import
    was written, and then came a KeyboardInterrupt that said nothing of it. The write
    itself is one transaction; a Ctrl-C during it raises once it is done, with a note saying
    the import was completed. Either way the context is empty or whole, never partial."""
    steps = 60_000
    db = tmp_path / "interrupted.redb"
    seen = interrupted(db, steps, export=False)
    assert seen["interrupted"], seen
    assert seen["steps"] in (0, steps), seen
    assert seen["released"] is True, seen
    if seen["steps"] == steps:
        assert any("was completed" in note for note in seen["notes"]), seen
    with pd.RegistryManager(db) as again:
        assert len(again.get_registry("big")) == seen["steps"]


def test_ctrl_c_during_an_export_raises_and_the_file_works_on(tmp_path):
    """An export interrupted raises KeyboardInterrupt, its work (on a thread of its own)
    ends unseen, and the program goes on using the manager and closes it cleanly."""
    steps = 20_000
    db = tmp_path / "exported.redb"
    seen = interrupted(db, steps, export=True)
    assert (seen["interrupted"], seen["notes"], seen["steps"]) == (True, [], steps), seen
    with pd.RegistryManager(db) as again:
        assert len(again.get_registry("big")) == steps


def test_an_interrupted_export_has_stopped_and_let_go_of_the_file_when_it_raises(tmp_path):
    """``KeyboardInterrupt`` comes once the export (on a thread of its own) has stopped, at its
    next write of text, so that closing the manager releases the file at once: a program
    that ends on Ctrl-C leaves it closed cleanly, and one that goes on can open it again.
    Before, the export's thread ran on unseen to its end, holding the file: opening it again
    meanwhile was refused as in use, and a program that ended meanwhile left the file to the
    next open's repair."""
    steps = 20_000
    db = tmp_path / "exported.redb"
    seen = interrupted(db, steps, export=True)
    assert seen == {"interrupted": True, "notes": [], "steps": steps, "released": True}

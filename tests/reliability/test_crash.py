"""T1/T3: SIGKILL a real `chat-app` process at random moments (small default run).

The full run is `python -m tests.reliability.crash_harness --kills 200`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.reliability.crash_harness import run

KILLS = int(os.environ.get("CRASH_KILLS", "15"))


def test_random_sigkills_lose_nothing(tmp_path: Path) -> None:
    tally = run(KILLS, data_dir=tmp_path / "data", seed=4)
    print(tally.summary())
    assert tally.kills == KILLS
    assert tally.failures == []
    assert tally.integrity_ok == KILLS
    assert not tally.lost and tally.duplicated == 0 and tally.gaps == 0
    assert tally.orphaned == 0
    # The run did exercise both halves: turns acknowledged, and turns resumed.
    assert tally.acked and tally.resumed
    assert tally.turns >= len(tally.acked)

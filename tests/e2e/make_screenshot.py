"""Save docs/screenshot.svg for the README: the demo data, rendered headless.

Run: .venv/bin/python -m tests.e2e.make_screenshot
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def main(out: Path) -> None:
    from tests.ui.test_snapshots import FACTS, _settle, build_demo

    with tempfile.TemporaryDirectory() as tmp:
        app, service = build_demo(Path(tmp) / "data")
        try:
            async with app.run_test(size=(120, 34)) as pilot:
                await _settle(pilot)
                app._set_facts(FACTS)
                await pilot.press("f3")
                await _settle(pilot)
                out.parent.mkdir(parents=True, exist_ok=True)
                app.save_screenshot(filename=out.name, path=str(out.parent))
        finally:
            service.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.svg"
    asyncio.run(main(target))
    print(target)

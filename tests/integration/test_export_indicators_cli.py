"""`bizclub export-indicators`: the officer's CSV of indicators, from a real analytics service
fed by real events (the `world` of tests/integration/test_analytics.py)."""

from __future__ import annotations

import csv
import io

from tests.integration.test_analytics import UDON, World, world  # noqa: F401  (the fixture)
from tests.integration.test_member_import import run_cli
from tests.support import officer_of, token_for


async def test_an_udon_thani_officer_exports_a_period_given_in_buddhist_era_months(
    world: World,  # noqa: F811
) -> None:
    code, out, err = await run_cli(
        "export-indicators",
        "--province", UDON, "--from", "2569-10", "--to", "2569-10",
        "--analytics", world.analytics.address, "--token", token_for(officer_of(UDON)),
    )  # fmt: skip

    assert code == 0, err
    assert out.startswith("\ufeff")  # Excel reads the Thai
    [row] = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert row["province_code"] == UDON
    assert row["revenue_total_thb"] == "400000.00"  # October's reports only
    assert row["deals"] == "1"


async def test_another_provinces_officer_is_refused_the_export(world: World) -> None:  # noqa: F811
    code, out, err = await run_cli(
        "export-indicators", "--province", UDON,
        "--analytics", world.analytics.address, "--token", token_for(officer_of("TH-40")),
    )  # fmt: skip

    assert code == 1 and out == ""
    assert "PERMISSION_DENIED" in err

"""The rating-implied default rates (aisim.ratings, conf/targets/ratings_2025.yaml)."""

from __future__ import annotations

import pytest

from aisim import ratings
from tests.conftest import make_cfg


# --------------------------------------------------------------------------- ratings
def test_ratings_file_loads_with_a_rating_for_each_rated_named_firm() -> None:
    r = ratings.load()
    assert r.terms == (1, 3, 5)
    assert {"Microsoft", "Oracle", "CoreWeave", "Nvidia"} <= set(r.firms)
    assert r.firms["Oracle"] == "BBB"
    from omegaconf import OmegaConf

    ents = {e["name"] for e in OmegaConf.to_container(make_cfg("calibration=ai_2025").calibration)["entities"]}
    assert set(r.firms) <= ents


def test_rating_implied_rates_rise_with_worse_ratings_and_with_term() -> None:
    r = ratings.load()
    scale = [n for n in ratings.NOTCHES if ratings.NOTCHES.index(n) >= ratings.NOTCHES.index("AA")]
    for t in r.terms:
        rates = [r.implied(n)[t] for n in scale]
        assert all(b >= a for a, b in zip(rates, rates[1:], strict=False)), (t, rates)
        assert rates[-1] > 100 * rates[0]
    for n in ratings.NOTCHES:
        by = r.implied(n)
        assert by[1] <= by[3] <= by[5]
    # notches between the letter grades: in between, geometric (BB- a third of the way to B)
    bb, b = r.implied("BB"), r.implied("B")
    assert r.implied("BB-")[5] == pytest.approx(bb[5] * (b[5] / bb[5]) ** (1 / 3))
    assert r.implied("Ba3") == r.implied("BB-")  # Moody's, notch for notch
    with pytest.raises(ValueError, match="unknown rating"):
        r.implied("ZZ")

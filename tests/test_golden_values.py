"""Golden float64 values for RW-KD's scores and the meta-weight net's meta-gradient (tests/golden_cases.py).

Pinned numbers catch any change to the loss maths, the reductions or the meta step, including ones the
fast-against-reference tests cannot see because both paths share it. The values were computed once by
the fast path and agree with the second-order reference (checked here too); `python tests/golden_cases.py`
prints them again after a deliberate change.
"""

from __future__ import annotations

import pytest
import torch
from golden_cases import CASES, values

GOLDEN = {
    "3 classes, kl, tau 1": (
        [[-0.353584661461, 0.05665039613007, 0.05473029169532, -0.3556604648937],
         [-0.07395798779673, -0.3463809599231, -0.2800731812884, -0.1783196035784]],
        [-0.08580991946274, -0.01559547752946, 0.0, 0.0, 0.0, 0.0, -0.03163343240416, 0.0, 0.0,
         -0.03284757803896, 0.0, 0.0, -0.2070601440804],
    ),
    "3 classes, kl, tau 4": (
        [[-0.3057148620829, -0.07820678588192, -0.08104988399895, -0.308895366258],
         [-0.2552183040408, -0.6970834131683, -0.390323967031, -0.5020411135238]],
        [-0.04065825363649, -0.02205738693238, 0.0, 0.0, -0.01259469902203, -0.0247613969054, 0.005810639369856,
         0.0, -0.01981046222714, -0.05389024407312, 0.0, 0.0001930737907292, 0.03803418515416],
    ),
    "3 classes, mse": (
        [[-0.6795444277021, 1.343690778642, 1.335876943349, -0.6589925839996],
         [6.386524768197, -2.390529720204, 3.206609105489, -1.581296796901]],
        [-0.01904029471832, 0.2223688614931, 0.0, 0.0, -0.05963216011108, -0.2560517699493, 0.0238091620613, 0.0,
         -0.05929646626463, 0.5505960516419, 0.0, 0.2519230027541, 0.1558455138178],
    ),
    "regression": (
        [[-0.02742711722549, 0.08078474847984, 0.04930692220908, 0.01943879402496],
         [-0.03554277073213, 0.03134158829352, 0.0293082382082, 0.06133074786078]],
        [2.103685438929, 8.686668284414, 0.0, 0.0, -0.6157049194371, -6.129012520931, 1.392994500652, 0.0,
         -0.5757005631129, 21.36748817503, 0.0, 8.444554022956, 9.118000169033],
    ),
}


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def computed(request):
    return request.param[0], values(request.param)


def test_rwkd_scores_match_the_golden_values(computed):
    name, v = computed
    expected = torch.tensor(GOLDEN[name][0], dtype=torch.float64)
    torch.testing.assert_close(v["scores"], expected, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(v["reference_scores"], expected, rtol=1e-8, atol=1e-12)


def test_metanet_meta_gradient_matches_the_golden_values(computed):
    name, v = computed
    expected = torch.tensor(GOLDEN[name][1], dtype=torch.float64)
    torch.testing.assert_close(v["metanet_grad"], expected, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(v["metanet_reference_grad"], expected, rtol=1e-8, atol=1e-12)


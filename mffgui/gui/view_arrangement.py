"""How the three result views share the space in the stacked layout (Qt-free).

Three views one above the other leave a landscape image a third of the height each (about
390×240 on a 1920×1080 screen). The stacked layout therefore picks, from the image's aspect
ratio and the available area, the arrangement whose *smallest* fitted image is largest:

* ``"column"``: the three views one above the other (best for very wide images);
* ``"top+pair"``: the fused view on top across the whole width, the decision map and the
  focus overlay side by side below it (best for ordinary landscape and square images).

The side-by-side layout (``"row"``) is the user's other choice and is not changed here.
"""

from __future__ import annotations

__all__ = ["ARRANGEMENTS", "choose_stacked", "fit_scale", "view_areas"]

ARRANGEMENTS = ("row", "column", "top+pair")


def fit_scale(area: tuple[float, float], image: tuple[float, float]) -> float:
    """Screen pixels per image pixel when an image of ``(w, h)`` fits an area of ``(w, h)``."""
    aw, ah = area
    iw, ih = image
    if iw <= 0 or ih <= 0:
        return 0.0
    return max(0.0, min(aw / iw, ah / ih))


def view_areas(
    kind: str, width: float, height: float, header: float = 0.0, n: int = 3
) -> list[tuple[float, float]]:
    """The image area ``(w, h)`` of each of ``n`` views in arrangement ``kind``.

    Parameters
    ----------
    kind : {"row", "column", "top+pair"}
    width, height : float
        The whole area in pixels.
    header : float
        Pixels each view spends on its title and controls (taken from its height).
    n : int
        Number of views (``top+pair`` puts the first on top, the others in a row below).
    """
    if kind == "row":
        return [(width / n, height - header)] * n
    if kind == "column":
        return [(width, height / n - header)] * n
    if kind == "top+pair":
        row_h = height / 2 - header
        return [(width, row_h)] + [(width / max(1, n - 1), row_h)] * (n - 1)
    raise ValueError(f"unknown arrangement {kind!r}; expected one of {ARRANGEMENTS}")


def choose_stacked(
    width: float, height: float, image: tuple[float, float], header: float = 0.0, n: int = 3
) -> str:
    """``"column"`` or ``"top+pair"``: whichever shows the smallest view's image larger.

    Ties (and an unknown image size) go to ``"top+pair"``, the better choice for the usual
    3:2 and 4:3 landscape frames.
    """
    if image[0] <= 0 or image[1] <= 0:
        return "top+pair"

    def worst(kind: str) -> float:
        return min(fit_scale(a, image) for a in view_areas(kind, width, height, header, n))

    return "column" if worst("column") > worst("top+pair") else "top+pair"

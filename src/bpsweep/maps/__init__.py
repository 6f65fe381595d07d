"""Maps: the plane of two settings, one run per pixel, trained as a sweep, coloured, drawn and
its boundary measured.

``runner`` (a map trained and drawn: ``bpsweep map``), ``image`` (colours, the PNG, the figure,
the GIF) and ``boxcount`` (the boundary's box-counting dimension). A map's window and pixel
coordinates are part of its config (:mod:`bpsweep.sweeps.window`); their names are also
here, so that ``from bpsweep import maps`` gives the whole vocabulary of a map.
"""

from ..sweeps.window import (
    COLOR_MODES,
    MAX_SIDE,
    SCALES,
    MapSpec,
    axis_values,
    parse_map_section,
    parse_resolution,
    parse_zoom,
    pixel_of,
    pixel_values,
    run_of,
    to_grid,
    zoom,
    zoom_frames,
)
from .boxcount import (
    BoxCounter,
    Dimension,
    boundary_cells,
    boundary_dimension,
    boundary_points,
    box_counts,
    fit_dimension,
    line_box_counts,
    measure_dimension,
)

__all__ = [
    "BoxCounter",
    "COLOR_MODES",
    "Dimension",
    "MAX_SIDE",
    "SCALES",
    "MapSpec",
    "axis_values",
    "boundary_cells",
    "boundary_dimension",
    "boundary_points",
    "box_counts",
    "fit_dimension",
    "line_box_counts",
    "measure_dimension",
    "parse_map_section",
    "parse_resolution",
    "parse_zoom",
    "pixel_of",
    "pixel_values",
    "run_of",
    "to_grid",
    "zoom",
    "zoom_frames",
]

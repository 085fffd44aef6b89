"""The paper's datasets: registry, hub/local/synthetic loading and mapping to prepared examples."""

from gift.data.loading import DataSourceError, load_hub, load_local
from gift.data.mapping import SchemaError, map_row, map_rows
from gift.data.prepare import load_raw, prepare
from gift.data.registry import REGISTRY, DatasetSpec, get_spec
from gift.data.synthetic import Difficulty, generate

__all__ = [
    "REGISTRY", "DataSourceError", "DatasetSpec", "Difficulty", "SchemaError", "generate", "get_spec",
    "load_hub", "load_local", "load_raw", "map_row", "map_rows", "prepare",
]

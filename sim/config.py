"""Where Hydra finds aisim's configuration, and the one place its schema is registered.

``conf/config.yaml`` names ``aisim_schema`` first in its defaults list: the structured-config
dataclass :class:`aisim.schema.Config`, which types and range-checks every key. Hydra looks that
name up in its ConfigStore, so whatever composes a config calls :func:`register` first: the entry
points (``aisim``, ``aisim-compare``, ``python -m aisim.report_calibration``), the benchmarks and
the tests' ``make_cfg``. Importing this module registers nothing.

Hydra hands the ConfigStore to the jobs of a multirun launcher (joblib, submitit) with the rest of
its state, so registering in the launching process is enough.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from aisim.schema import Config

#: Hydra's ``config_path`` of every entry point: the package ``aisim.conf`` (the ``conf/`` directory).
CONFIG_PATH = "pkg://aisim.conf"
#: The name ``conf/config.yaml`` gives the schema in its defaults list.
SCHEMA_NAME = "aisim_schema"


def register(schema: type = Config) -> None:
    """Store ``schema`` in Hydra's ConfigStore as :data:`SCHEMA_NAME`.

    Idempotent: a second call stores the same node again. ``aisim-compare`` passes its own
    schema (:class:`aisim.schema.Config` plus the ``compare`` node); every other caller the default.
    """
    ConfigStore.instance().store(name=SCHEMA_NAME, node=schema)

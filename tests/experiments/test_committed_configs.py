"""Every committed study ``config.json`` loads under the current code, is in the current
format (no flat ``data`` section of an older version: ``studies/migrate_configs.py`` rewrote
them) and round-trips to the same resolved config."""

import importlib.util
import json
from pathlib import Path

import pytest

from bipe.experiments.config import RunConfig, config_from_dict, config_to_dict, upgrade_run_dict

STUDIES = Path(__file__).resolve().parents[2] / "studies"
_spec = importlib.util.spec_from_file_location("migrate_configs", STUDIES / "migrate_configs.py")
migrate_configs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(migrate_configs)

FILES = sorted(STUDIES.rglob("config.json"))


def test_there_are_committed_configs():
    assert len(FILES) > 100


def test_every_committed_config_loads_round_trips_and_is_current():
    stale = []
    for path in FILES:
        raw = json.loads(path.read_text())
        body = {k: v for k, v in raw.items() if k not in migrate_configs.BOOKKEEPING}
        if upgrade_run_dict(body) != body:
            stale.append(str(path.relative_to(STUDIES)))
            continue
        config = config_from_dict(RunConfig, body)
        assert config_from_dict(RunConfig, config_to_dict(config)) == config, path
    assert not stale, f"flat data sections; run python studies/migrate_configs.py: {stale[:3]}"


def test_the_migration_is_idempotent_and_upgrades_a_flat_config(tmp_path):
    run = tmp_path / "a" / "run"
    run.mkdir(parents=True)
    raw = json.loads(FILES[0].read_text())
    flat = {**raw, "data": {**raw["data"], "operators": "uniform:1:3", "fmt": "steps"}}
    if raw["task"].startswith("arith"):
        flat["data"] = {**raw["data"], "n_symbols": 3, "segments": "uniform:1:2"}
    (run / "config.json").write_text(json.dumps(flat))
    assert migrate_configs.migrate(tmp_path) == [run / "config.json"]
    migrated = json.loads((run / "config.json").read_text())
    assert migrated == migrate_configs.current_form(raw)
    assert migrate_configs.migrate(tmp_path) == []
    body = {k: v for k, v in flat.items() if k not in migrate_configs.BOOKKEEPING}
    with pytest.raises(ValueError, match="unknown config key 'data"):  # read only via upgrade
        config_from_dict(RunConfig, body)

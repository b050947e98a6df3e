"""Plug-in encodings (models/plugins.py) and the registry's declared options and capabilities.

The plug-ins live in files outside the package (``tests/fixtures/plugins/seg_decay.py``, copied
to a temporary folder; ``examples/encodings/kerple``) and are named as ``FILE.py:NAME``,
``module:NAME`` or an entry point of the ``bipe.encodings`` group.
"""

import dataclasses
import math
import shutil
from pathlib import Path

import pytest
import torch
from model_helpers import SEP, VOCAB, tokens

from bipe.models import (
    REGISTRY,
    EncodingEntry,
    KVCache,
    ModelConfig,
    Transformer,
    encoding_source,
    resolve_encoding,
)
from bipe.models.config import OFFICIAL_BIPE_ALIBI_SLOPE_SCALE
from bipe.models.plugins import check_source
from bipe.models.positions import Positions
from bipe.models.registry import FIELD_DOCS, encoding_fields

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "plugins" / "seg_decay.py"
KERPLE = ROOT / "examples" / "encodings" / "kerple" / "bipe_kerple" / "kerple.py"


@pytest.fixture
def plugin(tmp_path) -> Path:
    """The test plug-in file, copied outside the repository."""
    path = tmp_path / "my_encodings.py"
    shutil.copy(FIXTURE, path)
    return path


def config(pe: str, **kwargs) -> ModelConfig:
    return ModelConfig(VOCAB, 32, 2, 4, pe=pe, separators=(SEP,), compute_dtype="float32", **kwargs)


def model(pe: str, seed: int = 0, **kwargs) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(config(pe, **kwargs)).double().eval()


def test_every_spec_form_resolves_to_the_entry(plugin, tmp_path, monkeypatch):
    assert resolve_encoding("bipe_rope") is REGISTRY["bipe_rope"]
    by_file = resolve_encoding(f"{plugin}:SEG_DECAY")
    assert isinstance(by_file, EncodingEntry) and by_file.doc.startswith("linear decay")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_encoding("my_encodings:SEG_DECAY").doc == by_file.doc
    # an installed distribution's entry point, without pip: its metadata on sys.path
    info = tmp_path / "my_encodings-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-encodings\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bipe.encodings]\nseg_decay = my_encodings:SEG_DECAY\n")
    assert resolve_encoding("seg_decay").doc == by_file.doc
    assert encoding_source("seg_decay")["kind"] == "entry_point"
    assert encoding_source("seg_decay")["file"] == str(plugin)  # where build is defined


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("missing.py:E", "no file missing.py"),
        ("{plugin}:NOPE", "has no 'NOPE'"),
        ("{plugin}:NOT_AN_ENTRY", "is a int, not a bipe.models.EncodingEntry"),
        ("{broken}:E", "ZeroDivisionError"),
        ("no_such_module_xyz:E", "ModuleNotFoundError"),
        ("{plugin}:1x", "not a Python name"),
        ("no_such_encoding", "unknown pe 'no_such_encoding'; known: nope"),
    ],
)
def test_a_spec_that_cannot_be_imported_is_one_line_naming_it(plugin, tmp_path, spec, needle):
    broken = tmp_path / "broken.py"
    broken.write_text("E = 1 / 0\n")
    spec = spec.format(plugin=plugin, broken=broken)
    with pytest.raises(ValueError, match="pe") as err:
        resolve_encoding(spec)
    message = str(err.value)
    assert spec in message and needle in message and "\n" not in message
    with pytest.raises(ValueError):
        config(spec)


def test_entry_keeps_its_positional_form_and_n_params_may_be_unknown(plugin):
    entry = EncodingEntry(lambda cfg: None, None)
    assert entry.n_params is None and entry.options == () and entry.capabilities() == ()
    from bipe.analysis.params import parameter_counts

    counts = parameter_counts(config(f"{plugin}:NO_FORMULA"))
    assert counts["positional"] is None and counts["total"] is None
    assert counts["attention"] == 2 * 4 * 32**2


def test_plugin_options_default_set_and_refused(plugin):
    spec = f"{plugin}:SEG_DECAY"
    assert config(spec).option("decay_init") == 0.5
    cfg = config(spec, opt={"decay_init": 2.0})
    assert cfg.option("decay_init") == 2.0
    assert torch.allclose(Transformer(cfg).encoding.raw, torch.full((4,), 2.0))
    with pytest.raises(ValueError, match="does not read option rotation_base.*decay_init"):
        config(spec, opt={"rotation_base": 5.0})
    with pytest.raises(ValueError, match="does not read option rope_base.*its options: decay"):
        config(spec, rope_base=5.0)
    with pytest.raises(ValueError, match="does not read option rope_base.*alibi_slope_scale"):
        config("alibi", rope_base=5.0)
    with pytest.raises(ValueError, match="declares no option 'nope'"):
        config(spec).option("nope")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert "opt" not in config("rope").to_dict()  # configs without plug-in options unchanged


@pytest.mark.parametrize("name", ["SEG_DECAY", "INDEX_ROTATION"])
def test_plugin_decodes_with_the_cache_equal_to_recomputation(plugin, name):
    net = model(f"{plugin}:{name}")
    x = tokens(3, length=16)
    full = net(x)
    pos = net.positions(x)
    cache = KVCache.empty(net.config, 3, 16, len(pos.outer), x.device, torch.float64, 0)
    with torch.no_grad():
        got = [net.run(x[:, :6], pos.select(0, 6), cache=cache, start=0)]
        got += [
            net.run(x[:, t : t + 1], pos.select(t, t + 1), cache=cache, start=t)
            for t in range(6, 16)
        ]
    assert torch.allclose(torch.cat(got, dim=1), full, atol=1e-10)
    prompt = x[:, :5]
    assert torch.equal(net.generate(prompt, 8), net.generate(prompt, 8, use_cache=False))


def test_builtin_capabilities_match_the_built_modules():
    for name, entry in REGISTRY.items():
        seps = (SEP, SEP + 1) if entry.multi_level else (SEP,)
        cfg = ModelConfig(VOCAB, 32, 2, 4, pe=name, separators=seps)
        module = entry.build(cfg)
        assert entry.reads_content == module.uses_content, name
        assert entry.multi_level == (len(cfg.level_separators()) > 1), name
        assert set(entry.options_read(cfg)) <= set(entry.option_names()), name
        assert entry.doc, name
    assert set(encoding_fields()) == set(FIELD_DOCS)
    assert REGISTRY["randomized_rope"].samples_positions
    sampling = [n for n in REGISTRY if n.startswith("randomized_")]  # Ruoss et al.
    sampling += ["rfs_sinusoidal", "rfs_rope", "rfs_alibi", "bipe_rfs_rope", "bipe_rfs_alibi"]
    assert sorted(n for n, e in REGISTRY.items() if e.samples_positions) == sorted(sampling)
    assert ModelConfig(VOCAB, 32, 2, 4, pe="alibi").resolved_alibi_slope_scale() == 1.0
    bipe_alibi = ModelConfig(VOCAB, 32, 2, 4, pe="bipe_alibi", separators=(SEP,))
    assert bipe_alibi.resolved_alibi_slope_scale() == OFFICIAL_BIPE_ALIBI_SLOPE_SCALE


def test_a_changed_or_missing_source_is_reported(plugin):
    spec = f"{plugin}:SEG_DECAY"
    recorded = encoding_source(spec)
    assert recorded["sha256"] and recorded["file"] == str(plugin.resolve())
    assert check_source(recorded) is None and check_source(None) is None
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    assert "changed" in check_source(recorded)
    plugin.unlink()
    with pytest.raises(ValueError, match="cannot be imported here.*no file"):
        check_source(recorded)


# KERPLE-log, the worked example (examples/encodings/kerple)


def kerple(name: str) -> str:
    return f"{KERPLE}:{name}"


def test_kerple_bias_equals_the_papers_formula_by_a_loop():
    torch.manual_seed(0)
    cfg = config(kerple("KERPLE_LOG"), opt={"kerple_r1": 0.7, "kerple_r2": 2.5})
    enc = resolve_encoding(cfg.pe).build(cfg)
    with torch.no_grad():
        enc.raw_r1.add_(torch.linspace(-0.3, 0.3, 4))  # distinct heads
    r1 = torch.nn.functional.softplus(enc.raw_r1).detach().tolist()
    r2 = torch.nn.functional.softplus(enc.raw_r2).detach().tolist()
    assert math.isclose(r2[0], 2.5, rel_tol=1e-6) and len(set(r1)) == 4
    index = torch.tensor([[0, 1, 2, 3, 4, 5]])
    pos = Positions(index, index, index)
    allowed = torch.ones(1, 1, 6, 6, dtype=torch.bool).tril()
    bias = enc.bias(pos, pos, allowed).detach()
    for h in range(4):
        for i in range(6):
            for j in range(6):
                want = -r1[h] * math.log(1 + r2[h] * abs(i - j)) if j <= i else -math.inf
                assert math.isclose(bias[0, h, i, j].item(), float(want), rel_tol=1e-5)


@pytest.mark.parametrize("name", ["KERPLE_LOG", "BIPE_KERPLE_LOG"])
def test_kerple_trains_its_parameters_decodes_with_the_cache_and_counts(name):
    spec = kerple(name)
    net = model(spec)
    assert resolve_encoding(spec).n_params(net.config) == sum(
        p.numel() for p in net.encoding.parameters()
    )
    x = tokens(1, length=16)
    pos = net.positions(x)
    cache = KVCache.empty(net.config, 3, 16, 0, x.device, torch.float64, 0)
    with torch.no_grad():
        steps = [
            net.run(x[:, t : t + 1], pos.select(t, t + 1), cache=cache, start=t) for t in range(16)
        ]
    assert torch.allclose(torch.cat(steps, dim=1), net(x), atol=1e-10)
    net.train()
    loss = net(x).logsumexp(-1).mean()
    loss.backward()  # masked keys must not turn the gradient into NaN
    grads = [p.grad for n, p in net.encoding.named_parameters() if "raw" in n]
    assert grads and all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_kerple_bilevel_bias_is_zero_inside_a_segment_and_shift_invariant():
    cfg = config(kerple("BIPE_KERPLE_LOG"))
    enc = resolve_encoding(cfg.pe).build(cfg)
    part = enc.parts[1]
    seg = torch.tensor([[0, 0, 0, 1, 1, 2]])
    index = torch.arange(6)[None]
    pos = Positions(index, seg, index)
    bias = part.bias(pos, pos)
    assert torch.equal(bias[0, :, 2, 0], torch.zeros(4))  # same segment
    assert (bias[0, :, 5, 0] < bias[0, :, 3, 0]).all()  # two segments back costs more
    shifted = dataclasses.replace(pos, seg=seg + 7)
    assert torch.allclose(part.bias(shifted, shifted), bias)


@pytest.mark.slow
def test_the_example_package_installs_and_publishes_its_entry_points(tmp_path):
    """Build the example's wheel offline (no build isolation, no dependencies), unpack it as
    an installed distribution, and list its encodings through the entry points."""
    import os
    import subprocess
    import sys
    import zipfile

    import bipe

    package = tmp_path / "kerple"  # a copy: setuptools writes build files next to the source
    shutil.copytree(KERPLE.parents[1], package, ignore=shutil.ignore_patterns("*.egg-info"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(tmp_path), str(package)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("bipe_kerple-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    paths = [str(site), str(Path(bipe.__file__).resolve().parents[1])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    listing = subprocess.run(
        [sys.executable, "-m", "bipe", "encodings"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "kerple_log  [entry point bipe_kerple:KERPLE_LOG]" in listing
    assert "bipe_kerple_log  [entry point bipe_kerple:BIPE_KERPLE_LOG]" in listing
    assert "--model.opt.kerple_r2 (float, default 1.0)" in listing

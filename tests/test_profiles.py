import pytest

import scalinglab as sl
from scalinglab.base import profiles
from scalinglab.base.profiles import ParameterError


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    assert profiles.resolve_device("auto") == "cuda"
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    monkeypatch.setattr(profiles, "mps_available", lambda: True)
    assert profiles.resolve_device("auto") == "mps"
    monkeypatch.setattr(profiles, "mps_available", lambda: False)
    assert profiles.resolve_device("auto") == "cpu"


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    with pytest.raises(ParameterError, match="no CUDA device"):
        profiles.resolve_device("cuda")
    with pytest.raises(ParameterError, match="device='tpu' is not one of"):
        profiles.resolve_device("tpu")


def test_default_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv("SCALINGLAB_PROFILE", raising=False)
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    assert profiles.default_profile() == "gpu"
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    assert profiles.default_profile() == "cpu"


@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "fast"}, "profile='fast' is not one of 'ci', 'cpu', 'gpu'"),
    ({"seed": -1}, "seed=-1 must be >= 0"),
    ({"seed": "zero"}, "seed='zero' must be an integer"),
    ({"workers": 0}, "workers=0 must be >= 1"),
    ({"executor": "mpi"}, "executor='mpi' is not one of"),
    ({"out_dir": ""}, "out_dir='' must be a folder path"),
])
def test_start_rejects_bad_parameters_in_one_line(kwargs, message, tmp_path):
    kwargs = {"out_dir": str(tmp_path), **kwargs}
    with pytest.raises(ParameterError) as info:
        sl.start("test2020_params", **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_pick_needs_all_three_profiles():
    assert profiles.pick("cpu", {"ci": 1, "cpu": 2, "gpu": 3}) == 2
    with pytest.raises(ParameterError, match="lack gpu"):
        profiles.pick("ci", {"ci": 1, "cpu": 2})


def test_start_resolves_relative_out_dir_from_project_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_ROOT", str(tmp_path))
    run = sl.start("test2020_paths", out_dir="build/x")
    assert run.out_dir == tmp_path / "build" / "x"
    assert run.profile == "ci" and run.device in ("cpu", "cuda", "mps")

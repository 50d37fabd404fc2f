"""Training the Rasa model: once for two processes that need it at the same time, never a
half-written model for another one, the cache shared by clones (with a stand-in `rasa train`:
the real one takes minutes and is exercised by the live tests)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from bot.dialogue.rasa_runtime import TRAINING_INPUTS, RasaRuntime, RasaRuntimeError
from bot.settings import PROJECT_ROOT

FAKE_RASA = f"""#!{sys.executable}
import sys, time
from pathlib import Path

args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
name = args[args.index("--fixed-model-name") + 1]
with open(Path(__file__).parent / "trainings", "a") as count:
    count.write(name + "\\n")
time.sleep(float(Path(__file__).with_name("seconds").read_text()))
if Path(__file__).with_name("fail").exists():
    print("training failed: the stand-in was told to")
    sys.exit(1)
out.mkdir(parents=True, exist_ok=True)
(out / (name + ".tar.gz")).write_bytes(b"model")
"""


def runtime_in(tmp_path: Path, *, seconds: float = 1.0, cache: bool = True) -> RasaRuntime:
    project = tmp_path / "project"
    if not project.exists():
        project.mkdir()
        for name in TRAINING_INPUTS:
            source = PROJECT_ROOT / name
            if source.is_dir():
                shutil.copytree(source, project / name)
            else:
                shutil.copyfile(source, project / name)
        rasa = tmp_path / "runtime" / "bin" / "rasa"
        rasa.parent.mkdir(parents=True)
        rasa.write_text(textwrap.dedent(FAKE_RASA))
        rasa.chmod(0o755)
    (tmp_path / "runtime" / "bin" / "seconds").write_text(str(seconds))
    return RasaRuntime(
        runtime=tmp_path / "runtime",
        project=project,
        models_dir=tmp_path / "models",
        knowledge_base=PROJECT_ROOT / "knowledge" / "project.yml",
        cache_dir=tmp_path / "cache" if cache else None,
        log_dir=tmp_path / "var",
    )


def trainings(tmp_path: Path) -> list[str]:
    count = tmp_path / "runtime" / "bin" / "trainings"
    return count.read_text().split() if count.exists() else []


@pytest.mark.parametrize("cache", [True, False])
async def test_two_processes_needing_the_model_train_it_once(tmp_path: Path, cache: bool) -> None:
    first, second = runtime_in(tmp_path, cache=cache), runtime_in(tmp_path, cache=cache)
    models = await asyncio.gather(first.ensure_model(), second.ensure_model())

    assert models[0] == models[1]
    assert models[0].read_bytes() == b"model"
    assert trainings(tmp_path) == [models[0].name.removesuffix(".tar.gz")]
    # Nothing half-made is left beside the models (the lock's file stays, empty).
    left = sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock"))
    assert left == [models[0].name]
    if cache:
        assert (tmp_path / "cache" / "models" / models[0].name).read_bytes() == b"model"


async def test_a_model_in_the_cache_is_reused_without_training(tmp_path: Path) -> None:
    model = await runtime_in(tmp_path).ensure_model()
    model.unlink()  # another clone of the project: its own models folder, the same cache

    assert (await runtime_in(tmp_path).ensure_model()).read_bytes() == b"model"
    assert len(trainings(tmp_path)) == 1


async def test_a_failed_training_says_so_and_the_next_one_trains_again(tmp_path: Path) -> None:
    runtime = runtime_in(tmp_path, seconds=0)
    (tmp_path / "runtime" / "bin" / "fail").touch()
    with pytest.raises(RasaRuntimeError, match="told to"):
        await runtime.ensure_model()
    assert list((tmp_path / "models").iterdir()) == []

    (tmp_path / "runtime" / "bin" / "fail").unlink()
    assert (await runtime.ensure_model()).read_bytes() == b"model"
    assert len(trainings(tmp_path)) == 2

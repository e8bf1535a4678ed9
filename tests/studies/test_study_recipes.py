"""Every recipe shipped in recipes/ loads, and a typo is named: study recipes into their study's config,
training recipes (`leanspeech train`, recognised by their `trainer:` section) through the engine's validation."""

from pathlib import Path

import pytest

from leanspeech.config import load_recipe
from leanspeech.errors import RecipeError
from leanspeech.studies.enhance import EnhanceStudyConfig
from leanspeech.studies.quality import QualityStudyConfig
from leanspeech.studies.recipe import read_recipe
from leanspeech.studies.spoof import SpoofStudyConfig
from leanspeech.studies.sqa import SqaStudyConfig
from leanspeech.studies.sqa_teacher_train import XlsrTeacherTraining
from leanspeech.studies.stack_study import StackStudyConfig
from leanspeech.studies.vad import VadStudyConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
CONFIGS = {"vad": VadStudyConfig, "spoof": SpoofStudyConfig, "enhance": EnhanceStudyConfig,
           "quality": QualityStudyConfig, "sqa": SqaStudyConfig, "sqa-teacher": XlsrTeacherTraining,
           "stack": StackStudyConfig}


@pytest.mark.parametrize("path", sorted(p for task in CONFIGS for p in (RECIPES / task).glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_recipe_loads(path):
    if "trainer" in read_recipe(path):
        assert load_recipe(path)["model"]["name"]
    else:
        assert isinstance(CONFIGS[path.parent.name].from_yaml(path), CONFIGS[path.parent.name])


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_unknown_key_is_named_before_any_work(task, tmp_path):
    recipe = next(p for p in sorted((RECIPES / task).glob("*.yaml")) if "trainer" not in read_recipe(p))
    text = recipe.read_text() + "\ntrian_steps: 3\n"
    (tmp_path / "typo.yaml").write_text(text)
    with pytest.raises(RecipeError, match="trian_steps"):
        CONFIGS[task].from_yaml(tmp_path / "typo.yaml")


def test_missing_and_malformed_recipes(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        read_recipe(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(RecipeError, match="mapping"):
        read_recipe(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        read_recipe(tmp_path / "broken.yaml")

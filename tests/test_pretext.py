"""Rotation pretext (Gidaris et al., 2018), linear probes and the small ViT."""
import numpy as np
import pytest
import torch
from torch import nn

from conftest import tiny_study
from deepstudy import models
from deepstudy.errors import UserError
from deepstudy.fileio import read_json
from deepstudy.models import heads
from deepstudy.tasks.pretrain import RotationBatches


def test_rotation_batches_show_every_image_in_four_rotations():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.uint8).reshape(2, 1, 3, 3)
    batches = RotationBatches(x, lambda b, g: b.float(), batch_size=2, seed=0, shuffle=False)
    (xr, y), = list(batches.epoch(0))
    assert xr.shape == (8, 1, 3, 3) and y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for k in range(4):
        np.testing.assert_array_equal(xr[2 * k:2 * k + 2].numpy(), np.rot90(x.float().numpy(), k, axes=(2, 3)))


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet18", "vit"])
def test_freeze_backbone_trains_the_head_only(name):
    model = models.build(name, (1, 28, 28) if name != "mlp" else (20,), 3, **({"width": 0.25} if name == "resnet18" else {}))
    head = heads.classifier_head(model)
    assert model.get_submodule(head).out_features == 3
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert heads.freeze_backbone(model) == sum(p.numel() for p in model.get_submodule(head).parameters())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(4, *((1, 28, 28) if name != "mlp" else (20,)))
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    for n, p in model.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == n.startswith(head + "."), n


def test_vit_patches_and_errors():
    vit = models.build("vit", (1, 28, 28), 10, patch=7, dim=32, depth=2, heads=4)
    assert vit.patch_embed.patches == 16 and vit(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(UserError, match="must divide"):
        models.build("vit", (1, 28, 28), 10, patch=5)


def test_rotation_pretext_study(cli, tmp_path):
    study = tiny_study(tmp_path, model={"name": "cnn", "channels": [16, 32], "input_size": [8, 8]},
                       arms={"scratch": {}, "rotation": {"pretrain.task": "rotation"},
                             "probe": {"pretrain.task": "rotation", "train.freeze_backbone": True}},
                       pretrain={"epochs": 3, "batch_size": 64}, seeds=1, analyses=["curves"], **{"data.train_limit": 100})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    assert len(list((run / "pretrained").glob("*.safetensors"))) == 1  # one pretraining per seed, shared by two arms
    res = read_json(run / "results.json")
    pretext = res["arms"]["rotation"]["seeds"][0]["pretext"]
    assert len(pretext) == 3 and pretext[-1]["val_acc"] > 0.5  # digits are not rotation-symmetric: it learns
    assert res["arms"]["probe"]["seeds"][0]["pretext"] == pretext
    assert "pretext" not in res["arms"]["scratch"]["seeds"][0]


def test_rotation_pretext_bad_inputs(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, data={"name": "moons"}, **{"pretrain.task": "rotation"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "pretrain.task rotation" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="som", model={"name": "som"}, arms={"a": {}}, **{"train.freeze_backbone": True})),
            "--out", str(tmp_path / "r"))
    assert r.code == 2 and "'train.freeze_backbone' is not used by task: som" in r.err


def test_summary_counts_the_attention_products():
    vit = models.build("vit", (1, 28, 28), 10, patch=7, dim=32, depth=1, heads=4)
    rows, _, total = models.summarize(vit, models.example("vit", (1, 28, 28)))
    attention = [r for r in rows if r.kind == "MultiHeadAttention"]
    assert len(attention) == 1 and attention[0].macs == 2 * 17 * 17 * 32  # 16 patches + [CLS]; Q K^T and weights @ V
    assert total == sum(r.macs for r in rows)


def test_supervised_pretraining_is_shared_across_target_sizes(cli, tmp_path):
    # digits -> digits keeps the test fast; the mechanics are those of fashion-mnist -> mnist
    study = tiny_study(tmp_path, model={"name": "cnn", "channels": [16, 32], "input_size": [8, 8]},
                       arms={"scratch-100": {"data.train_limit": 100},
                             "transfer-100": {"data.train_limit": 100, "pretrain.task": "supervised"},
                             "transfer-300": {"data.train_limit": 300, "pretrain.task": "supervised"},
                             "probe-300": {"data.train_limit": 300, "pretrain.task": "supervised", "train.freeze_backbone": True}},
                       pretrain={"data": "digits", "epochs": 4, "batch_size": 64, "lr": 0.01}, seeds=1, analyses=["curves"])
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    assert len(list((run / "pretrained").glob("*.safetensors"))) == 1  # one source training per seed for three arms
    res = read_json(run / "results.json")
    logs = [res["arms"][a]["seeds"][0]["pretext"] for a in ("transfer-100", "transfer-300", "probe-300")]
    assert logs[0] == logs[1] == logs[2] and len(logs[0]) == 4 and logs[0][-1]["val_acc"] > 0.7  # it learned the source
    assert res["arms"]["transfer-100"]["pretext"]["source"] == "digits"
    assert "pretext" not in res["arms"]["scratch-100"]
    curve = [f for f in (run / "figures").iterdir() if f.name == "sample-size.png"]
    assert curve, "arms that differ in data.train_limit get the accuracy-vs-labels figure"
    assert "sample-size.png" in (run / "report.md").read_text()


def test_supervised_pretraining_bad_inputs(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, model={"name": "cnn", "input_size": [8, 8]}, **{"pretrain.task": "supervised"})),
            "--out", str(tmp_path / "r"))
    assert r.code == 2 and "set pretrain.data" in r.err
    r = cli("run", str(tiny_study(tmp_path, model={"name": "cnn", "input_size": [8, 8]}, pretrain={"task": "supervised", "data": "moons"})),
            "--out", str(tmp_path / "r"))
    assert r.code == 2 and "same image shape" in r.err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("config.yaml"))


def test_frozen_then_fine_tuned_backbone_and_its_resume(tmp_path):
    """train.unfreeze_after=2: after two head-only epochs the backbone still holds the pretrained weights, then every
    layer learns; killed inside the head-only phase and resumed, the run ends bit-identical to an uninterrupted one."""
    import safetensors.torch

    from conftest import killed_and_clean_runs
    study = tiny_study(tmp_path, model={"name": "cnn", "channels": [8, 16], "input_size": [8, 8]},
                       arms={"two-stage": {"pretrain.task": "supervised", "train.freeze_backbone": True, "train.unfreeze_after": 2}},
                       pretrain={"data": "digits", "epochs": 2, "batch_size": 64}, seeds=1, analyses=["curves"],
                       **{"data.train_limit": 200, "train.epochs": 4})
    clean_run, run, resume = killed_and_clean_runs(study, tmp_path)
    seed = run / "arms" / "two-stage" / "seed-0"
    pretrained = safetensors.torch.load_file(next((run / "pretrained").glob("*.safetensors")))
    after_head_only = safetensors.torch.load_file(next((seed / "checkpoint").glob("epoch-0001.safetensors")))
    backbone = [k for k in after_head_only if not k.startswith("head.") and k in pretrained]
    assert backbone and all(torch.equal(after_head_only[k], pretrained[k]) for k in backbone)
    resumed = resume()
    assert resumed.returncode == 0, resumed.stderr
    final = safetensors.torch.load_file(next((seed / "checkpoint").glob("epoch-0003.safetensors")))
    assert any(not torch.equal(final[k], pretrained[k]) for k in backbone)  # fine-tuned after epoch 2
    reference = clean_run / "arms" / "two-stage" / "seed-0" / "checkpoint"
    reference = safetensors.torch.load_file(next(reference.glob("epoch-0003.safetensors")))
    assert all(torch.equal(final[k], reference[k]) for k in final)
    res = read_json(run / "results.json")
    assert res["arms"]["two-stage"]["trainable_params"] is None  # every layer learns by the end


def test_unfreeze_after_needs_a_frozen_backbone(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, **{"train.unfreeze_after": 1})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "train.freeze_backbone: true" in r.err

"""The CNN families: torchvision-compatible state dicts (against manifests), the paper's configurations,
and the properties each family is built for."""
import json

import pytest
import torch
from torch import nn

from deepstudy import models
from deepstudy.models.vgg import CONFIGS

TORCHVISION = ["resnet18", "resnet50", "resnext50_32x4d", "vgg16", "vgg16_bn", "mobilenet_v3_large", "efficientnet_b0"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_state_dict_matches_torchvision_manifest(name, shared_data):
    manifest = json.loads((shared_data / "torchvision-manifests" / f"{name}.json").read_text())
    model = models.create(name, in_channels=3, num_classes=1000, input_size=(224, 224),
                          **({"head": "imagenet"} if name.startswith("vgg") else {"stem": "imagenet"}))
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(manifest)  # same keys, same order
    assert ours == manifest  # same shapes: torchvision's checkpoints load with strict=True


def test_imagenet_forward_shapes():
    x = torch.zeros(1, 3, 224, 224)
    for name in ("resnet18", "mobilenet_v3_large", "efficientnet_b0"):
        m = models.create(name, stem="imagenet").eval()
        assert m(x).shape == (1, 1000), name


@pytest.mark.parametrize("config,convs", [("A", 8), ("B", 10), ("C", 13), ("D", 13), ("E", 16)])
def test_vgg_configurations_have_the_papers_depth(config, convs):
    m = models.build("vgg", (3, 32, 32), 10, config=config, width=0.125)
    found = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert len(found) == convs and len(found) + 3 == {"A": 11, "B": 13, "C": 16, "D": 16, "E": 19}[config]
    one_by_one = [c for c in found if c.kernel_size == (1, 1)]
    assert len(one_by_one) == (3 if config == "C" else 0)  # C: a 1x1 conv closes each of the last three blocks
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert CONFIGS[config].count("M") == 5


@pytest.mark.parametrize("depth", [8, 20, 56])
def test_resnet_cifar_depth_counts_weighted_layers(depth):
    for shortcuts in (True, False):
        m = models.build("resnet_cifar", (3, 32, 32), 10, depth=depth, shortcuts=shortcuts)
        convs = [c for c in m.modules() if isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3)]
        assert len(convs) + 1 == depth  # 6n+1 3x3 convs + the fc layer (projections not counted, as in the paper)
        has_projection = any(c.kernel_size == (1, 1) for c in m.modules() if isinstance(c, nn.Conv2d))
        assert has_projection == shortcuts


def test_resnext_groups_and_parameter_savings():
    resnet = models.create("resnet50", stem="imagenet")
    resnext = models.create("resnext50_32x4d", stem="imagenet")
    assert resnext.layer1[0].conv2.groups == 32 and resnext.layer1[0].conv2.out_channels == 128
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(resnext) < count(resnet)  # wider but grouped: fewer parameters (25.0M vs 25.6M)


def test_width_and_small_stem_keep_small_images_alive():
    for name in ("resnet18", "mobilenet_v3_large", "efficientnet_b0", "vgg16_bn"):
        m = models.build(name, (1, 28, 28), 10, width=0.25).eval()
        assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10), name
    small = models.build("resnet18", (1, 28, 28), 10)
    assert isinstance(small.maxpool, nn.Identity) and small.conv1.kernel_size == (3, 3)


def test_inception_module_concatenates_its_branches():
    from deepstudy.models.inception import Inception

    block = Inception(32, 8, 12, 16, 4, 6, 5)
    assert block(torch.zeros(2, 32, 9, 9)).shape == (2, 8 + 16 + 6 + 5, 9, 9)
    like_3a = Inception.shaped_like_3a(192, 256, batch_norm=False)  # GoogLeNet's inception 3a, Table 1
    widths = [like_3a.branch1[0].out_channels, like_3a.branch2[0][0].out_channels, like_3a.branch2[1][0].out_channels,
              like_3a.branch3[0][0].out_channels, like_3a.branch3[1][0].out_channels, like_3a.branch4[1][0].out_channels]
    assert widths == [64, 96, 128, 16, 32, 32] and not any(isinstance(m, nn.BatchNorm2d) for m in like_3a.modules())


def test_summary_for_every_architecture():
    for name in models.names():
        entry = models.entry(name)
        shape = (3, 32, 32) if entry.inputs == "image" else (20,)
        vocab = 100 if entry.inputs in ("tokens", "sequence") else None
        model = models.build(name, shape, 10, vocab_size=vocab, **entry.tiny)
        rows, total, macs = models.summarize(model, models.example(name, shape))
        assert total == sum(p.numel() for p in model.parameters()), name
        assert macs > 0 and rows, name


def test_bad_architecture_arguments_are_user_errors():
    from deepstudy.errors import UserError

    with pytest.raises(UserError, match="6n\\+2"):
        models.build("resnet_cifar", (3, 32, 32), 10, depth=21)
    with pytest.raises(UserError, match="config must be one of"):
        models.build("vgg", (3, 32, 32), 10, config="F")
    with pytest.raises(UserError, match="stem must be"):
        models.build("resnet18", (3, 32, 32), 10, stem="tiny")


def test_macs_match_published_figures():
    """torchvision's model cards: ResNet-18 1.81 GFLOPS (multiply-adds), ResNet-50 4.09, MobileNetV3-L 0.22."""
    for name, published in (("resnet18", 1.81e9), ("resnet50", 4.09e9), ("mobilenet_v3_large", 0.22e9)):
        _, _, macs = models.summarize(models.create(name, stem="imagenet").eval(), torch.zeros(1, 3, 224, 224))
        assert abs(macs - published) / published < 0.03, (name, macs)

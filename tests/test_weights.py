"""Pretrained-weight fetching and loading against a local HTTP server serving a checkpoint in
torchvision's format (no other network is touched)."""
import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from deepstudy import weights
from deepstudy.errors import UserError


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A MobileNetV3-Large checkpoint as torchvision publishes it (no num_batches_tracked, as old ones),
    named <arch>-<sha256 prefix>.pth; plus a damaged file."""
    folder = tmp_path_factory.mktemp("www")
    torch.manual_seed(0)
    state = {k: v for k, v in weights.model("mobilenet_v3_large").state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, folder / "tmp.pth")
    digest = hashlib.sha256((folder / "tmp.pth").read_bytes()).hexdigest()
    (folder / "tmp.pth").rename(folder / f"mobilenet_v3_large-{digest[:8]}.pth")
    (folder / "broken-0000beef.pth").write_bytes(b"not a checkpoint")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", digest, state
    httpd.shutdown()


def test_fetch_checks_the_hash_prefix_and_loads_strictly(served, tmp_path, monkeypatch):
    base, digest, state = served
    w = weights.WeightSpec("mobilenet_v3_large", f"{base}/mobilenet_v3_large-{digest[:8]}.pth", 75.274)
    monkeypatch.setitem(weights.WEIGHTS, "mobilenet_v3_large", w)
    path = weights.fetch("mobilenet_v3_large", tmp_path, log=lambda m: None)
    assert path.name == w.file and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    net = weights.load("mobilenet_v3_large", path)
    assert not net.training
    loaded = net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert int(loaded["features.0.1.num_batches_tracked"]) == 0  # missing in old checkpoints: filled in


def test_wrong_hash_leaves_nothing_and_says_what_to_do(served, tmp_path, monkeypatch):
    base, digest, _ = served
    monkeypatch.setitem(weights.WEIGHTS, "mobilenet_v3_large",
                        weights.WeightSpec("mobilenet_v3_large", f"{base}/mobilenet_v3_large-{digest[:8]}.pth", 75.0))
    with pytest.raises(UserError, match="checksum mismatch"):
        weights.fetch("mobilenet_v3_large", tmp_path, url=f"{base}/broken-0000beef.pth", log=lambda m: None)
    assert not any((tmp_path / weights.FOLDER).glob("*"))


def test_offline_and_damaged_files_are_one_clear_message(tmp_path, monkeypatch, served):
    monkeypatch.setenv("DEEPSTUDY_DATA", str(tmp_path))
    with pytest.raises(UserError, match="deepstudy weights fetch resnet18"):
        weights.load("resnet18")
    with pytest.raises(UserError, match="resnet18"):
        weights.spec("resnet-18")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable checkpoint"):
        weights.load("resnet18", bad)


def test_cli_weights_list(cli):
    r = cli("weights", "list")
    assert r.code == 0 and "resnet18" in r.out and "69.76" in r.out and "download.pytorch.org" in r.out


def test_published_urls_carry_a_hash_prefix():
    for w in weights.WEIGHTS.values():
        assert len(w.sha256_prefix) >= 8 and w.url.startswith("https://download.pytorch.org/models/")


def test_imagenet_inputs_are_three_channels_resized_and_imagenet_normalized():
    from deepstudy.data.loader import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
    t = ImageTransform(torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD), size=64)
    x = torch.full((2, 1, 8, 8), 128, dtype=torch.uint8)
    out = t(x, torch.Generator())
    assert out.shape == (2, 3, 64, 64)
    for c in range(3):  # a flat grey image stays flat: (128/255 - mean_c) / std_c in channel c
        assert torch.allclose(out[:, c], torch.tensor((128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]), atol=1e-6)


def test_study_starts_from_local_imagenet_weights(cli, tmp_path, monkeypatch, shared_data):
    """pretrain.task: imagenet loads torchvision's checkpoint (here a random one in its format, in the cache folder)
    into the backbone, keeps a new head; offline without the file the error names the fetch command."""
    import safetensors.torch

    from conftest import tiny_study
    from deepstudy.data import registry
    from deepstudy.fileio import read_json
    monkeypatch.setattr(registry, "cache_dir", lambda: tmp_path / "cache")
    study = tiny_study(tmp_path, data={"name": "digits", "imagenet_input": 64, "train_limit": 100},
                       model={"name": "resnet18"}, arms={"imagenet-probe": {}}, pretrain={"task": "imagenet"},
                       seeds=1, analyses=["curves"], **{"train.epochs": 1, "train.freeze_backbone": True})
    r = cli("run", str(study), "--out", str(tmp_path / "offline"))
    assert r.code == 2 and "deepstudy weights fetch resnet18" in r.err and not (tmp_path / "offline").exists()
    torch.manual_seed(0)
    published = weights.model("resnet18").state_dict()
    folder = tmp_path / "cache" / weights.FOLDER
    folder.mkdir(parents=True)
    torch.save(published, folder / "tmp.pth")  # named by its digest, as published files are (it is checked)
    digest = hashlib.sha256((folder / "tmp.pth").read_bytes()).hexdigest()
    w = weights.spec("resnet18")
    monkeypatch.setitem(weights.WEIGHTS, "resnet18", weights.WeightSpec("resnet18", w.url.replace(
        w.sha256_prefix, digest[:8]), w.top1))
    (folder / "tmp.pth").rename(folder / weights.spec("resnet18").file)
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    res = read_json(run / "results.json")
    assert "torchvision ImageNet-1K" in res["arms"]["imagenet-probe"]["pretrained"]["source"]
    assert any("ImageNet inputs" in n for n in res["dataset"]["notes"])
    trained = safetensors.torch.load_file(run / "arms" / "imagenet-probe" / "seed-0" / "best.safetensors")
    assert torch.equal(trained["conv1.weight"], published["conv1.weight"])  # the frozen backbone is ImageNet's
    assert torch.equal(trained["layer4.1.conv2.weight"], published["layer4.1.conv2.weight"])
    assert trained["fc.weight"].shape == (10, 512)  # a new head for the ten digits
    bad = tiny_study(tmp_path, data={"name": "digits"}, model={"name": "resnet18"}, arms={"a": {}}, pretrain={"task": "imagenet"})
    r = cli("run", str(bad), "--out", str(tmp_path / "bad"))
    assert r.code == 2 and "data.imagenet_input: 224" in r.err


def test_a_planted_file_is_not_called_verified(served, tmp_path, monkeypatch, cli):
    """A file already in place with the published name, a loadable checkpoint but other weights: fetch checks it
    like a download (it used to print "sha256 verified" for it)."""
    base, digest, state = served
    w = weights.WeightSpec("mobilenet_v3_large", f"{base}/mobilenet_v3_large-{digest[:8]}.pth", 75.274)
    monkeypatch.setitem(weights.WEIGHTS, "mobilenet_v3_large", w)
    planted = tmp_path / weights.FOLDER / w.file
    planted.parent.mkdir(parents=True)
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in state.items()}, planted)
    r = cli("weights", "fetch", "mobilenet_v3_large", "--dir", str(tmp_path))
    assert r.code == 2 and "sha256 verified" not in r.out and f"not {digest[:8]}" in r.err
    assert "deepstudy weights fetch mobilenet_v3_large" in r.err
    planted.unlink()
    assert cli("weights", "fetch", "mobilenet_v3_large", "--dir", str(tmp_path)).code == 0  # downloaded, checked
    r = cli("weights", "fetch", "mobilenet_v3_large", "--dir", str(tmp_path))  # present and intact
    assert r.code == 0 and "sha256 verified" in r.out

"""A network written by a user (not the registry's modules), saved with torch.export.save, gets
spiree's kernels: MobileNetV2 inverted residuals (ReLU6 as F.hardtanh, residual add), an
EfficientNet MBConv (hand-written SiLU x * sigmoid(x), 5x5 depthwise, squeeze-and-excitation
through adaptive_avg_pool2d) and a hardswish head. Checked: every convolution and the pooling
run on spiree kernels with their epilogues fused (the --report rows), no elementwise dispatch
of IREE is left but the input transpose, and the numbers match PyTorch (run --check) dense and
70% sparse on host."""
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch import nn

from .test_cli import spiree


class UserInvertedResidual(nn.Module):
    def __init__(self, c, expand):
        super().__init__()
        h = c * expand
        self.pw = nn.Conv2d(c, h, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(h)
        self.dw = nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False)
        self.bn2 = nn.BatchNorm2d(h)
        self.pj = nn.Conv2d(h, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.hardtanh(self.bn1(self.pw(x)), 0.0, 6.0)
        y = F.hardtanh(self.bn2(self.dw(y)), 0.0, 6.0)
        return x + self.bn3(self.pj(y))


class UserMBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        h = cin * expand
        self.pw = nn.Conv2d(cin, h, 1)
        self.dw = nn.Conv2d(h, h, k, stride, k // 2, groups=h)
        self.se_reduce = nn.Conv2d(h, max(1, cin // 4), 1)
        self.se_expand = nn.Conv2d(max(1, cin // 4), h, 1)
        self.pj = nn.Conv2d(h, cout, 1)

    def forward(self, x):
        y = self.pw(x)
        y = y * torch.sigmoid(y)
        y = self.dw(y)
        y = y * torch.sigmoid(y)
        s = F.adaptive_avg_pool2d(y, 1)
        s = self.se_reduce(s)
        s = s * torch.sigmoid(s)
        s = torch.sigmoid(self.se_expand(s))
        return self.pj(y * s)


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = UserInvertedResidual(16, 4)
        self.b2 = UserMBConv(16, 24, 4, 5, 2)
        self.head = nn.Conv2d(24, 64, 1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        y = F.hardswish(self.head(self.b2(self.b1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def test_user_network_runs_on_spiree_kernels(tmp_path):
    torch.manual_seed(0)
    net = UserNet().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    pt2 = tmp_path / "user.pt2"
    torch.export.save(torch.export.export(net, (torch.randn(1, 16, 20, 20),)), pt2)
    for prune in ([], ["--sparsity", "0.7"]):
        out = tmp_path / f"user{len(prune)}.vmfb"
        p = spiree("-q", "compile", pt2, "--target", "host", "--report", *prune, "-o", out)
        assert p.returncode == 0, p.stderr
        rows = [l.split() for l in p.stdout.splitlines() if l[:3].strip().isdigit()]
        ops = {r[1] for r in rows}
        assert {"conv1x1", "linear", "avgpool"} <= ops and any(o.startswith("dwconv") for o in ops), p.stdout
        assert all(r[3 if r[1] != "avgpool" else 2] in ("sparse", "dense", "kernel") for r in rows), p.stdout
        text = p.stdout
        assert "[+ relu6]" in text and "[+ residual add]" in text and "[+ silu]" in text
        assert "[+ sigmoid]" in text and "[+ hswish]" in text and "input scaled by SE gate]" in text
        if prune:
            assert any(r[3] == "sparse" for r in rows if r[1] == "conv1x1"), text
        run = subprocess.run([sys.executable, "-m", "spiree", "run", str(out), "--check"], capture_output=True, text=True)
        assert run.returncode == 0 and "check: PASSED" in run.stdout, run.stdout + run.stderr

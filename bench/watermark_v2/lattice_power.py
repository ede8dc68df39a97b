"""Whitened power on and off the tile lattice, native against 8-bit (section 2, failure 1)."""


import common as c
import numpy as np
import torch

cv = c.covers()
x, _ = cv["693_J2KI.dcm"]
key = c.KEYS[0]
m = c.embed(x, key, c.PAYLOAD, bits_stored=16, signed=True)
for lab, img, img0 in [("native", m, x), ("minmax8", c.to8(m, "minmax"), c.to8(x, "minmax"))]:
    u = c._core._normalised_residual(torch.tensor(img, dtype=torch.float32)[None])[0].numpy()
    u0 = c._core._normalised_residual(torch.tensor(img0, dtype=torch.float32)[None])[0].numpy()
    d = u - u0
    print(lab, "rms u", u.std(), "rms mark part", d.std(), "ratio", d.std() / u0.std())
    U = np.fft.fft2(u - u.mean())
    P = np.abs(U) ** 2
    fy = np.fft.fftfreq(512)[:, None]
    fx = np.fft.fftfreq(512)[None, :]
    # smooth power: box over 15x15 bins (circular)
    from scipy.ndimage import uniform_filter

    Ps = uniform_filter(P, 15, mode="wrap")
    W = P / Ps
    on = np.arange(512) % 4 == 0
    lat = on[:, None] & on[None, :]
    r = np.hypot(fy, fx)
    band = (r > 0.03) & (r < 0.28)
    print(
        "  whitened power on lattice in band",
        W[lat & band].mean(),
        "off lattice",
        W[~lat & band].mean(),
        "n",
        (lat & band).sum(),
    )
    ac = np.real(np.fft.ifft2(W - 1))
    ac2 = np.real(np.fft.ifft2(np.where(band, W - 1, 0)))
    for a, name in [(ac, "ac all"), (ac2, "ac band")]:
        mask = np.ones_like(a, bool)
        mask[:8, :8] = mask[-8:, :8] = mask[:8, -8:] = mask[-8:, -8:] = False
        s = a[mask].std()
        print(
            f"  {name}: peak(128,0)={a[128, 0] / s:.1f} (0,128)={a[0, 128] / s:.1f} (128,128)={a[128, 128] / s:.1f} max off={np.sort(a[mask])[-10:] / s}"
        )

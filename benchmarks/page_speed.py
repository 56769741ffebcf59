"""Speed and size of the run page: a synthetic CAM run of N images, its page, and a sort in headless Chromium.

Run from the repository root:  python -m benchmarks.page_speed [--images 5000 --repeats 5]
Needs Debian's chromium (apt-get install chromium) and the playwright package (the dev extra); no browser is
downloaded. Prints the time to write the page, its size per image (and so for 1,000 and 50,000 images,
extrapolated from the measured per-image cost), the load time and the time of a sort by corner share
(sort + rendering the first page, measured in the page with performance.now, then the next frame painted).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_browser() -> tuple[str | None, str]:
    """(Chromium's path, "") when it and playwright are installed; (None, why not) otherwise."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "the playwright package is not installed (pip install -e '.[dev]')"
    found = next((b for b in BROWSERS if Path(b).is_file()), None)
    return (found, "") if found else (None, "no Chromium at /usr/bin/chromium (apt-get install chromium)")


def synthetic_run(root: Path, n: int, *, size: int = 64, map_size: tuple[int, int] = (7, 7), seed: int = 0,
                  blank_every: int = 10, label: str = "run") -> Path:
    """A complete CAM run folder ``root/<label>`` over ``n`` images written to ``root/images`` (reused when
    there): image k is a shaded, grainy colour with a grey square, maps random with every ``blank_every``-th blank,
    masses consistent with each other. Returns the run folder."""
    from PIL import Image

    from aigc_explain.analysis.regions import region_masses
    from aigc_explain.runs.folders import mark_complete

    rng = np.random.default_rng(seed)
    images, run = root / "images", root / label
    run.mkdir(parents=True)
    paths, labels = [], []
    for k in range(n):
        cls = "1_fake" if k % 2 else "0_real"
        path = images / cls / f"{k:06d}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            base = np.array([(k * 37) % 256, (k * 91) % 256, 200 if k % 2 else 40], float)
            ramp = np.linspace(-40, 40, size)[:, None, None] * rng.uniform(-1, 1, 3)  # photo-like: shading, grain
            pixels = base + ramp + rng.normal(0, 8, (size, size, 3))
            pixels[size // 4:size // 2, size // 4:size // 2] = 128
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
        paths.append(str(path.resolve()))
        labels.append(k % 2)
    labels = np.array(labels)
    rows_edge = np.minimum(np.arange(map_size[0]), np.arange(map_size[0])[::-1])[:, None]
    cols_edge = np.minimum(np.arange(map_size[1]), np.arange(map_size[1])[::-1])[None, :]
    corners = (rows_edge <= 1) & (cols_edge <= 1)  # the 2x2 cells at each corner
    maps = (rng.normal(0.0, 1.0, (n, *map_size)) + rng.uniform(-1.5, 1.5, (n, 1, 1)) * corners).astype(np.float32)
    blank = (np.arange(n) % blank_every) == blank_every - 1
    maps[blank] = -np.abs(maps[blank])  # no positive mass: a blank map
    up = np.stack([np.asarray(Image.fromarray(np.maximum(m, 0), mode="F").resize((size, size), Image.BILINEAR))
                   for m in maps])  # masses as the cam command measures them: ReLU, bilinear, at input size
    masses = region_masses(up)
    empty, corner, center, border, share = (masses.empty, masses.corner_mass, masses.center_mass,
                                            masses.border_mass, masses.corner_share)
    prob = np.clip(np.where(labels == 1, 0.7, 0.3) + rng.normal(0, 0.25, n), 0.0, 1.0)
    rows = []
    for k in range(n):
        cells = ["nan"] * 4 if empty[k] else [repr(float(v[k])) for v in (corner, center, border, share)]
        rows.append([paths[k], ("real", "fake")[labels[k]], repr(float(prob[k])), ("real", "fake")[int(prob[k] >= 0.5)],
                     str(bool(empty[k]))] + cells)
    with open(run / "per_image.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label", "prob_fake", "pred", "cam_empty", "corner_mass", "center_mass",
                                   "border_mass", "corner_share"]] + rows)
    np.savez_compressed(run / "cams.npz", paths=np.array(paths), index=np.arange(n), maps=maps, prob_fake=prob,
                        labels=labels)
    digest = hashlib.sha256("\n".join(paths).encode()).hexdigest()
    summary = {"schema_version": 1, "groups": {}, "n_images": n, "n_skipped": 0, "accuracy": None,
               "method": "gradcam", "target": "fake", "layer": "features.13", "map_size": list(map_size),
               "input_size": [size, size], "selection": {"images": str(images.resolve()), "n": n, "paths_sha256": digest},
               "regions": {"corner_frac": 0.25, "center_frac": 0.5, "border_frac": 0.125}}
    (run / "summary.json").write_text(json.dumps(summary))
    mark_complete(run, "cam")
    return run


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5000, help="images of the synthetic run (default 5000)")
    p.add_argument("--repeats", type=int, default=5, help="timed sorts (alternating direction)")
    p.add_argument("--keep", help="write the run and page here (default: a temporary folder, removed)")
    return p


def _time_sorts(index: Path, repeats: int) -> tuple[float, list[float]]:
    from playwright.sync_api import sync_playwright

    browser_path, why = find_browser()
    if browser_path is None:
        raise SystemExit(f"page_speed: {why}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=BROWSER_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        page.goto(index.as_uri())
        page.wait_for_selector("#rows tr")
        load = time.perf_counter() - start
        sorts = []
        for _ in range(repeats):
            sorts.append(page.evaluate("""() => new Promise(done => {
                const t = performance.now();
                document.querySelector('#head button[data-key="share"]').click();
                document.body.offsetHeight;  // layout of the new rows
                requestAnimationFrame(() => done(performance.now() - t));
            })""") / 1000)
        browser.close()
    return load, sorts


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    from aigc_explain.reporting.browser import write_page
    from aigc_explain.runs.reader import load_cam_run

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="page_speed_"))
    try:
        start = time.perf_counter()
        run = synthetic_run(root, args.images)
        made = time.perf_counter() - start
        out = root / "page"
        out.mkdir()
        start = time.perf_counter()
        result = write_page({"synthetic": load_cam_run(run)}, out, title=f"synthetic run of {args.images} images")
        wrote = time.perf_counter() - start
        size = _folder_bytes(out)
        fixed = sum((out / f).stat().st_size for f in ("page/app.js", "page/app.css", "index.html"))
        per_image = (size - fixed) / args.images
        print(f"synthetic run of {args.images} images (64x64 PNG, 7x7 maps) made in {made:.1f} s")
        print(f"page written in {wrote:.1f} s ({wrote / args.images * 1e3:.2f} ms per image), {size / 1e6:.2f} MB: "
              f"{per_image / 1e3:.2f} kB per image + {fixed / 1e3:.0f} kB fixed")
        parts = {"image thumbnails": _folder_bytes(out / "page" / "img"), "overlay thumbnails":
                 _folder_bytes(out / "page" / "cam0"), "raw maps": _folder_bytes(out / "page" / "maps"),
                 "rows (data.js)": (out / "page" / "data.js").stat().st_size}
        print("  per image: " + ", ".join(f"{k} {v / args.images:.0f} B" for k, v in parts.items()))
        for n in (1000, 50000):
            print(f"  extrapolated from the per-image cost: {n} images = {(fixed + per_image * n) / 1e6:.1f} MB")
        load, sorts = _time_sorts(result.index, args.repeats)
        print(f"headless Chromium: page loaded in {load:.2f} s; sort by corner share of {args.images} rows "
              f"(sort + first page rendered): best {min(sorts) * 1e3:.0f} ms, worst {max(sorts) * 1e3:.0f} ms "
              f"over {len(sorts)}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

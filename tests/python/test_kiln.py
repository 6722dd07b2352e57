"""kiln's Python package (python/kiln) against the kiln binary: the same outputs as `kiln run`
on the same arrays, weights swapped, regions as kiln finds them, and every bad input a
kiln.Error with kiln's message. Run by ctest (needs python3 and numpy):

    KILN=build/kiln KILN_LIBRARY=build/libkiln.so python3 -m unittest tests/python/test_kiln.py
"""
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
import kiln  # noqa: E402

KILN = os.environ.get("KILN", str(ROOT / "build" / "kiln"))
DEMO = ROOT / "models" / "demo"


def kiln_run(array, weights, tmp):
    """The kiln binary's output for `array` (its own import, plan and run): the reference."""
    src, dst = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
    np.save(src, array.astype(np.float32))
    subprocess.run([KILN, "run", str(DEMO / "unet.onnx"), "--weights", str(weights), "--input", str(src),
                    "--output", str(dst)], check=True, capture_output=True)
    return np.load(dst)


class KilnFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        subprocess.run([KILN, "gen-defects", "--out", cls.tmp.name, "--classes", "leather", "--count", "2",
                        "--seed", "900001", "--npy", "--no-png"], check=True, capture_output=True)
        cls.images = np.load(Path(cls.tmp.name) / "leather_images.npy")
        cls.engine = kiln.Engine()
        cls.engine.load("leather", DEMO / "unet.onnx", weights=DEMO / "leather.safetensors")
        cls.engine.wait_ready("leather", timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.engine.close()
        cls.tmp.cleanup()

    def test_runs_as_the_kiln_binary(self):
        self.assertEqual(self.engine.status("leather"), ("ready", 1.0))
        x = self.images[:1]
        got = self.engine.run("leather", x)
        want = kiln_run(x, DEMO / "leather.safetensors", self.tmp.name)
        self.assertEqual(got.shape, want.shape)
        self.assertLessEqual(float(np.abs(got - want).max()), 1e-6)
        mask, regions = self.engine.segment("leather", x[0, 0])
        np.testing.assert_array_equal(mask, got[0, 0] >= 0.5)
        self.assertGreater(int(mask.sum()), 100)
        self.assertEqual(regions, kiln.find_regions(got[0, 0], 0.5, 12))
        self.assertTrue(regions)
        self.assertTrue(kiln.version())
        self.assertTrue(kiln.onednn_version().startswith("2."))

    def test_swaps_weights_and_exports_packs(self):
        e = kiln.Engine()
        e.load("m", DEMO / "unet.onnx", weights=DEMO / "leather.safetensors")
        e.wait_ready("m", 120)
        x = self.images[1:2]
        e.load_weights("m", DEMO / "wood_grain.safetensors")
        want = kiln_run(x, DEMO / "wood_grain.safetensors", self.tmp.name)
        self.assertLessEqual(float(np.abs(e.run("m", x) - want).max()), 1e-6)
        with self.assertRaises(kiln.Error) as bad:
            e.load_weights("m", "/nonexistent.safetensors")
        self.assertIn("/nonexistent.safetensors", str(bad.exception))
        self.assertLessEqual(float(np.abs(e.run("m", x) - want).max()), 1e-6)  # the old weights serve on
        pack = Path(self.tmp.name) / "m.kwp"
        e.export_pack("m", pack)
        e.load("p", DEMO / "unet.onnx", weights=pack)
        e.wait_ready("p", 120)
        np.testing.assert_array_equal(e.run("p", x), e.run("m", x))
        self.assertEqual(e.memory()["plans"], 1)
        e.unload("m")
        with self.assertRaises(kiln.Error) as gone:
            e.run("m", x)
        self.assertEqual(gone.exception.status, "not found")
        e.close()

    def test_bad_input_raises_kiln_errors(self):
        with self.assertRaises(kiln.Error) as shape:
            self.engine.run("leather", np.zeros((1, 3, 512, 512), np.float32))
        self.assertEqual(shape.exception.status, "invalid argument")
        with self.assertRaises(kiln.Error) as unknown:
            self.engine.run("nope", self.images[:1])
        self.assertIn("nope", str(unknown.exception))
        corrupt = Path(self.tmp.name) / "corrupt.onnx"
        corrupt.write_bytes((DEMO / "unet.onnx").read_bytes()[:5000])
        self.engine.load("corrupt", corrupt)
        with self.assertRaises(kiln.Error) as broken:
            self.engine.wait_ready("corrupt", 60)
        self.assertIn("corrupt.onnx", str(broken.exception))
        self.assertEqual(self.engine.status("corrupt")[0], "failed")
        with self.assertRaises(kiln.Error):
            kiln.Engine(precision="fp64")
        with self.assertRaises(kiln.Error):
            self.engine.segment("leather", np.zeros((2, 2, 2)))
        self.assertEqual(self.engine.run("leather", self.images[:1]).shape, (1, 1, 512, 512))  # serves on

    def test_auto_precision_and_threads(self):
        # auto keeps fp32 results (direct or Winograd per layer, as measured), here on one thread;
        # the library was loaded with OpenMP's workers passive unless the environment chose.
        if "GOMP_SPINCOUNT" not in os.environ:
            self.assertIn("OMP_WAIT_POLICY", os.environ)  # set by the package before loading libkiln
        e = kiln.Engine(precision="auto", threads=1)
        e.load("m", DEMO / "unet.onnx", weights=DEMO / "leather.safetensors")
        e.wait_ready("m", 120)
        x = self.images[:1]
        got = e.run("m", x)
        want = self.engine.run("leather", x)
        self.assertLessEqual(float(np.abs(got - want).max()), 1e-3)
        e.close()
        with self.assertRaises(kiln.Error):
            kiln.Engine(threads=-1)

    def test_regions_are_kilns(self):
        s = np.zeros((10, 12), np.float32)
        s[1:3, 1:3] = 0.9      # 4 px
        s[3, 3] = 0.8          # touches the first diagonally: one region of 5
        s[7:9, 8:12] = 0.6     # 8 px, mean 0.6
        s[0, 11] = 0.99        # 1 px: under min_area 2
        r = kiln.find_regions(s, 0.5, 2)
        self.assertEqual([x["box"] for x in r], [(1, 1, 3, 3), (8, 7, 11, 8)])
        self.assertEqual([x["area"] for x in r], [5, 8])
        self.assertAlmostEqual(r[1]["mean_score"], 0.6, places=6)


if __name__ == "__main__":
    unittest.main()
